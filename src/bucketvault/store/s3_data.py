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
from urllib.parse import quote, urlencode

from bucketvault.errors import (
    IntegrityError,
    PermanentStoreError,
    StoreError,
    UnsupportedError,
    WriteOutcomeUnknown,
    content_mismatch,
)
from bucketvault.store.model import ObjectAttributes, ObjectInfo, normalize_etag
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.store.s3_errors import Where, from_response, quote_key
from bucketvault.store.s3_list_page import parse_timestamp
from bucketvault.store.s3_resume import Unfinished, abort_quietly, unfinished
from bucketvault.store.s3_wire import (
    S3Wire,
    WireResponse,
    xml_body,
    xml_children,
)
from bucketvault.store.s3_wire import (
    content_md5 as content_md5_header,
)

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 16 * MiB
DEFAULT_PART_SIZE = 16 * MiB
DEFAULT_STREAM_THRESHOLD = 1 * MiB
MAX_SINGLE_PUT = 5 * 1024 * MiB  # S3's limit for one PUT
# An object of known MD5 (a single-part source) goes as one streamed PUT up to S3's
# limit, so the copy's ETag is the source's: the next run sees it unchanged from the
# listings alone, and nothing of bucketvault's is written into the object to say so.
DEFAULT_SINGLE_PUT_LIMIT = MAX_SINGLE_PUT
MAX_PARTS = 10_000

# the five content headers: ObjectAttributes field -> HTTP header
CONTENT_HEADERS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_disposition": "Content-Disposition",
    "content_language": "Content-Language",
    "cache_control": "Cache-Control",
}
META_PREFIX = "x-amz-meta-"


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
# costs more than the hashing: the event loop waits to get the GIL back. Fed in slices
# below that size, a small body is hashed without letting go.
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


def put_headers(attributes: ObjectAttributes, where: Where) -> dict[str, str]:
    """The headers that store `attributes` with a PUT or CreateMultipartUpload: the one
    mapping from attributes to HTTP (`attributes_from_headers` is its inverse).
    `UnsupportedError` when a value cannot travel in an HTTP header exactly (non-ASCII,
    control characters, spaces at either end, which every server strips)."""
    headers: dict[str, str] = {}
    for field, name in CONTENT_HEADERS.items():
        value = getattr(attributes, field)
        if value is not None:
            headers[name] = _exact(value, name, where)
    for name, value in attributes.metadata.items():
        if not _TOKEN.fullmatch(name):
            raise _inexact(f"metadata name {name!r}", where)
        headers[META_PREFIX + name] = _exact(value, f"metadata {name!r}", where)
    if attributes.tags:
        headers["x-amz-tagging"] = tagging_header(attributes.tags)
    return headers


def attributes_from_headers(
    headers: Mapping[str, str], tags: Mapping[str, str] | None
) -> ObjectAttributes:
    fields = {field: headers.get(name) for field, name in CONTENT_HEADERS.items()}
    metadata = {
        name[len(META_PREFIX) :].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(META_PREFIX)
    }
    return ObjectAttributes(**fields, metadata=metadata, tags=tags)


def info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    modified = parse_timestamp(headers.get("Last-Modified") or "")
    return ObjectInfo(
        key=key,
        size=int(headers.get("Content-Length") or 0),
        etag=normalize_etag(headers.get("ETag")),
        last_modified=modified or datetime.fromtimestamp(0, UTC),
        version_id=version_or_none(headers.get("x-amz-version-id")),
    )


def tag_count(headers: Mapping[str, str]) -> int:
    """x-amz-tagging-count (absent when an object has no tags)."""
    return int(headers.get("x-amz-tagging-count") or 0)


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# printable ASCII with nothing at either end that HTTP would strip
_HEADER_VALUE = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?)?")


def _exact(value: str, what: str, where: Where) -> str:
    if _HEADER_VALUE.fullmatch(value) is None:
        raise _inexact(f"{what} value {value!r}", where)
    return value


def _inexact(what: str, where: Where) -> UnsupportedError:
    return UnsupportedError(
        f"{where.what()} at {where.endpoint}: the {what} cannot be sent in an HTTP header "
        "exactly (S3 carries only printable ASCII there, without spaces at either end)",
        code="InexactHeader",
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
    wire: S3Wire,
    *,
    where: Where,
    full_key: str,
    chunks: AsyncIterable[bytes],
    size: int,
    part_size: int,
    headers: Mapping[str, str],
    part_headers: Mapping[str, str],
    content_md5: str | None = None,
    resume: bool = True,
) -> tuple[str, str, str | None, bool]:
    """Upload as a multipart upload with the object's `headers` (`put_headers`, plus
    encryption); each part carries `part_headers` (SSE-C's key). Return (etag reported,
    etag expected, version id the store gave the object, whether an earlier upload was
    resumed). With `content_md5`, the
    upload is aborted, not completed, unless the bytes hash to it.

    With `resume` (part ETags are MD5s, so a stored part can be recognised), the key's
    unfinished upload from an earlier run is continued: parts it holds with these very
    bytes are not sent again (`s3_resume`). A cancelled upload (a paused or interrupted
    run) is left for the next run to resume; one that failed is aborted."""
    bucket = where.bucket
    assert bucket is not None
    part_size = part_size_for(size, part_size)
    earlier = await unfinished(wire, where, bucket, full_key) if resume else Unfinished()
    upload_id = earlier.upload_id or await _create(wire, where, bucket, full_key, headers)
    if not upload_id:
        raise PermanentStoreError(
            f"{where.endpoint} started a multipart upload of {quote_key(full_key)} without "
            "an upload id: the server's multipart upload is broken"
        )
    digests: list[bytes] = []
    done: list[tuple[int, str]] = []
    pending: asyncio.Task[tuple[int, str]] | None = None

    async def upload(number: int, body: bytes, digest: bytes) -> tuple[int, str]:
        stored = earlier.has(number, len(body), digest.hex())
        if stored is not None:
            return number, stored
        answer = await wire.send(
            "PUT",
            where,
            bucket=bucket,
            key=full_key,
            query={"partNumber": str(number), "uploadId": upload_id},
            headers={**part_headers, "Content-MD5": base64.b64encode(digest).decode()},
            body=body,
        )
        return number, answer.headers.get("ETag") or f'"{digest.hex()}"'

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
        etag, version = await _complete(
            wire, where, full_key, upload_id, done, digests, part_headers
        )
    except BaseException as exc:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if not (resume and isinstance(exc, asyncio.CancelledError)):
            await _abort(wire, where, full_key, upload_id)
        raise
    await abort_quietly(wire, where, bucket, full_key, earlier.others)
    return etag, expected_multipart_etag(digests), version, earlier.upload_id is not None


def _xml_text(text: str) -> str:
    # xml.sax.saxutils.escape does this, but importing it pulls in urllib.request and
    # http.client: 12 ms of every start-up, for one rarely needed call
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def _create(
    wire: S3Wire, where: Where, bucket: str, key: str, headers: Mapping[str, str]
) -> str:
    created = await wire.send(
        "POST", where, bucket=bucket, key=key, query={"uploads": ""}, headers=headers
    )
    root, ns = xml_children(created.body)
    return root.findtext(f"{ns}UploadId") or ""


async def _complete(
    wire: S3Wire,
    where: Where,
    full_key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    digests: list[bytes],
    read_headers: Mapping[str, str],
) -> tuple[str, str | None]:
    """CompleteMultipartUpload: (etag, version id)."""
    bucket = where.bucket
    assert bucket is not None
    listed = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_text(etag)}</ETag></Part>"
        for n, etag in parts
    )
    body = xml_body("CompleteMultipartUpload", listed)
    query = {"uploadId": upload_id}
    tries = 0

    async def once() -> WireResponse:
        nonlocal tries
        tries += 1
        answer = await wire.send(
            "POST",
            where,
            bucket=bucket,
            key=full_key,
            query=query,
            headers={"Content-MD5": content_md5_header(body)},
            body=body,
            policy=SINGLE_TRY,
        )
        root, ns = xml_children(answer.body)
        if root.tag == f"{ns}Error" or root.tag == "Error":
            # S3 may answer 200 and report the failure in the body
            raise from_response(root.findtext(f"{ns}Code") or "", None, where)
        return answer

    async def completing() -> tuple[str, str | None]:
        try:
            answer = await once()
        except PermanentStoreError as exc:
            if tries == 1 or exc.code != "NoSuchUpload":
                raise
            return await _completed_before(wire, where, full_key, digests, exc, read_headers)
        root, ns = xml_children(answer.body)
        return (
            normalize_etag(root.findtext(f"{ns}ETag")),
            version_or_none(answer.headers.get("x-amz-version-id")),
        )

    return await retrying(completing, wire.policy)


async def _completed_before(
    wire: S3Wire,
    where: Where,
    full_key: str,
    digests: list[bytes],
    exc: StoreError,
    read_headers: Mapping[str, str],
) -> tuple[str, str | None]:
    """A retried CompleteMultipartUpload found no upload: an earlier attempt completed it
    and only its answer was lost (AWS and moto answer a repeat; rclone does not). The
    object stands if it is ours; otherwise the whole object must be copied again."""
    assert where.bucket is not None
    head = await wire.send("HEAD", where, bucket=where.bucket, key=full_key, headers=read_headers)
    if normalize_etag(head.headers.get("ETag")) == expected_multipart_etag(digests):
        return normalize_etag(head.headers.get("ETag")), version_or_none(
            head.headers.get("x-amz-version-id")
        )
    raise WriteOutcomeUnknown(
        f"the answer to completing the upload of {quote_key(full_key)} was lost and the "
        "object cannot be recognised as ours; copying it again",
        code=exc.code,
        status=exc.status,
    )


SINGLE_TRY = RetryPolicy(attempts=1)
_ABORT_POLICY = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0)


async def _abort(wire: S3Wire, where: Where, key: str, upload_id: str) -> None:
    """Abort the upload (a few tries: a failed abort leaves its parts stored), even when
    the writer is being cancelled."""
    assert where.bucket is not None
    bucket = where.bucket

    async def abort() -> None:
        with contextlib.suppress(Exception):
            await wire.send(
                "DELETE",
                where,
                bucket=bucket,
                key=key,
                query={"uploadId": upload_id},
                policy=_ABORT_POLICY,
            )

    task = asyncio.ensure_future(abort())
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)
