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
from typing import Any
from urllib.parse import unquote_plus

from bucketvault.errors import PermanentStoreError
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo, normalize_etag
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.store.s3_errors import Where, quote_key, translating

PAGE_SIZE = 1000


def decode_key(raw: str) -> str:
    return unquote_plus(raw, encoding="utf-8", errors="surrogateescape")


async def list_objects(
    client: Any,
    *,
    where: Where,
    prefix: str,
    start_after: str | None,
    policy: RetryPolicy,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[ObjectInfo]:
    """Yield every object under `prefix` in UTF-8 byte order, keys relative to it."""
    bucket = where.bucket
    params: dict[str, Any] = {"Bucket": bucket, "EncodingType": "url", "MaxKeys": page_size}
    if prefix:
        params["Prefix"] = prefix
    if start_after is not None:
        params["StartAfter"] = prefix + start_after
    last: bytes | None = None
    token: str | None = None
    while True:
        request = dict(params)
        if token is not None:
            request["ContinuationToken"] = token

        async def page(request: dict[str, Any] = request) -> Any:
            with translating(where):
                return await client.list_objects_v2(**request)

        response = await retrying(page, policy)
        for entry in response.get("Contents", ()):
            key = decode_key(entry["Key"])
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
            modified = entry.get("LastModified")
            if not isinstance(modified, datetime):
                modified = datetime.fromtimestamp(0, UTC)
            yield ObjectInfo(
                key=key[len(prefix) :],
                size=int(entry.get("Size", 0)),
                etag=normalize_etag(entry.get("ETag")),
                last_modified=modified,
            )
        token = response.get("NextContinuationToken")
        if not response.get("IsTruncated") or not token:
            return
