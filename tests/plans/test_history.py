"""Plan history (`plan logs`), plans that fail before their steps start, parameters given
again to resume/force-restart, and completed steps that left work undone."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from bucketvault.config.secret import MASK
from bucketvault.errors import AccessDeniedError, ExitCode, PlanInputError
from bucketvault.plans import secrets, state
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.operations import MissingSecretError
from bucketvault.plans.spec import PlanSpec, StepContext, StepOutcome, StepSpec
from bucketvault.plans.state import StateStore
from bucketvault.plans.status import Status
from tests.plans.fakes import FAST, RESTORE_PARAMS, SECRET, FakeBuilder, FakeWork, state_bytes

RESTORE = "restore-0:[restore]"


class DenyingBuilder(FakeBuilder):
    """Builds like FakeBuilder, except that with DENY=1 the store it lists refuses."""

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        if params.get("DENY"):
            raise AccessDeniedError(f"access denied listing buckets (key {SECRET})")
        return await super().build(plan, params)


class Work(FakeWork):
    async def _kept(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        return StepOutcome(
            "restored 3 objects, 2 differing at the target kept",
            exit_code=int(ExitCode.CONFLICT),
            details=("kept (differs at the target): a", "kept (differs at the target): b"),
        )


def manager(work: FakeWork | None = None) -> PlanManager:
    return PlanManager("svc", DenyingBuilder(), work or Work(), StateStore(), FAST)


async def test_a_plan_that_cannot_be_built_is_recorded_in_error(bucketvault_home: Path) -> None:
    m = manager()
    await m.start("restore", RESTORE_PARAMS)
    assert await m.run("restore") is Status.COMPLETE
    with pytest.raises(AccessDeniedError):
        await m.start("restore", {**RESTORE_PARAMS, "DENY": "1"})
    body = m.status("restore")
    assert body["status"] == "ERROR"  # not the previous run's COMPLETE
    assert body["errors"] == [
        f"restore could not start: access denied listing buckets (key {MASK})"
    ]
    assert m.exit_code("restore") == ExitCode.STORE
    with pytest.raises(PlanInputError, match="start it again with `plan start restore`"):
        m.restart("restore")
    assert SECRET.encode() not in state_bytes(bucketvault_home)
    assert not any(e.message.count(SECRET) for e in m.logs("restore"))
    # bad input is not recorded: it changes nothing
    with pytest.raises(PlanInputError):
        await m.start("restore", {"S3_BUCKET": "x"})
    assert m.status("restore")["errors"][0].startswith("restore could not start")
    await m.start("restore", RESTORE_PARAMS)  # a good start replaces the failure
    assert await m.run("restore") is Status.COMPLETE


async def test_logs_record_each_step_with_counts_and_first_errors() -> None:
    m = manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "errors", "COUNT": "25"})
    assert await m.run("restore") is Status.ERROR
    events = m.logs("restore")
    assert events[0].message == (
        "plan started (parameters: ACCESS_KEY_ID, COUNT, KIND, S3_BUCKET, SECRET_ACCESS_KEY)"
    )
    steps = [(e.step, e.status) for e in events if e.step]
    assert steps == [
        ("init-0:[init]", "STARTED"),
        ("init-0:[init]", "COMPLETE"),
        (RESTORE, "STARTED"),
        (RESTORE, "ERROR"),
    ]
    failed = m.logs("restore", RESTORE)[-1]
    assert failed.details["error_count"] == 25
    assert failed.details["first_errors"][0] == f"{RESTORE}: key-0: AccessDenied"
    assert len(failed.details["first_errors"]) == 10
    assert events[-1].message == "plan ended ERROR"
    with pytest.raises(Exception, match="did you mean 'restore-0:\\[restore\\]'"):
        m.logs("restore", "restore-0:[restor]")


async def test_logs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MAX_EVENTS", 12)
    m = manager()
    for _ in range(4):
        await m.start("restore", RESTORE_PARAMS)
        assert await m.run("restore") is Status.COMPLETE
    events = m.logs("restore")
    assert len(events) == 12
    assert events[-1].message == "plan ended COMPLETE"


async def test_force_restart_after_complete_needs_the_secret_again() -> None:
    work = Work()
    m = manager(work)
    await m.start("restore", RESTORE_PARAMS)
    assert await m.run("restore") is Status.COMPLETE
    assert secrets.load("svc", "restore") == {}  # deleted on completion
    with pytest.raises(MissingSecretError, match="SECRET_ACCESS_KEY again") as info:
        m.restart("restore")
    assert info.value.names == ["SECRET_ACCESS_KEY"]
    assert m.plan_status("restore") is Status.COMPLETE  # refused: nothing changed
    with pytest.raises(PlanInputError, match="S3_BUCKET differs"):
        m.restart("restore", params={"S3_BUCKET": "svc-other", "SECRET_ACCESS_KEY": "x"})
    assert m.restart("restore", params={"SECRET_ACCESS_KEY": "new-" + SECRET}) is True
    assert await m.run("restore") is Status.COMPLETE
    assert work.params_seen[-1]["SECRET_ACCESS_KEY"] == "new-" + SECRET
    assert work.params_seen[-1]["S3_BUCKET"] == RESTORE_PARAMS["S3_BUCKET"]


async def test_resume_takes_the_secret_again() -> None:
    work = Work()
    m = manager(work)
    await m.start("restore", RESTORE_PARAMS)
    assert await m.run("restore") is Status.COMPLETE
    m.stop("restore")
    with pytest.raises(MissingSecretError):
        m.proceed("restore")
    assert m.proceed("restore", params={"SECRET_ACCESS_KEY": SECRET}) is True
    assert await m.run("restore") is Status.COMPLETE
    assert m.proceed("restore") is False  # not paused: 208, not a missing secret


async def test_work_left_undone_is_not_success() -> None:
    m = manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "kept"})
    assert await m.run("restore") is Status.COMPLETE
    assert m.exit_code("restore") == ExitCode.CONFLICT
    step = m.status("restore")["phases"][1]["steps"][0]
    assert step["exit_code"] == ExitCode.CONFLICT
    last = m.logs("restore", RESTORE)[-1]
    assert last.status == "COMPLETE" and last.details["exit_code"] == 4
    assert last.details["details"][0] == "kept (differs at the target): a"


async def test_halted_says_paused_or_stopped() -> None:
    m = manager()
    await m.start("verify", {})
    assert m.halted("verify") == ("", None)
    m.interrupt("verify", "second")
    assert m.halted("verify") == ("paused", "second")
    m.interrupt("verify")
    assert m.halted("verify") == ("paused", None)
    m.stop("verify")
    assert m.halted("verify") == ("stopped", None)
    await asyncio.sleep(0)


async def test_logs_show_retries_with_their_reason() -> None:
    m = manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "flaky", "FAILS": "1"})
    assert await m.run("restore") is Status.COMPLETE
    events = m.logs("restore", RESTORE)
    assert [(e.status, e.details.get("attempt")) for e in events] == [
        ("STARTED", 1),
        ("DELAYED", None),
        ("STARTED", 2),
        ("COMPLETE", None),
    ]
    assert "retrying in" in events[1].message and "SlowDown" in events[1].message
