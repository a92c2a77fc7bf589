"""Secrets never leak: after a full backup → restore → verify story through the CLI (at
every verbosity, with Python logging at DEBUG captured), a run with wrong credentials,
the HTTP API over a real scheduler and `mirror` with an alias, the secret values appear
nowhere but in the 0600 files meant for them — not in logs, output, plan status, API
responses, error messages, the state database, other files, or reprs."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from bucketvault.api.app import create_app
from bucketvault.config.aliases import get_alias, load_aliases
from bucketvault.config.locations import parse_location
from bucketvault.config.services import get_service, load_services
from bucketvault.errors import ExitCode
from bucketvault.loopback import LOOPBACK, LoopbackServer, free_port
from bucketvault.notify import save_targets
from bucketvault.plans.factory import manager_for
from bucketvault.plans.scheduler import Scheduler
from bucketvault.store import open_endpoint
from tests.conftest import boto_client
from tests.e2e.helpers import Result, put, run_cli
from tests.notify.receiver import Receiver
from tests.security.leaks import forms, home_leaks, leaks


def _secret(tag: str) -> str:
    # like an AWS secret: letters, digits, '/' and '+' (which URL-encode differently)
    return f"{tag}/{secrets.token_urlsafe(18)}+{secrets.token_hex(6)}"


LIVE_SECRET = _secret("live")
BACKUP_SECRET = _secret("bkup")
WRONG_SECRET = _secret("wrong")
ALIAS_SECRET = LIVE_SECRET  # the alias points at the live store
ALL_SECRETS = (LIVE_SECRET, BACKUP_SECRET, WRONG_SECRET)


def test_forms_catch_encodings() -> None:
    import base64
    import urllib.parse

    secret = ALL_SECRETS[0]
    for text in (
        f"x{secret}y",
        urllib.parse.quote(secret, safe=""),
        "key=" + urllib.parse.quote_plus(secret),
        base64.b64encode(f"ab{secret}cd".encode()).decode(),
        base64.b64encode(f"a{secret}".encode()).decode(),
        base64.urlsafe_b64encode(f"user:{secret}".encode()).decode(),
    ):
        assert leaks([secret], text), text
    assert not leaks([secret], "********")
    assert len(forms(secret)) >= 6


@contextlib.contextmanager
def _rclone(root: Path, secret: str) -> Iterator[LoopbackServer]:
    """rclone serve s3 checks credentials (moto accepts any), so wrong ones fail."""
    root.mkdir(parents=True)
    server = LoopbackServer(
        kind="rclone", port=free_port(), root=root, access_key="AKIDSECURITY", secret_key=secret
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with _rclone(tmp_path_factory.mktemp("sec-live") / "data", LIVE_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with _rclone(tmp_path_factory.mktemp("sec-backup") / "data", BACKUP_SECRET) as server:
        yield server


@pytest.fixture
def debug_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Path]:
    """Python logging at DEBUG, to caplog and to a file outside BUCKETVAULT_HOME."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


class Haystacks:
    """Everything the tool said, labelled."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | bytes]] = []

    def add(self, label: str, data: str | bytes) -> None:
        self.items.append((label, data))

    def cli(self, label: str, result: Result) -> Result:
        self.add(f"{label} stdout", result.stdout)
        self.add(f"{label} stderr", result.stderr)
        return result

    def leaks(self) -> list[str]:
        return [
            f"{label}: {found}" for label, data in self.items if (found := leaks(ALL_SECRETS, data))
        ]


def _creds(secret: str) -> list[str]:
    return ["-p", "ACCESS_KEY_ID=AKIDSECURITY", "-p", f"SECRET_ACCESS_KEY={secret}"]


@contextlib.contextmanager
def _api_server(scheduler: Scheduler, token: str) -> Iterator[str]:
    """A real `bucketvault serve` (uvicorn, the real app) on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(scheduler, token), host=LOOPBACK, port=port, log_level="debug"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # ~10 s
            if server.started:
                break
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive()


def _wait_plan(client: httpx.Client, path: str, wanted: tuple[str, ...]) -> httpx.Response:
    for _ in range(600):  # ~30 s
        response = client.get(path)
        if response.json().get("status") in wanted:
            return response
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {wanted}: {response.text}")


def test_no_secret_leaks_anywhere(
    live: LoopbackServer,
    backup: LoopbackServer,
    bucketvault_home: Path,
    debug_log: Path,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    seen = Haystacks()
    live_client = boto_client(live)
    for bucket in ("photos", "docs"):
        live_client.create_bucket(Bucket=bucket)
    for i in range(5):
        put(live, "photos", f"img-{i}.jpg", b"x" * (100 + i), Metadata={"camera": "x"})
    put(live, "docs", "readme.txt", b"hello", Tagging="k=v")

    added = seen.cli(
        "service add",
        run_cli(
            "-vv",
            "service",
            "add",
            "minio",
            "--endpoint",
            live.url,
            "--backup-endpoint",
            backup.url,
            "--access-key",
            live.access_key,
            "--secret-stdin",
            input=LIVE_SECRET + "\n",
        ),
    )
    assert added.exit_code == 0, added.stderr
    alias = seen.cli(
        "alias set",
        run_cli(
            "alias",
            "set",
            "live",
            live.url,
            "--access-key",
            live.access_key,
            "--secret-stdin",
            input=ALIAS_SECRET + "\n",
        ),
    )
    assert alias.exit_code == 0, alias.stderr

    def plan(label: str, *args: str) -> Result:
        t0 = time.monotonic()
        r = seen.cli(label, run_cli(*args))
        print(f"TIMING {time.monotonic() - t0:.2f} {label}")
        return r

    # the story, each verbosity at least once
    runs = [
        ("-vv", "start", "backup", *_creds(BACKUP_SECRET)),
        ("-q", "start", "restore", *_creds(BACKUP_SECRET), "-p", "S3_BUCKET=minio-photos"),
        ("-v", "start", "restore", *_creds(BACKUP_SECRET), "-p", "ALL_BUCKETS=true"),
        ("", "start", "verify", *_creds(BACKUP_SECRET)),
    ]
    for verbosity, *args in runs:
        flags = [verbosity] if verbosity else []
        result = plan(f"plan {verbosity} {args[1]}", *flags, "--name=minio", "plan", *args)
        assert result.exit_code == 0, (args[:2], result.stdout, result.stderr)
    for verbosity, name in (("-vv", "backup"), ("-v", "restore"), ("", "verify"), ("-q", "backup")):
        flags = [verbosity] if verbosity else []
        for extra in ([], ["--json"]):
            status = plan(
                f"status {name}{extra}", *flags, "--name=minio", "plan", "status", name, *extra
            )
            assert status.exit_code == 0, status.stderr
        plan("plan list", *flags, "--name=minio", "plan", "list")
        plan("service show", *flags, "service", "show", "minio")
        plan("service list", *flags, "service", "list", "--json")
        plan("alias list", *flags, "alias", "list")
    for name in ("restore", "verify"):
        plan(f"status {name} --json", "--name=minio", "plan", "status", name, "--json")

    # the plans' history, and a completed plan run again with its secret from a file
    for name in ("backup", "restore", "verify"):
        for extra in ([], ["--json"]):
            plan(f"logs {name}{extra}", "-vv", "--name=minio", "plan", "logs", name, *extra)
    secret_file = tmp_path / "backup-secret"
    secret_file.write_text(BACKUP_SECRET + "\n")
    secret_file.chmod(0o600)
    rerun = ("-vv", "--name=minio", "plan", "force-restart", "verify")
    refused = plan("force-restart without the secret", *rerun)
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    rerun_ok = plan("force-restart --secret-file", *rerun, "--secret-file", str(secret_file))
    assert rerun_ok.exit_code == 0, rerun_ok.stderr

    # a mirror through the alias, at each verbosity (text and JSON lines)
    for verbosity, extra in (("-vv", ["--json"]), ("-v", []), ("", ["--json"]), ("-q", [])):
        flags = [verbosity] if verbosity else []
        target = f"file://{tmp_path}/mirror{verbosity}"
        mirrored = plan(f"mirror {verbosity}", *flags, "mirror", *extra, "live/photos", target)
        assert mirrored.exit_code == 0, mirrored.stderr

    # wrong credentials: the run fails with a message that names the problem, not the value
    wrong = plan(
        "wrong backup creds",
        "-vv",
        "--name=minio",
        "plan",
        "start",
        "backup",
        *_creds(WRONG_SECRET),
    )
    assert wrong.exit_code == ExitCode.STORE, (wrong.stdout, wrong.stderr)
    assert "access denied" in wrong.stderr.lower() and "SECRET_ACCESS_KEY" in wrong.stderr
    plan("status after wrong creds", "--name=minio", "plan", "status", "backup", "--json")
    # a secret given without its NAME= is refused without being shown
    nameless = plan(
        "nameless secret", "--name=minio", "plan", "start", "verify", "-p", f"{WRONG_SECRET}="
    )
    assert nameless.exit_code == ExitCode.USAGE, nameless.stderr
    with_env = seen.cli(
        "wrong env alias",
        run_cli(
            "mirror",
            "envalias/minio-photos",
            f"file://{tmp_path}/w2",
            env={
                "BUCKETVAULT_ALIAS_ENVALIAS": (
                    f"http://{backup.access_key}:{quote(WRONG_SECRET, safe='')}"
                    f"@{LOOPBACK}:{backup.port}"
                )
            },
        ),
    )
    assert with_env.exit_code == ExitCode.STORE, with_env.stderr
    assert "access denied" in with_env.stderr.lower()

    # issue #9: stores checked before `service add` / `alias set` save them, refusals that
    # name the store, bucket selection and mapping, one object mirrored through the alias
    checked = seen.cli(
        "service add wrong live secret",
        run_cli(
            "-vv", "service", "add", "checked", "--endpoint", live.url, "--backup-endpoint",
            backup.url, "--access-key", live.access_key, "--secret-stdin",
            input=WRONG_SECRET + "\n",
        ),
    )  # fmt: skip
    assert checked.exit_code == ExitCode.STORE and "not saved" in checked.stderr
    checked_alias = seen.cli(
        "alias set wrong secret",
        run_cli(
            "-vv", "alias", "set", "checked", live.url, "--access-key", live.access_key,
            "--secret-stdin", input=WRONG_SECRET + "\n",
        ),
    )  # fmt: skip
    assert checked_alias.exit_code == ExitCode.STORE and "not saved" in checked_alias.stderr
    unchecked = seen.cli(
        "service add --no-check wrong live secret",
        run_cli(
            "service", "add", "badlive", "--endpoint", live.url, "--backup-endpoint", backup.url,
            "--access-key", live.access_key, "--secret-stdin", "--no-check",
            "--include-bucket", "pho*", "--exclude-bucket", "tmp-*",
            "--map-bucket", "docs=badlive-d", input=WRONG_SECRET + "\n",
        ),
    )  # fmt: skip
    assert unchecked.exit_code == 0, unchecked.stderr
    wrong_live = plan(
        "wrong live secret", "-vv", "--name=badlive", "plan", "start", "backup",
        *_creds(BACKUP_SECRET),
    )  # fmt: skip
    assert wrong_live.exit_code == ExitCode.STORE, wrong_live.stderr
    assert "the live store of service 'badlive'" in wrong_live.stderr
    plan("service show selection", "service", "show", "badlive")
    plan("service list selection", "service", "list")
    one = plan(
        "mirror one object", "-vv", "mirror", "live/photos/img-1.jpg", f"file://{tmp_path}/one"
    )
    assert one.exit_code == 0, one.stderr

    # the HTTP API of a real scheduler (uvicorn), and the CLI talking to it
    token = secrets.token_hex(16)
    scheduler = Scheduler(factory=manager_for, default="minio")
    with _api_server(scheduler, token) as url:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
            good = {"ACCESS_KEY_ID": backup.access_key, "SECRET_ACCESS_KEY": BACKUP_SECRET}
            receiver = Receiver().start()  # issue #12: webhooks of the runs below
            save_targets("minio", [receiver.url])
            for path, body in (
                ("/v1/plans/verify/start", good),
                ("/v1/service/minio/plans/backup/start", good),
            ):
                started = api.post(path, json=body)
                seen.add(f"POST {path}", started.text)
                assert started.status_code == 200, started.text
                done = _wait_plan(api, path.removesuffix("/start"), ("COMPLETE", "ERROR"))
                seen.add(f"GET {path}", done.text)
                assert done.json()["status"] == "COMPLETE", done.text
            bad = {"ACCESS_KEY_ID": backup.access_key, "SECRET_ACCESS_KEY": WRONG_SECRET}
            # building the plan lists the backup store: refused, as a 502 (not a 500)
            failed = api.post("/v1/plans/verify/start", json=bad)
            seen.add("POST wrong creds", failed.text)
            assert failed.status_code == 502, failed.text
            assert "access denied" in failed.json()["message"]
            for path in ("/v1/plans", "/v1/plans/backup", "/v1/plans/restore", "/openapi.json"):
                seen.add(f"GET {path}", api.get(path).text)
            # malformed bodies holding a secret are refused without echoing it
            malformed: list[Any] = [
                {"SECRET_ACCESS_KEY": [WRONG_SECRET]},
                [WRONG_SECRET],
                WRONG_SECRET,
            ]
            for body in malformed:
                refused = api.post("/v1/plans/verify/start", json=body)
                seen.add(f"POST malformed {type(body).__name__}", refused.text)
                assert refused.status_code == 400, refused.text
            bad_name = api.post("/v1/plans/verify/start", json={WRONG_SECRET: "x"})
            seen.add("POST secret as a parameter name", bad_name.text)
            assert bad_name.status_code == 400
            # issue #12: a schedule holding the secret, and everything the console shows
            scheduled = plan(
                "schedule add", "--name=minio", "schedule", "add", "backup", "--every", "6h",
                *_creds(BACKUP_SECRET),
            )  # fmt: skip
            assert scheduled.exit_code == 0, scheduled.stderr
            plan("schedule list", "--name=minio", "schedule", "list")
            plan("schedule list --json", "schedule", "list", "--json")
            for path in ("/metrics", "/", "/ui/app.js", "/v1/overview", "/v1/runs"):
                seen.add(f"GET {path}", api.get(path).text)
            seen.add("GET /v1/schedules", api.get("/v1/schedules").text)
            for i, body in enumerate(receiver.wait(2)):
                seen.add(f"webhook body {i}", json.dumps(body))
            seen.add("webhook raw", b"".join(raw for _, raw in receiver.requests))
            receiver.stop()
        remote = plan(
            "cli --url status",
            "--url",
            url,
            "--token",
            token,
            "--name=minio",
            "plan",
            "status",
            "verify",
            "--json",
        )
        # the verify refused above is shown in ERROR with its reason (issue #9)
        assert remote.exit_code == ExitCode.PARTIAL, remote.stderr
        assert "verify could not start: " in remote.stdout, remote.stdout
        remote = plan(
            "cli --url start wrong",
            "--url",
            url,
            "--token",
            token,
            "--name=minio",
            "plan",
            "start",
            "verify",
            *_creds(WRONG_SECRET),
        )
        assert remote.exit_code == ExitCode.STORE, remote.stderr
        assert "access denied" in remote.stderr

    # reprs and strings of every config object holding a secret
    for obj in (
        get_service("minio"),
        load_services(),
        get_alias("live"),
        load_aliases(),
        parse_location("live/photos"),
        get_service("minio").endpoint.secret_access_key,
    ):
        seen.add(f"repr {type(obj).__name__}", repr(obj))
        seen.add(f"str {type(obj).__name__}", str(obj))
    endpoint = open_endpoint(get_alias("live"))
    seen.add(
        "repr endpoint",
        repr(endpoint) + repr(vars(endpoint) if hasattr(endpoint, "__dict__") else ""),
    )

    # logs
    seen.add("caplog", caplog.text)
    # the raw arguments too (a handler with another format could show them)
    seen.add(
        "log record args",
        "\n".join(f"{r.name} {r.args!r} {r.exc_info!s}" for r in caplog.records),
    )
    seen.add("debug log file", debug_log.read_bytes())
    assert caplog.records, "no log record at all: is DEBUG logging really captured?"

    t0 = time.monotonic()
    problems = seen.leaks()
    print(f"TIMING {time.monotonic() - t0:.2f} scanning, log bytes {len(caplog.text)}")
    # the state database, with its WAL and shared memory, and every file bucketvault wrote
    state = b"".join(p.read_bytes() for p in bucketvault_home.glob("state.db*"))
    assert state, "no state database"
    problems += [f"state.db*: {found}" for found in leaks(ALL_SECRETS, state)]
    problems += home_leaks(bucketvault_home, ALL_SECRETS)
    assert not problems, "\n".join(problems)
    # the files meant for secrets do hold them (so the search above would have seen them)
    assert leaks([LIVE_SECRET], (bucketvault_home / "services.json").read_bytes())
