"""`restore <bucket>`: put a snapshot of a backup bucket back into a service bucket.

The snapshot is the latest, the last one completed at or before `at`, or the one named;
`prefix` narrows it to one object or a folder, by the rule of `mirror.narrow` (`a/b/`
is the folder; `a/b` the object of that key, or else the folder `a/b/`).
Non-destructive by default: nothing is deleted, and an existing object whose content
differs is kept and reported unless OVERWRITE=true. Restored objects carry exactly the
key, bytes, headers, user metadata and tags the snapshot recorded, each checked against
its recorded MD5.

A backup bucket written before snapshots existed is restored as a plain copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bucketvault.config.services import ServiceConfig
from bucketvault.history.layout import RESERVED
from bucketvault.history.legacy import LegacyBackup
from bucketvault.history.source import SnapshotSource
from bucketvault.mirror import MirrorJob, MirrorOptions
from bucketvault.mirror.filters import KeyFilter
from bucketvault.mirror.narrow import Narrowed, as_folder, names_object, narrow, split_object
from bucketvault.scaleout.run import restore as spread_restore
from bucketvault.store.base import Bucket
from bucketvault.tasks.endpoints import ServiceStores, service_stores
from bucketvault.tasks.mirroring import mirror_reporting, mirror_result, spread_for
from bucketvault.tasks.result import ProgressCallback, TaskResult
from bucketvault.tasks.snapshots import choose_snapshot, snapshot_source


async def _plain(
    stores: ServiceStores, backup_bucket: str, target_bucket: str, path: str
) -> tuple[Bucket, Bucket]:
    """A backup bucket without snapshots (read in its own format: `history.legacy`) and
    its target, narrowed to `path` (keys kept)."""
    if path and not path.endswith("/"):
        folder, name = split_object(path)
        parent = LegacyBackup(stores.backup.bucket(backup_bucket, folder))
        if await names_object(parent, name):
            target = stores.live.bucket(target_bucket, folder)
            return Narrowed(parent, key=name), Narrowed(target, key=name)
    folder = as_folder(path)
    source = LegacyBackup(stores.backup.bucket(backup_bucket, folder))
    return source, stores.live.bucket(target_bucket, folder)


async def run_restore(
    service: ServiceConfig,
    params: Mapping[str, str],
    backup_bucket: str,
    target_bucket: str,
    *,
    overwrite: bool = False,
    at: datetime | None = None,
    snapshot: str | None = None,
    prefix: str = "",
    progress: ProgressCallback | None = None,
) -> TaskResult:
    options = MirrorOptions(
        overwrite=overwrite,
        remove=False,
        bookkeeping=False,
        allow_empty_source=True,
        bwlimit=service.bwlimit,
    )
    async with service_stores(service, params) as stores:
        target = stores.live.bucket(target_bucket)
        header = await choose_snapshot(stores.backup, backup_bucket, at=at, snapshot=snapshot)
        if header is None:
            legacy = MirrorOptions(
                overwrite=overwrite,
                remove=False,
                bookkeeping=False,
                filter=KeyFilter(exclude=(RESERVED + "*",)),
                bwlimit=service.bwlimit,
            )
            job = MirrorJob(*await _plain(stores, backup_bucket, target_bucket, prefix), legacy)
            # the first format (no snapshots) is restored in this process, whatever the
            # service's executor: it is read through `LegacyBackup`, which workers lack
            summary = await mirror_reporting(job, progress)
            return mirror_result(summary, f"restored {backup_bucket} → {target_bucket}:")
        async with snapshot_source(stores.backup, backup_bucket, header, prefix=prefix) as source:
            # PREFIX= names one object or a folder, by the rule `mirror` follows
            chosen = await narrow(source, prefix)
            job = MirrorJob(chosen, target, options)
            spread = None
            if isinstance(chosen, SnapshotSource):  # one object (Narrowed) runs here
                describe = spread_restore(job, stores.backup_config, stores.live_config)
                spread = spread_for(service, describe)
            summary = await mirror_reporting(job, progress, spread)
    what = f"restored {backup_bucket}@{header.id}" + (f" (prefix {prefix!r})" if prefix else "")
    return mirror_result(summary, f"{what} → {target_bucket}:")
