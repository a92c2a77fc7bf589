"""The operator's console on `bucketvault serve`: run history, `/metrics`, the overview
the web page shows, and (with `notify/`) the webhooks told when a run ends.

Routes (all behind the API's token rule, like every other route):

- `GET /metrics`: Prometheus text format (`api/metrics.py`);
- `GET /v1/overview`: services, their plans' status JSON, schedules and recent runs, in
  one document (what the page at `/` polls);
- `GET /v1/schedules`, `GET /v1/runs`: the same parts alone.

Nothing here returns a parameter value: schedules show their parameters masked, runs
only counts, step messages and error lines (already scrubbed by the plan engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Response

from bucketvault.api.metrics import CONTENT_TYPE, Metrics
from bucketvault.errors import BucketvaultError
from bucketvault.notify import Notifier, load_targets
from bucketvault.plans.scheduler import RunEnd, Scheduler
from bucketvault.runs import RunStore, record_run
from bucketvault.runs.snapshots import environment_credentials, snapshot_stats
from bucketvault.schedules import ScheduleStore

if TYPE_CHECKING:
    from bucketvault.schedules import ScheduleTicker

log = logging.getLogger(__name__)

RECENT_RUNS = 20
SNAPSHOT_READ_S = 60.0


class Console:
    """The run history, metrics and notifications of one scheduler."""

    def __init__(self, scheduler: Scheduler, ticker: ScheduleTicker | None = None) -> None:
        self.scheduler = scheduler
        self.ticker = ticker
        self.runs = RunStore(scheduler.state)
        self.schedules = ScheduleStore(scheduler.state)
        self.notifier = Notifier(load_targets)
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = Metrics(
            scheduler,
            runs=self.runs,
            schedules=self.schedules,
            ticker=ticker,
            notifier=self.notifier,
        )
        scheduler.listeners.append(self.on_run_end)

    def on_run_end(self, end: RunEnd) -> None:
        record = record_run(self.scheduler.state, end)
        self.runs.add(record)
        self.metrics.observe(record)
        self.notifier.notify(record)
        if record.plan == "backup" and record.succeeded_buckets:
            self._count_snapshots(record.service, record.succeeded_buckets)

    def _credentials(self, service: str) -> dict[str, str]:
        for schedule in self.schedules.list_schedules(service):
            if schedule.plan == "backup":
                params = self.schedules.secret_params(schedule)
                if params.get("ACCESS_KEY_ID") and params.get("SECRET_ACCESS_KEY"):
                    return params
        return environment_credentials()

    def _count_snapshots(self, service: str, buckets: list[str]) -> None:
        """Read the buckets' snapshot counts in the background (bounded in time)."""
        params = self._credentials(service)
        if not params:
            return

        async def count() -> None:
            try:
                async with asyncio.timeout(SNAPSHOT_READ_S):
                    stats = await snapshot_stats(service, buckets, params)
                self.runs.set_snapshots(service, stats, time.time())
            except Exception as exc:  # a metric left stale, never a failure
                log.warning("snapshots of service %s not counted: %s", service, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(count(), name=f"snapshots {service}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.notifier.aclose()

    # -- what the page shows -------------------------------------------------------------

    def service_names(self) -> list[str]:
        names = set(self.scheduler.services())
        if self.scheduler.default_service is not None:
            names.add(self.scheduler.default_service)
        with contextlib.suppress(BucketvaultError):
            from bucketvault.config.services import load_services

            names |= set(load_services())
        with self.scheduler.state.read() as tx:
            names |= {service for service, _ in tx.list_plans()}
        names |= {s.service for s in self.schedules.list_schedules()}
        return sorted(names)

    def service_view(self, name: str) -> dict[str, Any]:
        try:
            manager = self.scheduler.manager(name)
            plans = [
                {
                    "name": plan,
                    "running": self.scheduler.is_running(name, plan),
                    **manager.status(plan),
                }
                for plan in manager.plan_names()
            ]
        except BucketvaultError as exc:
            return {"name": name, "plans": [], "problem": str(exc)}
        return {"name": name, "plans": plans}

    def overview(self) -> dict[str, Any]:
        return {
            "now": time.time(),
            "default_service": self.scheduler.default_service,
            "services": [self.service_view(name) for name in self.service_names()],
            "schedules": [s.as_dict() for s in self.schedules.list_schedules()],
            "runs": [r.summary() for r in self.runs.recent(limit=RECENT_RUNS)],
        }


def console_router(console: Console) -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> Response:
        return Response(console.metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/v1/overview", summary="Services, plans, schedules and recent runs")
    async def overview() -> dict[str, Any]:
        return console.overview()

    @router.get("/v1/schedules", summary="Every schedule (parameters masked)")
    async def schedules() -> list[dict[str, Any]]:
        return [s.as_dict() for s in console.schedules.list_schedules()]

    @router.get("/v1/runs", summary="Recent plan runs, newest first")
    async def runs(
        limit: Annotated[int, Query(ge=1, le=500)] = RECENT_RUNS,
        service: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        return [r.summary() for r in console.runs.recent(service, limit=limit)]

    return router
