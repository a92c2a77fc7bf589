"""`Scheduler`: the plan managers of several services, and the plans running in the
background of one long-lived process (`bucketvault serve`).

On startup (`serve_forever`) it continues every plan that was running — started, not
interrupted, neither COMPLETE nor ERROR, no live runner — when its process was killed.
Operator commands coming through the API call `launch` afterwards, which (re)starts the
plan's background run if it is not running in this process already.

Every background run that ends COMPLETE or ERROR is told to the `listeners` (run
history, metrics, notifications), each called once with a `RunEnd`; a listener that
fails is logged and never affects the plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bucketvault.errors import BucketvaultError, NotFoundError, UsageError
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.state import StateStore
from bucketvault.plans.status import Status

log = logging.getLogger(__name__)

ManagerFactory = Callable[[str], PlanManager]

_MAX_RERUNS = 1000


@dataclass(frozen=True, slots=True)
class RunEnd:
    """A plan's background run that ended COMPLETE or ERROR (times: epoch seconds)."""

    service: str
    plan: str
    status: Status
    started: float
    ended: float


RunListener = Callable[[RunEnd], None]


class Scheduler:
    def __init__(
        self,
        managers: Mapping[str, PlanManager] | None = None,
        *,
        factory: ManagerFactory | None = None,
        default: str | None = None,
        state: StateStore | None = None,
    ) -> None:
        self._managers: dict[str, PlanManager] = dict(managers or {})
        self._factory = factory
        self._default = default
        self.state = state or StateStore()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._kicked: set[tuple[str, str]] = set()
        self.listeners: list[RunListener] = []

    @property
    def default_service(self) -> str | None:
        if self._default is not None:
            return self._default
        if len(self._managers) == 1 and self._factory is None:
            return next(iter(self._managers))
        return None

    def services(self) -> list[str]:
        return sorted(self._managers)

    def manager(self, service: str | None = None) -> PlanManager:
        if service is None:
            service = self.default_service
            if service is None:
                raise UsageError(
                    "no default service: use /v1/service/<name>/plans "
                    "(or start the scheduler with --name=<name>)"
                )
        if service not in self._managers:
            if self._factory is None:
                known = ", ".join(self.services()) or "(none)"
                raise NotFoundError(f"service '{service}' not found: services are {known}")
            self._managers[service] = self._factory(service)
        return self._managers[service]

    def is_running(self, service: str, plan: str) -> bool:
        task = self._tasks.get((service, plan))
        return task is not None and not task.done()

    def running(self) -> list[tuple[str, str]]:
        """(service, plan) of every plan running in the background now."""
        return sorted(key for key, task in self._tasks.items() if not task.done())

    def launch(self, service: str, plan: str) -> None:
        """Run the plan in the background of the running event loop (idempotent)."""
        key = (service, plan)
        self._kicked.add(key)
        if self.is_running(service, plan):
            return
        manager = self.manager(service)
        self._tasks[key] = asyncio.get_running_loop().create_task(
            self._drive(manager, plan), name=f"plan {service}/{plan}"
        )

    async def _drive(self, manager: PlanManager, plan: str) -> None:
        key = (manager.service, plan)
        for _ in range(_MAX_RERUNS):
            self._kicked.discard(key)
            started = time.time()
            try:
                status = await manager.run(plan)
            except BucketvaultError as exc:
                log.warning("plan %s/%s not run: %s", manager.service, plan, exc)
                return
            except Exception:
                log.exception("plan %s/%s failed unexpectedly", manager.service, plan)
                return
            log.info("plan %s/%s ended %s", manager.service, plan, status)
            if status in (Status.COMPLETE, Status.ERROR):
                self._tell(RunEnd(manager.service, plan, status, started, time.time()))
            if key not in self._kicked:
                return

    def _tell(self, end: RunEnd) -> None:
        for listener in list(self.listeners):
            try:
                listener(end)
            except Exception:
                log.exception("a listener failed on the end of plan %s/%s", end.service, end.plan)

    def resume_all(self) -> list[tuple[str, str]]:
        """Launch every plan left running by a dead process; returns what was launched."""
        with self.state.read() as tx:
            services = sorted({service for service, _ in tx.list_plans()} | set(self._managers))
        launched = []
        for service in services:
            try:
                manager = self.manager(service)
                plans = manager.resumable_plans()
            except BucketvaultError as exc:
                log.warning("cannot continue plans of service %s: %s", service, exc)
                continue
            for plan in plans:
                self.launch(service, plan)
                launched.append((service, plan))
        return launched

    async def serve_forever(self, stop: asyncio.Event | None = None) -> None:
        """Continue interrupted work, then keep running plans until `stop` is set or the
        task is cancelled; background runs are cancelled (not interrupted) on exit, so the
        next start continues them."""
        self.resume_all()
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await self.aclose()

    async def wait_idle(self) -> None:
        """Wait until no plan runs in the background (callers bound it with a timeout)."""
        while any(not t.done() for t in self._tasks.values()):
            await asyncio.wait([t for t in self._tasks.values() if not t.done()])

    async def aclose(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
