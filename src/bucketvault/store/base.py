"""The small interface every object store implements, S3 or local directory.

An `Endpoint` is one store deployment (an S3 URL with credentials, or a local root);
a `Bucket` is one bucket in it, optionally narrowed to a key prefix. Keys handed to
and returned by a `Bucket` are relative to that prefix and are opaque: a store must
return exactly the key it was given, or refuse it with `UnrepresentableKeyError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bucketvault.store.model import ObjectAttributes, ObjectInfo, WriteResult


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

    async def create(self) -> None:
        """Create the bucket; succeed quietly when it already exists and is ours."""
        ...

    def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        """Every object under the prefix, in `keys.sort_key` order, each key relative
        to the prefix. Raises `NoSuchBucketError` if the bucket is missing."""
        ...

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]: ...

    def open(self, key: str) -> AbstractAsyncContextManager[ObjectReader]: ...

    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size: int,
        attributes: ObjectAttributes,
        content_md5: str | None = None,
    ) -> WriteResult:
        """Store `size` bytes under `key`, atomically: the key shows either the old
        object or the complete new one, never a partial one.

        `content_md5` (hex) is the MD5 the bytes must have, when the caller knows it
        before sending them; a store that can have the server check it does (S3:
        Content-MD5), and then need not hash the bytes itself."""
        ...

    async def delete(self, key: str) -> None: ...

    def unrepresentable(self, key: str) -> str | None:
        """Why this store cannot hold `key` exactly, or None when it can."""
        ...


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
