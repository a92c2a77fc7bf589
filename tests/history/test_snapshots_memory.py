"""Backup into history and restore out of it, on the in-memory store (no versioning, so
replaced copies are archived): the logic of target, catalog and source without a server.
Every S3 behaviour is tested on real servers in test_history_e2e.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bucketvault.errors import NotFoundError, PlanInputError
from bucketvault.history import catalog
from bucketvault.history.diff import diff_entries
from bucketvault.history.index import EntryTable, connect
from bucketvault.history.journal import Journal
from bucketvault.history.layout import ARCHIVE, new_snapshot_id
from bucketvault.history.record import Entry, Header
from bucketvault.history.source import SnapshotSource
from bucketvault.history.target import BackupTarget
from bucketvault.mirror import MirrorJob, MirrorOptions, run_mirror
from bucketvault.store.memory import MemoryEndpoint
from bucketvault.store.model import ObjectAttributes

ATTRS = ObjectAttributes(content_type="text/plain", metadata={"owner": "bob"}, tags={"t": "1"})


async def put(endpoint: MemoryEndpoint, bucket: str, key: str, data: bytes) -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield data

    await endpoint.bucket(bucket).write(key, body(), size=len(data), attributes=ATTRS)


async def contents(
    endpoint: MemoryEndpoint, bucket: str
) -> dict[str, tuple[bytes, ObjectAttributes]]:
    found = {}
    b = endpoint.bucket(bucket)
    async for info in b.list():
        async with b.open(info.key) as reader:
            data = b"".join([c async for c in reader.chunks()])
            found[info.key] = (data, reader.attributes)
    return found


async def backup(endpoint: MemoryEndpoint, tmp: Path, when: datetime) -> Header:
    """What tasks/backup.py does, on one endpoint holding both buckets."""
    found = await catalog.headers(endpoint, "backup")
    parent = found[-1] if found else None
    root = endpoint.bucket("backup")
    journal = Journal(tmp / "journal.db")
    if not journal.resume_or_reset(parent.id if parent else None):
        if parent is not None:
            journal.parent.load([e async for e in catalog.entries(root, parent.id)])
        journal.load_parent(())
    target = BackupTarget(root, journal, versioned=False)
    summary = await run_mirror(
        MirrorJob(
            endpoint.bucket("live"),
            target,
            MirrorOptions(
                overwrite=True, remove=True, allow_empty_source=True, record_checksums=True
            ),
        )
    )
    assert summary.ok
    entries = [Entry.from_line(line) for line in journal.lines()]
    header = Header(
        id=new_snapshot_id(when), service="svc", bucket="live", backup_bucket="backup",
        started=when, completed=when, parent=parent.id if parent else None,
        objects=len(entries), bytes=sum(e.size for e in entries), added=0, changed=0,
        deleted=0, versioned=False,
    )  # fmt: skip
    await catalog.publish(root, header, (e.to_line() for e in entries))
    journal.discard()
    return header


async def restore(
    endpoint: MemoryEndpoint, tmp: Path, header: Header, into: str, prefix: str = ""
) -> None:
    conn = connect(tmp / f"{header.id}-{into}.db")
    table = EntryTable(conn, "entries")
    table.load([e async for e in catalog.entries(endpoint.bucket("backup"), header.id)])
    source = SnapshotSource(endpoint.bucket("backup"), table, header, prefix=prefix)
    summary = await run_mirror(
        MirrorJob(source, endpoint.bucket(into), MirrorOptions(bookkeeping=False))
    )
    conn.close()
    assert summary.ok, summary.failed_objects


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_overwritten_and_deleted_objects_stay_restorable(tmp_path: Path) -> None:
    store = MemoryEndpoint()
    await store.bucket("live").create()
    for i in range(6):
        await put(store, "live", f"k{i}", f"version one of {i}".encode())
    await put(store, "live", "a//b", b"odd key")
    original = await contents(store, "live")
    first = await backup(store, tmp_path, T0)

    await put(store, "live", "k0", b"encrypted!!!!!!!!")  # same size, other bytes
    await store.bucket("live").delete("k1")
    await store.bucket("live").delete("a//b")
    await put(store, "live", "new", b"new")
    after_attack = await contents(store, "live")
    second = await backup(store, tmp_path, T0 + timedelta(hours=1))

    archived = [i.key async for i in store.bucket("backup").list() if i.key.startswith(ARCHIVE)]
    assert len(archived) == 3  # k0's old bytes, k1 and a//b's copies
    await restore(store, tmp_path, first, "restored-first")
    assert await contents(store, "restored-first") == original
    await restore(store, tmp_path, second, "restored-second")
    assert await contents(store, "restored-second") == after_attack
    await restore(store, tmp_path, first, "restored-part", prefix="k")
    assert await contents(store, "restored-part") == {
        k: v for k, v in original.items() if k.startswith("k")
    }
    changes = [
        c async for c in diff_entries(
            catalog.entries(store.bucket("backup"), first.id),
            catalog.entries(store.bucket("backup"), second.id),
        )
    ]  # fmt: skip
    assert changes == [("-", "a//b"), ("M", "k0"), ("-", "k1"), ("+", "new")]
    # the latest view holds the latest copies under their own keys
    latest = {
        i.key async for i in store.bucket("backup").list() if not i.key.startswith(".bucketvault/")
    }
    assert latest == {k for k in after_attack if k != "a//b"}


async def test_a_rotten_copy_is_reported_not_restored(tmp_path: Path) -> None:
    store = MemoryEndpoint()
    await store.bucket("live").create()
    await put(store, "live", "doc", b"important bytes")
    header = await backup(store, tmp_path, T0)
    store.bucket("backup").corrupt("doc")
    conn = connect(tmp_path / "s.db")
    table = EntryTable(conn, "entries")
    table.load([e async for e in catalog.entries(store.bucket("backup"), header.id)])
    source = SnapshotSource(store.bucket("backup"), table, header)
    summary = await run_mirror(
        MirrorJob(source, store.bucket("out"), MirrorOptions(bookkeeping=False))
    )
    assert summary.failed == 1 and "checksum" in summary.failed_objects[0].error
    assert [i.key async for i in store.bucket("out").list()] == []


def header_at(h: int) -> Header:
    return Header(
            id=new_snapshot_id(T0 + timedelta(hours=h)),
            service="s",
            bucket="b",
            backup_bucket="s-b",
            started=T0 + timedelta(hours=h),
            completed=T0 + timedelta(hours=h, minutes=5),
            parent=None,
            objects=0,
            bytes=0,
            added=0,
            changed=0,
            deleted=0,
            versioned=True,
        )  # fmt: skip


def headers(*hours: int) -> list[Header]:
    return [header_at(h) for h in hours]


def test_choose() -> None:
    found = headers(0, 1, 2)
    assert catalog.choose(found) is found[-1]
    assert catalog.choose(found, at=T0 + timedelta(hours=1, minutes=5)) is found[1]
    assert catalog.choose(found, at=T0 + timedelta(hours=1, minutes=4)) is found[0]
    assert catalog.choose(found, snapshot=found[1].id) is found[1]
    assert catalog.choose(found, snapshot=found[2].id[:17]) is found[2]
    with pytest.raises(NotFoundError, match="oldest is"):
        catalog.choose(found, at=T0)
    with pytest.raises(PlanInputError, match="matches 3 snapshots"):
        catalog.choose(found, snapshot="2026")
    with pytest.raises(NotFoundError, match="snapshot list"):
        catalog.choose(found, snapshot="1999")
    with pytest.raises(NotFoundError, match="no snapshots"):
        catalog.choose([])
