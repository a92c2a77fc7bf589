"""`backup <bucket>`: copy what changed in a service bucket into its backup bucket, and
publish a snapshot of the whole bucket.

The mirror compares the live bucket with the latest snapshot (not with a listing of the
backup bucket), copies new and changed objects, and deletes from the latest view what
the live bucket no longer has — but nothing an earlier snapshot names is lost: on a
versioned backup bucket the old copies stay as versions, elsewhere they are archived
first (`history.target`). Only after a clean pass is the new snapshot published; a run
that fails or is killed leaves every earlier snapshot as it was, and its journal lets
the next run carry on without copying again what it already copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bucketvault.config.home import home_dir
from bucketvault.config.services import ServiceConfig
from bucketvault.history import catalog
from bucketvault.history.journal import Journal
from bucketvault.history.layout import new_snapshot_id
from bucketvault.history.record import Header
from bucketvault.history.target import BackupTarget
from bucketvault.mirror import MirrorJob, MirrorOptions
from bucketvault.scaleout.run import backup as spread_backup
from bucketvault.scaleout.views import JournalWindow
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.mirroring import mirror_reporting, mirror_result, spread_for
from bucketvault.tasks.result import ProgressCallback, TaskResult
from bucketvault.tasks.snapshots import fill_journal, object_lock_of, prepare_backup_bucket
from bucketvault.units import count


def open_journal(service: ServiceConfig, backup_bucket: str) -> Journal:
    folder = home_dir() / "journals" / service.name.replace("/", "_")
    return Journal(folder / f"{backup_bucket}.db")


async def run_backup(
    service: ServiceConfig,
    params: Mapping[str, str],
    bucket: str,
    *,
    snapshot_id: str | None = None,
    started: datetime | None = None,
    progress: ProgressCallback | None = None,
) -> TaskResult:
    started = started or datetime.now(UTC)
    backup_name = service.backup_bucket(bucket)
    async with service_stores(service, params) as stores:
        root = stores.backup.bucket(backup_name)
        versioned = await prepare_backup_bucket(root, object_lock=object_lock_of(service))
        found = await catalog.headers(stores.backup, backup_name)
        parent = found[-1] if found else None
        snapshot_id = snapshot_id or new_snapshot_id(started)
        if any(h.id == snapshot_id for h in found):
            snapshot_id = new_snapshot_id()  # this run's id is taken: a re-run of the step
        journal = open_journal(service, backup_name)
        try:
            if not journal.resume_or_reset(parent.id if parent else None):
                if parent is not None:
                    await fill_journal(journal, root, parent.id)
                else:
                    journal.load_parent(())
            target = BackupTarget(root, journal, versioned=versioned)
            job = MirrorJob(
                stores.live.bucket(bucket),
                target,
                MirrorOptions(
                    overwrite=True,
                    remove=True,
                    # history keeps what a delete removes: an emptied bucket is backed up
                    # as empty, and earlier snapshots still hold its objects
                    allow_empty_source=True,
                    bookkeeping=True,
                    record_checksums=True,
                    create_target=False,
                    bwlimit=service.bwlimit,
                ),
            )
            window = JournalWindow(journal)
            describe = spread_backup(job, stores.live_config, stores.backup_config, window)
            summary = await mirror_reporting(job, progress, spread_for(service, describe))
            result = mirror_result(summary, f"backed up {bucket} →")
            if not summary.ok:
                return TaskResult(
                    result.message + "; no snapshot published (the previous ones stand)",
                    result.errors,
                )
            header = _header(
                journal, service, bucket, backup_name, snapshot_id, started, parent, versioned
            )
            await catalog.publish(root, header, journal.lines())
        finally:
            journal.close()
        # published: what the journal knew is in the snapshot now
        journal.discard()
    message = (
        f"{result.message}; snapshot {header.id}: {count(header.objects, 'object')} "
        f"({header.added:,} added, {header.changed:,} changed, {header.deleted:,} deleted)"
    )
    archived = target.archived + window.archived  # in this process, and by workers
    if archived:
        message += f", {archived:,} replaced copies archived"
    return TaskResult(message, result.errors)


def _header(
    journal: Journal,
    service: ServiceConfig,
    bucket: str,
    backup_name: str,
    snapshot_id: str,
    started: datetime,
    parent: Header | None,
    versioned: bool,
) -> Header:
    counts = journal.counts()
    return Header(
        id=snapshot_id,
        service=service.name,
        bucket=bucket,
        backup_bucket=backup_name,
        started=started,
        completed=datetime.now(UTC),
        parent=parent.id if parent else None,
        objects=counts.objects,
        bytes=counts.bytes,
        added=counts.added,
        changed=counts.changed,
        deleted=counts.deleted,
        versioned=versioned,
    )
