"""How to reach one object store: URL, credentials and TLS settings."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bucketvault.config.secret import Secret
from bucketvault.errors import ConfigError

AWS_S3_URL = "https://s3.amazonaws.com"


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """An S3 endpoint (`http(s)://host[:port]`) or a local root (`file:///path`)."""

    url: str
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    region: str = "us-east-1"
    ca_bundle: str | None = None
    insecure: bool = False

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
