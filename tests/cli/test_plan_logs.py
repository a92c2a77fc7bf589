"""`plan logs` and credentials given again to resume/force-restart, through both
back-ends (in-process with the fake plans, HTTP against a real uvicorn server)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from tests.cli import test_plan_cli as base
from tests.cli.test_plan_cli import CREDS, RESTORE, cli, plan
from tests.plans.fakes import SECRET, FakeWork, make_manager

from bucketvault.plans.status import Status

work = base.work
server_url = base.server_url


def test_logs_text_json_and_one_step(work: FakeWork) -> None:
    code, _, err = plan("logs", "restore")
    assert (code, err) == (
        0,
        'no history for the "restore" plan yet: start it with `plan start restore`\n',
    )
    assert plan("start", "restore", *CREDS, "-p", "KIND=errors", "-p", "COUNT=2")[0] == 7
    code, out, _ = plan("logs", "restore")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith(
        "  plan  STARTED  plan started (parameters: ACCESS_KEY_ID, COUNT, KIND, S3_BUCKET, "
        "SECRET_ACCESS_KEY)"
    )
    assert lines[0][:20].endswith("Z") and lines[0][10] == "T"  # UTC time first
    assert f"  {RESTORE}  ERROR  2 objects failed" in out
    assert "    first errors (2 of 2):" in out and f"      {RESTORE}: key-1: AccessDenied" in out
    assert lines[-1].endswith("  plan  ERROR  plan ended ERROR")
    code, out, _ = plan("logs", "restore", RESTORE, "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["status"] for e in events] == ["STARTED", "ERROR"]
    assert events[-1]["error_count"] == 2
    code, _, err = plan("logs", "restore", "nope")
    assert code == 3 and "step 'nope' not found in plan 'restore'" in err
    assert SECRET not in out + err


def test_http_logs_and_params_again(server_url: str) -> None:
    def remote(*args: str) -> tuple[int, str, str]:
        return cli(f"--url={server_url}", "--name=svc", "plan", *args)

    assert remote("start", "restore", *CREDS, "--wait")[0] == 0
    code, out, _ = remote("logs", "restore", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["message"] == "plan ended COMPLETE"
    code, _, err = remote("force-restart", "restore")  # completed: the secret is gone
    assert code == 2 and "SECRET_ACCESS_KEY again" in err, err
    code, out, err = remote("force-restart", "restore", "-p", f"SECRET_ACCESS_KEY={SECRET}")
    assert (code, out) == (0, '"restore" plan has been restarted.\n'), err
    m = make_manager()
    for _ in range(500):
        if m.plan_status("restore") is Status.COMPLETE and m.running_pid("restore") is None:
            break
        time.sleep(0.01)
    assert m.plan_status("restore") is Status.COMPLETE
    assert remote("logs", "restore", "nope")[0] == 3


def _foreground(*args: str) -> tuple[threading.Thread, list[tuple[int, str, str]]]:
    """`plan ARGS` running in the foreground in a thread, as in another terminal."""
    results: list[tuple[int, str, str]] = []
    thread = threading.Thread(target=lambda: results.append(plan(*args)), daemon=True)
    thread.start()
    return thread, results


def _wait_started(step: str) -> None:
    m = make_manager()
    # bounded in time and count: a loaded CI box took more than 10 s to start the step
    deadline = time.monotonic() + 30
    for _ in range(3000):
        if time.monotonic() > deadline:
            break
        body = m.status("verify")
        if any(
            s["name"] == step and s["status"] == "STARTED"
            for p in body["phases"]
            for s in p["steps"]
        ):
            return
        time.sleep(0.01)
    raise AssertionError(f"{step} never started")


@pytest.mark.parametrize("how", ["phase", "stop"])
def test_foreground_run_says_how_it_was_halted(work: FakeWork, tmp_path: Path, how: str) -> None:
    (tmp_path / "hold").touch()
    thread, results = _foreground("start", "verify", "-p", "KIND=gate", "-p", f"MARKER={tmp_path}")
    _wait_started("s1")
    m = make_manager()
    if how == "phase":
        assert m.interrupt("verify", "second") is True
        (tmp_path / "hold").unlink()  # the first phase finishes; the second is paused
    else:
        m.stop("verify")
    thread.join(30)
    assert not thread.is_alive()
    code, _, err = results[0]
    assert code == 130
    if how == "phase":
        assert err.splitlines()[-1] == (
            'Error: phase "second" of the "verify" plan was paused (`plan pause`, from another '
            "terminal or the API): resume it with "
            "`bucketvault --name=svc plan resume verify second`"
        )
    else:
        assert err.splitlines()[-1] == (
            'Error: "verify" plan was stopped (`plan stop`): run it again with '
            "`bucketvault --name=svc plan resume verify`"
        )
