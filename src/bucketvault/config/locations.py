"""Where a mirror reads or writes: an endpoint, a bucket and an optional key prefix.

Accepted forms:
- `ALIAS/bucket[/prefix]`        an alias (see `aliases.py`)
- `http(s)://host[:port]/bucket[/prefix]`  credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
- `s3://bucket[/prefix]`         AWS S3, credentials from the AWS_* variables
- `file:///path/dir`             a local directory (the directory is the bucket)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bucketvault.config.aliases import get_alias
from bucketvault.config.endpoint import AWS_S3_URL, EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.errors import UsageError


@dataclass(frozen=True, slots=True)
class Location:
    endpoint: EndpointConfig
    bucket: str
    prefix: str = ""
    # the alias it was given by (None: a URL, whose credentials come from $AWS_*)
    alias: str | None = None

    @property
    def display(self) -> str:
        return f"{self.endpoint.display}/{self.bucket}/{self.prefix}".rstrip("/")


def _aws_env_endpoint(url: str) -> EndpointConfig:
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    return EndpointConfig(
        url=url,
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=Secret(secret) if secret else None,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        ca_bundle=os.environ.get("AWS_CA_BUNDLE"),
    )


def _split_bucket(path: str, text: str) -> tuple[str, str]:
    bucket, _, prefix = path.partition("/")
    if not bucket:
        raise UsageError(f"{text!r} names no bucket: use ALIAS/bucket[/prefix]")
    return bucket, prefix


def parse_location(text: str) -> Location:
    if not text:
        raise UsageError("an empty location: use ALIAS/bucket[/prefix] or file:///dir")
    parts = urlsplit(text)
    if parts.scheme == "file":
        path = PurePosixPath(unquote(parts.path))
        if not path.is_absolute() or path == PurePosixPath("/"):
            raise UsageError(f"{text!r}: use file:///absolute/path/to/dir")
        return Location(EndpointConfig(url=f"file://{path.parent}"), path.name)
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not bucket:
            raise UsageError(f"{text!r} names no bucket: use s3://bucket[/prefix]")
        return Location(_aws_env_endpoint(AWS_S3_URL), bucket, parts.path.lstrip("/"))
    if parts.scheme in ("http", "https"):
        if parts.username or parts.password:
            raise UsageError(
                "put credentials in an alias or the environment, not in the location URL"
            )
        base = f"{parts.scheme}://{parts.netloc}"
        bucket, prefix = _split_bucket(parts.path.lstrip("/"), text)
        return Location(_aws_env_endpoint(base), bucket, prefix)
    if "://" in text:
        raise UsageError(
            f"{text!r}: unknown scheme; use ALIAS/bucket, http(s)://, s3:// or file://"
        )
    alias, _, rest = text.partition("/")
    bucket, prefix = _split_bucket(rest, text)
    return Location(get_alias(alias), bucket, prefix, alias=alias)
