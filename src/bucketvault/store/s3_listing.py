"""Listing an S3 bucket: ListObjectsV2 pages, streamed, keys exactly as stored.

Keys are requested URL-encoded (`EncodingType=url`) and decoded here, so keys with
control characters survive XML. Every S3 server encodes a literal `+` as `%2B`, and
some (rclone) encode a space as `+`, so decoding is `unquote_plus`. A failed page is
retried on its own (same continuation token), never the whole listing; out-of-order
pages are refused rather than silently passed on to a merge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_plus

from bucketvault.errors import PermanentStoreError
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo, normalize_etag
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.store.s3_errors import Where, quote_key, translating
from bucketvault.store.s3_wire import S3Wire, xml_children

PAGE_SIZE = 1000


def decode_key(raw: str) -> str:
    return unquote_plus(raw, encoding="utf-8", errors="surrogateescape")


async def list_objects(
    wire: S3Wire,
    *,
    where: Where,
    prefix: str,
    start_after: str | None,
    policy: RetryPolicy,
    page_size: int = PAGE_SIZE,
    pages: int | None = None,
) -> AsyncIterator[ObjectInfo]:
    """Yield every object under `prefix` in UTF-8 byte order, keys relative to it
    (from the first `pages` pages only, when given)."""
    bucket = where.bucket
    assert bucket is not None
    params = {"list-type": "2", "encoding-type": "url", "max-keys": str(page_size)}
    if prefix:
        params["prefix"] = prefix
    if start_after is not None:
        params["start-after"] = prefix + start_after
    last: bytes | None = None
    token: str | None = None
    while True:
        query = dict(params)
        if token is not None:
            query["continuation-token"] = token

        async def page(query: dict[str, str] = query) -> bytes:
            with translating(where):
                return (await wire.send("GET", where, bucket=bucket, query=query)).body

        root, ns = xml_children(await retrying(page, policy))
        for entry in root.iterfind(f"{ns}Contents"):
            key = decode_key(entry.findtext(f"{ns}Key") or "")
            if not key.startswith(prefix):
                raise PermanentStoreError(
                    f"{where.endpoint} listed {quote_key(key)} outside prefix {prefix!r} "
                    f"of bucket {bucket!r}: the server ignores prefixes"
                )
            order = sort_key(key)
            if last is not None and order <= last:
                raise PermanentStoreError(
                    f"{where.endpoint} listed bucket {bucket!r} out of order at "
                    f"{quote_key(key)}: the server does not sort keys by UTF-8 bytes"
                )
            last = order
            modified = entry.findtext(f"{ns}LastModified")
            yield ObjectInfo(
                key=key[len(prefix) :],
                size=int(entry.findtext(f"{ns}Size") or 0),
                etag=normalize_etag(entry.findtext(f"{ns}ETag")),
                last_modified=(parse_timestamp(modified) if modified else None) or _EPOCH,
            )
        token = root.findtext(f"{ns}NextContinuationToken")
        if pages is not None:
            pages -= 1
        if root.findtext(f"{ns}IsTruncated") != "true" or not token or pages == 0:
            return


_EPOCH = datetime.fromtimestamp(0, UTC)


def parse_timestamp(value: str) -> datetime | None:
    """S3 sends ISO 8601 in listings and RFC 1123 in headers; both have fast parsers in
    the standard library (botocore's dateutil costs ~0.5 ms a timestamp). None when
    `value` is neither."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
