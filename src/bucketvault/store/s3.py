"""An S3-compatible endpoint (any server: AWS, MinIO, rclone, moto): its one request path,
what the server supports, and the requests that concern no single bucket.

Every request goes through `s3_wire.S3Wire`, which signs, sends, translates errors and
retries. Tag support is probed once per endpoint on the first object whose tags are
needed; a server that cannot answer GetObjectTagging (rclone serve s3) reports
`tags=None`. Buckets are `s3_bucket.S3Bucket`.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import (
    AccessDeniedError,
    ConfigError,
    NoSuchKeyError,
    PermanentStoreError,
)
from bucketvault.store.retry import DEFAULT_POLICY, RetryPolicy
from bucketvault.store.s3_bucket import S3Bucket
from bucketvault.store.s3_data import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    DEFAULT_SINGLE_PUT_LIMIT,
    DEFAULT_STREAM_THRESHOLD,
    MAX_SINGLE_PUT,
)
from bucketvault.store.s3_errors import Where, quote_key
from bucketvault.store.s3_sse import sse_headers
from bucketvault.store.s3_wire import S3Wire, parse_tags, xml_children
from bucketvault.store.sigv4 import SigV4
from bucketvault.store.tls import tls_for

MAX_POOL_CONNECTIONS = 64
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0

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
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        parts = urlsplit(cfg.url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"endpoint {cfg.url!r} is not an S3 URL (http:// or https://)")
        self.cfg = cfg
        self._url = f"{parts.scheme}://{parts.netloc}"
        self.retry_policy = retry_policy
        self.wire = S3Wire(
            self._url,
            signer=_signer(cfg),
            tls=_tls(cfg),
            connections=MAX_POOL_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            policy=retry_policy,
        )
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        # objects of known MD5 from stream_threshold to single_put_limit bytes go as one
        # streamed PUT (like rclone below its 200 MiB cutoff); larger ones multipart
        self.stream_threshold = stream_threshold
        self.single_put_limit = min(single_put_limit, MAX_SINGLE_PUT)
        self.sse = sse_headers(cfg.encryption)
        # None until probed; False for servers that cannot answer GetObjectTagging
        self.tagging: bool | None = None
        self._probe_lock = asyncio.Lock()

    @property
    def display(self) -> str:
        return self._url  # the endpoint URL as configured, never credentials

    @property
    def url(self) -> str:
        return self._url

    def where(self, bucket: str | None = None, key: str | None = None) -> Where:
        return Where(self._url, bucket, key)

    async def check(self) -> None:
        await self.wire.send("GET", self.where(), bucket=None, policy=_CHECK_POLICY)

    async def list_buckets(self) -> list[str]:
        answer = await self.wire.send("GET", self.where(), bucket=None)
        root, ns = xml_children(answer.body)
        return sorted(name.text or "" for name in root.iterfind(f"{ns}Buckets/{ns}Bucket/{ns}Name"))

    def bucket(self, name: str, prefix: str = "") -> S3Bucket:
        return S3Bucket(self, name, prefix)

    async def delete_bucket(self, name: str) -> None:
        try:
            await self.wire.send("DELETE", self.where(name), bucket=name)
        except PermanentStoreError as exc:
            if exc.code == "BucketNotEmpty":
                raise PermanentStoreError(
                    f"bucket {name!r} at {self.url} is not empty: delete its objects first",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise

    async def close(self) -> None:
        await self.wire.close()

    async def tags(
        self, where: Where, full_key: str, *, tag_count: int | None
    ) -> dict[str, str] | None:
        """The object's tags; None when the server cannot tell. `tag_count` is a GET's
        x-amz-tagging-count (absent, so 0, when an object has no tags); None when the
        answer does not carry one (HEAD)."""
        if self.tagging is False:
            return None
        if self.tagging and tag_count == 0:
            return {}
        if self.tagging is None:
            async with self._probe_lock:
                if self.tagging is None:
                    return await self._probe_tags(where, full_key)
            return await self.tags(where, full_key, tag_count=tag_count)
        answer = await self.wire.send(
            "GET", where, bucket=where.bucket or "", key=full_key, query={"tagging": ""}
        )
        return parse_tags(answer.body)

    async def _probe_tags(self, where: Where, full_key: str) -> dict[str, str] | None:
        """Find out once whether the server answers GetObjectTagging.

        The probe reads only the status line and headers: rclone serve s3 answers
        ?tagging with a 500 whose body is the whole object (seconds of XML parsing for a
        large object, had it been read).
        """
        answer = await self.wire.status(
            "GET",
            where,
            bucket=where.bucket or "",
            key=full_key,
            query={"tagging": ""},
            policy=_PROBE_POLICY,
        )
        status, content_type = answer.status, answer.headers.get("Content-Type", "")
        if status == 404:
            raise NoSuchKeyError(f"{self.url}: no object {quote_key(full_key)} in {where.bucket!r}")
        if status == 403:
            raise AccessDeniedError(
                f"access denied by {self.url} for bucket {where.bucket!r}: "
                "check the access key and secret key"
            )
        # rclone serves the object itself for ?tagging (200 with its own content type for
        # an empty object, 500 otherwise): only an XML answer means tags are supported.
        self.tagging = status == 200 and "xml" in content_type
        if not self.tagging:
            return None
        answer = await self.wire.send(
            "GET", where, bucket=where.bucket or "", key=full_key, query={"tagging": ""}
        )
        return parse_tags(answer.body)


def _signer(cfg: EndpointConfig) -> SigV4 | None:
    """Credentials are revealed only here, where the signer is built."""
    if cfg.access_key_id is None:
        return None
    secret = cfg.secret_access_key
    return SigV4(cfg.access_key_id, secret.reveal() if secret else "", cfg.region)


def _tls(cfg: EndpointConfig) -> ssl.SSLContext | None:
    return tls_for(cfg.url, insecure=cfg.insecure, ca_bundle=cfg.ca_bundle)
