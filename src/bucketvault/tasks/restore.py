"""`restore <bucket>`: mirror a backup bucket into a service bucket, creating it.

Non-destructive by default: nothing is deleted, and an existing object whose content
differs is kept and reported unless OVERWRITE=true. bucketvault's bookkeeping metadata
is stripped, so restored objects carry exactly the attributes they were backed up with.
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.services import ServiceConfig
from bucketvault.mirror import MirrorJob, MirrorOptions
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.mirroring import mirror_reporting, mirror_result
from bucketvault.tasks.result import ProgressCallback, TaskResult


async def run_restore(
    service: ServiceConfig,
    params: Mapping[str, str],
    backup_bucket: str,
    target_bucket: str,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> TaskResult:
    async with service_stores(service, params) as stores:
        job = MirrorJob(
            stores.backup.bucket(backup_bucket),
            stores.live.bucket(target_bucket),
            MirrorOptions(overwrite=overwrite, remove=False, bookkeeping=False),
        )
        summary = await mirror_reporting(job, progress)
    return mirror_result(summary, f"restored {backup_bucket} → {target_bucket}:")
