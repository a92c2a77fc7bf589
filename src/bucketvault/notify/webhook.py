"""Delivering a run's end to webhooks: one JSON POST per target, in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bucketvault import __version__
from bucketvault.notify.targets import shown
from bucketvault.runs import RunRecord

log = logging.getLogger(__name__)

FIRST_FAILED = 10


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Tunables; tests shrink the delays."""

    attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    timeout: float = 10.0
    max_pending: int = 100  # deliveries in flight at once; more are dropped and counted

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def payload(run: RunRecord) -> dict[str, Any]:
    """The JSON body: what ended, how, how long, what it moved, and what failed first."""
    return {
        "event": f"plan.{run.status.lower()}",
        "service": run.service,
        "plan": run.plan,
        "status": run.status,
        "started": _iso(run.started),
        "ended": _iso(run.ended),
        "duration_seconds": round(run.duration_s, 3),
        "objects_copied": run.copied,
        "bytes_copied": run.bytes,
        "objects_failed": run.failed,
        "error_count": run.error_count,
        "first_failed": list(run.first_errors[:FIRST_FAILED]),
        "buckets": [
            {
                "bucket": step.bucket,
                "step": step.step,
                "status": step.status,
                "objects_copied": step.copied,
                "bytes_copied": step.bytes,
                "objects_failed": step.failed,
            }
            for step in run.steps
            if step.bucket
        ],
        "sender": f"bucketvault {__version__}",
    }


@dataclass
class NotifyStats:
    delivered: int = 0
    failed: int = 0  # gave up after the attempts, or refused for good (4xx)
    dropped: int = 0  # too many in flight
    retries: int = 0


class Notifier:
    """Sends `payload(run)` to each of the run's service's targets; never raises."""

    def __init__(
        self,
        targets: Callable[[str], list[str]],
        config: NotifyConfig | None = None,
    ) -> None:
        self.targets = targets
        self.config = config or NotifyConfig()
        self.stats = NotifyStats()
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, run: RunRecord) -> None:
        """Queue the deliveries (call from the event loop); returns at once."""
        try:
            urls = self.targets(run.service)
        except Exception as exc:
            log.warning("webhooks of service %s not sent: %s", run.service, exc)
            return
        if not urls:
            return
        body = payload(run)
        loop = asyncio.get_running_loop()
        for url in urls:
            if len(self._tasks) >= self.config.max_pending:
                self.stats.dropped += 1
                log.warning("webhook to %s dropped: too many deliveries pending", shown(url))
                continue
            task = loop.create_task(self._deliver(url, body), name=f"webhook {shown(url)}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: dict[str, Any]) -> None:
        import httpx

        cfg = self.config
        headers = {"User-Agent": f"bucketvault/{__version__}"}
        async with httpx.AsyncClient(timeout=cfg.timeout, follow_redirects=False) as client:
            for attempt in range(1, cfg.attempts + 1):
                problem: str
                try:
                    response = await client.post(url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                else:
                    code = response.status_code
                    if code < 300:
                        self.stats.delivered += 1
                        return
                    problem = f"HTTP {code}"
                    if 400 <= code < 500 and code not in (408, 425, 429):
                        self.stats.failed += 1
                        log.warning("webhook to %s refused: %s", shown(url), problem)
                        return
                if attempt < cfg.attempts:
                    self.stats.retries += 1
                    await asyncio.sleep(cfg.backoff(attempt))
            self.stats.failed += 1
            log.warning(
                "webhook to %s failed after %d attempts: %s", shown(url), cfg.attempts, problem
            )

    async def wait(self, limit: float) -> None:
        """Wait (at most `limit` seconds) for the deliveries in flight; for tests and
        shutdown."""
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=limit)

    async def aclose(self, grace: float = 2.0) -> None:
        """Give deliveries in flight a moment, then cancel the rest."""
        await self.wait(grace)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
