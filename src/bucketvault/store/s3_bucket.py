"""One bucket of an S3 endpoint: listing, reading and writing objects, keys exactly as given.

Requests that can be replayed (listing pages, GETs before the first byte, buffered
PUTs, each multipart part) are retried through `retry.py`; a write whose source stream
broke cannot be, and its caller decides.

Which client carries an object (see `s3_client.py`):
- reads: obstore for keys `obstore_safe` accepts, aiobotocore for every other key;
- writes of known MD5 from `stream_threshold` to `single_put_limit` bytes: one streamed
  PUT through `s3_wire` whose Content-MD5 the server checks;
- other writes below `multipart_threshold`: buffered and hashed here, then obstore (safe
  keys) or aiobotocore; larger ones: an aiobotocore multipart upload.
Whatever the path, a write that names `content_md5` stores nothing else, and every
write reports the version id the store gave it. A bucket whose Object Lock retention
demands a Content-MD5 refuses obstore's PUTs (it sends none): those writes go through
aiobotocore instead. Versions and Object Lock are in `s3_versions.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import obstore

from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    StoreError,
    UnrepresentableKeyError,
    UnsupportedError,
    content_mismatch,
)
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
    is_plain_md5,
    normalize_etag,
)
from bucketvault.store.retry import retrying
from bucketvault.store.s3_client import obstore_safe
from bucketvault.store.s3_data import (
    READ_CHUNK,
    S3Reader,
    attributes_from_boto,
    attributes_from_obstore,
    boto_headers,
    collect,
    counted,
    info_from_boto,
    md5_digest,
    multipart_upload,
    obstore_attributes,
    version_or_none,
    wire_put_headers,
)
from bucketvault.store.s3_errors import Where, quote_key, translating
from bucketvault.store.s3_listing import decode_key, list_objects, parse_timestamp
from bucketvault.store.s3_versions import (
    create_locked,
    delete_version,
    enable_versioning,
    list_versions,
    no_versions,
    object_lock,
    version_tags,
    versioning,
)
from bucketvault.store.s3_wire import S3_XMLNS, WireResponse, xml_children

if TYPE_CHECKING:
    from bucketvault.store.s3 import S3Endpoint

MAX_KEY_BYTES = 1024
# how a store refuses a PUT without Content-MD5 into a bucket whose Object Lock has a
# default retention: moto says so by name, AWS with InvalidRequest
_MD5_REQUIRED_CODES = frozenset({"MissingUploadObjectWithObjectLockHeaders", "InvalidRequest"})


class S3Bucket:
    """One bucket of an `S3Endpoint`, optionally narrowed to a key prefix."""

    def __init__(self, endpoint: S3Endpoint, name: str, prefix: str = "") -> None:
        self._ep = endpoint
        self._name = name
        self._prefix = prefix
        # set once this bucket refused a PUT without Content-MD5 (Object Lock)
        self._md5_required = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def endpoint(self) -> S3Endpoint:
        return self._ep

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def display(self) -> str:
        return f"{self._ep.display}/{self._name}/{self._prefix}"

    def where(self, key: str | None = None) -> Where:
        return self._ep.where(self._name, None if key is None else self._prefix + key)

    async def exists(self) -> bool:
        where = self.where()

        async def head() -> None:
            with translating(where):
                await self._ep.clients.wire.send("HEAD", where, bucket=self._name)

        try:
            await retrying(head, self._ep.retry_policy)
        except NoSuchBucketError:
            return False
        return True

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        if object_lock is not None:
            await create_locked(self, object_lock)
            return
        await self.put_bucket()

    async def put_bucket(self, *, headers: Mapping[str, str] | None = None) -> None:
        """CreateBucket (with extra `headers`); quiet when the bucket is already ours."""
        region = self._ep.cfg.region
        body = b""
        if region and region != "us-east-1":
            body = (
                f'<CreateBucketConfiguration xmlns="{S3_XMLNS}">'
                f"<LocationConstraint>{region}</LocationConstraint>"
                "</CreateBucketConfiguration>"
            ).encode()
        where = self.where()

        async def put() -> None:
            with translating(where):
                await self._ep.clients.wire.send(
                    "PUT", where, bucket=self._name, headers=headers, body=body
                )

        try:
            await retrying(put, self._ep.retry_policy)
        except PermanentStoreError as exc:
            if exc.code == "BucketAlreadyOwnedByYou":
                return
            if exc.code == "BucketAlreadyExists" and await self.exists():
                return
            if exc.code == "BucketAlreadyExists":
                raise ConflictError(
                    f"bucket {self._name!r} at {self._ep.url} belongs to someone else: "
                    "choose another name"
                ) from exc
            raise

    def unrepresentable(self, key: str) -> str | None:
        full = self._prefix + key
        if not full:
            return "an S3 key cannot be empty"
        try:
            length = len(full.encode("utf-8"))
        except UnicodeEncodeError:
            return "the key is not valid unicode (it holds a lone surrogate)"
        if length > MAX_KEY_BYTES:
            return f"the key is {length} bytes of UTF-8; S3 keys hold at most {MAX_KEY_BYTES}"
        return None

    def _full(self, key: str) -> str:
        reason = self.unrepresentable(key)
        if reason is not None:
            raise UnrepresentableKeyError(f"{self.display} cannot hold {quote_key(key)}: {reason}")
        return self._prefix + key

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        async for info in list_objects(
            self._ep.clients.wire,
            where=self.where(),
            prefix=self._prefix,
            start_after=start_after,
            policy=self._ep.retry_policy,
        ):
            yield info

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        full = self._full(key)
        where = self.where(key)
        response = await self._ep._call(
            where, "head_object", self._ep.retry_policy, Bucket=self._name, Key=full
        )
        tags = await self._ep.tags(where, full, tag_count=None, known_count=False)
        return info_from_boto(key, response), attributes_from_boto(response, tags)

    @contextlib.asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[S3Reader]:
        full = self._full(key)
        if version_id is None and self._ep.fast_path and obstore_safe(full):
            yield await self._open_fast(key, full)
            return
        where = self.where(key)
        response = await self._get(where, full, version_id)
        body = response["Body"]
        try:
            if version_id is None:
                tags = await self._ep.tags(
                    where,
                    full,
                    tag_count=response.get("TagCount"),
                    known_count=True,
                )
            else:
                tags = await version_tags(
                    self._ep, where, full, version_id, tag_count=response.get("TagCount")
                )

            async def stream() -> AsyncIterator[bytes]:
                while True:
                    with translating(where):
                        chunk = await body.read(READ_CHUNK)
                    if not chunk:
                        return
                    yield chunk

            yield S3Reader(
                info=info_from_boto(key, response),
                attributes=attributes_from_boto(response, tags),
                stream=stream,
            )
        finally:
            body.close()

    async def _get(self, where: Where, full: str, version_id: str | None) -> Any:
        if version_id is None:
            return await self._ep._call(
                where, "get_object", self._ep.retry_policy, Bucket=self._name, Key=full
            )
        try:
            return await self._ep._call(
                where,
                "get_object",
                self._ep.retry_policy,
                Bucket=self._name,
                Key=full,
                VersionId=version_id,
            )
        except PermanentStoreError as exc:
            if exc.code == "MethodNotAllowed" or exc.status == 405:
                # S3 answers a GET of a delete marker's version id with 405
                raise NoSuchKeyError(
                    f"version {version_id!r} of {where.what()} at {self._ep.url} is a delete "
                    "marker: it has no content",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            if isinstance(exc, UnsupportedError):
                raise no_versions(self._ep, self._name, exc) from exc
            raise

    async def _open_fast(self, key: str, full: str) -> S3Reader:
        where = self.where(key)
        store = self._ep.clients.store(self._name)

        async def get() -> Any:
            with translating(where):
                return await obstore.get_async(store, full)

        if self._ep.tagging is False:
            # the server cannot tell tags (known from an earlier probe): no request to
            # overlap with the GET, so no task to pay for either
            result = await retrying(get, self._ep.retry_policy)
            tags = None
        else:
            tags_task = asyncio.create_task(
                self._ep.tags(where, full, tag_count=None, known_count=False)
            )
            try:
                result = await retrying(get, self._ep.retry_policy)
            except BaseException:
                tags_task.cancel()
                with contextlib.suppress(BaseException):
                    await tags_task
                raise
            tags = await tags_task
        meta = result.meta
        size = int(meta["size"])

        async def stream() -> AsyncIterator[bytes]:
            with translating(where):
                if size <= READ_CHUNK:
                    # one hand-off from obstore's threads instead of one per chunk plus
                    # one for the end: most of the cost of a small object
                    yield bytes(await result.bytes_async())
                    return
                async for buf in result.stream(min_chunk_size=READ_CHUNK):
                    yield bytes(buf)

        modified = meta.get("last_modified")
        return S3Reader(
            info=ObjectInfo(
                key=key,
                size=size,
                etag=normalize_etag(meta.get("e_tag")),
                last_modified=modified if modified else datetime.fromtimestamp(0, UTC),
                version_id=version_or_none(meta.get("version")),
            ),
            attributes=attributes_from_obstore(result.attributes, tags),
            stream=stream,
        )

    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size: int,
        attributes: ObjectAttributes,
        content_md5: str | None = None,
    ) -> WriteResult:
        full = self._full(key)
        where = self.where(key)
        ep = self._ep
        streamable = content_md5 is not None and (
            ep.stream_threshold <= size <= ep.single_put_limit
        )
        headers = wire_put_headers(attributes) if streamable else None
        if content_md5 is not None and headers is not None:
            etag, version = await self._put_streamed(key, full, chunks, size, content_md5, headers)
        elif size >= ep.multipart_threshold:
            client = await ep.clients.client()
            etag, expected, version = await multipart_upload(
                client,
                where=where,
                full_key=full,
                chunks=chunks,
                size=size,
                part_size=ep.part_size,
                attributes=attributes,
                policy=ep.retry_policy,
                content_md5=content_md5,
            )
            if not obstore_safe(full) or "\\" in full:
                await self._confirm_stored(key, full, size, etag, version)
            return WriteResult(etag=etag, size=size, expected_etag=expected, version_id=version)
        else:
            body = await collect(chunks, size, where)
            digest = md5_digest(body)
            if content_md5 is not None and digest.hex() != content_md5:
                raise content_mismatch(f"{self.display}: {quote_key(key)}")
            content_md5 = digest.hex()
            fast_attributes = obstore_attributes(attributes) if ep.fast_path else None
            if fast_attributes is not None and obstore_safe(full) and not self._md5_required:
                try:
                    etag, version = await self._put_fast(
                        where, full, body, fast_attributes, attributes.tags
                    )
                except PermanentStoreError as exc:
                    if exc.code not in _MD5_REQUIRED_CODES:
                        raise
                    # Object Lock: nothing was stored; send it again with its Content-MD5
                    etag, version = await self._put_buffered(where, full, body, digest, attributes)
                    self._md5_required = True
            else:
                etag, version = await self._put_buffered(where, full, body, digest, attributes)
        if not obstore_safe(full) or "\\" in full:
            await self._confirm_stored(key, full, size, etag, version)
        return WriteResult(etag=etag, size=size, expected_etag=content_md5, version_id=version)

    async def _put_buffered(
        self, where: Where, full: str, body: bytes, digest: bytes, attributes: ObjectAttributes
    ) -> tuple[str, str | None]:
        """One PutObject through aiobotocore, with its Content-MD5: (etag, version id)."""
        response = await self._ep._call(
            where,
            "put_object",
            self._ep.retry_policy,
            Bucket=self._name,
            Key=full,
            Body=body,
            ContentMD5=base64.b64encode(digest).decode(),
            **boto_headers(attributes),
        )
        return normalize_etag(response.get("ETag")), version_or_none(response.get("VersionId"))

    async def _put_streamed(
        self,
        key: str,
        full: str,
        chunks: AsyncIterable[bytes],
        size: int,
        content_md5: str,
        headers: dict[str, str],
    ) -> tuple[str, str | None]:
        """One PUT whose body streams straight from `chunks`: memory stays at a chunk or
        two whatever the size, and the server refuses bytes that do not match
        `content_md5` (Content-MD5), so nothing unverified is stored under `full`.
        Not retried here: the stream cannot be replayed (the caller retries the object)."""
        where = self.where(key)
        headers["Content-Length"] = str(size)
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(content_md5)).decode()
        body = _Body(counted(chunks, size, where))
        try:
            with translating(where):
                response = await self._ep.clients.wire.send(
                    "PUT", where, bucket=self._name, key=full, headers=headers, body=body
                )
        except BucketvaultError as exc:
            # aiohttp reports a body that failed as a broken connection: the body's own
            # error (a corrupt or short source) is the one that says what happened
            if body.error is not None:
                raise body.error from None
            if isinstance(exc, StoreError) and exc.code in ("BadDigest", "InvalidDigest"):
                raise content_mismatch(f"{self.display}: {quote_key(key)}") from exc
            raise
        etag = normalize_etag(response.headers.get("ETag"))
        version = version_or_none(response.headers.get("x-amz-version-id"))
        if is_plain_md5(etag) and etag != content_md5:
            # a server that does not check Content-MD5 stored other bytes: take them away
            # (in a versioned bucket, that version itself, not behind a delete marker)
            with contextlib.suppress(BucketvaultError):
                await self.delete(key, version_id=version)
            raise content_mismatch(f"{self.display}: {quote_key(key)}")
        return etag, version

    async def _confirm_stored(
        self, key: str, full: str, size: int, etag: str, version: str | None
    ) -> None:
        """Some servers store an unusual key under another name, and answer requests for
        the key with what they stored: rclone turns `a/` into the file `a`; SeaweedFS
        turns `a//b` into `a/b`, `/a` into `a`, `a\\b` into `a/b`, and keeps only an
        empty folder for `a/` (docs/servers.md). For keys with path oddities or a
        backslash, a listing must show the exact key holding `size` bytes; if it does
        not, what the write stored is taken away again and the key is reported
        unrepresentable."""
        where = self.where(key)
        first, _ = await self._first_listed(where, full)
        changed = first is None or (first.key, first.size) != (full, size)
        if not changed and "//" in full:
            # SeaweedFS lists `a/b` as `a//b` when asked for prefix `a//b`; asked for
            # `a//`, it shows the `a/b` it stored (a key outside the prefix)
            cut = full[: full.index("//") + 2]
            first, _ = await self._first_listed(where, cut)
            changed = first is None or not first.key.startswith(cut)
        if not changed:
            return
        with contextlib.suppress(BucketvaultError):
            # a DELETE of the same key reaches what the server made of it (SeaweedFS:
            # `a/b` for `a//b`, the folder for `a/`) ...
            await self.delete(key, version_id=version)
            # ... but not always: SeaweedFS completes a multipart upload of `x/` as `x/x`.
            # An object under the key holding what this write stored, written within the
            # last minute by the server's own clock, is that stray.
            stray, age = await self._first_listed(where, full)
            if (
                stray is not None
                and stray.key.startswith(full)
                and (stray.size, stray.etag) == (size, etag)
                and age is not None
                and age < 60
            ):
                await self.delete(stray.key[len(self._prefix) :])
        raise UnrepresentableKeyError(
            f"{self._ep.url} accepted {quote_key(key)} in bucket {self._name!r} but stored "
            "it under another name: this server cannot hold that key",
            code="KeyChanged",
        )

    async def _first_listed(
        self, where: Where, prefix: str
    ) -> tuple[ObjectInfo | None, float | None]:
        """The first object of a listing under `prefix`, its key exactly as the server
        sent it (even outside the prefix; not relative to the bucket's prefix), and its
        age in seconds by the server's clock (None when the server does not tell)."""
        query = {"list-type": "2", "encoding-type": "url", "max-keys": "1", "prefix": prefix}

        async def page() -> WireResponse:
            with translating(where):
                return await self._ep.clients.wire.send(
                    "GET", where, bucket=self._name, query=query
                )

        response = await retrying(page, self._ep.retry_policy)
        root, ns = xml_children(response.body)
        entry = root.find(f"{ns}Contents")
        if entry is None:
            return None, None
        modified = parse_timestamp(entry.findtext(f"{ns}LastModified") or "")
        now = parse_timestamp(response.headers.get("Date") or "")
        info = ObjectInfo(
            key=decode_key(entry.findtext(f"{ns}Key") or ""),
            size=int(entry.findtext(f"{ns}Size") or 0),
            etag=normalize_etag(entry.findtext(f"{ns}ETag")),
            last_modified=modified or datetime.fromtimestamp(0, UTC),
        )
        age = (now - modified).total_seconds() if now and modified else None
        return info, age

    async def _put_fast(
        self,
        where: Where,
        full: str,
        body: bytes,
        attributes: dict[str, str],
        tags: Mapping[str, str] | None,
    ) -> tuple[str, str | None]:
        store = self._ep.clients.store(self._name)

        async def put() -> Any:
            with translating(where):
                return await obstore.put_async(
                    store,
                    full,
                    body,
                    attributes=attributes or None,
                    tags=dict(tags) if tags else None,
                    use_multipart=False,
                )

        result = await retrying(put, self._ep.retry_policy)
        return normalize_etag(result.get("e_tag")), version_or_none(result.get("version"))

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        full = self._full(key)
        if version_id is not None:
            await delete_version(self, key, full, version_id)
            return
        await self._ep._call(
            self.where(key), "delete_object", self._ep.retry_policy, Bucket=self._name, Key=full
        )

    # -- versions and Object Lock (s3_versions.py) --------------------------------------

    async def versioning(self) -> Versioning:
        return await versioning(self)

    async def enable_versioning(self) -> Versioning:
        return await enable_versioning(self)

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        return list_versions(self, prefix=prefix)

    async def object_lock(self) -> ObjectLock | None:
        return await object_lock(self)


class _Body:
    """A request body that keeps the error it failed with."""

    def __init__(self, chunks: AsyncIterator[bytes | memoryview]) -> None:
        self._chunks = chunks
        self.error: BaseException | None = None

    def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        return self._read()

    async def _read(self) -> AsyncIterator[bytes | memoryview]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except Exception as exc:
            self.error = exc
            raise
