"""One mirror run spread over an executor's workers, with one result.

The coordinator holds ranges, never keys. It starts with the whole key space as one
range; a worker does a range until its budget runs out and hands back where it stopped
with a sample of the keys it saw, and the rest is cut into as many ranges as there are
idle workers (`mirror.ranges.split_remainder`), so listing spreads out as fast as the
bucket allows and fast workers simply pull more. Each range's counts are added to the
run's stats when it comes back, so a range redone after its worker died is counted once.
Deletions are spooled and applied by the coordinator only after every range ended
cleanly, by the same rules as a one-process run (`mirror.engine.delete_phase`).
"""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from bucketvault.errors import BucketvaultError
from bucketvault.history.record import Entry
from bucketvault.mirror.compare import CompareReport
from bucketvault.mirror.decide import Action
from bucketvault.mirror.engine import (
    ActionListener,
    DeleteSpool,
    MirrorJob,
    delete_phase,
    prepare_buckets,
)
from bucketvault.mirror.ranges import WHOLE, KeyRange, split_remainder
from bucketvault.mirror.stats import MirrorStats, MirrorSummary
from bucketvault.scaleout.executors import Executor, WorkerLost
from bucketvault.scaleout.views import Window
from bucketvault.scaleout.work import (
    FIRST_RANGE_KEYS,
    MAX_RANGE_KEYS,
    RANGE_KEYS,
    JobSpec,
    RangeOutcome,
    RangeWork,
)
from bucketvault.store.keys import sort_key

MAX_ATTEMPTS = 4  # a range whose workers keep dying ends the run after this many tries
MAX_WINDOW_LINES = 20_000  # records sent with one range of a backup, restore or verify


def next_budget(base: int, listed: int, slots: int, *, windowed: bool) -> int:
    """The key budget of the next range: `base` at first, then growing with the keys
    listed so far, so a bucket of n keys is done in about 4 x slots x log(n) ranges
    rather than n / base, while the first ranges still come back soon."""
    grown = max(base, min(MAX_RANGE_KEYS, listed // (4 * slots)))
    return min(grown, max(base, MAX_WINDOW_LINES)) if windowed else grown


def cut_parts(idle: int, slots: int) -> int:
    """Into how many ranges the rest of a range is cut: one for each idle worker and as
    many again as there are workers, so one that finishes early finds a range waiting
    rather than idling until a long one comes back (a replay of 1,000,000 keys on 2-16
    workers: slot use 0.75-0.99 against 0.35-0.8 with one per idle worker)."""
    return max(1, idle) + slots


class RangeLostError(BucketvaultError):
    """A range could not be done: every worker given it died."""


@dataclass(frozen=True, slots=True)
class Distributed:
    """A mirror job and its description for workers (same buckets, same options); a
    side that is a snapshot or a backup has the window its ranges' records come from."""

    job: MirrorJob
    spec: JobSpec
    source_window: Window | None = None
    target_window: Window | None = None


async def run_distributed(
    work: Distributed,
    executor: Executor,
    *,
    stats: MirrorStats | None = None,
    on_action: ActionListener | None = None,
    range_keys: int = RANGE_KEYS,
) -> MirrorSummary:
    stats = stats if stats is not None else MirrorStats()
    job = work.job
    target_exists = await prepare_buckets(job, stats)
    spec = JobSpec(
        work.spec.source,
        work.spec.target,
        work.spec.options,
        target_exists=target_exists,
        report_actions=on_action is not None and job.options.dry_run,
    )
    deletes = DeleteSpool()

    def take(outcome: RangeOutcome) -> None:
        assert outcome.summary is not None
        stats.absorb(outcome.summary)
        if work.target_window is not None:
            work.target_window.absorb(outcome.recorded, outcome.archived)
        for key in outcome.deletes:
            deletes.add(key)
        if on_action is not None:
            for key, action, size in outcome.actions:
                on_action(key, Action(action), size)

    try:
        await _do_ranges(spec, work, executor, take, range_keys)
        await delete_phase(job, deletes, stats, on_action or _ignore)
    finally:
        deletes.close()
    stats.finish()
    return stats.snapshot()


async def compare_distributed(
    work: Distributed, executor: Executor, *, read_data: bool, range_keys: int = RANGE_KEYS
) -> CompareReport:
    """`compare_buckets` of the job's source (the original) and target (the copy), one
    key range per worker at a time; one report."""
    report = CompareReport(original=work.job.source.display, copy=work.job.target.display)
    spec = replace(work.spec, verify=True, read_data=read_data)

    def take(outcome: RangeOutcome) -> None:
        assert outcome.report is not None
        report.absorb(outcome.report)

    await _do_ranges(spec, work, executor, take, range_keys)
    return report


def _ignore(_key: str, _action: Action, _size: int) -> None:
    pass


def _with_records(
    spec: JobSpec, work: Distributed, key_range: KeyRange, budget: int
) -> tuple[RangeWork, KeyRange | None]:
    """The work for `key_range` with the records its sides need. When a side has more
    records there than the budget, the range ends at the last one sent; the rest of it
    is returned, to be done as another range."""
    windows = (work.source_window, work.target_window)
    lines = [w.lines(key_range, budget) if w is not None else [] for w in windows]
    ends = [Entry.from_line(side[-1]).key for side in lines if len(side) >= budget]
    rest: KeyRange | None = None
    if ends:
        cut = min(ends, key=sort_key)
        rest = key_range.rest_after(cut)
        key_range = KeyRange(key_range.start_after, cut)
        # the lines are in key order: find where each side passes the cut, parsing a few
        high = sort_key(cut)
        lines = [side[: bisect_right(side, high, key=_order_of)] for side in lines]
    return RangeWork(
        spec,
        key_range,
        max_keys=budget,
        source_lines=tuple(lines[0]),
        target_lines=tuple(lines[1]),
    ), rest


def _order_of(line: str) -> bytes:
    return sort_key(Entry.from_line(line).key)


async def _do_ranges(
    spec: JobSpec,
    work: Distributed,
    executor: Executor,
    take: Callable[[RangeOutcome], None],
    range_keys: int,
) -> None:
    """Hand out ranges until every key was done, each outcome given to `take` once."""
    waiting: deque[KeyRange] = deque([WHOLE])
    attempts: dict[KeyRange, int] = {}
    running: dict[asyncio.Future[RangeOutcome], KeyRange] = {}
    first = True
    listed = 0
    windowed = work.source_window is not None or work.target_window is not None

    def launch(key_range: KeyRange) -> None:
        nonlocal first
        if first:
            budget = min(FIRST_RANGE_KEYS, range_keys)
        else:
            budget = next_budget(range_keys, listed, executor.slots, windowed=windowed)
        first = False
        range_work, rest = _with_records(spec, work, key_range, budget)
        if rest is not None:
            waiting.appendleft(rest)
        task = asyncio.ensure_future(executor.run(range_work))
        running[task] = range_work.key_range

    try:
        while waiting or running:
            while waiting and len(running) < executor.slots:
                launch(waiting.popleft())
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                key_range = running.pop(task)
                try:
                    outcome = task.result()
                except WorkerLost as lost:
                    attempts[key_range] = attempts.get(key_range, 0) + 1
                    if attempts[key_range] >= MAX_ATTEMPTS:
                        raise RangeLostError(
                            f"keys {key_range} could not be done: {attempts[key_range]} "
                            f"workers died doing them ({lost})"
                        ) from None
                    waiting.append(key_range)
                    continue
                take(outcome)
                listed += outcome.listed
                if outcome.stopped_after is not None:
                    rest = key_range.rest_after(outcome.stopped_after)
                    if rest is not None:
                        idle = executor.slots - len(running) - len(waiting)
                        parts = cut_parts(idle, executor.slots)
                        waiting.extend(split_remainder(rest, outcome.sample, parts))
    finally:
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(BaseException):
                await task
