"""Server-side encryption headers: what every write (and, for SSE-C, every read) of an
encrypted store carries. The SSE-C key is read once from its 0600 file and lives only in
these headers; it is never logged or shown."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bucketvault.config.endpoint import Encryption
from bucketvault.errors import ConfigError

_SSE = "x-amz-server-side-encryption"
_CUSTOMER = "x-amz-server-side-encryption-customer-"


@dataclass(frozen=True, slots=True)
class SseHeaders:
    """`object_write`: PutObject and CreateMultipartUpload; `data`: UploadPart, GetObject
    and HeadObject (SSE-C only: the key must come with every request on the object)."""

    object_write: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    etag_is_md5: bool = True


def sse_headers(encryption: Encryption | None) -> SseHeaders:
    if encryption is None:
        return SseHeaders()
    if encryption.mode == "s3":
        return SseHeaders(object_write={_SSE: "AES256"})
    if encryption.mode == "kms":
        headers = {_SSE: "aws:kms"}
        if encryption.kms_key_id:
            headers[f"{_SSE}-aws-kms-key-id"] = encryption.kms_key_id
        return SseHeaders(object_write=headers, etag_is_md5=False)
    assert encryption.key_file is not None
    key = read_key(Path(encryption.key_file))
    customer = {
        f"{_CUSTOMER}algorithm": "AES256",
        f"{_CUSTOMER}key": base64.b64encode(key).decode(),
        f"{_CUSTOMER}key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }
    return SseHeaders(object_write=dict(customer), data=customer, etag_is_md5=False)


def read_key(path: Path) -> bytes:
    """A 256-bit SSE-C key from a file only its owner can read: 32 raw bytes, or their
    base64 (whitespace around it ignored)."""
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the SSE-C key file {path}: {exc.strerror}; pass an existing file"
        ) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the SSE-C key file {path} can be read by others: chmod 600 {path}")
    if len(raw) == 32:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"the SSE-C key file {path} holds no 256-bit key: write 32 random bytes or "
            "their base64 (e.g. `openssl rand 32 > FILE`)"
        )
    return key
