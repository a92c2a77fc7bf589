"""`synchronize-buckets`: deal with backup buckets whose service bucket is gone.

The DC/OS service deleted such backup buckets at once — so a bucket deleted by
mistake lost its backup at the next run. Here a backup bucket whose source is missing
is marked (the time it was first seen orphaned is kept in `<home>/orphans.json`) and
kept for the service's retention period; only after that is it emptied and removed.
A bucket that reappears loses its mark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bucketvault.config.home import home_dir, read_json, write_private
from bucketvault.config.services import ServiceConfig
from bucketvault.errors import ObjectLockedError
from bucketvault.store.base import Endpoint
from bucketvault.store.model import Versioning
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.result import TaskResult


def _load_marks(service: str) -> dict[str, str]:
    marks: dict[str, Any] = read_json(home_dir() / "orphans.json").get(service, {})
    return {str(k): str(v) for k, v in marks.items()}


def _save_marks(service: str, marks: dict[str, str]) -> None:
    path = home_dir() / "orphans.json"
    records = read_json(path)
    records[service] = marks
    write_private(path, json.dumps(records, indent=2, sort_keys=True))


def orphan_marks(service: str) -> dict[str, datetime]:
    return {k: datetime.fromisoformat(v) for k, v in _load_marks(service).items()}


async def _empty_and_delete(backup: Endpoint, name: str) -> bool:
    """Remove every object (every version, on a versioned bucket: its snapshots' history
    goes with it) and then the bucket. False when Object Lock still retains some: the
    bucket is kept and tried again at the next run."""
    bucket = backup.bucket(name)
    policy = RetryPolicy()
    locked = 0
    if await bucket.versioning() in (Versioning.ENABLED, Versioning.SUSPENDED):
        async for version in bucket.list_versions():
            try:
                await retrying(
                    lambda v=version: bucket.delete(v.key, version_id=v.version_id),  # type: ignore[misc]
                    policy,
                )
            except ObjectLockedError:
                locked += 1
    else:
        async for info in bucket.list():
            await retrying(lambda key=info.key: bucket.delete(key), policy)  # type: ignore[misc]
    if locked:
        return False
    await retrying(lambda: backup.delete_bucket(name), policy)
    return True


async def run_synchronize(
    service: ServiceConfig, params: Mapping[str, str], *, now: datetime | None = None
) -> TaskResult:
    now = now or datetime.now(UTC)
    retention = timedelta(days=service.retention_days)
    async with service_stores(service, params) as stores:
        live = set(await stores.live.list_buckets())
        backups = [
            b for b in await stores.backup.list_buckets() if b.startswith(service.bucket_prefix)
        ]
        marks = _load_marks(service.name)
        kept, removed, newly, locked = [], [], [], []
        for backup_bucket in backups:
            # through the service's --map-bucket names: a mapped backup bucket belongs to
            # its long-named live bucket, not to the bucket its name would suggest
            source = service.live_bucket(backup_bucket)
            if source in live:
                marks.pop(backup_bucket, None)
                continue
            since = datetime.fromisoformat(marks.setdefault(backup_bucket, now.isoformat()))
            if since == now:
                newly.append(backup_bucket)
            if now - since >= retention:
                if await _empty_and_delete(stores.backup, backup_bucket):
                    marks.pop(backup_bucket, None)
                    removed.append(backup_bucket)
                else:
                    locked.append(backup_bucket)
            else:
                kept.append(backup_bucket)
        for stale in set(marks) - set(backups):
            marks.pop(stale)
        _save_marks(service.name, marks)
    parts = [f"{len(backups)} backup bucket(s)"]
    if kept:
        parts.append(
            f"{len(kept)} kept although their service bucket is gone "
            f"(removed after {service.retention_days:g} days): {', '.join(kept)}"
        )
    if removed:
        parts.append(f"removed after retention: {', '.join(removed)}")
    if locked:
        parts.append(f"kept while Object Lock retains their objects: {', '.join(locked)}")
    return TaskResult("; ".join(parts))
