"""Prune: forget the snapshots a retention policy lets go, then remove the bytes that
no kept snapshot names.

Order makes it safe to kill at any point: a snapshot is unpublished (header deleted)
before its records, and data is removed only when no published snapshot names it, so
an interrupted prune leaves every kept snapshot restorable and the next run finishes
the job. The latest copy of every key (the browsable view) is never removed. Versions
that Object Lock still retains are reported as retained, not as errors.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bucketvault.errors import NoSuchKeyError, ObjectLockedError
from bucketvault.history import catalog
from bucketvault.history.index import connect
from bucketvault.history.layout import (
    ARCHIVE,
    HEADER_SUFFIX,
    RECORDS_SUFFIX,
    SNAPSHOTS,
    archive_key,
)
from bucketvault.history.record import Header
from bucketvault.history.retention import Decision, RetentionPolicy, apply
from bucketvault.store.base import Bucket, Endpoint
from bucketvault.store.keys import sort_key
from bucketvault.store.model import VersionInfo, Versioning


@dataclass
class PruneReport:
    bucket: str
    decision: Decision[Header]
    dry_run: bool
    removed_versions: int = 0
    removed_archived: int = 0
    removed_bytes: int = 0
    retained_locked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def forgotten(self) -> list[Header]:
        return self.decision.forget


def _snapshot_of(key: str) -> str | None:
    name = key[len(SNAPSHOTS) :]
    for suffix in (RECORDS_SUFFIX, HEADER_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


class _References:
    """Where the kept snapshots' bytes are, in a temporary SQLite file."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._conn.execute("CREATE TABLE refs (k BLOB PRIMARY KEY) WITHOUT ROWID")

    async def add_snapshot(self, bucket: Bucket, snapshot_id: str) -> None:
        rows: list[tuple[bytes]] = []
        async for entry in catalog.entries(bucket, snapshot_id):
            rows.append((self._ref(entry.location, entry.version),))
            rows.append((archive_key(entry.stored_etag, entry.size).encode(),))
            if len(rows) >= 2000:
                self._add(rows)
                rows = []
        self._add(rows)

    def _add(self, rows: list[tuple[bytes]]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO refs (k) VALUES (?)", rows)

    @staticmethod
    def _ref(location: str, version: str | None) -> bytes:
        return sort_key(location) + b"\x00" + (version or "").encode()

    def names(self, location: str, version: str | None = None) -> bool:
        key = self._ref(location, version) if version is not None else location.encode()
        row = self._conn.execute("SELECT 1 FROM refs WHERE k=?", (key,)).fetchone()
        return row is not None

    def close(self) -> None:
        self._conn.close()


async def prune(
    endpoint: Endpoint,
    backup_bucket: str,
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool = False,
) -> PruneReport:
    found = await catalog.headers(endpoint, backup_bucket)
    decision = apply(found, policy, now=now)
    report = PruneReport(backup_bucket, decision, dry_run)
    if dry_run or policy.is_empty or not found:
        return report
    bucket = endpoint.bucket(backup_bucket)
    for header in decision.forget:
        await catalog.forget(bucket, header.id)
    with tempfile.TemporaryDirectory(prefix="bv-prune-", dir=catalog.spool_dir()) as work:
        refs = _References(Path(work) / "refs.db")
        try:
            for header in decision.keep:
                await refs.add_snapshot(bucket, header.id)
            kept_ids = {h.id for h in decision.keep}
            await _sweep_snapshot_files(endpoint.bucket(backup_bucket, SNAPSHOTS), kept_ids)
            if await bucket.versioning() in (Versioning.ENABLED, Versioning.SUSPENDED):
                await _sweep_versions(bucket, refs, kept_ids, report)
            await _sweep_archive(endpoint.bucket(backup_bucket, ARCHIVE), refs, report)
        finally:
            refs.close()
    return report


async def _remove(
    bucket: Bucket, key: str, version: str | None, size: int, report: PruneReport
) -> bool:
    try:
        await bucket.delete(key, version_id=version)
    except ObjectLockedError:
        report.retained_locked += 1
        return False
    except NoSuchKeyError:
        return False
    report.removed_bytes += size
    return True


async def _sweep_versions(
    bucket: Bucket, refs: _References, kept_ids: set[str], report: PruneReport
) -> None:
    """Remove every non-current version no kept snapshot names, and every version of
    the files of snapshots not kept. A forgotten file's delete marker goes last: removed
    first, it would make the version it hides current again, and a prune killed right
    then would leave a forgotten snapshot listed once more."""
    markers: list[VersionInfo] = []
    async for version in bucket.list_versions():
        if version.key.startswith(SNAPSHOTS):
            snapshot = _snapshot_of(version.key)
            if snapshot in kept_ids and version.is_latest:
                continue
            if snapshot in kept_ids and not version.delete_marker:
                continue  # an older copy of a kept snapshot's file: harmless, keep it
            if version.delete_marker:
                markers.append(version)
                continue
        elif version.is_latest:
            continue  # the browsable view: the latest copy of every key stays
        elif not version.delete_marker and refs.names(version.key, version.version_id):
            continue
        if await _remove(bucket, version.key, version.version_id, version.size, report):
            report.removed_versions += 1
    for marker in markers:
        if await _remove(bucket, marker.key, marker.version_id, 0, report):
            report.removed_versions += 1


async def _sweep_snapshot_files(folder: Bucket, kept_ids: set[str]) -> None:
    """Remove the files of snapshots not kept: records whose header a killed prune had
    already deleted, or that a killed backup wrote before its header. Headers first, so
    a kill between the two leaves records without a header — unpublished, and removed
    by the next prune."""
    stale: list[str] = []
    async for info in folder.list():
        snapshot = _snapshot_of(SNAPSHOTS + info.key)
        if snapshot is not None and snapshot not in kept_ids:
            stale.append(info.key)
    for key in sorted(stale, key=lambda k: not k.endswith(HEADER_SUFFIX)):
        with contextlib.suppress(NoSuchKeyError):
            await folder.delete(key)


async def _sweep_archive(archive: Bucket, refs: _References, report: PruneReport) -> None:
    """Remove archived copies (stores without versioning) no kept snapshot names."""
    async for info in archive.list():
        if refs.names(ARCHIVE + info.key):
            continue
        if await _remove(archive, info.key, None, info.size, report):
            report.removed_archived += 1
