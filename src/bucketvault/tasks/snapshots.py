"""Opening a backup bucket's history for a task: its snapshots, one read into a local
index, and the backup bucket made ready to keep history (versioning, Object Lock)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from bucketvault.config.services import ServiceConfig
from bucketvault.history import catalog
from bucketvault.history.index import EntryTable, Row, connect
from bucketvault.history.journal import Journal
from bucketvault.history.record import Header
from bucketvault.history.source import SnapshotSource
from bucketvault.store.base import Bucket, Endpoint
from bucketvault.store.model import ObjectLock, Versioning


async def fill(table: EntryTable, bucket: Bucket, snapshot_id: str, *, batch: int = 5000) -> None:
    """Read a snapshot's records into `table`, a batch at a time."""
    pending: list[Row] = []
    async for row in catalog.rows(bucket, snapshot_id):
        pending.append(row)
        if len(pending) >= batch:
            table.load_rows(pending)
            pending = []
    table.load_rows(pending)


@contextlib.asynccontextmanager
async def snapshot_source(
    backup: Endpoint,
    backup_bucket: str,
    header: Header,
    *,
    prefix: str = "",
) -> AsyncIterator[SnapshotSource]:
    """`header`'s snapshot as a read-only bucket, indexed in a temporary file."""
    with tempfile.TemporaryDirectory(prefix="bv-snap-", dir=catalog.spool_dir()) as work:
        conn = connect(Path(work) / "snapshot.db")
        try:
            table = EntryTable(conn, "entries")
            bucket = backup.bucket(backup_bucket)
            await fill(table, bucket, header.id)
            yield SnapshotSource(bucket, table, header, prefix=prefix)
        finally:
            conn.close()


async def choose_snapshot(
    backup: Endpoint,
    backup_bucket: str,
    *,
    at: datetime | None = None,
    snapshot: str | None = None,
) -> Header | None:
    """The snapshot asked for; None for a bucket without snapshots when none was named
    (a backup bucket written before history, read as a plain copy)."""
    found = await catalog.headers(backup, backup_bucket)
    if not found and at is None and snapshot is None:
        return None
    return catalog.choose(found, at=at, snapshot=snapshot)


async def prepare_backup_bucket(bucket: Bucket, *, object_lock: ObjectLock | None) -> bool:
    """Create the backup bucket if needed and turn versioning on where the store has it.
    True when the bucket keeps versions (then overwritten objects stay as versions);
    False on stores without versioning (then bucketvault archives them itself)."""
    if not await bucket.exists():
        await bucket.create(object_lock=object_lock)
    state = await bucket.versioning()
    if state is Versioning.OFF:
        state = await bucket.enable_versioning()
    return state is Versioning.ENABLED


async def fill_journal(journal: Journal, bucket: Bucket, snapshot_id: str) -> None:
    """Load the parent snapshot into a fresh journal."""
    await fill(journal.parent, bucket, snapshot_id)
    journal.load_parent(())


def object_lock_of(service: ServiceConfig) -> ObjectLock | None:
    if service.object_lock is None:
        return None
    mode, days = service.object_lock
    return ObjectLock(mode=mode, days=days)
