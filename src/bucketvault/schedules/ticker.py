"""`ScheduleTicker`: starts the plans of due schedules on a `Scheduler`.

Every `interval` seconds (`tick`), each schedule whose next slot has come is handled
once: its plan is started and launched in the background, or — when the previous run
is still going (running here or in another process, or paused mid-run by an operator)
— the slot is skipped and counted, never doubled. Either way the schedule's next slot
becomes the first one after now. The clock is injected, so tests move time by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bucketvault.config.secret import looks_secret
from bucketvault.errors import BucketvaultError, ConflictError
from bucketvault.plans import secrets
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.status import Status
from bucketvault.plans.view import derive
from bucketvault.schedules.model import Schedule
from bucketvault.schedules.store import ScheduleStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass
class TickerHealth:
    """The ticker's own health, for `/metrics`."""

    started: float = 0.0
    last_tick: float | None = None
    ticks: int = 0
    tick_errors: int = 0
    fired: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Fired:
    """What happened to one due slot."""

    schedule: Schedule
    outcome: str
    started: bool
    skipped: bool


def busy_reason(manager: PlanManager, plan: str) -> str | None:
    """Why the plan must not be started again now, or None if it may."""
    state = manager.state.load(manager.service, plan)
    if state is None:
        return None
    if state.runner_alive:
        return f"the previous run is still going (pid {state.runner_pid})"
    if derive(state.spec, state).status in (Status.COMPLETE, Status.ERROR):
        return None
    if not state.interrupted:
        return "the previous run is unfinished and will be continued"
    if any(st.status is not Status.PENDING for st in state.steps.values()):
        return "the previous run was paused by an operator: resume or stop it"
    return None


class ScheduleTicker:
    def __init__(
        self,
        scheduler: Scheduler,
        store: ScheduleStore | None = None,
        *,
        clock: Clock = time.time,
        interval: float = 1.0,
    ) -> None:
        self.scheduler = scheduler
        self.store = store or ScheduleStore(scheduler.state)
        self.clock = clock
        self.interval = interval
        self.health = TickerHealth(started=clock())
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[Fired]:
        """Handle every schedule due now; returns what was done, in order."""
        now = self.clock()
        done = []
        for schedule in self.store.due(now):
            if not self.store.claim(schedule, now):
                continue  # taken by another scheduler, or changed meanwhile
            fired = await self._fire(schedule)
            self.store.record_fire(
                schedule,
                outcome=fired.outcome,
                started=fired.started,
                skipped=fired.skipped,
            )
            if fired.started:
                self.health.fired += 1
            elif fired.skipped:
                self.health.skipped += 1
            else:
                self.health.failed += 1
            log.info("schedule %s/%s: %s", schedule.service, schedule.id, fired.outcome)
            done.append(fired)
        self.health.ticks += 1
        self.health.last_tick = now
        return done

    async def _fire(self, schedule: Schedule) -> Fired:
        params = self.store.secret_params(schedule)
        hidden = [v for k, v in params.items() if looks_secret(k)]

        def result(outcome: str, *, started: bool = False, skipped: bool = False) -> Fired:
            return Fired(schedule, secrets.scrub(outcome, hidden), started, skipped)

        try:
            manager = self.scheduler.manager(schedule.service)
            reason = busy_reason(manager, schedule.plan)
            if reason is None and self.scheduler.is_running(schedule.service, schedule.plan):
                reason = "the previous run is still going"
            if reason is not None:
                return result(f"skipped: {reason}", skipped=True)
            await manager.start(schedule.plan, params)
        except ConflictError as exc:
            return result(f"skipped: {exc}", skipped=True)
        except BucketvaultError as exc:
            return result(f"not started: {exc}")
        self.scheduler.launch(schedule.service, schedule.plan)
        return result("started", started=True)

    async def run_forever(self) -> None:
        """Tick until cancelled; a failing tick is logged and counted, never fatal."""
        while True:
            try:
                await self.tick()
            except Exception:
                self.health.tick_errors += 1
                log.exception("schedule tick failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Run `run_forever` in the background of the running event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run_forever(), name="schedule ticker"
            )

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
