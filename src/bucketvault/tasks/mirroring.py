"""Running a mirror as a step: periodic progress, and a result that never hides failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bucketvault.config.services import ServiceConfig
from bucketvault.errors import ExitCode, TransientStoreError
from bucketvault.mirror import MirrorJob, MirrorStats, MirrorSummary, run_mirror
from bucketvault.scaleout.run import Describe, run_spread
from bucketvault.tasks.result import MAX_ERROR_LINES, ProgressCallback, TaskResult
from bucketvault.units import count, human_bytes

SHOWN_KEYS = 20  # kept keys named in a step's history; the count is exact

PROGRESS_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class Spread:
    """Run the step's mirror on an executor's workers (the service's `--executor`)."""

    describe: Describe
    executor: str
    workers: int | None = None


def spread_for(service: ServiceConfig, describe: Describe) -> Spread | None:
    if service.executor == "inline":
        return None
    return Spread(describe, service.executor, service.executor_workers)


async def mirror_reporting(
    job: MirrorJob, progress: ProgressCallback | None, spread: Spread | None = None
) -> MirrorSummary:
    """Run the mirror (on `spread`'s executor when given). When every object that failed
    failed transiently even after its retries (the store went away mid-run), raise
    `TransientStoreError`, so the step goes DELAYED and is retried later, copying only
    what is missing."""
    stats = MirrorStats()

    async def run() -> MirrorSummary:
        if spread is None:
            return await run_mirror(job, stats=stats)
        return await run_spread(spread.describe, spread.executor, spread.workers, stats=stats)

    summary = await _run(run, stats, progress)
    if summary.failed and stats.failed_transient == summary.failed:
        first = summary.failed_objects[0] if summary.failed_objects else None
        raise TransientStoreError(
            f"{summary.failed:,} object(s) could not be copied as the store kept failing"
            + (f" (first: {first.key}: {first.error})" if first else "")
        )
    return summary


async def _run(
    run: Callable[[], Awaitable[MirrorSummary]],
    stats: MirrorStats,
    progress: ProgressCallback | None,
) -> MirrorSummary:
    if progress is None:
        return await run()

    async def tick() -> None:
        while True:
            progress(stats.snapshot())
            await asyncio.sleep(PROGRESS_INTERVAL_S)

    ticker = asyncio.create_task(tick())
    try:
        summary = await run()
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    progress(summary)
    return summary


def undone_code(summary: MirrorSummary) -> int | None:
    """The exit code of a mirror that finished leaving work undone on purpose (deletions
    skipped, differing objects kept); None when all was done or objects failed (those
    are the step's errors)."""
    if summary.failed or summary.exit_code is ExitCode.OK:
        return None
    return int(summary.exit_code)


def mirror_result(summary: MirrorSummary, verb: str) -> TaskResult:
    message = (
        f"{verb} {count(summary.copied, 'object')} ({human_bytes(summary.copied_bytes)}), "
        f"{summary.skipped:,} unchanged"
    )
    if summary.deleted:
        message += f", {summary.deleted:,} deleted"
    if summary.conflicts:
        message += (
            f", {summary.conflicts:,} differing at the target kept "
            "(-p OVERWRITE=true replaces them)"
        )
    if summary.retries:
        message += f", {summary.retries:,} retries"
    if summary.delete_skipped_reason:
        message += f"; deletes skipped: {summary.delete_skipped_reason}"
    errors: list[str] = []
    if summary.failed:
        message += f"; {summary.failed:,} objects FAILED"
        errors = [f"{f.key}: {f.error}" for f in summary.failed_objects[:MAX_ERROR_LINES]]
        if summary.failed > len(errors):
            errors.append(f"… and {summary.failed - len(errors):,} more failed objects")
    details = [f"kept (differs at the target): {key}" for key in summary.conflict_keys]
    if summary.delete_skipped_reason:
        details.insert(0, f"deletes skipped: {summary.delete_skipped_reason}")
    return TaskResult(
        message, tuple(errors), exit_code=undone_code(summary), details=tuple(details[:SHOWN_KEYS])
    )
