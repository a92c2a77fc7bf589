"""The three S3 clients behind one endpoint, each built on first use, closed together.

- `S3Wire` (aiohttp + botocore's signer): bucket checks and creation, listings, tags
  and streamed single PUTs, the requests every mirror run makes (see `s3_wire.py`).
- aiobotocore: the faithful client for the rest of the control plane, HEADs, multipart
  uploads and every key obstore cannot represent exactly. It is imported only when first needed:
  a no-op mirror run never pays for it.
- obstore: the fast data plane for small objects, one `S3Store` per bucket, used only
  for keys where `obstore_safe(key)` holds.

All have their own retries turned off: `retry.py` is the one place that retries.
Credentials are revealed only here, where the clients are built.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.credentials import Credentials
from obstore.store import S3Store

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import ConfigError
from bucketvault.store.s3_listing import parse_timestamp
from bucketvault.store.s3_wire import S3Wire

MAX_POOL_CONNECTIONS = 64
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0


def obstore_safe(key: str) -> bool:
    """Whether obstore (Rust `object_store`) sends and returns `key` unchanged.

    `object_store::path::Path` strips a leading and a trailing `/` (so `/x` becomes
    `x`), rejects empty segments (`a//b`), `.` and `..` segments, and any ASCII control
    character (U+0000-U+001F, U+007F). It also cannot carry lone surrogates. Everything
    else — spaces, `%`, `+`, `?`, `#`, any other unicode — round-trips exactly
    (checked against moto and rclone in tests/store/test_obstore_safe.py).
    """
    return bool(key) and _OBSTORE_UNSAFE.search(key) is None


# an ASCII control character or lone surrogate, or an empty, `.` or `..` segment (which
# covers a leading or trailing `/`): one search in C instead of a loop per character
_OBSTORE_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]|(?:^|/)\.{0,2}(?:/|$)")


def fast_timestamp(value: str) -> datetime:
    """Timestamps for aiobotocore's parser: botocore's default (dateutil) costs ~0.5 ms
    a timestamp."""
    parsed = parse_timestamp(value)
    if parsed is None:
        from botocore.utils import parse_timestamp as parse_any

        parsed = parse_any(value)
    return parsed


class S3Clients:
    """Lazily built, shared clients for one S3 endpoint."""

    def __init__(self, cfg: EndpointConfig) -> None:
        parts = urlsplit(cfg.url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"endpoint {cfg.url!r} is not an S3 URL (http:// or https://)")
        self.cfg = cfg
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._exit = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._stores: dict[str, S3Store] = {}
        self._closed = False
        self.wire = S3Wire(
            self.url,
            signer=self._wire_signer(),
            tls=self._ssl_setting(),
            connections=MAX_POOL_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )

    def _wire_signer(self) -> S3SigV4Auth | None:
        cfg = self.cfg
        if cfg.access_key_id is None:
            return None
        secret = cfg.secret_access_key
        credentials = Credentials(cfg.access_key_id, secret.reveal() if secret else "")
        return S3SigV4Auth(credentials, "s3", cfg.region)

    def _ssl_setting(self) -> ssl.SSLContext | bool:
        if self.cfg.insecure:
            return False
        if self.cfg.ca_bundle:
            return ssl.create_default_context(cafile=self.cfg.ca_bundle)
        return True

    async def client(self) -> Any:
        """The endpoint's aiobotocore S3 client (created on first use)."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                if self._closed:
                    raise RuntimeError("S3 endpoint used after close()")
                from botocore.handlers import add_expect_header

                client = await self._exit.enter_async_context(self._create_client())
                # aiohttp hangs when a server answers an `Expect: 100-continue` request
                # with a final error status straight away (rclone does, e.g. 400, 403)
                client.meta.events.unregister("before-call.s3", add_expect_header)
                self._client = client
        return self._client

    def _create_client(self) -> Any:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
        from botocore import UNSIGNED

        cfg = self.cfg
        config = AioConfig(
            region_name=cfg.region,
            # Content-MD5 (single PUTs and every part) already protects the body; signing
            # it too would hash every byte once more with SHA-256 on http:// endpoints.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version=UNSIGNED if cfg.access_key_id is None else None,
        )
        kwargs: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": cfg.region,
            "config": config,
            "verify": False if cfg.insecure else (cfg.ca_bundle or True),
        }
        if cfg.access_key_id is not None:
            kwargs["aws_access_key_id"] = cfg.access_key_id
            secret = cfg.secret_access_key
            kwargs["aws_secret_access_key"] = secret.reveal() if secret is not None else ""
        session = get_session()
        session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=fast_timestamp
        )
        return session.create_client("s3", **kwargs)

    def store(self, bucket: str) -> S3Store:
        """The obstore store for `bucket` (no prefix: keys are always full keys)."""
        found = self._stores.get(bucket)
        if found is None:
            found = self._stores[bucket] = self._create_store(bucket)
        return found

    def _create_store(self, bucket: str) -> S3Store:
        cfg = self.cfg
        client_options: dict[str, Any] = {
            "allow_http": self.url.startswith("http://"),
            "connect_timeout": timedelta(seconds=CONNECT_TIMEOUT),
            "read_timeout": timedelta(seconds=READ_TIMEOUT),
            # the whole-request timeout would cut long streamed reads and writes
            "timeout": timedelta(hours=24),
            "pool_max_idle_per_host": str(MAX_POOL_CONNECTIONS),
        }
        if cfg.insecure:
            client_options["allow_invalid_certificates"] = True
        elif cfg.ca_bundle:
            with open(cfg.ca_bundle, "rb") as handle:
                client_options["root_certificate"] = handle.read()
        config: dict[str, Any] = {
            "endpoint": self.url,
            "region": cfg.region,
            "virtual_hosted_style_request": False,
        }
        if cfg.access_key_id is None:
            config["skip_signature"] = True
        else:
            config["access_key_id"] = cfg.access_key_id
            secret = cfg.secret_access_key
            config["secret_access_key"] = secret.reveal() if secret is not None else ""
        return S3Store(
            bucket,
            config=config,  # type: ignore[arg-type]
            client_options=client_options,  # type: ignore[arg-type]
            retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)},
        )

    async def close(self) -> None:
        self._closed = True
        self._stores.clear()
        self._client = None
        try:
            await self._exit.aclose()
        finally:
            await self.wire.close()
