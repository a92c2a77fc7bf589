"""The backup bucket as a backup's mirror sees it: through the latest snapshot.

`BackupTarget` is a `Bucket` wrapper. Its listing is the parent snapshot plus what this
run (or an interrupted one) already wrote, so the mirror compares the live bucket with
what the last backup recorded, without listing the backup bucket. Every write goes to
the object's storage key (`layout.storage_key`) and is recorded in the journal with
what the next snapshot must say of it; every delete is recorded too. On a store without
versioning, the object a write replaces or a delete removes is first archived under
`.bucketvault/archive/`, so earlier snapshots keep their bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

from bucketvault.errors import NoSuchKeyError, UnsupportedError
from bucketvault.history.layout import archive_key, storage_key
from bucketvault.history.record import Entry
from bucketvault.store.base import Bucket, ObjectReader
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
    is_plain_md5,
)

EPOCH = datetime.fromtimestamp(0, UTC)


def listed(entry: Entry, when: datetime = EPOCH) -> ObjectInfo:
    """An entry as a listing shows it: the live object's ETag, for change detection."""
    return ObjectInfo(key=entry.key, size=entry.size, etag=entry.etag, last_modified=when)


def recorded(entry: Entry) -> ObjectAttributes:
    """What a mirror reads to judge an object it cannot judge from listings: the records
    of the copy (`ObjectAttributes.source_etag`, `recorded_md5`), not user metadata."""
    return ObjectAttributes(source_etag=entry.etag, recorded_md5=entry.md5)


class JournalView(Protocol):
    """What a backup target reads and records: the local `Journal`, or the part of it a
    scale-out worker was sent for its key range (`scaleout.views.RangeJournal`)."""

    def listing(self, start_after: str | None = None) -> Iterator[tuple[str, int, str]]: ...

    def current(self, key: str) -> Entry | None: ...

    def record(self, entry: Entry) -> None: ...

    def record_deleted(self, key: str) -> None: ...


class BackupTarget:
    def __init__(self, inner: Bucket, journal: JournalView, *, versioned: bool) -> None:
        self._inner = inner
        self._journal = journal
        self._versioned = versioned
        self.archived = 0

    @property
    def inner(self) -> Bucket:
        """The backup bucket itself."""
        return self._inner

    @property
    def versioned(self) -> bool:
        return self._versioned

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def display(self) -> str:
        return self._inner.display

    async def exists(self) -> bool:
        return await self._inner.exists()

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        await self._inner.create(object_lock=object_lock)

    async def versioning(self) -> Versioning:
        return await self._inner.versioning()

    async def enable_versioning(self) -> Versioning:
        return await self._inner.enable_versioning()

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        return self._inner.list_versions(prefix=prefix)

    async def object_lock(self) -> ObjectLock | None:
        return await self._inner.object_lock()

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        for key, size, etag in self._journal.listing(start_after):
            yield ObjectInfo(key=key, size=size, etag=etag, last_modified=EPOCH)

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        entry = self._journal.current(key)
        if entry is None:
            raise NoSuchKeyError(f"{self.display}: no backup of {key!r}")
        return listed(entry), recorded(entry)

    def open(
        self, key: str, *, version_id: str | None = None
    ) -> AbstractAsyncContextManager[ObjectReader]:
        raise NotImplementedError("a backup target is written, not read")

    def unrepresentable(self, key: str) -> str | None:
        return self._inner.unrepresentable(storage_key(key))

    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size: int,
        attributes: ObjectAttributes,
        content_md5: str | None = None,
        part_size: int | None = None,
    ) -> WriteResult:
        location = storage_key(key)
        await self._preserve_if_needed(key, location)
        # the copy carries the user's attributes exactly; what bucketvault records of it
        # goes into the journal, and from there into the snapshot
        user = attributes.user_visible()
        result = await self._inner.write(
            location,
            chunks,
            size=size,
            attributes=user,
            content_md5=content_md5,
            part_size=part_size,
        )
        md5 = attributes.recorded_md5 or content_md5
        if md5 is None and is_plain_md5(result.etag):
            md5 = result.etag
        self._journal.record(
            Entry(
                key=key,
                size=size,
                etag=attributes.source_etag or content_md5 or result.etag,
                md5=md5,
                stored_etag=result.etag,
                version=result.version_id if self._versioned else None,
                stored_as=location if location != key else None,
                attributes=user,
            )
        )
        return result

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        if version_id is not None:
            raise UnsupportedError("a backup target deletes keys, not versions")
        location = storage_key(key)
        await self._preserve_if_needed(key, location)
        with contextlib.suppress(NoSuchKeyError):
            await self._inner.delete(location)
        self._journal.record_deleted(key)

    async def _preserve_if_needed(self, key: str, location: str) -> None:
        """Keep what a write replaces or a delete removes, when a snapshot may name it.
        Versions keep it on a versioned bucket, except copies made before the bucket was
        versioned (their entries name no version); elsewhere it is archived. A key no
        entry names holds nothing a snapshot needs: no request at all."""
        entry = self._journal.current(key)
        if entry is None or (self._versioned and entry.version is not None):
            return
        await self._preserve(location, entry)

    async def _preserve(self, location: str, entry: Entry) -> None:
        """Copy the object at `location` to `.bucketvault/archive/<etag>-<size>`, the name
        a restore looks for when the key no longer holds the recorded content."""
        try:
            async with self._inner.open(location) as reader:
                current = reader.info
                if current.etag != entry.stored_etag or current.size != entry.size:
                    return  # not the recorded copy: nothing of a snapshot's to keep here
                await self._inner.write(
                    archive_key(current.etag, current.size),
                    reader.chunks(),
                    size=current.size,
                    attributes=reader.attributes,
                    content_md5=current.etag if is_plain_md5(current.etag) else None,
                )
        except NoSuchKeyError:
            return
        self.archived += 1
