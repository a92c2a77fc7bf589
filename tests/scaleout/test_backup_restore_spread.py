"""Backup, restore and verify steps of a service whose `--executor` spreads them over
worker processes or a Ray cluster: snapshots, history and restored buckets exactly as a
one-process run makes them, across several key ranges (the journal's records sent range
by range). Plans run in a child process, as a user runs them: a Ray driver does not
belong inside pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import Result, put, run_cli
from tests.history.test_history_e2e import add_service, creds, damage, fill, view

MANY = 1200  # more keys than the first range's budget, so the work is cut into ranges


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LoopbackServer]:
    # rclone: reading back every object to compare (`view`) is several times quicker than
    # on moto; odd keys through workers are covered by test_real_servers' corpus on moto
    with loopback_server("rclone", tmp_path / "live") as server:
        yield server


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server("rclone", tmp_path / "backup") as server:
        yield server


def fill_many(live: LoopbackServer, bucket: str) -> None:
    fill(live, bucket, odd=False)
    keys = [f"many/{i:05d}" for i in range(MANY)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: put(live, bucket, key, os.urandom(64)), keys))


def plan(*args: str) -> Result:
    """`bucketvault --name=minio plan ...` in a child process (the test's environment:
    its home, and the Ray cluster's address, token and key when on Ray)."""
    done = subprocess.run(
        [sys.executable, "-m", "bucketvault.cli.main", "--name=minio", "plan", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_backup_damage_backup_restore_through_workers(
    live: LoopbackServer, backup: LoopbackServer, executor: str, request: pytest.FixtureRequest
) -> None:
    if executor == "ray":
        request.getfixturevalue("on_ray")
    add_service(live, backup, "--executor", executor, "--executor-workers", "2")
    fill_many(live, "data")
    original = view(live, "data")

    first = plan("start", "backup", *creds(backup))
    assert first.exit_code == 0, first.stderr
    damage(live, "data")
    changed = range(0, MANY, 500)  # changes spread over several ranges
    for i in changed:
        put(live, "data", f"many/{i:05d}", b"changed")
    boto_client(live).delete_object(Bucket="data", Key="many/00007")
    damaged = view(live, "data")
    second = plan("start", "backup", *creds(backup))
    assert second.exit_code == 0, second.stderr
    verified = plan("start", "verify", *creds(backup))
    assert verified.exit_code == 0, verified.stderr
    assert f"{len(damaged):,} identical, 0 missing" in plan("status", "verify").stdout
    for i in (3, 1103):  # drift in two ranges is found, every key of it named
        put(live, "data", f"many/{i:05d}", b"drifted")
    drifted = plan("start", "verify", *creds(backup))
    assert drifted.exit_code != 0
    status = plan("status", "verify").stdout
    assert "differs: many/00003" in status and "differs: many/01103" in status, status

    listed = run_cli("--name=minio", "snapshot", "list", "minio-data", *creds(backup), "--json")
    assert listed.exit_code == 0, listed.stderr
    snaps = listed.json_lines()
    assert [s["objects"] for s in snaps] == [len(original), len(damaged)]
    assert snaps[1]["changed"] == 4 + len(changed)
    assert snaps[1]["deleted"] == 3 + 1 and snaps[1]["added"] == 1

    def restore(target: str, *extra: str) -> dict[str, dict[str, Any]]:
        args = ("-p", "S3_BUCKET=minio-data", "-p", f"TARGET_BUCKET={target}", *extra)
        result = plan("start", "restore", *creds(backup), *args)
        assert result.exit_code == 0, result.stderr
        return view(live, target)

    assert restore("data-first", "-p", f"SNAPSHOT={snaps[0]['id']}") == original
    assert restore("data-now") == damaged  # the latest: before the drift
    part = restore("data-part", "-p", f"SNAPSHOT={snaps[0]['id']}", "-p", "PREFIX=many/")
    assert part == {k: v for k, v in original.items() if k.startswith("many/")}
