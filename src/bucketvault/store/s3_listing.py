"""Listing an S3 bucket: ListObjectsV2 pages, streamed, keys exactly as stored.

Keys are requested URL-encoded (`EncodingType=url`) and decoded here, so keys with
control characters survive XML. Every S3 server encodes a literal `+` as `%2B`, and
some (rclone) encode a space as `+`, so decoding is `unquote_plus`. A failed page is
retried on its own (same continuation token), never the whole listing; out-of-order
pages are refused rather than silently passed on to a merge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_plus

from bucketvault.errors import PermanentStoreError
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo, normalize_etag
from bucketvault.store.s3_errors import Where, quote_key
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

    async def fetch(token: str | None) -> tuple[Any, str]:
        query = dict(params)
        if token is not None:
            query["continuation-token"] = token

        return xml_children((await wire.send("GET", where, bucket=bucket, query=query)).body)

    pending: asyncio.Task[tuple[Any, str]] | None = None
    try:
        root, ns = await fetch(None)
        while True:
            token = root.findtext(f"{ns}NextContinuationToken")
            if pages is not None:
                pages -= 1
            more = root.findtext(f"{ns}IsTruncated") == "true" and token and pages != 0
            # The next page is asked for before this one is handed on: the server works
            # on it while the caller (a merge with the other side's listing) consumes
            # this one, instead of every page's round trip adding to the run.
            pending = asyncio.create_task(fetch(token)) if more else None
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
            if pending is None:
                return
            root, ns = await pending
            pending = None
    finally:
        if pending is not None:  # the caller stopped early, or this page failed
            pending.cancel()
            pending.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    """Retrieve an abandoned prefetch's outcome, so nothing reports it as unhandled."""
    if not task.cancelled():
        task.exception()


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
