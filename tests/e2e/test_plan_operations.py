"""Day-to-day plan operations on real loopback servers (issue #9): a plan that cannot
start, its history, credentials given again to force-restart/resume, pausing from
another terminal, verify reporting every bucket, and exit codes for work left undone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bucketvault.cli.plan_cmd import ALREADY
from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client, new_bucket_name
from tests.e2e import test_plans_cli as base
from tests.e2e.helpers import Result, alias_env, put, run_cli
from tests.e2e.test_plans_cli import BACKUP_SECRET, creds, plan, wipe

# the same two moto servers and service as the seed's story
live = base.live
backup = base.backup
service = base.service


def add_service(name: str, live_url: str, backup_url: str, access_key: str, secret: str) -> None:
    result = run_cli(
        "service",
        "add",
        name,
        "--endpoint",
        live_url,
        "--backup-endpoint",
        backup_url,
        "--access-key",
        access_key,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": secret},
    )
    assert result.exit_code == 0, result.stderr


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_plan_that_cannot_start_shows_error_and_why(
    backup: LoopbackServer, tmp_path: Path
) -> None:
    with loopback_server("moto", tmp_path / "gone") as gone:
        boto_client(gone).create_bucket(Bucket="photos")
        put(gone, "photos", "a.jpg", b"a")
        add_service("gone", gone.url, backup.url, gone.access_key, gone.secret_key)
        first = plan("gone", "start", "backup", *creds(backup))
        assert first.exit_code == 0, first.stderr
    # the live store is down now: the plan fails before any of its steps can start
    failed = plan("gone", "start", "backup", *creds(backup))
    assert failed.exit_code == ExitCode.STORE, failed.stderr
    assert "Error: " in one_line(failed)
    status = plan("gone", "status", "backup")
    assert status.exit_code == ExitCode.PARTIAL  # like any plan in ERROR
    lines = status.stdout.splitlines()
    assert lines[0] == "backup (serial strategy) (ERROR)", status.stdout  # not the last run
    reason = lines[lines.index("Errors:") + 1]
    assert reason.startswith("- backup could not start: "), status.stdout
    # its history shows the run that worked, then the failure with its reason
    logs = plan("gone", "logs", "backup")
    assert logs.exit_code == 0
    text = logs.stdout
    assert "backup-photos  COMPLETE  backed up photos → 1 object (1 B)" in text, text
    assert "plan  ERROR  backup could not start: " in text.splitlines()[-1], text
    events = [
        json.loads(line) for line in plan("gone", "logs", "backup", "--json").stdout.splitlines()
    ]
    assert events[-1]["status"] == "ERROR" and events[-1]["exit_code"] == ExitCode.STORE
    step_only = plan("gone", "logs", "backup", "backup-photos")
    assert all("backup-photos" in line for line in step_only.stdout.splitlines() if line[0] != " ")
    again = plan("gone", "force-restart", "backup")
    assert again.exit_code == ExitCode.USAGE
    assert "start it again with `plan start backup`" in one_line(again)
    for out in (failed, status, logs, again):
        assert BACKUP_SECRET not in out.stdout + out.stderr


def test_access_denied_before_start_is_recorded(rclone: LoopbackServer) -> None:
    """rclone serve s3 checks credentials: a wrong backup secret refuses the listing the
    verify plan is built from."""
    add_service("denied", rclone.url, rclone.url, rclone.access_key, rclone.secret_key)
    wrong = ["-p", f"ACCESS_KEY_ID={rclone.access_key}", "-p", "SECRET_ACCESS_KEY=wrong-secret"]
    result = plan("denied", "start", "verify", *wrong)
    assert result.exit_code == ExitCode.STORE, result.stderr
    status = plan("denied", "status", "verify", "--json")
    assert status.exit_code == ExitCode.PARTIAL
    body = json.loads(status.stdout)
    assert body["status"] == "ERROR"
    assert body["errors"][0].startswith("verify could not start: "), body
    assert "wrong-secret" not in status.stdout + result.stderr


def test_force_restart_and_resume_take_the_secret_again(
    service: str, live: LoopbackServer, backup: LoopbackServer, tmp_path: Path
) -> None:
    boto_client(live).create_bucket(Bucket="docs")
    put(live, "docs", "a.txt", b"one")
    assert plan(service, "start", "backup", *creds(backup)).exit_code == 0
    # completed: its kept secret is gone, so running it again needs the secret
    missing = plan(service, "force-restart", "backup")
    assert missing.exit_code == ExitCode.USAGE
    line = one_line(missing)
    assert "SECRET_ACCESS_KEY" in line and "--secret-file" in line, line
    assert plan(service, "status", "backup").stdout.startswith(
        "backup (serial strategy) (COMPLETE)"
    )
    changed = plan(service, "force-restart", "backup", "-p", "S3_BUCKET=minio-docs")
    assert changed.exit_code == ExitCode.USAGE and "start it again" in one_line(changed)
    secret_file = tmp_path / "secret"
    secret_file.write_text(backup.secret_key + "\n")
    secret_file.chmod(0o600)
    put(live, "docs", "b.txt", b"two")
    restarted = plan(
        service,
        "force-restart",
        "backup",
        "-p",
        f"ACCESS_KEY_ID={backup.access_key}",
        "--secret-file",
        str(secret_file),
    )
    assert restarted.exit_code == 0, restarted.stderr
    assert restarted.stdout == '"backup" plan has been restarted.\n'
    assert "backed up docs → 1 object" in restarted.stderr, restarted.stderr
    # stopped after completing: resume needs the secret too, here from the environment
    assert plan(service, "stop", "backup").exit_code == 0
    assert plan(service, "resume", "backup").exit_code == ExitCode.USAGE
    resumed = run_cli(
        f"--name={service}",
        "plan",
        "resume",
        "backup",
        env={"BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": backup.secret_key},
    )
    assert resumed.exit_code == 0, resumed.stderr
    assert plan(service, "status", "backup").exit_code == 0
    for out in (missing, restarted, resumed):
        assert BACKUP_SECRET not in out.stdout + out.stderr


def _cli_process(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BUCKETVAULT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "bucketvault.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_pause_from_another_terminal(
    live: LoopbackServer, bucketvault_home: Path, tmp_path: Path
) -> None:
    """A backup whose backup store went away keeps retrying its first step: it is in
    flight for a long time, which is when an operator pauses it from elsewhere."""
    with loopback_server("moto", tmp_path / "backup-gone") as gone:
        add_service("paused", live.url, gone.url, live.access_key, live.secret_key)
        keys = [
            "-p",
            f"ACCESS_KEY_ID={gone.access_key}",
            "-p",
            f"SECRET_ACCESS_KEY={gone.secret_key}",
        ]
    follower = _cli_process(bucketvault_home, "--name=paused", "plan", "start", "backup", *keys)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = json.loads(plan("paused", "status", "backup", "--json").stdout)
            if body["phases"][0]["steps"][0]["status"] in ("STARTED", "DELAYED"):
                break
            assert follower.poll() is None, follower.communicate()
            time.sleep(0.1)
        else:
            raise AssertionError("the backup's init step never started")
        paused = plan("paused", "pause", "backup")
        assert (paused.exit_code, paused.stdout) == (0, '"backup" plan has been paused.\n')
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == ExitCode.INTERRUPTED, err
    assert out == '"backup" plan has been started.\n'
    assert err.strip().splitlines()[-1] == (
        'Error: "backup" plan was paused (`plan pause`, from another terminal or the API): '
        "resume it with `bucketvault --name=paused plan resume backup`"
    )
    again = plan("paused", "pause", "backup")
    assert (again.exit_code, again.stderr) == (ExitCode.CONFLICT, f"Error: {ALREADY}\n")
    status = plan("paused", "status", "backup")
    assert status.exit_code == 0 and status.stdout.startswith("backup (serial strategy) (WAITING)")
    logs = plan("paused", "logs", "backup").stdout
    assert "plan  WAITING  paused" in logs, logs


def test_verify_reports_every_bucket(
    service: str, live: LoopbackServer, backup: LoopbackServer
) -> None:
    client = boto_client(live)
    buckets = ["aaa", "bbb", "ccc", "ddd"]  # more than the 2 steps that run at once
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
        put(live, bucket, "k", bucket.encode())
    assert plan(service, "start", "backup", *creds(backup)).exit_code == 0
    put(live, "aaa", "k", b"changed")  # the first bucket verified differs,
    put(live, "ccc", "new", b"n")  # and a later one
    verified = plan(service, "start", "verify", *creds(backup))
    assert verified.exit_code == ExitCode.PARTIAL, verified.stderr
    results = [line for line in verified.stderr.splitlines() if line.startswith("- verify-")]
    assert [line.split(":")[0] for line in results] == [f"- verify-{b}" for b in buckets]
    assert results[0].startswith("- verify-aaa: FAILED: aaa: 0 identical, ")
    assert results[1].startswith("- verify-bbb: bbb: 1 identical, 0 missing")
    assert results[2].startswith("- verify-ccc: FAILED: ccc: 1 identical, 1 missing")
    assert results[3].startswith("- verify-ddd: ddd: 1 identical")
    status = plan(service, "status", "verify")
    assert status.exit_code == ExitCode.PARTIAL
    for bucket, state in zip(buckets, ("ERROR", "COMPLETE", "ERROR", "COMPLETE"), strict=True):
        assert f"verify-{bucket} ({state})" in status.stdout, status.stdout
    assert "- differs: k" in status.stdout.replace("verify-aaa: ", ""), status.stdout


def test_mirror_exit_codes_and_units(moto: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=src)
    client.create_bucket(Bucket=dst)
    put(moto, src, "one", b"x" * 3000)
    env = alias_env(s=moto)
    copied = run_cli("mirror", f"s/{src}", f"s/{dst}", env=env)
    assert copied.exit_code == 0, copied.stderr
    assert "copied 1 object (2.9 KiB)" in copied.stderr, copied.stderr
    for key in ("x1", "x2", "x3"):
        put(moto, dst, key, b"extra")
    capped = run_cli("mirror", f"s/{src}", f"s/{dst}", "--remove", "--max-delete", "2", env=env)
    assert capped.exit_code == ExitCode.PARTIAL, capped.stderr  # deletes not done
    assert "deletes skipped: 3 deletions exceed --max-delete 2" in capped.stderr
    put(moto, src, "one", b"y" * 3000)
    kept = run_cli("mirror", f"s/{src}", f"s/{dst}", "--json", env=env)
    assert kept.exit_code == ExitCode.CONFLICT, kept.stderr
    summary = kept.json_lines()[-1]
    assert summary["type"] == "summary" and summary["conflicts"] == 1
    assert "MB" not in copied.stderr + capped.stderr


@pytest.fixture(autouse=True)
def _clean(live: LoopbackServer, backup: LoopbackServer) -> None:
    wipe(live)
    wipe(backup)
