"""Operator commands: pause/resume mid-run, stop, force-restart, force-complete, 208 cases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bucketvault.errors import NotFoundError, PlanInputError
from bucketvault.plans.status import Status
from tests.plans.fakes import RESTORE_PARAMS, FakeWork, make_manager, step_status, wait_until

RESTORE = "restore-0:[restore]"


async def test_pause_and_resume_mid_run() -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "sleep", "SECONDS": "0.3"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(lambda: step_status(m, "restore", "restore", RESTORE) == "STARTED")
    assert m.interrupt("restore") is True
    assert await asyncio.wait_for(run, 5) is Status.WAITING
    st = m.status("restore")
    assert st["status"] == "WAITING"
    assert st["phases"][0]["status"] == "COMPLETE"
    assert st["phases"][1]["steps"][0]["status"] == "PENDING"
    assert m.interrupt("restore") is False  # 208: already
    assert m.proceed("restore") is True
    assert m.proceed("restore") is False  # 208
    assert m.status("restore")["status"] == "IN_PROGRESS"
    assert await m.run("restore") is Status.COMPLETE
    assert work.runs == ["init-0:[init]", RESTORE, RESTORE]  # init not re-run


async def test_pause_one_phase() -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("verify", {})
    assert m.interrupt("verify", "second") is True
    assert m.interrupt("verify", "second") is False
    assert await m.run("verify") is Status.WAITING
    st = m.status("verify")
    assert [p["status"] for p in st["phases"]] == ["COMPLETE", "WAITING"]
    assert work.runs == ["s1", "s2"]
    assert m.proceed("verify", "second") is True
    assert await m.run("verify") is Status.COMPLETE


async def test_stop_resets_every_step() -> None:
    m = make_manager()
    await m.start("backup", {"KIND": "block"})
    run = asyncio.create_task(m.run("backup"))
    await wait_until(lambda: step_status(m, "backup", "backup", "backup-a:[backup]") == "STARTED")
    m.stop("backup")
    assert await asyncio.wait_for(run, 5) is Status.WAITING
    st = m.status("backup")
    assert st["status"] == "WAITING"
    assert all(s["status"] == "PENDING" for p in st["phases"] for s in p["steps"])
    m.stop("backup")  # idempotent


async def test_force_complete_a_running_step() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "block"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(lambda: step_status(m, "restore", "restore", RESTORE) == "STARTED")
    assert m.force_complete("restore", "restore", RESTORE) is True
    assert await asyncio.wait_for(run, 5) is Status.COMPLETE
    assert m.status("restore")["phases"][1]["steps"][0]["message"] == "forced to complete"
    assert m.force_complete("restore", "restore", RESTORE) is False  # 208


async def test_force_complete_an_errored_step_lets_the_plan_finish() -> None:
    m = make_manager()
    await m.start("verify", {"KIND": "fail"})
    assert await m.run("verify") is Status.ERROR
    assert m.force_complete("verify", "first", "s1") is True
    assert m.status("verify")["errors"] == []
    m.force_complete("verify", "first", "s2")
    m.force_complete("verify", "second", "s1")
    m.force_complete("verify", "second", "s2")
    assert m.status("verify")["status"] == "COMPLETE"


async def test_force_restart_one_step(bucketvault_home: Path) -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("verify", {})
    assert await m.run("verify") is Status.COMPLETE
    assert m.restart("verify", "second", "s2") is True
    st = m.status("verify")
    assert st["status"] == "IN_PROGRESS"
    assert [s["status"] for s in st["phases"][1]["steps"]] == ["COMPLETE", "PENDING"]
    assert m.restart("verify", "second", "s2") is False  # 208: already pending
    assert await m.run("verify") is Status.COMPLETE
    assert work.runs == ["s1", "s2", "s1", "s2", "s2"]


async def test_force_restart_plan_and_phase() -> None:
    m = make_manager()
    await m.start("verify", {})
    await m.run("verify")
    assert m.restart("verify", "first") is True
    assert [p["status"] for p in m.status("verify")["phases"]] == ["PENDING", "COMPLETE"]
    assert m.restart("verify") is True
    assert m.status("verify")["status"] == "PENDING"
    assert m.restart("verify") is False


async def test_restart_un_interrupts() -> None:
    m = make_manager()
    await m.start("verify", {})
    m.interrupt("verify")
    assert m.restart("verify") is True
    assert m.status("verify")["status"] == "PENDING"


async def test_interrupt_complete_plan_is_208() -> None:
    m = make_manager()
    await m.start("verify", {})
    await m.run("verify")
    assert m.interrupt("verify") is False
    assert m.interrupt("verify", "first") is False


def test_never_started_plan() -> None:
    m = make_manager()
    assert m.interrupt("restore") is False
    m.stop("restore")
    with pytest.raises(PlanInputError, match="has not been started yet"):
        m.proceed("restore")
    with pytest.raises(PlanInputError, match="has not been started yet"):
        m.restart("restore")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(
            lambda m: m.interrupt("verify", "third"),
            NotFoundError,
            "phase 'third' not found in plan 'verify': phases are first, second",
            id="unknown-phase",
        ),
        pytest.param(
            lambda m: m.force_complete("verify", "first", "s9"),
            NotFoundError,
            "step 's9' not found in phase 'first'",
            id="unknown-step",
        ),
        pytest.param(
            lambda m: m.restart("verify", None, "s1"),
            PlanInputError,
            "step 's1' given without its phase",
            id="step-without-phase",
        ),
        pytest.param(
            lambda m: m.force_complete("verify", "first", None),
            PlanInputError,
            "needs both a phase and a step",
            id="force-complete-without-phase",
        ),
        pytest.param(lambda m: m.stop("nope"), NotFoundError, "plan 'nope'", id="unknown-plan"),
    ],
)
def test_bad_names(call: object, error: type[Exception], match: str) -> None:
    assert callable(call)
    with pytest.raises(error, match=match):
        call(make_manager())
