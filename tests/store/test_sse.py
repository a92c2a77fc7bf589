"""Server-side encryption on a real S3 server (moto): SSE-S3, SSE-KMS with a key id and
SSE-C with a key from a 0600 file, on every write path (buffered, streamed, multipart),
read back through the same store; the key file's rules."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bucketvault.config.endpoint import Encryption
from bucketvault.errors import ConfigError, StoreError
from bucketvault.loopback import LoopbackServer
from bucketvault.store import ObjectAttributes
from bucketvault.store.s3 import S3Endpoint
from bucketvault.store.s3_sse import read_key
from tests.conftest import boto_client, new_bucket_name

MiB = 1024 * 1024
# buffered (below the stream threshold), streamed (known MD5), multipart (above the
# multipart threshold without a known MD5)
WRITES = {"buffered": (1000, True), "streamed": (2 * MiB + 3, True), "multipart": (6 * MiB, False)}


def kms_key(moto: LoopbackServer) -> str:
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=moto.url,
        aws_access_key_id=moto.access_key,
        aws_secret_access_key=moto.secret_key,
        region_name="us-east-1",
    )
    return str(kms.create_key()["KeyMetadata"]["KeyId"])


def key_file(tmp_path: Path, mode: int = 0o600, *, encoded: bool = False) -> Path:
    path = tmp_path / "sse-c.key"
    key = os.urandom(32)
    path.write_bytes(base64.b64encode(key) + b"\n" if encoded else key)
    path.chmod(mode)
    return path


def endpoint(moto: LoopbackServer, encryption: Encryption) -> S3Endpoint:
    cfg = dataclasses.replace(moto.endpoint(), encryption=encryption)
    return S3Endpoint(cfg, multipart_threshold=5 * MiB, part_size=5 * MiB)


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MiB):
        yield data[start : start + MiB]


@pytest.mark.parametrize(("mode", "server"), [("s3", "moto"), ("kms", "moto"), ("c", "seaweed")])
async def test_every_write_path_is_encrypted_and_reads_back(
    request: pytest.FixtureRequest, tmp_path: Path, mode: str, server: str
) -> None:
    moto: LoopbackServer = request.getfixturevalue(server)
    encryption = {
        "s3": lambda: Encryption("s3"),
        "kms": lambda: Encryption("kms", kms_key_id=kms_key(moto)),
        "c": lambda: Encryption("c", key_file=str(key_file(tmp_path, encoded=True))),
    }[mode]()
    customer_key = read_key(Path(encryption.key_file)) if encryption.key_file else b""
    ep = endpoint(moto, encryption)
    bucket = ep.bucket(new_bucket_name())
    await bucket.create()
    client = boto_client(moto)
    try:
        for name, (size, known_md5) in WRITES.items():
            data = os.urandom(size)
            md5 = hashlib.md5(data).hexdigest() if known_md5 else None
            attributes = ObjectAttributes(content_type="text/x-sse", metadata={"k": "v"}, tags={})
            await bucket.write(
                name, chunks(data), size=size, attributes=attributes, content_md5=md5
            )
            async with bucket.open(name) as reader:
                assert b"".join([c async for c in reader.chunks()]) == data, name
                assert reader.attributes.metadata == {"k": "v"}
            info, _ = await bucket.head(name)
            assert info.size == size
            extra: dict[str, Any] = {}
            if mode == "c":
                extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key}
            head = client.head_object(Bucket=bucket.name, Key=name, **extra)
            if mode == "c":
                assert head.get("SSECustomerAlgorithm") == "AES256", (name, head)
            else:
                want = "AES256" if mode == "s3" else "aws:kms"
                assert head.get("ServerSideEncryption") == want, (name, head)
            if mode == "kms":
                assert encryption.kms_key_id and encryption.kms_key_id in head["SSEKMSKeyId"]
    finally:
        await ep.close()


async def test_sse_c_object_is_not_readable_without_its_key(
    seaweed: LoopbackServer, tmp_path: Path
) -> None:
    """moto ignores SSE-C; SeaweedFS keeps it as S3 does."""
    moto = seaweed
    ep = endpoint(moto, Encryption("c", key_file=str(key_file(tmp_path))))
    plain = S3Endpoint(moto.endpoint())
    bucket = ep.bucket(new_bucket_name())
    await bucket.create()
    try:
        await bucket.write("x", chunks(b"secret"), size=6, attributes=ObjectAttributes(tags={}))
        with pytest.raises(StoreError):
            async with plain.bucket(bucket.name).open("x") as reader:
                async for _ in reader.chunks():
                    pass
    finally:
        await ep.close()
        await plain.close()


def test_key_file_rules(tmp_path: Path, moto: LoopbackServer) -> None:
    with pytest.raises(ConfigError, match="chmod 600"):
        endpoint(moto, Encryption("c", key_file=str(key_file(tmp_path, 0o644))))
    short = tmp_path / "short.key"
    short.write_bytes(b"too short")
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="no 256-bit key"):
        endpoint(moto, Encryption("c", key_file=str(short)))
    with pytest.raises(ConfigError, match="cannot read"):
        endpoint(moto, Encryption("c", key_file=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="--sse-c-key-file"):
        Encryption("c")
    with pytest.raises(ConfigError, match="not one of"):
        Encryption("aes")
