"""Compare a bucket with its copy without changing either: what is missing, differing,
extra, and (when reading data back) corrupt in the copy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bucketvault.errors import ErrorClass, IntegrityError, classify
from bucketvault.mirror.checksum import SourceVerifier
from bucketvault.mirror.identity import Identity, compare_listed
from bucketvault.mirror.merge import Pair, merge_batches
from bucketvault.mirror.ranges import RangeScope, ScopeWalk
from bucketvault.mirror.stages import first_error
from bucketvault.mirror.stats import MAX_LISTED_KEYS
from bucketvault.mirror.transfer import recorded_identity
from bucketvault.store.base import Bucket
from bucketvault.store.retry import RetryPolicy, retrying


@dataclass
class KeyList:
    count: int = 0
    keys: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.keys) < MAX_LISTED_KEYS:
            self.keys.append(key)

    def absorb(self, other: KeyList) -> None:
        self.count += other.count
        self.keys.extend(other.keys[: max(0, MAX_LISTED_KEYS - len(self.keys))])


@dataclass
class CompareReport:
    original: str
    copy: str
    compared: int = 0
    same: int = 0
    read_back: int = 0
    read_bytes: int = 0
    missing: KeyList = field(default_factory=KeyList)  # in the original, not in the copy
    differing: KeyList = field(default_factory=KeyList)
    extra: KeyList = field(default_factory=KeyList)  # in the copy only
    corrupt: KeyList = field(default_factory=KeyList)  # the copy's bytes fail their checksum
    errors: KeyList = field(default_factory=KeyList)  # could not be read or compared

    def absorb(self, part: CompareReport) -> None:
        """Add what one key range of the comparison found."""
        self.compared += part.compared
        self.same += part.same
        self.read_back += part.read_back
        self.read_bytes += part.read_bytes
        for name in ("missing", "differing", "extra", "corrupt", "errors"):
            getattr(self, name).absorb(getattr(part, name))

    @property
    def clean(self) -> bool:
        return not (self.missing.count or self.differing.count or self.corrupt.count)


async def _read_back(copy: Bucket, key: str, report: CompareReport) -> None:
    """Stream an object of the copy through its own checksum."""
    async with copy.open(key) as reader:
        verifier = SourceVerifier(reader.info, reader.attributes, label=f"{copy.display} {key!r}")
        async for chunk in reader.chunks():
            verifier.update(chunk)
            report.read_bytes += len(chunk)
        verifier.finish()
    report.read_back += 1


async def compare_buckets(
    original: Bucket,
    copy: Bucket,
    *,
    read_data: bool,
    workers: int = 16,
    retry: RetryPolicy | None = None,
) -> CompareReport:
    report, _ = await compare_range(
        original, copy, read_data=read_data, workers=workers, retry=retry
    )
    return report


async def compare_range(
    original: Bucket,
    copy: Bucket,
    *,
    read_data: bool,
    workers: int = 16,
    retry: RetryPolicy | None = None,
    scope: RangeScope | None = None,
) -> tuple[CompareReport, ScopeWalk]:
    """Compare the keys of `scope` (all keys without one); the walk tells where a scope
    whose budget ran out stopped."""
    policy = retry or RetryPolicy()
    report = CompareReport(original=original.display, copy=copy.display)
    queue: asyncio.Queue[Pair | None] = asyncio.Queue(maxsize=workers * 4)
    scoped = ScopeWalk(scope)
    # A missing bucket on either side is a finding, not a crash: everything on the
    # other side is then missing from it.
    original_exists, copy_exists = await original.exists(), await copy.exists()

    async def walk() -> None:
        batches = merge_batches(
            scoped.listing(original, exists=original_exists),
            scoped.listing(copy, exists=copy_exists),
        )
        async with contextlib.aclosing(batches):
            await sort_all(batches)
        for _ in range(workers):
            await queue.put(None)

    async def sort_all(batches: AsyncIterator[list[Pair]]) -> None:
        async for pairs in batches:
            for pair in pairs:
                scoped.seen(pair)
                if pair.target is None:
                    report.missing.add(pair.key)
                elif pair.source is None:
                    report.extra.add(pair.key)
                else:
                    await queue.put(pair)
                if scoped.full():
                    return

    async def check(pair: Pair) -> None:
        assert pair.source is not None and pair.target is not None
        report.compared += 1
        identity = compare_listed(pair.source, pair.target)
        if identity is Identity.UNKNOWN:
            identity = await recorded_identity(original, copy, pair.source, pair.key)
        if identity is Identity.DIFFERENT:
            report.differing.add(pair.key)
            return
        if read_data:
            await retrying(lambda: _read_back(copy, pair.key, report), policy)
        report.same += 1

    async def worker() -> None:
        while (pair := await queue.get()) is not None:
            try:
                await check(pair)
            except IntegrityError:
                report.corrupt.add(pair.key)
            except Exception as exc:
                if classify(exc) is ErrorClass.FATAL:
                    raise
                report.errors.add(f"{pair.key}: {exc}")

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(walk())
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        raise first_error(group_error) from None
    return report, scoped
