"""An S3-compatible endpoint (any server: AWS, MinIO, rclone, moto): its clients, what
the server supports, and the requests that concern no single bucket.

Requests that can be replayed are retried here through `retry.py`. Tag support is probed
once per endpoint on the first object whose tags are needed; a server that cannot answer
GetObjectTagging (rclone serve s3) reports `tags=None`. Buckets are `s3_bucket.S3Bucket`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import (
    AccessDeniedError,
    NoSuchKeyError,
    PermanentStoreError,
)
from bucketvault.store.retry import DEFAULT_POLICY, RetryPolicy, retrying
from bucketvault.store.s3_bucket import S3Bucket
from bucketvault.store.s3_client import S3Clients
from bucketvault.store.s3_data import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    DEFAULT_SINGLE_PUT_LIMIT,
    DEFAULT_STREAM_THRESHOLD,
    MAX_SINGLE_PUT,
)
from bucketvault.store.s3_errors import Where, quote_key, translating
from bucketvault.store.s3_wire import parse_tags

# a few quick tries before deciding that a server cannot answer GetObjectTagging
_PROBE_POLICY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)
_CHECK_POLICY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5)


class S3Endpoint:
    """One S3 endpoint: its clients, its buckets, and what the server supports."""

    def __init__(
        self,
        cfg: EndpointConfig,
        *,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        stream_threshold: int = DEFAULT_STREAM_THRESHOLD,
        single_put_limit: int = DEFAULT_SINGLE_PUT_LIMIT,
        fast_path: bool = True,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.cfg = cfg
        self.clients = S3Clients(cfg)
        self.retry_policy = retry_policy
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        # objects of known MD5 from stream_threshold to single_put_limit bytes go as one
        # streamed PUT (like rclone below its 200 MiB cutoff); larger ones multipart
        self.stream_threshold = stream_threshold
        self.single_put_limit = min(single_put_limit, MAX_SINGLE_PUT)
        self.fast_path = fast_path
        # None until probed; False for servers that cannot answer GetObjectTagging
        self.tagging: bool | None = None
        self._probe_lock = asyncio.Lock()
        self._host = urlsplit(cfg.url).netloc

    @property
    def display(self) -> str:
        return self.clients.url  # the endpoint URL as configured, never credentials

    @property
    def url(self) -> str:
        return self.clients.url

    def where(self, bucket: str | None = None, key: str | None = None) -> Where:
        return Where(self.clients.url, bucket, key)

    async def _call(self, where: Where, method: str, policy: RetryPolicy, **params: Any) -> Any:
        client = await self.clients.client()

        async def once() -> Any:
            with translating(where):
                return await getattr(client, method)(**params)

        return await retrying(once, policy)

    async def check(self) -> None:
        await self._call(self.where(), "list_buckets", _CHECK_POLICY)

    async def list_buckets(self) -> list[str]:
        response = await self._call(self.where(), "list_buckets", self.retry_policy)
        return sorted(str(b["Name"]) for b in response.get("Buckets", ()))

    def bucket(self, name: str, prefix: str = "") -> S3Bucket:
        return S3Bucket(self, name, prefix)

    async def delete_bucket(self, name: str) -> None:
        try:
            await self._call(self.where(name), "delete_bucket", self.retry_policy, Bucket=name)
        except PermanentStoreError as exc:
            if exc.code == "BucketNotEmpty":
                raise PermanentStoreError(
                    f"bucket {name!r} at {self.url} is not empty: delete its objects first",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise

    async def close(self) -> None:
        await self.clients.close()

    async def tags(
        self, where: Where, full_key: str, *, tag_count: int | None, known_count: bool
    ) -> dict[str, str] | None:
        """The object's tags; None when the server cannot tell.

        `known_count` says the response carried the tag count (TagCount is omitted when
        an object has no tags, so with a count-carrying GET a missing count means 0).
        """
        if self.tagging is False:
            return None
        if self.tagging and known_count and not tag_count:
            return {}
        if self.tagging is None:
            async with self._probe_lock:
                if self.tagging is None:
                    return await self._probe_tags(where, full_key)
            return await self.tags(where, full_key, tag_count=tag_count, known_count=known_count)
        wire = self.clients.wire

        async def get() -> bytes:
            with translating(where):
                response = await wire.send(
                    "GET", where, bucket=where.bucket or "", key=full_key, query={"tagging": ""}
                )
                return response.body

        return parse_tags(await retrying(get, self.retry_policy))

    async def _probe_tags(self, where: Where, full_key: str) -> dict[str, str] | None:
        """Find out once whether the server answers GetObjectTagging.

        The probe reads only the status line and headers: rclone serve s3 answers
        ?tagging with a 500 whose body is the whole object (seconds of XML parsing for a
        large object, had it been read).
        """
        wire = self.clients.wire

        async def probe() -> tuple[int, str]:
            with translating(where):
                answer = await wire.status(
                    "GET", bucket=where.bucket or "", key=full_key, query={"tagging": ""}
                )
                return answer.status, answer.headers.get("Content-Type", "")

        status, content_type = await retrying(probe, _PROBE_POLICY)
        if status == 404:
            raise NoSuchKeyError(f"{self.url}: no object {quote_key(full_key)} in {where.bucket!r}")
        if status == 403:
            raise AccessDeniedError(
                f"access denied by {self.url} for bucket {where.bucket!r}: "
                "check ACCESS_KEY_ID/SECRET_ACCESS_KEY"
            )
        # rclone serves the object itself for ?tagging (200 with its own content type for
        # an empty object, 500 otherwise): only an XML answer means tags are supported.
        self.tagging = status == 200 and "xml" in content_type
        if not self.tagging:
            return None
        return await self.tags(where, full_key, tag_count=None, known_count=False)
