"""A backup bucket without snapshots, read as the first backup format wrote it.

Before snapshots, a backup was a plain mirror whose copies carried bucketvault's records
in their user metadata: `bucketvault-source-etag` (the ETag the live object had) and
`bucketvault-md5` (its content MD5). `LegacyBackup` wraps such a bucket for a restore or a
verify: the reader and HEAD of each copy carry those records as
`ObjectAttributes.source_etag` / `recorded_md5` instead, and the user metadata without
them, so a restore writes back only the user's own metadata. Nowhere else are those
names read: on any other bucket they are a user's metadata like any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator

from bucketvault.store.base import Bucket, ObjectReader
from bucketvault.store.model import (
    META_MD5,
    META_SOURCE_ETAG,
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)


def read_records(attributes: ObjectAttributes) -> ObjectAttributes:
    """A first-format copy's attributes: its records as fields, the rest as metadata."""
    metadata = attributes.metadata
    if META_SOURCE_ETAG not in metadata and META_MD5 not in metadata:
        return attributes
    user = {k: v for k, v in metadata.items() if k not in (META_SOURCE_ETAG, META_MD5)}
    return ObjectAttributes(
        content_type=attributes.content_type,
        content_encoding=attributes.content_encoding,
        content_disposition=attributes.content_disposition,
        content_language=attributes.content_language,
        cache_control=attributes.cache_control,
        metadata=user,
        tags=attributes.tags,
        source_etag=metadata.get(META_SOURCE_ETAG),
        recorded_md5=metadata.get(META_MD5),
    )


class _Reader:
    def __init__(self, inner: ObjectReader) -> None:
        self._inner = inner
        self._attributes = read_records(inner.attributes)

    @property
    def info(self) -> ObjectInfo:
        return self._inner.info

    @property
    def attributes(self) -> ObjectAttributes:
        return self._attributes

    def chunks(self) -> AsyncIterator[bytes]:
        return self._inner.chunks()


class LegacyBackup:
    """`inner`, a first-format backup bucket: reads carry its records as fields; every
    other call passes through unchanged."""

    def __init__(self, inner: Bucket) -> None:
        self._inner = inner

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

    def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        return self._inner.list(start_after=start_after)

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        info, attributes = await self._inner.head(key)
        return info, read_records(attributes)

    @contextlib.asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[_Reader]:
        async with self._inner.open(key, version_id=version_id) as reader:
            yield _Reader(reader)

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
        return await self._inner.write(
            key,
            chunks,
            size=size,
            attributes=attributes,
            content_md5=content_md5,
            part_size=part_size,
        )

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        await self._inner.delete(key, version_id=version_id)

    async def versioning(self) -> Versioning:
        return await self._inner.versioning()

    async def enable_versioning(self) -> Versioning:
        return await self._inner.enable_versioning()

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        return self._inner.list_versions(prefix=prefix)

    async def object_lock(self) -> ObjectLock | None:
        return await self._inner.object_lock()

    def unrepresentable(self, key: str) -> str | None:
        return self._inner.unrepresentable(key)
