"""`backup <bucket>`: incrementally mirror one service bucket into its backup bucket.

The backup bucket is updated in place: new and changed objects are copied (verified)
before anything is deleted, and deletions of objects gone from the service happen
only after a clean copy pass — so there is never a moment without a valid backup.
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.services import ServiceConfig
from bucketvault.mirror import MirrorJob, MirrorOptions
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.mirroring import mirror_reporting, mirror_result
from bucketvault.tasks.result import ProgressCallback, TaskResult


async def run_backup(
    service: ServiceConfig,
    params: Mapping[str, str],
    bucket: str,
    *,
    progress: ProgressCallback | None = None,
) -> TaskResult:
    async with service_stores(service, params) as stores:
        job = MirrorJob(
            stores.live.bucket(bucket),
            stores.backup.bucket(service.backup_bucket(bucket)),
            MirrorOptions(overwrite=True, remove=True, bookkeeping=True, record_checksums=True),
        )
        summary = await mirror_reporting(job, progress)
    return mirror_result(summary, f"backed up {bucket} →")
