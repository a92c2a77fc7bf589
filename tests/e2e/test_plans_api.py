"""The plans through a real `bucketvault serve` process and its HTTP API, on real S3:
backup, loss, then a restore paused and resumed mid-run, ending byte-for-byte equal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bucketvault.loopback import LoopbackServer, free_port, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import run_cli, snapshot

TOKEN = "api-token-for-tests"
# enough that a restore is still running when a pause sent after its first object lands
OBJECTS = 1000


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with (
        loopback_server("moto", tmp_path / "live") as live,
        loopback_server("rclone", tmp_path / "backup") as backup,
    ):
        yield live, backup


@pytest.fixture
def api(
    stores: tuple[LoopbackServer, LoopbackServer], bucketvault_home: Path
) -> Iterator[httpx.Client]:
    live, backup = stores
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
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )
    assert added.exit_code == 0, added.stderr
    port = free_port()
    env = {**os.environ, "BUCKETVAULT_HOME": str(bucketvault_home), "BUCKETVAULT_TOKEN": TOKEN}
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
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if client.get("/v1/plans").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("bucketvault serve did not answer")
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=20)


def wait_for(client: httpx.Client, plan: str, done: Any, limit: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/plans/{plan}").json()
        if done(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"plan {plan} never reached the awaited state: {body}")


def restore_step(body: dict[str, Any]) -> dict[str, Any]:
    phase = next(p for p in body["phases"] if p["name"] == "restore")
    step: dict[str, Any] = phase["steps"][0]
    return step


def test_backup_then_restore_paused_and_resumed_over_http(
    api: httpx.Client, stores: tuple[LoopbackServer, LoopbackServer]
) -> None:
    live, backup = stores
    creds = {"ACCESS_KEY_ID": backup.access_key, "SECRET_ACCESS_KEY": backup.secret_key}
    seeder = boto_client(live)
    seeder.create_bucket(Bucket="photos")

    def seed_one(i: int) -> None:
        seeder.put_object(
            Bucket="photos",
            Key=f"img/{i:04d}.jpg",
            Body=os.urandom(2048),
            ContentType="image/jpeg",
            Metadata={"n": str(i)},
        )

    with ThreadPoolExecutor(8) as pool:  # boto3 clients are thread-safe
        list(pool.map(seed_one, range(OBJECTS)))
    original = snapshot(live, "photos", tags=False)

    assert httpx.get(api.base_url.join("/v1/plans")).status_code == 401
    assert api.post("/v1/plans/backup/start", json=creds).status_code == 200
    wait_for(api, "backup", lambda b: b["status"] == "COMPLETE")
    assert api.get("/v1/plans/backup").status_code == 200

    client = boto_client(live)
    keys = sorted(original)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        client.delete_objects(Bucket="photos", Delete={"Objects": batch})
    client.delete_bucket(Bucket="photos")

    started = api.post("/v1/plans/restore/start", json={**creds, "S3_BUCKET": "minio-photos"})
    assert started.status_code == 200
    running = wait_for(
        api,
        "restore",
        lambda b: (
            (restore_step(b)["progress"] or {}).get("objects_done", 0) > 0
            or b["status"] == "COMPLETE"
        ),
    )
    if running["status"] == "COMPLETE":
        pytest.skip("the restore finished before it could be paused")
    assert api.post("/v1/plans/restore/interrupt").status_code == 200
    assert api.post("/v1/plans/restore/interrupt").status_code == 208
    paused = wait_for(api, "restore", lambda b: restore_step(b)["status"] == "PENDING")
    assert paused["status"] == "WAITING"
    assert api.get("/v1/plans/restore").status_code == 202
    time.sleep(1.0)  # the runner sees the pause within its poll interval (0.25 s)
    copied_while_paused = len(
        boto_client(live).list_objects_v2(Bucket="photos").get("Contents", [])
    )
    time.sleep(1.0)
    still = len(boto_client(live).list_objects_v2(Bucket="photos").get("Contents", []))
    assert still == copied_while_paused < OBJECTS

    assert api.post("/v1/plans/restore/continue").status_code == 200
    finished = wait_for(api, "restore", lambda b: b["status"] in ("COMPLETE", "ERROR"))
    assert finished["status"] == "COMPLETE", finished
    assert api.get("/v1/plans/restore").status_code == 200
    assert snapshot(live, "photos", tags=False) == original
    assert backup.secret_key not in str(finished)
