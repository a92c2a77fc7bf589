"""How to reach one object store: URL, credentials and TLS settings."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bucketvault.config.secret import Secret
from bucketvault.errors import ConfigError

AWS_S3_URL = "https://s3.amazonaws.com"
SSE_MODES = ("s3", "kms", "c")


@dataclass(frozen=True, slots=True)
class Encryption:
    """Server-side encryption of every object written to a store: `s3` (SSE-S3, keys the
    store manages), `kms` (SSE-KMS, with `kms_key_id` or the store's default key), or `c`
    (SSE-C: the 256-bit key in `key_file`, a 0600 file holding 32 bytes or their base64,
    sent with every write and read; the store keeps only its hash)."""

    mode: str
    kms_key_id: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in SSE_MODES:
            raise ConfigError(
                f"server-side encryption {self.mode!r} is not one of {', '.join(SSE_MODES)}"
            )
        if self.mode == "c" and not self.key_file:
            raise ConfigError("SSE-C needs the key: pass --sse-c-key-file PATH (a 0600 file)")
        if self.mode != "c" and self.key_file:
            raise ConfigError("--sse-c-key-file goes with --sse c only")
        if self.mode != "kms" and self.kms_key_id:
            raise ConfigError("--sse-kms-key-id goes with --sse kms only")


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """An S3 endpoint (`http(s)://host[:port]`) or a local root (`file:///path`)."""

    url: str
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    region: str = "us-east-1"
    ca_bundle: str | None = None
    insecure: bool = False
    encryption: Encryption | None = None

    def __post_init__(self) -> None:
        validate_endpoint_url(self.url)

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    @property
    def display(self) -> str:
        return self.url


def validate_endpoint_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not parts.path.startswith("/"):
            raise ConfigError(f"endpoint {url!r}: a file:// URL needs an absolute path")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"endpoint {url!r} is not a valid URL: use http(s)://host[:port] or file:///path"
        )
    if parts.username or parts.password:
        raise ConfigError(
            f"endpoint {parts.scheme}://{parts.hostname}: put credentials in the "
            "environment or a config file, not in the URL"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"endpoint {url!r} has an invalid port") from exc
