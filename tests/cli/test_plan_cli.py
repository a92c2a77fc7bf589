"""`bucketvault plan ...` and `serve`: messages, tree, exit codes, stdout vs stderr,
both back-ends (in-process with a fake plan factory, HTTP against a real server)."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.plans.fakes import RESTORE_PARAMS, SECRET, FakeWork, make_manager, state_bytes
from typer.testing import CliRunner

from bucketvault.api.app import create_app
from bucketvault.cli import output
from bucketvault.cli.main import app
from bucketvault.cli.plan_cmd import ALREADY
from bucketvault.cli.plan_render import human_bytes, progress_text, render_tree
from bucketvault.plans import factory
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.status import Status

RESTORE = "restore-0:[restore]"
CREDS = [x for k, v in RESTORE_PARAMS.items() for x in ("-p", f"{k}={v}")]

COMPLETE_TREE = """\
restore (serial strategy) (COMPLETE)
├─ init (serial strategy) (COMPLETE)
│  └─ init-0:[init] (COMPLETE)
└─ restore (serial strategy) (COMPLETE)
   └─ restore-0:[restore] (COMPLETE)

Results:
- init-0:[init]: init-0:[init] done
- restore-0:[restore]: restore-0:[restore] done
"""


def quietly(result: tuple[int, str, str]) -> tuple[int, str]:
    """(exit code, stdout) of a command whose stderr holds only the results of the steps
    it ran in the foreground (`- step: what it did`)."""
    code, out, err = result
    assert all(line.startswith("- ") for line in err.splitlines()), err
    return code, out


@pytest.fixture
def work() -> Iterator[FakeWork]:
    shared = FakeWork()
    factory.set_manager_factory(lambda svc: make_manager(svc, work=shared))
    yield shared
    factory.set_manager_factory(None)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def plan(*args: str) -> tuple[int, str, str]:
    return cli("--name=svc", "plan", *args)


def test_list(work: FakeWork) -> None:
    assert plan("list") == (0, "backup\nrestore\nverify\n", "")
    _, out, _ = plan("list", "--json")
    assert json.loads(out) == ["backup", "restore", "verify"]


def test_status_before_start(work: FakeWork) -> None:
    code, out, err = plan("status", "restore")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "restore (serial strategy) (WAITING)"
    assert out.splitlines()[4] == "   └─ restore-0:[restore] (PENDING)"


def test_start_runs_in_the_foreground(work: FakeWork, bucketvault_home: Path) -> None:
    code, out, err = plan("start", "restore", *CREDS)
    assert (code, out) == (0, '"restore" plan has been started.\n')
    # what each step did, on stderr, also without a terminal (cron)
    assert (
        err
        == "- init-0:[init]: init-0:[init] done\n- restore-0:[restore]: restore-0:[restore] done\n"
    )
    assert work.runs == ["init-0:[init]", RESTORE]
    assert plan("status", "restore") == (0, COMPLETE_TREE, "")
    code, out, _ = plan("status", "restore", "--json")
    body = json.loads(out)
    assert body["status"] == "COMPLETE"
    for text in (out, err):
        assert SECRET not in text
    assert SECRET.encode() not in state_bytes(bucketvault_home)


def test_failed_plan_exits_with_the_error_class_code(work: FakeWork) -> None:
    code, out, err = plan("start", "restore", *CREDS, "-p", "KIND=fail")
    assert code == 5
    assert out == '"restore" plan has been started.\n'
    assert err == (
        "- init-0:[init]: init-0:[init] done\n"  # what was done, also when a step failed
        'Error: "restore" plan failed: restore-0:[restore] failed: '
        "access denied to bucket svc-photos\n"
    )
    code, out, _ = plan("status", "restore")
    assert code == 7  # status says so when a plan is in ERROR
    assert "   └─ restore-0:[restore] (ERROR)\n" in out
    assert out.endswith(
        "\n\nErrors:\n- restore-0:[restore] failed: access denied to bucket svc-photos\n"
    )


def test_partial_failure_exit_code(work: FakeWork) -> None:
    code, _, err = plan("start", "restore", *CREDS, "-p", "KIND=errors", "-p", "COUNT=4")
    assert code == 7
    assert "(and 3 more: see `plan status restore`)" in err


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(["-p", SECRET], 2, "parameter #1 has no '='", id="no-equals"),
        pytest.param(
            ["-p", f"bad-name={SECRET}"], 2, "invalid parameter name 'bad-name'", id="bad"
        ),
        pytest.param(["-p", f"A={SECRET}", "-p", "A=b"], 2, "parameter A given twice", id="twice"),
        pytest.param(["-p", "S3_BUCKET=x"], 2, "needs parameter ACCESS_KEY_ID", id="missing"),
    ],
)
def test_bad_parameters(work: FakeWork, args: list[str], code: int, needle: str) -> None:
    c, out, err = plan("start", "restore", *args)
    assert (c, out) == (code, "")
    assert needle in err
    assert len(err.splitlines()) == 1
    assert SECRET not in err
    assert work.runs == []


def test_secret_value_with_equals_splits_on_first(work: FakeWork) -> None:
    params = {**RESTORE_PARAMS, "SECRET_ACCESS_KEY": "a=b=c"}
    args = [x for k, v in params.items() for x in ("-p", f"{k}={v}")]
    assert plan("start", "restore", *args)[0] == 0
    assert work.params_seen[0]["SECRET_ACCESS_KEY"] == "a=b=c"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(
            ["--name=svc", "plan", "status", "nope"], 3, "plan 'nope' not found", id="plan"
        ),
        pytest.param(["plan", "status", "restore"], 2, "no service named", id="no-name"),
        pytest.param(
            ["--name=svc", "plan", "pause", "verify", "nope"], 3, "phase 'nope'", id="phase"
        ),
        pytest.param(
            ["--name=svc", "plan", "force-restart", "verify", "first", "s9"],
            3,
            "step 's9' not found",
            id="step",
        ),
    ],
)
def test_lookup_errors(work: FakeWork, args: list[str], code: int, needle: str) -> None:
    c, out, err = cli(*args)
    assert (c, out) == (code, "")
    assert err.startswith("Error: ") and needle in err


async def _prepare(plan_name: str, params: dict[str, str]) -> None:
    await make_manager().start(plan_name, params)


def test_pause_resume_messages_and_208(work: FakeWork) -> None:
    import asyncio

    asyncio.run(_prepare("verify", {}))
    assert plan("pause", "verify") == (0, '"verify" plan has been paused.\n', "")
    assert plan("pause", "verify") == (4, "", f"Error: {ALREADY}\n")
    assert plan("pause", "verify", "first") == (
        0,
        '"verify" plan: phase "first" has been paused.\n',
        "",
    )
    assert plan("resume", "verify", "first") == (
        0,
        '"verify" plan: phase "first" has been resumed.\n',
        "",
    )
    assert work.runs == []  # the plan itself is still paused: nothing ran
    assert quietly(plan("resume", "verify")) == (0, '"verify" plan has been resumed.\n')
    assert work.runs == ["s1", "s2", "s1", "s2"]  # resumed in the foreground
    assert plan("pause", "verify") == (4, "", f"Error: {ALREADY}\n")  # complete


def test_force_restart_and_force_complete(work: FakeWork) -> None:
    import asyncio

    asyncio.run(_prepare("verify", {}))
    msg = '"verify" plan: step "s1" in phase "first" has been forced to complete.\n'
    assert quietly(plan("force-complete", "verify", "first", "s1")) == (0, msg)
    assert work.runs == ["s2", "s1", "s2"]  # s1 of "first" skipped, the rest ran here
    assert plan("force-complete", "verify", "first", "s1") == (4, "", f"Error: {ALREADY}\n")
    msg = '"verify" plan: step "s2" in phase "second" has been restarted.\n'
    assert quietly(plan("force-restart", "verify", "second", "s2")) == (0, msg)
    assert work.runs[-1] == "s2" and len(work.runs) == 4
    msg = '"verify" plan: phase "first" has been restarted.\n'
    assert quietly(plan("force-restart", "verify", "first")) == (0, msg)
    assert quietly(plan("force-restart", "verify")) == (0, '"verify" plan has been restarted.\n')
    assert plan("stop", "verify") == (0, '"verify" plan has been stopped.\n', "")
    assert make_manager().plan_status("verify") is Status.WAITING


@pytest.fixture
def ctrl_c_delivered() -> Iterator[None]:
    """Python's own SIGINT handler for the test: a test run started as a background job
    (`cmd &` in a script, as `nohup make test &`) inherits SIGINT ignored, and Ctrl-C
    would then never reach the plan (the step sends it to its own process)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("ctrl_c_delivered")
def test_ctrl_c_leaves_the_plan_resumable(work: FakeWork, tmp_path: Path) -> None:
    (tmp_path / "hold").touch()
    code, _, err = plan("start", "restore", *CREDS, "-p", "KIND=sigint", "-p", f"MARKER={tmp_path}")
    assert code == 130
    assert err == (
        'Error: "restore" plan interrupted: resume it with '
        "`bucketvault --name=svc plan resume restore`\n"
    )
    m = make_manager()
    assert m.plan_status("restore") is Status.WAITING
    assert m.status("restore")["phases"][1]["steps"][0]["status"] == "PENDING"
    assert quietly(plan("resume", "restore")) == (0, '"restore" plan has been resumed.\n')
    assert m.plan_status("restore") is Status.COMPLETE


def test_live_display_on_a_terminal(work: FakeWork, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.err, "_force_terminal", True)
    code, out, err = plan("start", "restore", *CREDS, "-p", "KIND=sleep", "-p", "SECONDS=0.2")
    assert code == 0
    assert out == '"restore" plan has been started.\n'
    assert "restore-0:[restore] (COMPLETE)" in err
    assert SECRET not in err


def test_tree_progress_line() -> None:
    status = {
        "strategy": "serial",
        "status": "IN_PROGRESS",
        "errors": [],
        "phases": [
            {
                "name": "restore",
                "strategy": "serial",
                "status": "STARTED",
                "steps": [
                    {
                        "name": RESTORE,
                        "status": "STARTED",
                        "progress": {
                            "objects_done": 1234,
                            "objects_total": 5000,
                            "bytes_done": int(12.3 * 2**20),
                            "bytes_total": 48 * 2**20,
                            "rate_bytes_per_s": 8.1 * 2**20,
                            "failed": 0,
                        },
                    }
                ],
            }
        ],
    }
    assert render_tree("restore", status).splitlines()[-1] == (
        "   └─ restore-0:[restore] (STARTED) 1,234/5,000 objects, 12.3 MiB/48.0 MiB, 8.1 MiB/s"
    )
    assert human_bytes(512) == "512 B"
    assert progress_text({"objects_done": 3, "objects_total": None, "failed": 2}) == (
        "3 objects, 2 failed"
    )


# -- HTTP back-end against a real server ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    token = getattr(request, "param", None)
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    port = _free_port()
    config = uvicorn.Config(
        create_app(scheduler, token), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_http_backend(server_url: str) -> None:
    def remote(*args: str) -> tuple[int, str, str]:
        return cli(f"--url={server_url}", "--name=svc", "plan", *args)

    assert remote("list") == (0, "backup\nrestore\nverify\n", "")
    code, out, err = remote("start", "restore", *CREDS)
    assert (code, out, err) == (0, '"restore" plan has been started.\n', "")
    for _ in range(500):
        code, out, _ = remote("status", "restore")
        if out == COMPLETE_TREE:
            break
        time.sleep(0.01)
    assert out == COMPLETE_TREE and code == 0
    assert remote("pause", "restore") == (4, "", f"Error: {ALREADY}\n")
    code, out, err = remote("start", "restore", *CREDS, "--wait")  # follows it to its end
    assert (code, out) == (0, '"restore" plan has been started.\n')
    assert err.splitlines() == COMPLETE_TREE.splitlines()[-2:], err
    code, _, err = remote("start", "restore", *CREDS, "-p", "KIND=fail", "--wait")
    assert code == 7 and "access denied to bucket svc-photos" in err, err
    code, _, err = remote("status", "nope")
    assert code == 3 and "plan 'nope' not found" in err
    code, _, err = remote("start", "restore", "-p", "S3_BUCKET=x")
    assert code == 2 and "needs parameter ACCESS_KEY_ID" in err
    code, _, err = cli(f"--url={server_url}", "plan", "list")  # default service
    assert code == 0


@pytest.mark.parametrize("server_url", ["t0ken"], indirect=True)
def test_http_backend_token(server_url: str) -> None:
    code, out, err = cli(f"--url={server_url}", "--name=svc", "plan", "list")
    assert code == 2 and "token" in err and out == ""
    code, out, _ = cli(f"--url={server_url}", "--token=t0ken", "--name=svc", "plan", "list")
    assert (code, out) == (0, "backup\nrestore\nverify\n")


def test_http_backend_unreachable() -> None:
    code, _, err = cli(f"--url=http://127.0.0.1:{_free_port()}", "--name=svc", "plan", "list")
    assert code == 1 and err.startswith("Error: cannot reach the scheduler")


def test_serve_refuses_network_address_without_token() -> None:
    code, _, err = cli("serve", "--host", "0.0.0.0")
    assert code == 2
    assert err.startswith("Error: refusing to listen on 0.0.0.0 without a token")


def test_did_you_mean(work: FakeWork) -> None:
    code, _, err = plan("status", "restor")
    assert code == 3 and "did you mean 'restore'?" in err, err
    added = cli("service", "add", "minio", "--endpoint", "http://127.0.0.1:9", "--no-check")
    assert added[0] == 0, added
    code, _, err = cli("service", "show", "mini")
    assert code == 3 and "did you mean 'minio'?" in err, err


def test_name_after_plan(work: FakeWork) -> None:
    assert cli("plan", "--name=svc", "list") == cli("--name=svc", "plan", "list")
    assert cli("plan", "--name=svc", "list")[0] == 0
