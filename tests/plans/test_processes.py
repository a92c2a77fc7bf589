"""Across processes: a plan run killed with SIGKILL and continued elsewhere, operator
commands from another process, locks left by a dead process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketvault.errors import ConflictError
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.status import Status
from tests.plans.fakes import RESTORE_PARAMS, make_manager, step_status, wait_until

ROOT = Path(__file__).resolve().parents[2]
RESTORE = "restore-0:[restore]"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    d = tmp_path / "marker"
    d.mkdir()
    (d / "hold").touch()
    return d


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def run_in_subprocess(
    procs: list[subprocess.Popen[str]], service: str, plan: str
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.plans.run_plan", service, plan],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    return proc


def runs(marker: Path) -> list[str]:
    log = marker / "runs.log"
    return (
        [" ".join(line.split()[:2]) for line in log.read_text().splitlines()]
        if log.exists()
        else []
    )


async def test_killed_run_is_continued_by_a_new_scheduler(
    marker: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "gate", "MARKER": str(marker)})
    proc = run_in_subprocess(spawn, "svc", "restore")
    await wait_until(
        lambda: step_status(m, "restore", "restore", RESTORE) == "STARTED", what="step started"
    )
    assert m.running_pid("restore") == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    # the dead process's step is shown (and treated) as PENDING, its lease is void
    assert step_status(m, "restore", "restore", RESTORE) == "PENDING"
    assert m.running_pid("restore") is None
    assert m.resumable_plans() == ["restore"]

    (marker / "hold").unlink()
    scheduler = Scheduler(factory=lambda svc: make_manager(svc))
    stop = asyncio.Event()
    serving = asyncio.create_task(scheduler.serve_forever(stop))
    await wait_until(lambda: m.plan_status("restore") is Status.COMPLETE, what="completion")
    stop.set()
    await asyncio.wait_for(serving, 5)
    assert runs(marker) == [
        "init-0:[init] start",
        "init-0:[init] done",
        f"{RESTORE} start",
        f"{RESTORE} start",
        f"{RESTORE} done",
    ]


async def test_lock_of_a_killed_run_is_released(
    marker: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    m = make_manager()
    params = {**RESTORE_PARAMS, "S3_BUCKET": "a", "KIND": "gate", "MARKER": str(marker)}
    await m.start("restore", params)
    proc = run_in_subprocess(spawn, "svc", "restore")
    await wait_until(lambda: m.running_pid("restore") == proc.pid)
    other = make_manager("other")
    with pytest.raises(ConflictError, match="minio/a is in use"):
        await other.start("backup", {"BUCKETS": "a"})
    proc.kill()
    proc.wait(timeout=10)
    await other.start("backup", {"BUCKETS": "a"})
    assert await other.run("backup") is Status.COMPLETE


@pytest.mark.parametrize(
    ("command", "final", "step"),
    [
        pytest.param("pause", "WAITING", "PENDING", id="pause"),
        pytest.param("stop", "WAITING", "PENDING", id="stop"),
        pytest.param("force-complete", "COMPLETE", "COMPLETE", id="force-complete"),
    ],
)
async def test_command_from_another_process_reaches_the_runner(
    command: str, final: str, step: str, marker: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "gate", "MARKER": str(marker)})
    proc = run_in_subprocess(spawn, "svc", "restore")
    await wait_until(lambda: step_status(m, "restore", "restore", RESTORE) == "STARTED")
    if command == "pause":
        assert m.interrupt("restore")
    elif command == "stop":
        m.stop("restore")
    else:
        assert m.force_complete("restore", "restore", RESTORE)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip() == final
    assert m.status("restore")["status"] == final
    assert step_status(m, "restore", "restore", RESTORE) == step
    if command == "pause":  # resumable: continue here
        (marker / "hold").unlink()
        assert m.proceed("restore")
        assert await m.run("restore") is Status.COMPLETE
