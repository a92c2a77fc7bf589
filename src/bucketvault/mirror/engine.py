"""Run one mirror job: the stages wired together, and the rules for deleting.

Deletes happen last, only when asked, only after a copy phase in which nothing failed,
never when a listing failed (the run raises before the delete phase), never when the
source listed nothing, and never beyond `max_delete`. Keys waiting for deletion are
spooled to a temporary file, so memory stays bounded however many there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from bucketvault.errors import ErrorClass, NoSuchBucketError, UsageError, classify
from bucketvault.mirror.bandwidth import BandwidthLimit
from bucketvault.mirror.decide import Action, Policy, decide, on_difference
from bucketvault.mirror.filters import KeyFilter
from bucketvault.mirror.identity import Identity
from bucketvault.mirror.merge import Pair, PairBatch, merge_batches
from bucketvault.mirror.ranges import RangeScope, ScopeWalk
from bucketvault.mirror.stages import first_error
from bucketvault.mirror.stats import MirrorStats, MirrorSummary
from bucketvault.mirror.transfer import TransferSettings, copy_object, recorded_identity
from bucketvault.store.base import Bucket
from bucketvault.store.retry import RetryPolicy, counting_retries

ActionListener = Callable[[str, Action, int], None]
"""Told (key, action, size) for every decision that changes or reports something."""


@dataclass(frozen=True, slots=True)
class MirrorOptions:
    overwrite: bool = False
    remove: bool = False
    max_delete: int | None = None
    allow_empty_source: bool = False
    dry_run: bool = False
    filter: KeyFilter = field(default_factory=KeyFilter)
    workers: int = 32
    # Objects this large each hold a few multipart parts in memory while they stream;
    # capping how many copy at once keeps memory bounded by this, not by --workers.
    large_object_bytes: int = 16 * 1024 * 1024
    large_workers: int = 4
    # `bucketvault mirror` writes nothing the source did not have: a copy is recognised
    # from the listings (its ETag is the source's). Backups record identity on the copies
    # they keep in the backup store, which is bucketvault's own format.
    bookkeeping: bool = False
    # bytes per second for the whole run (`--bwlimit`); None: unlimited
    bwlimit: int | None = None
    # record the content MD5 on every object, so corruption at rest is found on reading
    record_checksums: bool = False
    create_target: bool = True
    # Whole-object retries, on top of the store's own per-request ones (6 tries each):
    # they cover what the store cannot replay (a source stream broken mid-way, a lost
    # answer to completing an upload) and carry runs through 50% request failure; a
    # store that stays down fails a run in about 40 s.
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.workers < 1 or self.large_workers < 1:
            raise UsageError("--workers must be at least 1")
        if self.max_delete is not None and self.max_delete < 0:
            raise UsageError("--max-delete must be 0 or more")


@dataclass(frozen=True, slots=True)
class MirrorJob:
    source: Bucket
    target: Bucket
    options: MirrorOptions = field(default_factory=MirrorOptions)


class DeleteSpool:
    """Keys to delete, on disk until the copy phase has ended cleanly."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, key: str) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(key) + "\n")
        self.count += 1

    def pending(self) -> Iterator[str]:
        if self._file is None:
            return
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass(frozen=True, slots=True)
class CopyPhase:
    """What a copy phase leaves: keys to delete (applied only after every part of the
    run ended cleanly), and its walk (what it listed, where a budget stopped it)."""

    deletes: DeleteSpool
    walk: ScopeWalk


async def run_mirror(
    job: MirrorJob,
    *,
    stats: MirrorStats | None = None,
    on_action: ActionListener | None = None,
) -> MirrorSummary:
    """Mirror `job.source` into `job.target`; returns the final summary.

    Raises (changing nothing further) when the source bucket is missing or a listing
    fails; per-object failures are recorded in the summary and the run goes on. Single
    requests are retried by the store itself; here only whole objects are (a broken
    stream cannot be resumed), so retries never multiply.
    """
    stats = stats if stats is not None else MirrorStats()
    target_exists = await prepare_buckets(job, stats)
    tell = on_action or _ignore
    with counting_retries(stats.count_retry):
        phase = await copy_phase(job, stats, tell, target_exists=target_exists)
        try:
            await delete_phase(job, phase.deletes, stats, tell)
        finally:
            phase.deletes.close()
    stats.finish()
    return stats.snapshot()


def _ignore(_key: str, _action: Action, _size: int) -> None:
    pass


async def prepare_buckets(job: MirrorJob, stats: MirrorStats) -> bool:
    """Check the source exists and create the target when allowed; whether the target
    exists now (a dry run creates nothing)."""
    options = job.options
    source, target = job.source, job.target
    stats.source, stats.target, stats.dry_run = source.display, target.display, options.dry_run
    if not await source.exists():
        raise NoSuchBucketError(
            f"source bucket {source.display} does not exist: nothing was changed"
        )
    target_exists = await target.exists()
    if not target_exists and not options.dry_run:
        if not options.create_target:
            raise NoSuchBucketError(f"target bucket {target.display} does not exist")
        await target.create()
        target_exists = True
    return target_exists


async def copy_phase(
    job: MirrorJob,
    stats: MirrorStats,
    tell: ActionListener,
    *,
    target_exists: bool,
    scope: RangeScope | None = None,
) -> CopyPhase:
    """List both sides (within `scope`), decide, and copy; deletions are only collected."""
    options = job.options
    source, target = job.source, job.target
    policy = Policy(overwrite=options.overwrite, remove=options.remove, filter=options.filter)
    settings = TransferSettings(
        bookkeeping=options.bookkeeping,
        record_checksums=options.record_checksums,
        retry=options.retry,
        bandwidth=None if options.bwlimit is None else BandwidthLimit(options.bwlimit),
    )
    queue: asyncio.Queue[Pair | None] = asyncio.Queue(maxsize=options.workers * 4)
    large_slots = asyncio.Semaphore(options.large_workers)
    walk = ScopeWalk(scope)
    phase = CopyPhase(DeleteSpool(), walk)

    async def list_and_decide() -> None:
        batches = merge_batches(walk.listing(source), walk.listing(target, exists=target_exists))
        async with contextlib.aclosing(batches):
            await decide_all(batches)
        for _ in range(options.workers):
            await queue.put(None)

    # `decide` skips a pair listed the same on both sides under every policy whose filter
    # selects every key: a batch of such pairs (most of a re-run) is counted at once
    selects_all = options.filter == KeyFilter()

    async def decide_all(batches: AsyncIterator[PairBatch]) -> None:
        async for pairs in batches:
            if selects_all and pairs.same_listed and walk.seen_on_both_sides(pairs):
                stats.listed_source += len(pairs)
                stats.listed_target += len(pairs)
                stats.skipped += len(pairs)
                continue
            for pair in pairs:
                if decide_one(pair):
                    await queue.put(pair)
                if walk.full():
                    return

    def decide_one(pair: Pair) -> bool:
        """Count and tell what `pair` needs; whether a worker must take it. Not a
        coroutine: a re-run decides a million pairs, nearly all to skip."""
        walk.seen(pair)
        if pair.source is not None:
            stats.listed_source += 1
        if pair.target is not None:
            stats.listed_target += 1
        action = decide(pair, policy)
        if action is Action.SKIP:
            stats.skipped += 1
            return False
        size = pair.source.size if pair.source is not None else 0
        if action in (Action.COPY, Action.UPDATE):
            stats.plan_copy(size)
            walk.planned(size)
            tell(pair.key, action, size)
            return not options.dry_run
        if action is Action.CHECK:
            return True
        if action is Action.CONFLICT:
            stats.conflict(pair.key)
            tell(pair.key, action, size)
        elif action is Action.DELETE:
            phase.deletes.add(pair.key)
        elif action is Action.KEEP:
            stats.kept_extra += 1
        else:
            stats.ignored += 1
        return False

    async def handle(pair: Pair) -> None:
        assert pair.source is not None
        if pair.target is not None and decide(pair, policy) is Action.CHECK:
            identity = await recorded_identity(source, target, pair.source, pair.key)
            if identity is Identity.SAME:
                stats.skipped += 1
                return
            action = on_difference(policy)
            if action is Action.CONFLICT:
                stats.conflict(pair.key)
                tell(pair.key, action, pair.source.size)
                return
            stats.plan_copy(pair.source.size)
            tell(pair.key, action, pair.source.size)
            if options.dry_run:
                return
        if pair.source.size >= options.large_object_bytes:
            async with large_slots:
                await copy_object(source, target, pair.key, stats, settings)
        else:
            await copy_object(source, target, pair.key, stats, settings)

    async def worker() -> None:
        while (pair := await queue.get()) is not None:
            try:
                await handle(pair)
            except Exception as exc:
                kind = classify(exc)
                if kind is ErrorClass.FATAL:
                    raise
                stats.fail(pair.key, str(exc), transient=kind is ErrorClass.TRANSIENT)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(list_and_decide())
            for _ in range(options.workers):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        phase.deletes.close()
        raise first_error(group_error) from None
    except BaseException:
        phase.deletes.close()
        raise
    return phase


def _refusal(options: MirrorOptions, stats: MirrorStats, count: int) -> str | None:
    if stats.failed:
        return f"{stats.failed} object(s) failed to copy; deleting nothing until a clean run"
    if stats.listed_source == 0 and not options.allow_empty_source:
        return (
            "the source listed no objects; refusing to empty the target "
            "(pass --allow-empty-source if that is really meant)"
        )
    if options.max_delete is not None and count > options.max_delete:
        return f"{count} deletions exceed --max-delete {options.max_delete}; deleted nothing"
    return None


async def delete_phase(
    job: MirrorJob, deletes: DeleteSpool, stats: MirrorStats, tell: ActionListener
) -> None:
    """Delete the spooled keys, unless something in the run makes that unsafe."""
    if deletes.count == 0:
        return
    options = job.options
    refusal = _refusal(options, stats, deletes.count)
    if refusal is not None:
        stats.delete_skipped_reason = refusal
        stats.kept_extra += deletes.count
        return
    semaphore = asyncio.Semaphore(options.workers)

    async def delete_one(key: str) -> None:
        try:
            tell(key, Action.DELETE, 0)
            if not options.dry_run:
                await job.target.delete(key)
            stats.deleted += 1
        except Exception as exc:
            if classify(exc) is ErrorClass.FATAL:
                raise
            stats.fail(key, f"delete failed: {exc}")
        finally:
            semaphore.release()

    async with asyncio.TaskGroup() as group:
        for key in deletes.pending():
            await semaphore.acquire()  # never more tasks in flight than workers
            group.create_task(delete_one(key))
