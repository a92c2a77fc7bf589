"""An executor that runs ranges in this process, on the in-memory store, and can lose them.

`InProcessExecutor` does exactly what a worker does with a range (`work.do_range`), with
an opener that unseals each `BucketSpec` (so sealing is exercised too) and maps its name
to a memory bucket. It can play a worker that dies: a chosen run is cancelled after it
wrote a given number of objects (or, with no such limit, after it did all its work but
before its outcome came back) and reported as `WorkerLost`, as a real executor does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.mirror.engine import MirrorJob, MirrorOptions
from bucketvault.mirror.ranges import KeyRange
from bucketvault.mirror.stats import MirrorSummary
from bucketvault.scaleout.coordinator import Distributed
from bucketvault.scaleout.executors import WorkerLost
from bucketvault.scaleout.sealing import new_key, seal_endpoint, unseal_endpoint
from bucketvault.scaleout.work import BucketSpec, JobSpec, RangeOutcome, RangeWork, do_range
from bucketvault.store.memory import MemoryBucket, MemoryEndpoint
from bucketvault.store.model import ObjectAttributes, WriteResult
from bucketvault.store.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)
SECRET = "memory-secret-do-not-leak"
MEMORY_URL = "http://memory.invalid"  # what the sealed description says; never dialled

# Counts that must match between an inline run and a spread one (timing fields differ).
COUNTS = (
    "listed_source",
    "listed_target",
    "planned_objects",
    "planned_bytes",
    "copied",
    "copied_bytes",
    "transferred_bytes",
    "skipped",
    "conflicts",
    "deleted",
    "kept_extra",
    "ignored",
    "failed",
    "delete_skipped_reason",
)


def counts(summary: MirrorSummary) -> dict[str, object]:
    return {name: getattr(summary, name) for name in COUNTS}


class RecordingBucket(MemoryBucket):
    """A memory bucket that tells `on_write(key)` after each object it stored."""

    def __init__(
        self, endpoint: MemoryEndpoint, name: str, prefix: str, on_write: Callable[[str], None]
    ) -> None:
        super().__init__(endpoint, name, prefix)
        self._on_write = on_write

    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size: int,
        attributes: ObjectAttributes,
        content_md5: str | None = None,
        part_size: int | None = None,
    ) -> WriteResult:
        result = await super().write(
            key,
            chunks,
            size=size,
            attributes=attributes,
            content_md5=content_md5,
            part_size=part_size,
        )
        self._on_write(key)
        return result


@dataclass
class InProcessExecutor:
    """Ranges done here, `slots` at a time (they interleave on this event loop).

    `lose`: call numbers (0-based, in the order ranges were handed out) whose worker
    "dies"; `lose_after_writes`: how many objects such a worker writes first (None: it
    finishes the range, then dies before its outcome is delivered). `lose_if`: a range
    whose every attempt dies."""

    endpoint: MemoryEndpoint
    slots: int = 3
    lose: frozenset[int] = frozenset()
    lose_after_writes: int | None = None
    lose_if: Callable[[KeyRange], bool] | None = None
    buckets: Mapping[str, type[MemoryBucket]] = field(default_factory=dict)
    key: bytes = field(default_factory=new_key)
    calls: int = 0
    works: list[RangeWork] = field(default_factory=list)
    outcomes: list[RangeOutcome] = field(default_factory=list)
    writes: Counter[str] = field(default_factory=Counter)
    lost: int = 0

    def _opener(self, on_write: Callable[[str], None]) -> Callable[[BucketSpec], MemoryBucket]:
        def open_bucket(spec: BucketSpec) -> MemoryBucket:
            config = unseal_endpoint(spec.endpoint, self.key)  # as a real worker would
            assert config.url == MEMORY_URL
            kind = self.buckets.get(spec.name)
            if kind is not None:
                return kind(self.endpoint, spec.name, spec.prefix)
            return RecordingBucket(self.endpoint, spec.name, spec.prefix, on_write)

        return open_bucket

    async def run(self, work: RangeWork) -> RangeOutcome:
        number = self.calls
        self.calls += 1
        self.works.append(work)
        dies = number in self.lose or (self.lose_if is not None and self.lose_if(work.key_range))
        enough = asyncio.Event()
        written = 0

        def on_write(key: str) -> None:
            nonlocal written
            self.writes[key] += 1
            written += 1
            if dies and self.lose_after_writes is not None and written >= self.lose_after_writes:
                enough.set()

        task = asyncio.ensure_future(do_range(work, self._opener(on_write)))
        if not dies:
            outcome = await task
            self.outcomes.append(outcome)
            return outcome
        waiter = asyncio.ensure_future(enough.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.lost += 1
        raise WorkerLost(f"simulated: the worker of range {work.key_range} died")

    async def close(self) -> None:
        pass


def memory_config() -> EndpointConfig:
    return EndpointConfig(
        url=MEMORY_URL, access_key_id="memory-key", secret_access_key=Secret(SECRET)
    )


def distributed(
    executor: InProcessExecutor, source: str, target: str, **options: Any
) -> Distributed:
    """The job `source` → `target` on the executor's memory endpoint, described for it."""
    options.setdefault("retry", FAST_RETRY)
    opts = MirrorOptions(**options)
    endpoint = executor.endpoint
    job = MirrorJob(endpoint.bucket(source), endpoint.bucket(target), opts)
    sealed = seal_endpoint(memory_config(), executor.key)
    return Distributed(job, JobSpec(BucketSpec(sealed, source), BucketSpec(sealed, target), opts))


async def put(bucket: MemoryBucket, key: str, data: bytes, **attrs: Any) -> None:
    async def one() -> AsyncIterable[bytes]:
        yield data

    await bucket.create()
    await bucket.write(key, one(), size=len(data), attributes=ObjectAttributes(**attrs))


async def contents(bucket: MemoryBucket) -> dict[str, tuple[bytes, ObjectAttributes]]:
    result = {}
    async for info in bucket.list():
        _, attributes = await bucket.head(info.key)
        async with bucket.open(info.key) as reader:
            result[info.key] = (b"".join([c async for c in reader.chunks()]), attributes)
    return result
