"""A snapshot as a read-only bucket: what restore and verify read.

`SnapshotSource` lists a snapshot's entries (optionally under a prefix) and opens each
object where the snapshot says its bytes are: the current copy under its storage key
when that still holds the recorded content (same stored ETag and size), otherwise the
recorded version (versioned buckets) or the archived copy (other stores). A reader
carries the attributes the snapshot recorded, with the MD5 the bytes must have, so
every restore and verify checks the content end to end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Protocol

from bucketvault.errors import IntegrityError, NoSuchKeyError, UnsupportedError, UsageError
from bucketvault.history.layout import archive_key
from bucketvault.history.record import Entry, Header
from bucketvault.history.target import listed
from bucketvault.store.base import Bucket, ObjectReader
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)


class _EntryReader:
    def __init__(self, info: ObjectInfo, attributes: ObjectAttributes, inner: ObjectReader):
        self._info = info
        self._attributes = attributes
        self._inner = inner

    @property
    def info(self) -> ObjectInfo:
        return self._info

    @property
    def attributes(self) -> ObjectAttributes:
        return self._attributes

    def chunks(self) -> AsyncIterator[bytes]:
        return self._inner.chunks()


class EntryLookup(Protocol):
    """A snapshot's entries: the whole snapshot (`index.EntryTable`), or the part of it
    a scale-out worker was sent for its key range (`scaleout.views.EntrySlice`)."""

    def get(self, key: str) -> Entry | None: ...

    def ordered(self, *, prefix: str = "", start_after: str | None = None) -> Iterator[Entry]: ...


class SnapshotSource:
    def __init__(
        self, backup: Bucket, table: EntryLookup, header: Header, *, prefix: str = ""
    ) -> None:
        self._backup = backup
        self._table = table
        self._header = header
        self._prefix = prefix

    @property
    def header(self) -> Header:
        return self._header

    @property
    def backup(self) -> Bucket:
        """The backup bucket the snapshot's copies are in."""
        return self._backup

    @property
    def table(self) -> EntryLookup:
        return self._table

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def name(self) -> str:
        return self._backup.name

    @property
    def display(self) -> str:
        return f"{self._backup.display}@{self._header.id}"

    async def exists(self) -> bool:
        return True

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        raise UsageError("a snapshot is read-only")

    async def versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    async def enable_versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        raise UnsupportedError("a snapshot has no versions")

    async def object_lock(self) -> ObjectLock | None:
        return None

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        for entry in self._table.ordered(prefix=self._prefix, start_after=start_after):
            yield listed(entry, self._header.completed)

    def _entry(self, key: str) -> Entry:
        entry = self._table.get(key)
        if entry is None or not entry.key.startswith(self._prefix):
            raise NoSuchKeyError(f"{self.display}: snapshot has no {key!r}")
        return entry

    def _reader_view(self, entry: Entry) -> tuple[ObjectInfo, ObjectAttributes]:
        if entry.md5 is not None:
            return listed(entry, self._header.completed), entry.checked_attributes()
        # content MD5 unknown (another tool's multipart upload): check the bytes against
        # the multipart ETag of the copy bucketvault itself uploaded, part sizes and all
        info = ObjectInfo(
            key=entry.key,
            size=entry.size,
            etag=entry.stored_etag,
            last_modified=self._header.completed,
        )
        return info, entry.attributes.with_recorded(source_etag=entry.etag)

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        entry = self._entry(key)
        return listed(entry, self._header.completed), entry.checked_attributes()

    @contextlib.asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[_EntryReader]:
        entry = self._entry(key)
        info, attributes = self._reader_view(entry)
        async with contextlib.AsyncExitStack() as stack:
            current_stack = await stack.enter_async_context(contextlib.AsyncExitStack())
            current: ObjectReader | None = None
            with contextlib.suppress(NoSuchKeyError):
                current = await current_stack.enter_async_context(self._backup.open(entry.location))
            reader: ObjectReader
            if (
                current is not None
                and current.info.etag == entry.stored_etag
                and current.info.size == entry.size
            ):
                reader = current
            else:
                try:
                    reader = await stack.enter_async_context(self._older(entry))
                    await current_stack.aclose()
                except NoSuchKeyError:
                    if current is None:
                        raise IntegrityError(
                            f"{self.display}: the copy of {key!r} this snapshot names is gone "
                            "from the backup store"
                        ) from None
                    # no other copy: this one is the snapshot's, unless it rotted (a store
                    # that re-hashes its files reports another ETag); its checksum decides
                    reader = current
                if reader.info.size != entry.size:
                    raise IntegrityError(
                        f"{self.display}: the stored copy of {key!r} has {reader.info.size} "
                        f"bytes, the snapshot says {entry.size}"
                    )
            yield _EntryReader(info, attributes, reader)

    def _older(self, entry: Entry) -> contextlib.AbstractAsyncContextManager[ObjectReader]:
        if entry.version is not None:
            return self._backup.open(entry.location, version_id=entry.version)
        return self._backup.open(archive_key(entry.stored_etag, entry.size))

    def unrepresentable(self, key: str) -> str | None:
        return None

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
        raise UsageError("a snapshot is read-only")

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        raise UsageError("a snapshot is read-only")
