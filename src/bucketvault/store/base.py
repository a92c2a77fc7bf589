"""The small interface every object store implements, S3 or local directory.

An `Endpoint` is one store deployment (an S3 URL with credentials, or a local root);
a `Bucket` is one bucket in it, optionally narrowed to a key prefix. Keys handed to
and returned by a `Bucket` are relative to that prefix and are opaque: a store must
return exactly the key it was given, or refuse it with `UnrepresentableKeyError`.

Versions and Object Lock are optional: a store that cannot keep versions reports
`Versioning.UNSUPPORTED` and raises `UnsupportedError` when asked for a version.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)


class ObjectReader(Protocol):
    """An open object: its listing record, its attributes (tags included when the
    store supports them) and its bytes, streamed in chunks."""

    @property
    def info(self) -> ObjectInfo: ...

    @property
    def attributes(self) -> ObjectAttributes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class Bucket(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def display(self) -> str:
        """Where this is, for people: a URL without credentials."""
        ...

    async def exists(self) -> bool: ...

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        """Create the bucket; succeed quietly when it already exists and is ours.

        With `object_lock`, the bucket gets Object Lock (and so versioning) with that
        default retention; a store that cannot do that raises `UnsupportedError` and
        leaves no bucket behind that this call created."""
        ...

    def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        """Every object under the prefix, in `keys.sort_key` order, each key relative
        to the prefix. Raises `NoSuchBucketError` if the bucket is missing."""
        ...

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]: ...

    def open(
        self, key: str, *, version_id: str | None = None
    ) -> AbstractAsyncContextManager[ObjectReader]:
        """The object (with `version_id`: exactly that version of it; `NoSuchKeyError`
        when it is missing or is a delete marker)."""
        ...

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
        """Store `size` bytes under `key`, atomically: the key shows either the old
        object or the complete new one, never a partial one.

        `content_md5` (hex) is the MD5 the bytes must have, when the caller knows it
        before sending them; a store that can have the server check it does (S3:
        Content-MD5), and then need not hash the bytes itself. `part_size` asks a store
        that uploads in parts for a multipart upload in parts of that size (the
        source's layout, so the copy's ETag is the source's); other stores ignore it."""
        ...

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        """Delete the object (in a versioned bucket: hide it behind a delete marker).
        With `version_id`, delete that version or delete marker for good;
        `ObjectLockedError` when Object Lock still retains it."""
        ...

    async def versioning(self) -> Versioning: ...

    async def enable_versioning(self) -> Versioning:
        """Turn versioning on and return the state read back: ENABLED, or UNSUPPORTED
        when the store refused or ignored it. Raises only for access and missing-bucket
        errors."""
        ...

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        """Every version and delete marker under the bucket's prefix + `prefix`, keys
        relative to the bucket's prefix, in `keys.sort_key` order and, within a key,
        newest first. `UnsupportedError` when the store keeps no versions."""
        ...

    async def object_lock(self) -> ObjectLock | None:
        """The bucket's default Object Lock retention; None when there is none or the
        store has no Object Lock."""
        ...

    def unrepresentable(self, key: str) -> str | None:
        """Why this store cannot hold `key` exactly, or None when it can."""
        ...


@runtime_checkable
class ListsInBatches(Protocol):
    """A bucket whose listing arrives in pages (S3) hands them on whole, so a reader
    takes a thousand keys in one step instead of one asynchronous step per key."""

    def list_batches(
        self,
        *,
        start_after: str | None = None,
        last: str | None = None,
        budget: Callable[[], int | None] | None = None,
    ) -> AsyncGenerator[list[ObjectInfo], None]:
        """`Bucket.list`, in non-empty batches. Hints of how far the reader goes, which
        let a store fetch less ahead of it (it may still hand on more): the reader needs
        no key after `last`, and `budget()` is how many more keys it may take, both
        sides of a run together (None: no limit)."""
        ...


LIST_BATCH = 1000  # keys per batch, for a bucket that lists a key at a time


def list_batches(
    bucket: Bucket,
    *,
    start_after: str | None = None,
    last: str | None = None,
    budget: Callable[[], int | None] | None = None,
) -> AsyncGenerator[list[ObjectInfo], None]:
    """`bucket.list()` in non-empty batches: the bucket's own pages, with the hints
    (`ListsInBatches.list_batches`), where it has them."""
    if isinstance(bucket, ListsInBatches):
        return bucket.list_batches(start_after=start_after, last=last, budget=budget)
    return _grouped(bucket.list(start_after=start_after))


async def _grouped(listing: AsyncIterator[ObjectInfo]) -> AsyncGenerator[list[ObjectInfo], None]:
    batch: list[ObjectInfo] = []
    async for info in listing:
        batch.append(info)
        if len(batch) == LIST_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Endpoint(Protocol):
    @property
    def display(self) -> str: ...

    async def check(self) -> None:
        """Prove the endpoint is reachable and the credentials valid, changing nothing."""
        ...

    async def list_buckets(self) -> list[str]: ...

    def bucket(self, name: str, prefix: str = "") -> Bucket: ...

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket."""
        ...

    async def close(self) -> None: ...
