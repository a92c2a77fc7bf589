"""`bucketvault schedule ...` through the CLI, and one schedule run end to end by a real
`bucketvault serve` process (`--every 2s`) backing up a real loopback S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer, free_port, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import run_cli
from tests.notify.receiver import Receiver
from tests.plans.fakes import state_bytes

BACKUP_SECRET = "bkup/Sched+S3cret-0123456789abcdef"


def _add_service(live: LoopbackServer, backup: LoopbackServer, *extra: str) -> None:
    added = run_cli(
        "service",
        "add",
        "minio",
        "--endpoint",
        live.url,
        "--backup-endpoint",
        backup.url,
        "--access-key",
        live.access_key,
        *extra,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )
    assert added.exit_code == 0, added.stderr


@pytest.fixture
def service(moto: LoopbackServer) -> None:
    _add_service(moto, moto)


def test_add_list_pause_resume_remove(service: None, bucketvault_home: Path) -> None:
    env = {"BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": BACKUP_SECRET}
    added = run_cli(
        "--name=minio",
        "schedule",
        "add",
        "backup",
        "--every",
        "6h",
        "-p",
        "ACCESS_KEY_ID=AK",
        env=env,
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout.startswith('Schedule "backup-1" added: backup every 6h, next run at ')
    cron = run_cli(
        "--name=minio",
        "schedule",
        "add",
        "verify",
        "--cron",
        "0 2 * * *",
        "--id",
        "nightly",
        "-p",
        "ACCESS_KEY_ID=AK",
        "--secret-stdin",
        input=BACKUP_SECRET + "\n",
    )
    assert cron.exit_code == 0, cron.stderr
    listed = run_cli("--name=minio", "schedule", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["plan"], r["when"], r["paused"]) for r in rows] == [
        ("backup-1", "backup", "every 6h", False),
        ("nightly", "verify", "cron 0 2 * * *", False),
    ]
    assert rows[1]["next_run"].endswith("T02:00:00Z")
    assert rows[0]["params"] == {"ACCESS_KEY_ID": "AK", "SECRET_ACCESS_KEY": "********"}
    text = run_cli("--name=minio", "schedule", "list").stdout
    assert "backup-1\tbackup\tevery 6h\tnext " in text and "never run" in text

    assert run_cli("--name=minio", "schedule", "pause", "nightly").exit_code == 0
    again = run_cli("--name=minio", "schedule", "pause", "nightly")
    assert again.exit_code == ExitCode.CONFLICT and "already paused" in again.stderr
    assert "paused" in run_cli("--name=minio", "schedule", "list").stdout
    resumed = run_cli("--name=minio", "schedule", "resume", "nightly")
    assert resumed.exit_code == 0 and "next run at" in resumed.stdout
    assert run_cli("--name=minio", "schedule", "remove", "backup-1").exit_code == 0
    gone = run_cli("--name=minio", "schedule", "remove", "backup-1")
    assert gone.exit_code == ExitCode.NOT_FOUND
    assert gone.stderr.count("\n") == 1 and "schedules: nightly" in gone.stderr

    everything = [added, cron, listed, resumed, gone]
    for result in everything:
        assert BACKUP_SECRET not in result.stdout + result.stderr
    assert BACKUP_SECRET.encode() not in state_bytes(bucketvault_home)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["backup"], ExitCode.USAGE, "exactly one of --cron"),
        (["backup", "--every", "5m", "--cron", "* * * * *"], ExitCode.USAGE, "exactly one"),
        (["backup", "--every", "soon"], ExitCode.USAGE, "is not a duration"),
        (["backup", "--cron", "* * *"], ExitCode.USAGE, "is not a cron expression"),
        (["backup", "--every", "5m"], ExitCode.USAGE, "missing SECRET_ACCESS_KEY"),
        (["backupp", "--every", "5m"], ExitCode.USAGE, "no plan 'backupp'"),
        (["backup", "--every", "5m", "-p", "NOPE"], ExitCode.USAGE, "has no '='"),
    ],
    ids=["no-when", "both", "bad-every", "bad-cron", "no-secret", "bad-plan", "bad-param"],
)
def test_bad_input_is_one_line_and_changes_nothing(
    service: None, args: list[str], code: int, message: str
) -> None:
    result = run_cli("--name=minio", "schedule", "add", *args, "-p", "ACCESS_KEY_ID=AK")
    assert result.exit_code == code, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert run_cli("--name=minio", "schedule", "list").stdout == ""


def test_unknown_service(bucketvault_home: Path) -> None:
    result = run_cli("--name=nope", "schedule", "add", "backup", "--every", "5m")
    assert result.exit_code == ExitCode.NOT_FOUND and "no service 'nope'" in result.stderr
    assert run_cli("schedule", "remove", "x").exit_code == ExitCode.USAGE


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with (
        loopback_server("moto", tmp_path / "live") as live,
        loopback_server("rclone", tmp_path / "backup") as backup,
    ):
        yield live, backup


def test_serve_runs_a_schedule_every_few_seconds(
    stores: tuple[LoopbackServer, LoopbackServer], bucketvault_home: Path
) -> None:
    live, backup = stores
    receiver = Receiver().start()
    _add_service(live, backup, "--notify", receiver.url)
    seeder = boto_client(live)
    seeder.create_bucket(Bucket="photos")
    seeder.put_object(Bucket="photos", Key="a.jpg", Body=b"first")
    added = run_cli(
        "--name=minio",
        "schedule",
        "add",
        "backup",
        "--every",
        "2s",
        "-p",
        f"ACCESS_KEY_ID={backup.access_key}",
        env={"BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": backup.secret_key},
    )
    assert added.exit_code == 0, added.stderr
    port = free_port()
    env = {**os.environ, "BUCKETVAULT_HOME": str(bucketvault_home)}
    env.pop("BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bucketvault.cli.main",
            "--name=minio",
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def schedule() -> dict[str, object]:
        listed = run_cli("--name=minio", "schedule", "list", "--json")
        row: dict[str, object] = json.loads(listed.stdout.splitlines()[0])
        return row

    def backed_up() -> set[str]:
        client_b = boto_client(backup)
        try:
            found = client_b.list_objects_v2(Bucket="minio-photos").get("Contents", [])
        except client_b.exceptions.NoSuchBucket:
            return set()
        return {item["Key"] for item in found}

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            row = schedule()
            status = client.get("/v1/plans/backup").json() if row["runs"] else {}
            if "a.jpg" in backed_up() and status.get("status") == "COMPLETE":
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"the scheduled backup never completed: {schedule()}")
        # a second object is picked up by a later run, without anyone starting it
        seeder.put_object(Bucket="photos", Key="b.jpg", Body=b"second")
        while time.monotonic() < deadline:
            if "b.jpg" in backed_up():
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"no later scheduled run backed up b.jpg: {schedule()}")
        row = schedule()
        assert int(str(row["runs"])) >= 2, row
        # /metrics: the recovery point, the schedule, and the snapshots the scheduler read
        # with the schedule's own credentials
        wanted = {
            ("bucketvault_backup_last_success_timestamp_seconds", "photos"),
            ("bucketvault_snapshots", "photos"),
            ("bucketvault_schedule_interval_seconds", ""),
        }
        found: dict[tuple[str, str], float] = {}
        while time.monotonic() < deadline and not (
            wanted <= set(found) and found[("bucketvault_snapshots", "photos")] >= 2
        ):
            text = client.get("/metrics").text
            found = {
                (s.name, s.labels.get("bucket", "")): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            time.sleep(0.25)
        assert wanted <= set(found), sorted(found)
        assert found[("bucketvault_snapshots", "photos")] >= 2
        assert found[("bucketvault_schedule_interval_seconds", "")] == 2
        # the service's webhook heard of the runs, from the real serve
        told = receiver.wait(1, limit=30)
        assert told[0]["event"] == "plan.complete" and told[0]["plan"] == "backup"
        assert told[0]["buckets"][0]["bucket"] == "photos"
    finally:
        receiver.stop()
        client.close()
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert backup.secret_key.encode() not in err
    assert not [raw for _, raw in receiver.requests if backup.secret_key.encode() in raw]
    assert backup.secret_key.encode() not in state_bytes(bucketvault_home)
