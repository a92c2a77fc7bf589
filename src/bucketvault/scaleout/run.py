"""Run one mirror job on an executor: open it, describe the job for its workers, close it.

A description is built once the executor is open, because the stores are sealed with
the executor's key. Plain buckets are described by their store and prefix; a backup's
target and a restore's snapshot also name the local table their ranges' records come
from (`views`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.history.index import EntryTable
from bucketvault.history.source import SnapshotSource
from bucketvault.history.target import BackupTarget
from bucketvault.mirror.compare import CompareReport
from bucketvault.mirror.engine import ActionListener, MirrorJob, MirrorOptions
from bucketvault.mirror.stats import MirrorStats, MirrorSummary
from bucketvault.scaleout.coordinator import Distributed, compare_distributed, run_distributed
from bucketvault.scaleout.executors import Executor, open_executor
from bucketvault.scaleout.sealing import seal_endpoint
from bucketvault.scaleout.views import JournalWindow, SnapshotWindow
from bucketvault.scaleout.work import BackupSpec, BucketSpec, JobSpec, SnapshotSpec
from bucketvault.store.base import Bucket

Describe = Callable[[Executor], Distributed]


def bucket_spec(bucket: Bucket, config: EndpointConfig, executor: Executor) -> BucketSpec:
    """A plain store bucket as workers reopen it (a wrapper cannot be described)."""
    from bucketvault.store.local import LocalBucket
    from bucketvault.store.s3_bucket import S3Bucket

    if not isinstance(bucket, S3Bucket | LocalBucket):
        raise TypeError(f"{type(bucket).__name__} cannot be described to workers")
    return BucketSpec(seal_endpoint(config, executor.key), bucket.name, bucket.prefix)


def shared_out(options: MirrorOptions, executor: Executor) -> MirrorOptions:
    """The options each worker runs with: a bandwidth limit is shared out evenly, so the
    run as a whole keeps to it."""
    if options.bwlimit is None:
        return options
    return replace(options, bwlimit=max(1, options.bwlimit // executor.slots))


def plain(job: MirrorJob, source: EndpointConfig, target: EndpointConfig) -> Describe:
    def describe(executor: Executor) -> Distributed:
        spec = JobSpec(
            bucket_spec(job.source, source, executor),
            bucket_spec(job.target, target, executor),
            shared_out(job.options, executor),
        )
        return Distributed(job, spec)

    return describe


def backup(
    job: MirrorJob, live: EndpointConfig, store: EndpointConfig, window: JournalWindow
) -> Describe:
    """A backup: live bucket → `BackupTarget`, its ranges' records from the journal
    (`window`, which also counts the copies workers archived)."""
    target = job.target
    assert isinstance(target, BackupTarget)

    def describe(executor: Executor) -> Distributed:
        spec = JobSpec(
            bucket_spec(job.source, live, executor),
            BackupSpec(bucket_spec(target.inner, store, executor), target.versioned),
            shared_out(job.options, executor),
        )
        return Distributed(job, spec, target_window=window)

    return describe


def restore(job: MirrorJob, store: EndpointConfig, live: EndpointConfig) -> Describe:
    """A restore: `SnapshotSource` → live bucket, its ranges' entries from the snapshot's
    local index."""
    source = job.source
    assert isinstance(source, SnapshotSource) and isinstance(source.table, EntryTable)
    table = source.table

    def describe(executor: Executor) -> Distributed:
        spec = JobSpec(
            SnapshotSpec(bucket_spec(source.backup, store, executor), source.header, source.prefix),
            bucket_spec(job.target, live, executor),
            shared_out(job.options, executor),
        )
        return Distributed(job, spec, source_window=SnapshotWindow(table, source.prefix))

    return describe


def verify(
    live_bucket: Bucket, snapshot: SnapshotSource, live: EndpointConfig, store: EndpointConfig
) -> Describe:
    """A verify: the live bucket compared with a snapshot, its ranges' entries from the
    snapshot's local index."""
    assert isinstance(snapshot.table, EntryTable)
    table = snapshot.table

    def describe(executor: Executor) -> Distributed:
        spec = JobSpec(
            bucket_spec(live_bucket, live, executor),
            SnapshotSpec(
                bucket_spec(snapshot.backup, store, executor), snapshot.header, snapshot.prefix
            ),
            MirrorOptions(),
        )
        job = MirrorJob(live_bucket, snapshot)
        return Distributed(job, spec, target_window=SnapshotWindow(table, snapshot.prefix))

    return describe


async def run_compare_spread(
    describe: Describe, executor_name: str, workers: int | None, *, read_data: bool
) -> CompareReport:
    executor = open_executor(executor_name, workers)
    try:
        return await compare_distributed(describe(executor), executor, read_data=read_data)
    finally:
        await executor.close()


async def run_spread(
    describe: Describe,
    executor_name: str,
    workers: int | None,
    *,
    stats: MirrorStats | None = None,
    on_action: ActionListener | None = None,
) -> MirrorSummary:
    executor = open_executor(executor_name, workers)
    try:
        return await run_distributed(describe(executor), executor, stats=stats, on_action=on_action)
    finally:
        await executor.close()
