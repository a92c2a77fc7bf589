"""A plan run in the foreground (by hand, or from cron) counts like one of `bucketvault
serve`: its webhooks are sent before the CLI exits, and it is in the run history that
/metrics reads (the last successful backup of each bucket)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from bucketvault.runs import RunStore
from tests.conftest import boto_client
from tests.e2e.helpers import put, run_cli
from tests.notify.receiver import Receiver


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path / "live") as server:
        yield server


def test_foreground_backup_is_notified_and_recorded(
    live: LoopbackServer, rclone: LoopbackServer, bucketvault_home: Path
) -> None:
    boto_client(live).create_bucket(Bucket="data")
    put(live, "data", "a.txt", b"a")
    with Receiver() as receiver:
        added = run_cli(
            "service", "add", "minio", "--endpoint", live.url, "--backup-endpoint", rclone.url,
            "--access-key", live.access_key, "--notify", receiver.url,
            env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
        )  # fmt: skip
        assert added.exit_code == 0, added.stderr
        before = time.time()
        ran = run_cli(
            "--name=minio", "plan", "start", "backup",
            "-p", f"ACCESS_KEY_ID={rclone.access_key}",
            "-p", f"SECRET_ACCESS_KEY={rclone.secret_key}",
        )  # fmt: skip
        assert ran.exit_code == 0, ran.stderr
        # sent before the command returned: no waiting needed here
        bodies = receiver.bodies()
    assert [(b["service"], b["plan"], b["status"]) for b in bodies] == [
        ("minio", "backup", "COMPLETE")
    ]
    assert rclone.secret_key not in str(bodies) and live.secret_key not in str(bodies)
    success = RunStore().last_backup_success()
    assert success[("minio", "data")] >= before
