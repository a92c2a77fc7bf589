"""One range of a mirror run, as a worker does it, and what it sends back.

Everything here crosses a process or machine boundary, so it is plain frozen data:
the stores travel sealed (`sealing.py`), the options as they are. A worker process keeps
one event loop and the stores it opened for all the ranges it is given, so a range costs
its requests, not new connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bucketvault import event_loop
from bucketvault.collector import set_for_streaming
from bucketvault.history.record import Header
from bucketvault.history.source import SnapshotSource
from bucketvault.history.target import BackupTarget
from bucketvault.mirror.compare import CompareReport, compare_range
from bucketvault.mirror.decide import Action
from bucketvault.mirror.engine import MirrorJob, MirrorOptions, copy_phase
from bucketvault.mirror.ranges import KeyRange, RangeScope
from bucketvault.mirror.stats import MirrorStats, MirrorSummary
from bucketvault.scaleout.sealing import Sealed, unseal_endpoint
from bucketvault.scaleout.views import EntrySlice, RangeJournal, Recorded
from bucketvault.store.base import Bucket, Endpoint
from bucketvault.store.retry import counting_retries

# A range stops after this many listed keys or planned bytes: small enough that progress
# arrives often and a lost worker loses little, large enough that a range costs far more
# than handing it out.
RANGE_KEYS = 4000
FIRST_RANGE_KEYS = 1000  # the first range is cut early, so the others start soon
# Every range costs a LIST from its start key on each side, and some stores pay for that
# by the size of the bucket (rclone serve s3 reads the whole directory): on a big bucket
# the budget grows with what was listed so far, up to this (`coordinator.next_budget`).
MAX_RANGE_KEYS = 100_000
RANGE_BYTES = 512 * 1024 * 1024
SAMPLE_EVERY = 50


@dataclass(frozen=True, slots=True)
class BucketSpec:
    endpoint: Sealed
    name: str
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class BackupSpec:
    """The backup bucket seen through the latest snapshot (`history.target.BackupTarget`);
    each range is sent the records it needs (`views.JournalWindow`)."""

    root: BucketSpec
    versioned: bool


@dataclass(frozen=True, slots=True)
class SnapshotSpec:
    """A snapshot as a read-only bucket (`history.source.SnapshotSource`); each range is
    sent its entries (`views.SnapshotWindow`)."""

    backup: BucketSpec
    header: Header
    prefix: str = ""


SideSpec = BucketSpec | BackupSpec | SnapshotSpec
BucketOpener = Callable[[BucketSpec], Bucket]


@dataclass(frozen=True, slots=True)
class JobSpec:
    source: SideSpec
    target: SideSpec
    options: MirrorOptions
    target_exists: bool = True
    report_actions: bool = False  # dry runs list what they would do
    # a verify: compare source (the live bucket) with target (a snapshot), change nothing
    verify: bool = False
    read_data: bool = False


@dataclass(frozen=True, slots=True)
class RangeWork:
    job: JobSpec
    key_range: KeyRange
    max_keys: int = RANGE_KEYS
    max_bytes: int = RANGE_BYTES
    source_lines: tuple[str, ...] = ()  # the records a snapshot or backup side needs
    target_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RangeOutcome:
    key_range: KeyRange
    summary: MirrorSummary | None  # what a mirror range did (None for a verify)
    deletes: tuple[str, ...] = ()
    stopped_after: str | None = None
    sample: tuple[str, ...] = ()
    actions: tuple[tuple[str, str, int], ...] = ()
    recorded: tuple[Recorded, ...] = ()  # what a backup range wrote and deleted
    archived: int = 0  # replaced backup copies archived first
    report: CompareReport | None = None  # what a verify range found
    listed: int = 0  # keys listed, both sides together


class _Worker:
    """Per process: the event loop and the endpoints opened so far."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.loop = event_loop.new_loop()
        self.endpoints: dict[bytes, Endpoint] = {}

    def bucket(self, spec: BucketSpec) -> Bucket:
        from bucketvault.store import open_endpoint

        endpoint = self.endpoints.get(spec.endpoint.blob)
        if endpoint is None:
            endpoint = open_endpoint(unseal_endpoint(spec.endpoint, self.key))
            self.endpoints[spec.endpoint.blob] = endpoint
        return endpoint.bucket(spec.name, spec.prefix)


_worker: _Worker | None = None


def start_worker(key: bytes) -> None:
    """Run once in each worker process before its first range."""
    global _worker
    if _worker is None or _worker.key != key:
        _worker = _Worker(key)
        set_for_streaming()


def perform(work: RangeWork) -> RangeOutcome:
    """Do one range in this worker process (after `start_worker`)."""
    assert _worker is not None, "start_worker() was not called in this process"
    return _worker.loop.run_until_complete(do_range(work, _worker.bucket))


async def do_range(work: RangeWork, open_bucket: BucketOpener) -> RangeOutcome:
    """List, compare and copy the keys of one range; deletions are only collected."""
    spec = work.job
    journal = RangeJournal(work.target_lines) if isinstance(spec.target, BackupSpec) else None
    source = _open_side(spec.source, work.source_lines, open_bucket, None)
    target = _open_side(spec.target, work.target_lines, open_bucket, journal)
    scope = RangeScope(
        work.key_range, max_keys=work.max_keys, max_bytes=work.max_bytes, sample_every=SAMPLE_EVERY
    )
    if spec.verify:
        report, walk = await compare_range(source, target, read_data=spec.read_data, scope=scope)
        return RangeOutcome(
            work.key_range, None, stopped_after=walk.stopped_after, sample=tuple(walk.sample),
            report=report, listed=walk.listed,
        )  # fmt: skip
    job = MirrorJob(source, target, spec.options)
    stats = MirrorStats(dry_run=spec.options.dry_run)
    actions: list[tuple[str, str, int]] = []

    def tell(key: str, action: Action, size: int) -> None:
        if spec.report_actions:
            actions.append((key, action.value, size))

    with counting_retries(stats.count_retry):
        phase = await copy_phase(job, stats, tell, target_exists=spec.target_exists, scope=scope)
    try:
        deletes = tuple(phase.deletes.pending())
    finally:
        phase.deletes.close()
    stats.finish()
    return RangeOutcome(
        work.key_range,
        stats.snapshot(),
        deletes,
        phase.walk.stopped_after,
        tuple(phase.walk.sample),
        tuple(actions),
        recorded=tuple(journal.recorded) if journal is not None else (),
        archived=target.archived if isinstance(target, BackupTarget) else 0,
        listed=phase.walk.listed,
    )


def _open_side(
    spec: SideSpec,
    lines: tuple[str, ...],
    open_bucket: BucketOpener,
    journal: RangeJournal | None,
) -> Bucket:
    if isinstance(spec, BucketSpec):
        return open_bucket(spec)
    if isinstance(spec, BackupSpec):
        assert journal is not None
        return BackupTarget(open_bucket(spec.root), journal, versioned=spec.versioned)
    return SnapshotSource(
        open_bucket(spec.backup), EntrySlice(lines), spec.header, prefix=spec.prefix
    )
