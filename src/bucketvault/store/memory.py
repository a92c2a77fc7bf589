"""An in-memory store: a legitimate backend for fast unit tests of the layers above.

It keeps S3's semantics that matter to them (byte-ordered listing, MD5 ETags, atomic
writes, missing buckets) and can be told to fail, so mirror logic is tested without a
server; every S3 behaviour is still tested against real loopback servers.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bucketvault.errors import (
    NoSuchBucketError,
    NoSuchKeyError,
    UnsupportedError,
    content_mismatch,
)
from bucketvault.store.keys import sort_key
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)

FaultHook = Callable[[str, str], None]
"""Called with (operation, key) before each operation; raise to inject a failure."""


@dataclass
class _Stored:
    data: bytes
    info: ObjectInfo
    attributes: ObjectAttributes


@dataclass
class _Reader:
    info: ObjectInfo
    attributes: ObjectAttributes
    data: bytes
    fault: FaultHook | None = None
    chunk_size: int = 64 * 1024

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]
            if self.fault is not None:
                self.fault("read", self.info.key)


@dataclass
class MemoryEndpoint:
    buckets: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    fault: FaultHook | None = None

    @property
    def display(self) -> str:
        return "memory://"

    async def check(self) -> None:
        return None

    async def list_buckets(self) -> list[str]:
        return sorted(self.buckets)

    def bucket(self, name: str, prefix: str = "") -> MemoryBucket:
        return MemoryBucket(self, name, prefix)

    async def delete_bucket(self, name: str) -> None:
        self.buckets.pop(name, None)

    async def close(self) -> None:
        return None


class MemoryBucket:
    def __init__(self, endpoint: MemoryEndpoint, name: str, prefix: str = "") -> None:
        self._endpoint = endpoint
        self._name = name
        self._prefix = prefix

    @property
    def name(self) -> str:
        return self._name

    @property
    def display(self) -> str:
        return f"memory://{self._name}/{self._prefix}"

    def _objects(self) -> dict[str, _Stored]:
        try:
            return self._endpoint.buckets[self._name]
        except KeyError:
            raise NoSuchBucketError(f"bucket {self._name!r} does not exist") from None

    def _fault(self, operation: str, key: str) -> None:
        if self._endpoint.fault is not None:
            self._endpoint.fault(operation, key)

    async def exists(self) -> bool:
        return self._name in self._endpoint.buckets

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        if object_lock is not None:
            raise UnsupportedError(
                f"{self.display} has no Object Lock: use an S3 store that supports it"
            )
        self._endpoint.buckets.setdefault(self._name, {})

    def _no_versions(self) -> UnsupportedError:
        return UnsupportedError(f"{self.display} keeps no object versions")

    async def versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    async def enable_versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    async def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        raise self._no_versions()
        yield  # pragma: no cover - makes this an async generator, as the protocol says

    async def object_lock(self) -> ObjectLock | None:
        return None

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        objects = self._objects()
        keys = sorted(
            (k[len(self._prefix) :] for k in objects if k.startswith(self._prefix)), key=sort_key
        )
        for key in keys:
            if start_after is not None and sort_key(key) <= sort_key(start_after):
                continue
            self._fault("list", key)
            info = objects[self._prefix + key].info
            # stored under its full key; a listing speaks in keys relative to the prefix
            yield info if not self._prefix else info._replace(key=key)

    def _get(self, key: str) -> _Stored:
        try:
            return self._objects()[self._prefix + key]
        except KeyError:
            raise NoSuchKeyError(f"no object {key!r} in bucket {self._name!r}") from None

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        self._fault("head", key)
        stored = self._get(key)
        return stored.info, stored.attributes

    @asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[_Reader]:
        if version_id is not None:
            raise self._no_versions()
        self._fault("get", key)
        stored = self._get(key)
        yield _Reader(stored.info, stored.attributes, stored.data, self._endpoint.fault)

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
        self._fault("put", key)
        objects = self._objects()
        parts = [chunk async for chunk in chunks]
        data = b"".join(parts)
        etag = hashlib.md5(data).hexdigest()
        if content_md5 is not None and etag != content_md5:
            raise content_mismatch(f"object {key!r}")
        info = ObjectInfo(key=key, size=len(data), etag=etag, last_modified=datetime.now(UTC))
        # like any store, it keeps what travels with an object, not bucketvault's records
        objects[self._prefix + key] = _Stored(data, info, attributes.user_visible())
        return WriteResult(etag=etag, size=len(data), expected_etag=etag)

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        if version_id is not None:
            raise self._no_versions()
        self._fault("delete", key)
        self._objects().pop(self._prefix + key, None)

    def unrepresentable(self, key: str) -> str | None:
        return None

    def corrupt(self, key: str) -> None:
        """Flip one bit of a stored object without changing its ETag (a rotten disk)."""
        stored = self._get(key)
        flipped = bytes([stored.data[0] ^ 1]) + stored.data[1:] if stored.data else b"x"
        self._objects()[self._prefix + key] = _Stored(flipped, stored.info, stored.attributes)
