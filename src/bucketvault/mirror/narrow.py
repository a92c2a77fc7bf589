"""What a path inside a bucket names: one object, or a folder — the rule every command
shares (`mirror SRC`, restore's PREFIX=).

Like rclone, and like `mc` for a path without a trailing slash:

- a path ending in `/` is a folder: `a/b/` is every key under `a/b/`, nothing else;
- a path without one is the object of exactly that key when there is one (`a/b`), and
  otherwise the folder `a/b/` — never `a/bc` or `a/b-old/x`, which a plain key
  prefix would take in;
- an empty path is the whole bucket.

A `Narrowed` bucket lists only what the path names and passes every other call to the
bucket it wraps, so the mirror engine needs no special case for a single object.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager

from bucketvault.errors import NoSuchKeyError
from bucketvault.store.base import Bucket, ObjectReader
from bucketvault.store.keys import sort_key
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)


def as_folder(path: str) -> str:
    """`path` as a folder prefix: '' stays '' (the whole bucket), else it ends in '/'."""
    return path if not path or path.endswith("/") else path + "/"


def split_object(path: str) -> tuple[str, str]:
    """(folder, name) of an object path: `a/b/c` → (`a/b/`, `c`), `c` → (``, `c`)."""
    folder, slash, name = path.rpartition("/")
    return folder + slash, name


async def names_object(bucket: Bucket, key: str) -> bool:
    """Whether `key` is an object in `bucket` (a path ending in '/' never is one here)."""
    if not key or key.endswith("/"):
        return False
    try:
        await bucket.head(key)
    except NoSuchKeyError:
        return False
    return True


async def narrow(bucket: Bucket, path: str) -> Bucket:
    """`bucket` (keys relative to its root) narrowed to what `path` names."""
    if not path:
        return bucket
    if await names_object(bucket, path):
        return Narrowed(bucket, key=path)
    return Narrowed(bucket, folder=as_folder(path))


class Narrowed:
    """`inner`, listing only the object `key` (when it exists) or only keys under
    `folder`; reads, writes and deletes pass through unchanged."""

    def __init__(self, inner: Bucket, *, key: str | None = None, folder: str | None = None):
        if (key is None) == (folder is None):
            raise ValueError("give exactly one of key and folder")
        self._inner = inner
        self._key = key
        self._folder = folder

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def display(self) -> str:
        shown = self._key if self._key is not None else self._folder
        return f"{self._inner.display.rstrip('/')}/{shown}"

    async def exists(self) -> bool:
        return await self._inner.exists()

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        await self._inner.create(object_lock=object_lock)

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        after = sort_key(start_after) if start_after is not None else None
        if self._key is not None:
            if after is not None and sort_key(self._key) <= after:
                return
            try:
                info, _ = await self._inner.head(self._key)
            except NoSuchKeyError:
                return
            yield info
            return
        folder = self._folder or ""
        async for info in self._inner.list(start_after=start_after):
            if info.key.startswith(folder):
                yield info
            elif sort_key(info.key) > sort_key(folder):
                return  # keys come in byte order: past the folder, nothing more is in it

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        return await self._inner.head(key)

    def open(
        self, key: str, *, version_id: str | None = None
    ) -> AbstractAsyncContextManager[ObjectReader]:
        return self._inner.open(key, version_id=version_id)

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
