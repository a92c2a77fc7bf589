"""One bucket of an S3 endpoint: listing, reading and writing objects, keys exactly as given.

Every request goes through the endpoint's one request path (`s3_wire.py`), which
retries what can be replayed (listing pages, GETs before the first byte, buffered PUTs,
each multipart part); a write whose source stream broke cannot be, and its caller
decides.

Writes:
- of known MD5 from `stream_threshold` to `single_put_limit` bytes: one streamed PUT
  whose Content-MD5 the server checks;
- other writes below `multipart_threshold`: buffered, then one PUT with the Content-MD5
  the caller gave (hashed here only when it gave none); larger ones: a multipart upload,
  each part with its Content-MD5.
A server that does not check Content-MD5 is caught by the ETag it answers: what it
stored is deleted again.
Whatever the path, a write stores only the attributes it was given (nothing of
bucketvault's own), and reports the version id the store gave it. Versions and Object
Lock are in `s3_versions.py`.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    StoreError,
    UnrepresentableKeyError,
    UnsupportedError,
    WriteOutcomeUnknown,
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
from bucketvault.store.s3_data import (
    CONTENT_HEADERS,
    S3Reader,
    attributes_from_headers,
    collect,
    counted,
    info_from_headers,
    md5_digest,
    multipart_upload,
    put_headers,
    tag_count,
    version_or_none,
)
from bucketvault.store.s3_errors import Where, quote_key
from bucketvault.store.s3_folders import Listing, batches_by_folder, list_by_folder
from bucketvault.store.s3_list_page import decode_key, parse_timestamp
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
from bucketvault.store.s3_wire import S3_XMLNS, xml_children

if TYPE_CHECKING:
    from bucketvault.store.s3 import S3Endpoint

MAX_KEY_BYTES = 1024


class S3Bucket:
    """One bucket of an `S3Endpoint`, optionally narrowed to a key prefix."""

    def __init__(self, endpoint: S3Endpoint, name: str, prefix: str = "") -> None:
        self._ep = endpoint
        self._name = name
        self._prefix = prefix

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
        try:
            await self._ep.wire.send("HEAD", self.where(), bucket=self._name)
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
        try:
            await self._ep.wire.send(
                "PUT", self.where(), bucket=self._name, headers=headers, body=body
            )
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

    def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        return list_by_folder(Listing(self._ep.wire, self.where(), self._prefix), start_after)

    def list_batches(
        self,
        *,
        start_after: str | None = None,
        last: str | None = None,
        budget: Callable[[], int | None] | None = None,
    ) -> AsyncGenerator[builtins.list[ObjectInfo], None]:
        listing = Listing(
            self._ep.wire,
            self.where(),
            self._prefix,
            last=None if last is None else self._prefix + last,
            budget=budget,
        )
        return batches_by_folder(listing, start_after)

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        full = self._full(key)
        where = self.where(key)
        answer = await self._ep.wire.send(
            "HEAD", where, bucket=self._name, key=full, headers=self._ep.sse.data
        )
        tags = await self._ep.tags(where, full, tag_count=None)
        return info_from_headers(key, answer.headers), attributes_from_headers(answer.headers, tags)

    @contextlib.asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[S3Reader]:
        full = self._full(key)
        where = self.where(key)
        query = None if version_id is None else {"versionId": version_id}
        async with contextlib.AsyncExitStack() as stack:
            try:
                answer = await stack.enter_async_context(
                    self._ep.wire.stream(
                        where, bucket=self._name, key=full, query=query, headers=self._ep.sse.data
                    )
                )
            except PermanentStoreError as exc:
                refused = (
                    None if version_id is None else self._version_refused(exc, where, version_id)
                )
                if refused is None:
                    raise
                raise refused from exc
            count = tag_count(answer.headers)
            if version_id is None:
                tags = await self._ep.tags(where, full, tag_count=count)
            else:
                tags = await version_tags(self._ep, where, full, version_id, tag_count=count)
            yield S3Reader(
                info=info_from_headers(key, answer.headers),
                attributes=attributes_from_headers(answer.headers, tags),
                stream=answer.chunks,
            )

    def _version_refused(
        self, exc: PermanentStoreError, where: Where, version_id: str
    ) -> PermanentStoreError | None:
        """What a refused GET of one version means; None when nothing more than the
        refusal itself."""
        if exc.code == "MethodNotAllowed" or exc.status == 405:
            # S3 answers a GET of a delete marker's version id with 405
            return NoSuchKeyError(
                f"version {version_id!r} of {where.what()} at {self._ep.url} is a delete "
                "marker: it has no content",
                code=exc.code,
                status=exc.status,
            )
        if isinstance(exc, UnsupportedError):
            return no_versions(self._ep, self._name, exc)
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
        full = self._full(key)
        where = self.where(key)
        ep = self._ep
        headers = put_headers(attributes, where)
        headers.update(ep.sse.object_write)
        if part_size is None and (
            content_md5 is not None and ep.stream_threshold <= size <= ep.single_put_limit
        ):
            etag, version = await self._put_streamed(key, full, chunks, size, content_md5, headers)
            expected: str | None = content_md5
        elif part_size is not None or size >= ep.multipart_threshold:
            etag, expected, version, resumed = await multipart_upload(
                ep.wire,
                where=where,
                full_key=full,
                chunks=chunks,
                size=size,
                part_size=part_size or ep.part_size,
                headers=headers,
                part_headers=ep.sse.data,
                content_md5=content_md5,
                resume=ep.sse.etag_is_md5,
            )
            if resumed:
                await self._check_resumed(key, full, attributes)
        else:
            body = await collect(chunks, size, where)
            # a caller's MD5 goes to the server to check, as for a streamed PUT; only
            # bytes of unknown MD5 are hashed here
            expected = md5_digest(body).hex() if content_md5 is None else content_md5
            headers["Content-MD5"] = base64.b64encode(bytes.fromhex(expected)).decode()
            etag, version = await self._put_checked(key, full, headers, body, expected)
        if may_be_renamed(full):
            await self._confirm_stored(key, full, size, etag, version)
        if not ep.sse.etag_is_md5:
            expected = None  # SSE-KMS and SSE-C ETags are not the content's MD5
        return WriteResult(etag=etag, size=size, expected_etag=expected, version_id=version)

    async def _check_resumed(self, key: str, full: str, attributes: ObjectAttributes) -> None:
        """An upload an earlier run started carries that run's headers: if the object's
        attributes changed since, the object just completed has the old ones. It is then
        written again from the start (the caller retries a `WriteOutcomeUnknown`; there
        is no unfinished upload left to resume)."""
        answer = await self._ep.wire.send(
            "HEAD", self.where(key), bucket=self._name, key=full, headers=self._ep.sse.data
        )
        stored = attributes_from_headers(answer.headers, attributes.tags)
        # a header left unset reads back as the server's default (a Content-Type)
        changed = dict(stored.metadata) != dict(attributes.metadata) or any(
            getattr(attributes, name) not in (None, getattr(stored, name))
            for name in CONTENT_HEADERS
        )
        if changed:
            raise WriteOutcomeUnknown(
                f"{self.display}: {quote_key(key)} was completed from an upload an earlier "
                "run began with other attributes; writing it again"
            )

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
        return await self._put_checked(key, full, headers, body, content_md5)

    async def _put_checked(
        self, key: str, full: str, headers: dict[str, str], body: bytes | _Body, md5: str
    ) -> tuple[str, str | None]:
        """A PUT whose Content-MD5 is `md5`, and its ETag and version id: bytes that do not
        match `md5` are refused by the server, or, by one that does not check, removed
        again once its ETag tells."""
        where = self.where(key)
        try:
            response = await self._ep.wire.send(
                "PUT", where, bucket=self._name, key=full, headers=headers, body=body
            )
        except BucketvaultError as exc:
            # a body that failed can surface as a broken connection: the body's own
            # error (a corrupt or short source) is the one that says what happened
            if isinstance(body, _Body) and body.error is not None:
                raise body.error from None
            if isinstance(exc, StoreError) and exc.code in ("BadDigest", "InvalidDigest"):
                raise content_mismatch(f"{self.display}: {quote_key(key)}") from exc
            raise
        etag = normalize_etag(response.headers.get("ETag"))
        version = version_or_none(response.headers.get("x-amz-version-id"))
        if self._ep.sse.etag_is_md5 and is_plain_md5(etag) and etag != md5:
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
        response = await self._ep.wire.send("GET", where, bucket=self._name, query=query)
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

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        full = self._full(key)
        if version_id is not None:
            await delete_version(self, key, full, version_id)
            return
        await self._ep.wire.send("DELETE", self.where(key), bucket=self._name, key=full)

    # -- versions and Object Lock (s3_versions.py) --------------------------------------

    async def versioning(self) -> Versioning:
        return await versioning(self)

    async def enable_versioning(self) -> Versioning:
        return await enable_versioning(self)

    def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        return list_versions(self, prefix=prefix)

    async def object_lock(self) -> ObjectLock | None:
        return await object_lock(self)


# an empty, `.` or `..` segment (which covers a leading or trailing `/`), a backslash, or
# an ASCII control character: keys some servers store under another name
_RENAMED_BY_SOME = re.compile(r"[\x00-\x1f\x7f\\]|(?:^|/)\.{0,2}(?:/|$)")


def may_be_renamed(key: str) -> bool:
    """Whether some server may store `key` under another name (docs/servers.md)."""
    return _RENAMED_BY_SOME.search(key) is not None


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
