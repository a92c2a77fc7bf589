"""A multipart upload an earlier run left unfinished is resumed: the parts it holds with
the same bytes are not sent again (a fault proxy refuses any attempt to), the rest are,
and nothing unfinished is left. A cancelled write leaves its upload for the next run; a
part holding other bytes is sent again; changed attributes are not taken from the old
upload."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from bucketvault.loopback import LoopbackServer
from bucketvault.store import ObjectAttributes
from bucketvault.store.s3 import S3Endpoint
from tests.conftest import boto_client, new_bucket_name
from tests.support.faultproxy import Fault
from tests.support.fixtures import FaultProxyFactory, fault_proxy

__all__ = ["fault_proxy"]

MiB = 1024 * 1024
PART = 5 * MiB
DATA = os.urandom(3 * PART + 1234)  # 4 parts
ATTRIBUTES = ObjectAttributes(content_type="application/x-test", metadata={"v": "1"}, tags={})


def small_parts(cfg: Any) -> S3Endpoint:
    return S3Endpoint(cfg, multipart_threshold=PART, part_size=PART)


async def chunks(data: bytes, hold: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MiB):
        if hold is not None and start >= 2 * PART + MiB:
            await hold.wait()  # a run that stops (paused, interrupted) mid-object
        yield data[start : start + MiB]


def unfinished(server: LoopbackServer, bucket: str) -> list[dict[str, Any]]:
    return list(boto_client(server).list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def refusing_parts(*numbers: int) -> list[Fault]:
    return [
        Fault.error(403, "AccessDenied", method="PUT", query=f"partNumber={n}&") for n in numbers
    ]


async def test_cancelled_upload_is_resumed_without_sending_its_parts_again(
    moto: LoopbackServer, fault_proxy: FaultProxyFactory
) -> None:
    bucket = new_bucket_name()
    boto_client(moto).create_bucket(Bucket=bucket)
    first = small_parts(moto.endpoint())
    hold = asyncio.Event()
    writing = asyncio.create_task(
        first.bucket(bucket).write(
            "big.bin", chunks(DATA, hold), size=len(DATA), attributes=ATTRIBUTES
        )
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the first two parts are stored
        await asyncio.sleep(0.1)
        uploads = unfinished(moto, bucket)
        if uploads:
            parts = boto_client(moto).list_parts(
                Bucket=bucket, Key="big.bin", UploadId=uploads[0]["UploadId"]
            )
            if len(parts.get("Parts", [])) >= 2:
                break
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    await first.close()
    assert len(unfinished(moto, bucket)) == 1, "a cancelled upload is kept for the next run"

    _, proxied = fault_proxy(moto, *refusing_parts(1, 2))
    second = small_parts(proxied)
    try:
        result = await second.bucket(bucket).write(
            "big.bin", chunks(DATA), size=len(DATA), attributes=ATTRIBUTES
        )
    finally:
        await second.close()
    got = boto_client(moto).get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == DATA
    assert result.etag == result.expected_etag
    assert got["Metadata"] == {"v": "1"}
    assert unfinished(moto, bucket) == []


async def test_a_part_with_other_bytes_and_other_uploads(moto: LoopbackServer) -> None:
    """The earlier upload's part 1 holds other bytes: sent again. An older unfinished
    upload of the same key is aborted once the newest completes."""
    bucket = new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=bucket)
    older = client.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    await asyncio.sleep(1.1)  # Initiated has whole seconds
    newer = client.create_multipart_upload(
        Bucket=bucket, Key="big.bin", ContentType="application/x-test", Metadata={"v": "1"}
    )["UploadId"]
    client.upload_part(
        Bucket=bucket, Key="big.bin", UploadId=newer, PartNumber=1, Body=os.urandom(PART)
    )
    client.upload_part(
        Bucket=bucket, Key="big.bin", UploadId=newer, PartNumber=2, Body=DATA[PART : 2 * PART]
    )
    ep = small_parts(moto.endpoint())
    try:
        await ep.bucket(bucket).write(
            "big.bin", chunks(DATA), size=len(DATA), attributes=ATTRIBUTES
        )
    finally:
        await ep.close()
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == DATA
    assert unfinished(moto, bucket) == [], older


async def test_changed_attributes_are_not_taken_from_the_old_upload(moto: LoopbackServer) -> None:
    bucket = new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=bucket)
    stale = client.create_multipart_upload(
        Bucket=bucket, Key="big.bin", ContentType="text/old", Metadata={"v": "0"}
    )["UploadId"]
    client.upload_part(Bucket=bucket, Key="big.bin", UploadId=stale, PartNumber=1, Body=DATA[:PART])
    ep = small_parts(moto.endpoint())
    target = ep.bucket(bucket)
    try:
        for _ in range(2):  # the copy's retry writes it again (WriteOutcomeUnknown)
            try:
                await target.write("big.bin", chunks(DATA), size=len(DATA), attributes=ATTRIBUTES)
                break
            except Exception as exc:
                assert "earlier run began with other attributes" in str(exc)
    finally:
        await ep.close()
    head = client.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentType"] == "application/x-test" and head["Metadata"] == {"v": "1"}
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == DATA
