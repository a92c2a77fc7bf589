"""Moving object bytes to and from S3: attribute mapping, streamed reads, uploads.

Single PUTs below the multipart threshold are buffered (the body is needed for its
Content-MD5 and for a retry). Larger objects go as a multipart upload with a fixed
part size; at most two parts are in memory at once (one uploading, one filling), and
the upload is aborted on any failure or cancellation. `expected_etag` is computed from
the bytes sent: the MD5 for one part, md5(concat(part MD5s))-N for N parts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from bucketvault.errors import (
    IntegrityError,
    PermanentStoreError,
    StoreError,
    WriteOutcomeUnknown,
    content_mismatch,
)
from bucketvault.store.model import ObjectAttributes, ObjectInfo, normalize_etag
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.store.s3_errors import Where, quote_key, translating

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 16 * MiB
DEFAULT_PART_SIZE = 16 * MiB
DEFAULT_STREAM_THRESHOLD = 1 * MiB
DEFAULT_SINGLE_PUT_LIMIT = 256 * MiB
MAX_SINGLE_PUT = 5 * 1024 * MiB  # S3's limit for one PUT
MAX_PARTS = 10_000
READ_CHUNK = 4 * MiB

# obstore attribute names for the five content headers
_OBSTORE_NAMES = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_disposition": "Content-Disposition",
    "content_language": "Content-Language",
    "cache_control": "Cache-Control",
}
_BOTO_NAMES = {
    "content_type": "ContentType",
    "content_encoding": "ContentEncoding",
    "content_disposition": "ContentDisposition",
    "content_language": "ContentLanguage",
    "cache_control": "CacheControl",
}
_RESERVED_META = frozenset(name.lower() for name in _OBSTORE_NAMES.values()) | {"storage-class"}


@dataclass(frozen=True, slots=True)
class S3Reader:
    """An open S3 object (satisfies `base.ObjectReader`)."""

    info: ObjectInfo
    attributes: ObjectAttributes
    stream: Callable[[], AsyncIterator[bytes]]

    def chunks(self) -> AsyncIterator[bytes]:
        return self.stream()


def part_size_for(size: int, part_size: int) -> int:
    """`part_size`, or a bigger multiple of 1 MiB when `size` would need > 10,000 parts."""
    if size <= part_size * MAX_PARTS:
        return part_size
    needed = -(-size // MAX_PARTS)
    return -(-needed // MiB) * MiB


# hashlib releases the GIL while it hashes 2,048 bytes or more. For a small body that
# costs far more than the hashing: obstore's I/O threads are waiting for the GIL, take it,
# and the event loop waits to get it back (~90 us for 4 KiB, measured, against ~10 us
# of hashing). Fed in slices below that size, a small body is hashed without letting go.
_GIL_RELEASE_SIZE = 2048
_HASH_IN_SLICES_BELOW = 64 * 1024


def md5_digest(body: bytes) -> bytes:
    if len(body) >= _HASH_IN_SLICES_BELOW:
        return hashlib.md5(body).digest()
    hasher = hashlib.md5()
    view = memoryview(body)
    for start in range(0, len(body), _GIL_RELEASE_SIZE - 1):
        hasher.update(view[start : start + _GIL_RELEASE_SIZE - 1])
    return hasher.digest()


def expected_multipart_etag(digests: list[bytes]) -> str:
    return hashlib.md5(b"".join(digests)).hexdigest() + f"-{len(digests)}"


def tagging_header(tags: Mapping[str, str]) -> str:
    return urlencode(sorted(tags.items()), quote_via=quote, safe="")


def boto_headers(attributes: ObjectAttributes) -> dict[str, Any]:
    """PutObject / CreateMultipartUpload parameters for `attributes`."""
    params: dict[str, Any] = {}
    for field, name in _BOTO_NAMES.items():
        value = getattr(attributes, field)
        if value is not None:
            params[name] = value
    if attributes.metadata:
        params["Metadata"] = dict(attributes.metadata)
    if attributes.tags:
        params["Tagging"] = tagging_header(attributes.tags)
    return params


def _content_headers(attributes: ObjectAttributes) -> dict[str, str] | None:
    """The five content headers of `attributes` by their HTTP names, or None when plain
    header values could not carry one exactly (non-ASCII, surrounding spaces)."""
    headers: dict[str, str] = {}
    for field, name in _OBSTORE_NAMES.items():
        value = getattr(attributes, field)
        if value is not None:
            if not _header_value_exact(value):
                return None
            headers[name] = value
    return headers


def obstore_attributes(attributes: ObjectAttributes) -> dict[str, str] | None:
    """obstore's attribute dict, or None when obstore could not send these attributes
    exactly (a metadata name that collides with a header, a non-ASCII value)."""
    result = _content_headers(attributes)
    if result is None:
        return None
    for name, value in attributes.metadata.items():
        if name.lower() in _RESERVED_META or not _TOKEN.fullmatch(name):
            return None
        if not _header_value_exact(value):
            return None
        result[name] = value
    return result


def wire_put_headers(attributes: ObjectAttributes) -> dict[str, str] | None:
    """PUT headers for `attributes`, or None when plain HTTP headers could not carry
    them exactly (a non-ASCII value, surrounding spaces, a metadata name that is not an
    HTTP token): those objects go through aiobotocore."""
    headers = _content_headers(attributes)
    if headers is None:
        return None
    for name, value in attributes.metadata.items():
        if not _TOKEN.fullmatch(name) or not _header_value_exact(value):
            return None
        headers[f"x-amz-meta-{name}"] = value
    if attributes.tags:
        headers["x-amz-tagging"] = tagging_header(attributes.tags)
    return headers


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# printable ASCII with nothing at either end that HTTP would strip
_HEADER_VALUE = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?)?")


def _header_value_exact(value: str) -> bool:
    return _HEADER_VALUE.fullmatch(value) is not None


def attributes_from_boto(
    response: Mapping[str, Any], tags: Mapping[str, str] | None
) -> ObjectAttributes:
    return ObjectAttributes(
        **{field: response.get(name) for field, name in _BOTO_NAMES.items()},
        metadata={k.lower(): v for k, v in (response.get("Metadata") or {}).items()},
        tags=tags,
    )


def attributes_from_obstore(
    attrs: Mapping[str, str], tags: Mapping[str, str] | None
) -> ObjectAttributes:
    known = {name: field for field, name in _OBSTORE_NAMES.items()}
    fields: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for name, value in attrs.items():
        if name in known:
            fields[known[name]] = value
        elif name.lower() != "storage-class":
            metadata[name.lower()] = value
    return ObjectAttributes(**fields, metadata=metadata, tags=tags)


def info_from_boto(key: str, response: Mapping[str, Any]) -> ObjectInfo:
    modified = response.get("LastModified")
    if not isinstance(modified, datetime):
        modified = datetime.fromtimestamp(0, UTC)
    return ObjectInfo(
        key=key,
        size=int(response.get("ContentLength", 0)),
        etag=normalize_etag(response.get("ETag")),
        last_modified=modified,
        version_id=version_or_none(response.get("VersionId")),
    )


def version_or_none(value: object) -> str | None:
    """A version ID, or None for an unversioned object (absent, empty or "null")."""
    return value if isinstance(value, str) and value not in ("", "null") else None


async def collect(chunks: AsyncIterable[bytes], size: int, where: Where) -> bytes:
    """The whole (small) body, checked against the size the caller announced."""
    pieces: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > size:
            raise size_mismatch(where, size, "more")
        pieces.append(chunk)
    if total != size:
        raise size_mismatch(where, size, "fewer")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


# asyncio's socket transport keeps what a send() did not take in one buffer and moves
# the rest down after every partial send: a 4 MiB write costs several times its size in
# memmove. Handed over in slices this small, the socket takes most of each at once.
SEND_SLICE = 256 * 1024


async def counted(
    chunks: AsyncIterable[bytes], size: int, where: Where
) -> AsyncIterator[bytes | memoryview]:
    """`chunks`, checked against the size the caller announced, passed on in slices of
    at most `SEND_SLICE` bytes. Each chunk is passed on only once the next one (or the
    end) has come, so a body longer or shorter than its Content-Length never reaches
    the server whole: the request fails instead."""
    total = 0
    held: bytes | None = None
    async for chunk in chunks:
        total += len(chunk)
        if total > size:
            raise size_mismatch(where, size, "more")
        if held is not None:
            for piece in _slices(held):
                yield piece
        held = chunk
    if total != size:
        raise size_mismatch(where, size, "fewer")
    if held is not None:
        for piece in _slices(held):
            yield piece


def _slices(chunk: bytes) -> Iterator[bytes | memoryview]:
    if len(chunk) <= SEND_SLICE:
        yield chunk
        return
    view = memoryview(chunk)
    for start in range(0, len(chunk), SEND_SLICE):
        yield view[start : start + SEND_SLICE]


async def fixed_parts(
    chunks: AsyncIterable[bytes], part_size: int, size: int, where: Where
) -> AsyncIterator[bytes]:
    """Re-cut a stream of arbitrary chunks into parts of exactly `part_size` bytes
    (the last one shorter), checking the total against `size`. Each byte is copied
    once, when its part is joined."""
    pieces: list[bytes | memoryview] = []
    filled = 0
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > size:
            raise size_mismatch(where, size, "more")
        view = memoryview(chunk)
        while view:
            take = min(part_size - filled, len(view))
            pieces.append(view[:take])
            filled += take
            view = view[take:]
            if filled == part_size:
                yield b"".join(pieces)
                pieces, filled = [], 0
    if total != size:
        raise size_mismatch(where, size, "fewer")
    if pieces:
        yield b"".join(pieces)


def size_mismatch(where: Where, size: int, more_or_fewer: str) -> IntegrityError:
    key = quote_key(where.key or "")
    return IntegrityError(
        f"the source of {key} gave {more_or_fewer} than the {size} bytes announced: "
        "it changed while being copied; copy it again"
    )


async def multipart_upload(
    client: Any,
    *,
    where: Where,
    full_key: str,
    chunks: AsyncIterable[bytes],
    size: int,
    part_size: int,
    attributes: ObjectAttributes,
    policy: RetryPolicy,
    content_md5: str | None = None,
) -> tuple[str, str, str | None]:
    """Upload as a multipart upload; return (etag reported, etag expected, version id
    the store gave the object). With `content_md5`, the upload is aborted, not
    completed, unless the bytes hash to it."""
    bucket = where.bucket
    part_size = part_size_for(size, part_size)

    async def create() -> Any:
        with translating(where):
            return await client.create_multipart_upload(
                Bucket=bucket, Key=full_key, **boto_headers(attributes)
            )

    upload_id: str = (await retrying(create, policy))["UploadId"]
    digests: list[bytes] = []
    done: list[dict[str, Any]] = []
    pending: asyncio.Task[dict[str, Any]] | None = None

    async def upload(number: int, body: bytes, digest: bytes) -> dict[str, Any]:
        async def once() -> Any:
            with translating(where):
                return await client.upload_part(
                    Bucket=bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ContentMD5=base64.b64encode(digest).decode(),
                )

        response = await retrying(once, policy)
        return {"PartNumber": number, "ETag": response["ETag"]}

    whole = hashlib.md5() if content_md5 is not None else None
    try:
        async for body in fixed_parts(chunks, part_size, size, where):
            digest = md5_digest(body)
            digests.append(digest)
            if whole is not None:
                whole.update(body)
            if pending is not None:
                done.append(await pending)
            pending = asyncio.create_task(upload(len(digests), body, digest))
            del body
        if pending is not None:
            done.append(await pending)
            pending = None
        if whole is not None and whole.hexdigest() != content_md5:
            raise content_mismatch(f"{where.endpoint}: {quote_key(full_key)}")

        tries = 0

        async def complete() -> Any:
            nonlocal tries
            tries += 1
            try:
                with translating(where):
                    return await client.complete_multipart_upload(
                        Bucket=bucket,
                        Key=full_key,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": done},
                    )
            except PermanentStoreError as exc:
                if tries == 1 or exc.code != "NoSuchUpload":
                    raise
                return await _completed_before(client, where, full_key, digests, exc)

        response = await retrying(complete, policy)
    except BaseException:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await _abort(client, where, full_key, upload_id)
        raise
    return (
        normalize_etag(response.get("ETag")),
        expected_multipart_etag(digests),
        version_or_none(response.get("VersionId")),
    )


async def _completed_before(
    client: Any, where: Where, full_key: str, digests: list[bytes], exc: StoreError
) -> Any:
    """A retried CompleteMultipartUpload found no upload: an earlier attempt completed it
    and only its answer was lost (AWS and moto answer a repeat; rclone does not). The
    object stands if it is ours; otherwise the whole object must be copied again."""
    with translating(where):
        head = await client.head_object(Bucket=where.bucket, Key=full_key)
    if normalize_etag(head.get("ETag")) == expected_multipart_etag(digests):
        return head
    raise WriteOutcomeUnknown(
        f"the answer to completing the upload of {quote_key(full_key)} was lost and the "
        "object cannot be recognised as ours; copying it again",
        code=exc.code,
        status=exc.status,
    )


_ABORT_POLICY = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0)


async def _abort(client: Any, where: Where, key: str, upload_id: str) -> None:
    """Abort the upload (a few tries: a failed abort leaves its parts stored), even when
    the writer is being cancelled."""

    async def once() -> None:
        with translating(where):
            await client.abort_multipart_upload(Bucket=where.bucket, Key=key, UploadId=upload_id)

    async def abort() -> None:
        with contextlib.suppress(Exception):
            await retrying(once, _ABORT_POLICY)

    task = asyncio.ensure_future(abort())
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)
