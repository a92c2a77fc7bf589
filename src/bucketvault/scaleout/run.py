"""Run one mirror job on an executor: open it, describe the job for its workers, close it."""

from __future__ import annotations

from dataclasses import replace

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.mirror.engine import ActionListener, MirrorJob
from bucketvault.mirror.stats import MirrorStats, MirrorSummary
from bucketvault.scaleout.coordinator import Distributed, run_distributed
from bucketvault.scaleout.executors import Executor, open_executor
from bucketvault.scaleout.sealing import seal_endpoint
from bucketvault.scaleout.work import BucketSpec, JobSpec
from bucketvault.store.base import Bucket


def _prefix(bucket: Bucket) -> str:
    """The key prefix a plain store bucket is narrowed to (a wrapper cannot be spread)."""
    from bucketvault.store.local import LocalBucket
    from bucketvault.store.s3_bucket import S3Bucket

    if not isinstance(bucket, S3Bucket | LocalBucket):
        raise TypeError(f"{type(bucket).__name__} cannot be described to workers")
    return bucket.prefix


def describe(
    job: MirrorJob, endpoints: tuple[EndpointConfig, EndpointConfig], executor: Executor
) -> Distributed:
    """`job` and its description for `executor`'s workers, the stores sealed with its key.
    A bandwidth limit is shared out evenly, so the run as a whole keeps to it."""
    source_config, target_config = endpoints
    options = job.options
    if options.bwlimit is not None:
        options = replace(options, bwlimit=max(1, options.bwlimit // executor.slots))
    spec = JobSpec(
        BucketSpec(
            seal_endpoint(source_config, executor.key), job.source.name, _prefix(job.source)
        ),
        BucketSpec(
            seal_endpoint(target_config, executor.key), job.target.name, _prefix(job.target)
        ),
        options,
    )
    return Distributed(job, spec)


async def run_spread(
    job: MirrorJob,
    endpoints: tuple[EndpointConfig, EndpointConfig],
    executor_name: str,
    workers: int | None,
    *,
    stats: MirrorStats | None = None,
    on_action: ActionListener | None = None,
) -> MirrorSummary:
    executor = open_executor(executor_name, workers)
    try:
        return await run_distributed(
            describe(job, endpoints, executor), executor, stats=stats, on_action=on_action
        )
    finally:
        await executor.close()
