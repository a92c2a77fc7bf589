"""Progress of a running plan step on real servers (issue #9): the stored progress has a
sane rate and an ETA, and `plan status` shows them in binary units."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bucketvault.cli.plan_render import progress_text
from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import run_cli
from tests.support.faultproxy import Fault, FaultProxy

OBJECTS = 600
SIZE = 32 * 1024
STALL_S = 0.25  # every object's GET waits this long: ~5 s of steady transfer at 32 workers


@pytest.fixture
def slow_live(tmp_path: Path) -> Iterator[tuple[LoopbackServer, FaultProxy]]:
    with loopback_server("moto", tmp_path / "live") as live:
        client = boto_client(live)
        client.create_bucket(Bucket="slow")
        body = b"p" * SIZE
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: client.put_object(Bucket="slow", Key=f"obj-{i:04d}", Body=body),
                    range(OBJECTS),
                )
            )
        with FaultProxy(live, faults=[Fault.stall(STALL_S, method="GET", path=r"^/slow/.")]) as p:
            yield live, p


def _status() -> dict[str, Any]:
    result = run_cli("--name=slow", "plan", "status", "backup", "--json")
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_running_step_shows_a_sane_rate_and_an_eta(
    slow_live: tuple[LoopbackServer, FaultProxy], moto: LoopbackServer, bucketvault_home: Path
) -> None:
    live, proxy = slow_live
    added = run_cli(
        "service", "add", "slow", "--endpoint", proxy.url, "--backup-endpoint", moto.url,
        "--access-key", live.access_key, env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    keys = ["-p", f"ACCESS_KEY_ID={moto.access_key}", "-p", f"SECRET_ACCESS_KEY={moto.secret_key}"]
    env = {**os.environ, "BUCKETVAULT_HOME": str(bucketvault_home)}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bucketvault.cli.main",
            "--name=slow",
            "plan",
            "start",
            "backup",
            *keys,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and runner.poll() is None:
            phases = {p["name"]: p for p in _status()["phases"]}
            step = phases["backup"]["steps"][0] if phases["backup"]["steps"] else None
            progress = step.get("progress") if step else None
            if step and step["status"] == "STARTED" and progress:
                seen.append(progress)
                if progress.get("rate_bytes_per_s"):
                    break
            time.sleep(0.2)
        _, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode == 0, err
    moving = [p for p in seen if p.get("rate_bytes_per_s")]
    assert moving, f"no progress with a rate was seen while the step ran: {seen}"
    progress = moving[0]
    total = OBJECTS * SIZE
    assert 0 < progress["bytes_total"] <= total  # what is listed and planned so far
    # the first rate shown is measured over at least a second of transfer: no spike from
    # the first buffered chunks (the whole bucket in one second would be a spike here)
    assert 0 < progress["rate_bytes_per_s"] < total / 1.0, progress
    assert progress["eta_s"] is not None and progress["eta_s"] > 0, progress
    text = progress_text(progress)
    assert "/s, ETA " in text and "MiB" in text and "MB" not in text, text
    assert "backed up slow → 600 objects (18.8 MiB)" in err, err
