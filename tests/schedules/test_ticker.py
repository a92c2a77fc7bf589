"""The schedule ticker with a clock moved by hand, on fake plans (no S3): a due slot
starts the plan once; a run still going when the next slot comes is not doubled (the
slot is skipped and counted); after downtime the missed slots start one run; paused
schedules wait; the secret parameter reaches the run but never the database."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.state import StateStore
from bucketvault.schedules import ScheduleStore, ScheduleTicker
from tests.plans.fakes import SECRET, FakeWork, make_manager, state_bytes

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def work() -> FakeWork:
    return FakeWork()


@pytest.fixture
async def parts(work: FakeWork) -> AsyncIterator[tuple[Scheduler, ScheduleStore, Clock]]:
    state = StateStore()
    scheduler = Scheduler(factory=lambda svc: make_manager(svc, work=work), state=state)
    try:
        yield scheduler, ScheduleStore(state), Clock(T0)
    finally:
        await scheduler.aclose()


def _params(marker: Path, kind: str = "ok") -> dict[str, str]:
    return {
        "KIND": kind,
        "MARKER": str(marker),
        "ACCESS_KEY_ID": "AKIAFAKE",
        "SECRET_ACCESS_KEY": SECRET,
    }


def _starts(marker: Path) -> int:
    log = marker / "runs.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if line.startswith("backup-a:[backup] start"))


async def _idle(scheduler: Scheduler) -> None:
    await asyncio.wait_for(scheduler.wait_idle(), timeout=20)


async def test_due_slot_starts_the_plan_once(
    parts: tuple[Scheduler, ScheduleStore, Clock], tmp_path: Path
) -> None:
    scheduler, store, clock = parts
    added = store.add(service="svc", plan="backup", params=_params(tmp_path), every_s=60, now=T0)
    assert added.next_run == T0 + 60
    ticker = ScheduleTicker(scheduler, store, clock=clock)
    clock.now = T0 + 59.9
    assert await ticker.tick() == []
    clock.now = T0 + 60
    fired = await ticker.tick()
    assert [(f.started, f.skipped, f.outcome) for f in fired] == [(True, False, "started")]
    assert await ticker.tick() == []  # the same slot never fires twice
    await _idle(scheduler)
    assert scheduler.manager("svc").plan_status("backup") == "COMPLETE"
    after = store.get("svc", added.id)
    assert (after.runs, after.skipped, after.failed) == (1, 0, 0)
    assert after.next_run == T0 + 120 and after.last_fire == T0 + 60
    assert _starts(tmp_path) == 1
    assert ticker.health.fired == 1 and ticker.health.ticks == 3


async def test_run_still_going_is_not_doubled(
    parts: tuple[Scheduler, ScheduleStore, Clock], tmp_path: Path
) -> None:
    scheduler, store, clock = parts
    hold = tmp_path / "hold"
    hold.touch()  # the `gate` step runs until this file is removed
    added = store.add(
        service="svc", plan="backup", params=_params(tmp_path, "gate"), every_s=60, now=T0
    )
    ticker = ScheduleTicker(scheduler, store, clock=clock)
    clock.now = T0 + 60
    assert [f.started for f in await ticker.tick()] == [True]
    for _ in range(500):  # the run has begun its work
        if _starts(tmp_path):
            break
        await asyncio.sleep(0.01)
    clock.now = T0 + 120
    skipped = await ticker.tick()
    assert [(f.started, f.skipped) for f in skipped] == [(False, True)]
    assert "still going" in skipped[0].outcome
    clock.now = T0 + 180
    assert [f.skipped for f in await ticker.tick()] == [True]
    hold.unlink()
    await _idle(scheduler)
    assert scheduler.manager("svc").plan_status("backup") == "COMPLETE"
    assert _starts(tmp_path) == 1  # one run, never two at once
    clock.now = T0 + 240
    assert [f.started for f in await ticker.tick()] == [True]
    await _idle(scheduler)
    after = store.get("svc", added.id)
    assert (after.runs, after.skipped, after.failed) == (2, 2, 0)
    assert ticker.health.skipped == 2
    assert _starts(tmp_path) == 2


async def test_missed_slots_after_downtime_start_one_run(
    parts: tuple[Scheduler, ScheduleStore, Clock], work: FakeWork, tmp_path: Path
) -> None:
    scheduler, store, clock = parts
    every = store.add(service="svc", plan="backup", params=_params(tmp_path), every_s=60, now=T0)
    cron = store.add(
        service="svc",
        plan="verify",
        params={"ACCESS_KEY_ID": "AKIAFAKE", "SECRET_ACCESS_KEY": SECRET},
        cron="*/5 * * * *",
        now=T0,
    )
    # the scheduler was down for ~3 hours: a new process, a new ticker
    clock.now = T0 + 3 * 3600 + 7
    ticker = ScheduleTicker(scheduler, ScheduleStore(StateStore()), clock=clock)
    fired = await ticker.tick()
    assert sorted((f.schedule.id, f.started) for f in fired) == [
        (every.id, True),
        (cron.id, True),
    ]
    assert await ticker.tick() == []
    await _idle(scheduler)
    assert _starts(tmp_path) == 1
    assert store.get("svc", every.id).next_run == T0 + 181 * 60
    assert store.get("svc", cron.id).next_run > clock.now
    assert store.get("svc", cron.id).next_run - clock.now <= 300
    assert work.runs.count("s1") == 2  # verify: phases first and second, one run


async def test_paused_schedule_waits_and_resumes_later(
    parts: tuple[Scheduler, ScheduleStore, Clock], tmp_path: Path
) -> None:
    scheduler, store, clock = parts
    added = store.add(service="svc", plan="backup", params=_params(tmp_path), every_s=60, now=T0)
    assert store.set_paused("svc", added.id, True, T0 + 1)
    assert not store.set_paused("svc", added.id, True, T0 + 1)
    ticker = ScheduleTicker(scheduler, store, clock=clock)
    clock.now = T0 + 600
    assert await ticker.tick() == []
    assert store.set_paused("svc", added.id, False, clock.now)
    assert store.get("svc", added.id).next_run == T0 + 660  # missed slots not made up
    assert await ticker.tick() == []
    clock.now = T0 + 660
    assert [f.started for f in await ticker.tick()] == [True]
    await _idle(scheduler)


async def test_secret_reaches_the_run_but_not_the_database(
    parts: tuple[Scheduler, ScheduleStore, Clock],
    work: FakeWork,
    tmp_path: Path,
    bucketvault_home: Path,
) -> None:
    scheduler, store, clock = parts
    added = store.add(service="svc", plan="backup", params=_params(tmp_path), every_s=60, now=T0)
    assert added.params["SECRET_ACCESS_KEY"] == "********"
    kept = bucketvault_home / "secrets" / f"svc.schedule.{added.id}.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text()) == {"SECRET_ACCESS_KEY": SECRET}
    clock.now = T0 + 60
    await ScheduleTicker(scheduler, store, clock=clock).tick()
    await _idle(scheduler)
    assert work.params_seen and all(p["SECRET_ACCESS_KEY"] == SECRET for p in work.params_seen)
    assert SECRET.encode() not in state_bytes(bucketvault_home)
    assert kept.exists()  # the plan's own copy is gone once it completed; the schedule's stays
    store.remove("svc", added.id)
    assert not kept.exists()


async def test_a_start_that_fails_is_counted_and_says_why(
    parts: tuple[Scheduler, ScheduleStore, Clock],
) -> None:
    scheduler, store, clock = parts
    # the fake restore plan needs S3_BUCKET: building it fails
    added = store.add(
        service="svc",
        plan="restore",
        params={"ACCESS_KEY_ID": "AKIAFAKE", "SECRET_ACCESS_KEY": SECRET},
        every_s=60,
        now=T0,
    )
    ticker = ScheduleTicker(scheduler, store, clock=clock)
    clock.now = T0 + 60
    fired = await ticker.tick()
    assert [(f.started, f.skipped) for f in fired] == [(False, False)]
    assert fired[0].outcome.startswith("not started: ") and "S3_BUCKET" in fired[0].outcome
    after = store.get("svc", added.id)
    assert (after.runs, after.failed, after.next_run) == (0, 1, T0 + 120)
    assert ticker.health.failed == 1


async def test_two_schedulers_on_one_database_fire_a_slot_once(
    parts: tuple[Scheduler, ScheduleStore, Clock], work: FakeWork, tmp_path: Path
) -> None:
    scheduler, store, clock = parts
    store.add(service="svc", plan="backup", params=_params(tmp_path), every_s=60, now=T0)
    other = Scheduler(factory=lambda svc: make_manager(svc, work=work), state=StateStore())
    try:
        first = ScheduleTicker(scheduler, store, clock=clock)
        second = ScheduleTicker(other, ScheduleStore(StateStore()), clock=clock)
        clock.now = T0 + 60
        due = store.due(clock.now)
        assert len(due) == 1
        assert store.claim(due[0], clock.now)
        assert not store.claim(due[0], clock.now)  # the same slot, seen before the claim
        assert await first.tick() == [] and await second.tick() == []
        clock.now = T0 + 120
        fired = [*await first.tick(), *await second.tick()]
        assert [f.started for f in fired] == [True]
        await _idle(scheduler)
        await asyncio.wait_for(other.wait_idle(), timeout=20)
        assert _starts(tmp_path) == 1
    finally:
        await other.aclose()
