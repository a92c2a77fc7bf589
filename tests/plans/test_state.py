"""The state database: schema version, runs cancelled by a shutdown, never-started plans."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bucketvault.errors import ConfigError
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.spec import PhaseSpec, PlanSpec, StepSpec
from bucketvault.plans.state import SCHEMA_VERSION, StateStore
from bucketvault.plans.status import Status
from bucketvault.plans.view import derive
from tests.plans.fakes import RESTORE_PARAMS, make_manager, step_status, wait_until


def test_schema_is_versioned(bucketvault_home: Path) -> None:
    store = StateStore()
    assert store.load("svc", "restore") is None
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer bucketvault"):
        StateStore().load("svc", "restore")


def test_home_directory_is_private(bucketvault_home: Path) -> None:
    StateStore().load("svc", "x")
    assert bucketvault_home.stat().st_mode & 0o777 == 0o700


def test_deploy_is_not_interrupted_before_start() -> None:
    spec = PlanSpec("deploy", (PhaseSpec("p", (StepSpec("s", "ok"),)),))
    assert derive(spec, None).status is Status.PENDING
    assert derive(PlanSpec("backup", spec.phases), None).status is Status.WAITING


async def test_shutdown_cancel_keeps_the_plan_running_for_next_start() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "block"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(
        lambda: step_status(m, "restore", "restore", "restore-0:[restore]") == "STARTED"
    )
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert step_status(m, "restore", "restore", "restore-0:[restore]") == "PENDING"
    assert m.plan_status("restore") is Status.IN_PROGRESS  # not interrupted
    assert m.resumable_plans() == ["restore"]
    scheduler = Scheduler({"svc": m})
    assert scheduler.resume_all() == [("svc", "restore")]
    await wait_until(lambda: m.running_pid("restore") is not None)
    await scheduler.aclose()
    assert m.running_pid("restore") is None
