"""Streamed single PUTs (objects of known MD5 between the stream threshold and the
single-PUT limit), against real moto and rclone servers (and SeaweedFS where marked).

The endpoints here stream every write that names its MD5, whatever its size, so small
bodies exercise the same path the large ones take.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bucketvault.errors import IntegrityError
from bucketvault.loopback import LoopbackServer
from bucketvault.store import Bucket, ObjectAttributes, S3Endpoint
from tests.conftest import new_bucket_name
from tests.store.conftest import (
    ATTRIBUTES,
    FAST_RETRY,
    WITH_SEAWEED,
    chunks_of,
    list_keys,
    read_all,
)

MiB = 1024 * 1024


@pytest_asyncio.fixture(loop_scope="function")
async def streaming(s3: LoopbackServer) -> AsyncIterator[Bucket]:
    endpoint = S3Endpoint(s3.endpoint(), retry_policy=FAST_RETRY, stream_threshold=0)
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        yield bucket
    finally:
        await endpoint.close()


@WITH_SEAWEED
async def test_streamed_put_keeps_bytes_and_attributes(
    s3: LoopbackServer, streaming: Bucket
) -> None:
    data = os.urandom(3 * MiB + 17)
    md5 = hashlib.md5(data).hexdigest()
    result = await streaming.write(
        "big/object.bin",
        chunks_of(data, MiB),
        size=len(data),
        attributes=ATTRIBUTES,
        content_md5=md5,
    )
    assert result.etag == md5 == result.expected_etag  # one PUT: the ETag is the MD5
    assert await read_all(streaming, "big/object.bin") == data
    info, attributes = await streaming.head("big/object.bin")
    assert info.size == len(data)
    assert attributes.content_type == ATTRIBUTES.content_type
    assert attributes.content_disposition == ATTRIBUTES.content_disposition
    assert attributes.content_language == ATTRIBUTES.content_language
    assert attributes.cache_control == ATTRIBUTES.cache_control
    assert dict(attributes.metadata) == dict(ATTRIBUTES.metadata)
    assert attributes.tags == (None if s3.kind == "rclone" else ATTRIBUTES.tags)


ODD_KEYS = ["a//b", "./dot", "x/../y", "/leading", "trailing/", "sp ace+%2B", "é/😀", "k" * 1024]


async def test_streamed_put_keeps_odd_keys_exactly(moto: LoopbackServer) -> None:
    endpoint = S3Endpoint(moto.endpoint(), retry_policy=FAST_RETRY, stream_threshold=0)
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        for key in ODD_KEYS:
            body = key.encode()
            await bucket.write(
                key,
                chunks_of(body),
                size=len(body),
                attributes=ObjectAttributes(),
                content_md5=hashlib.md5(body).hexdigest(),
            )
        assert await list_keys(bucket) == sorted(ODD_KEYS, key=lambda k: k.encode())
        for key in ODD_KEYS:
            assert await read_all(bucket, key) == key.encode()
    finally:
        await endpoint.close()


@WITH_SEAWEED
async def test_bytes_that_do_not_match_the_md5_are_not_stored(streaming: Bucket) -> None:
    # rclone checks Content-MD5 and refuses the body (BadDigest); moto does not check it
    # on a streamed body, so the store sees the ETag differ and deletes what was stored
    data = os.urandom(MiB)
    wrong = hashlib.md5(data + b"!").hexdigest()
    with pytest.raises(IntegrityError, match="does not match its checksum"):
        await streaming.write(
            "bad", chunks_of(data), size=len(data), attributes=ObjectAttributes(), content_md5=wrong
        )
    assert await list_keys(streaming) == []


@WITH_SEAWEED
@pytest.mark.parametrize("size", [10, 6 * MiB], ids=["buffered", "multipart"])
async def test_other_write_paths_refuse_bytes_that_do_not_match_the_md5(
    s3: LoopbackServer, size: int
) -> None:
    endpoint = S3Endpoint(
        s3.endpoint(), retry_policy=FAST_RETRY, multipart_threshold=5 * MiB, part_size=5 * MiB
    )
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        data = os.urandom(size)
        with pytest.raises(IntegrityError, match="does not match its checksum"):
            await bucket.write(
                "bad",
                chunks_of(data, MiB),
                size=size,
                attributes=ObjectAttributes(),
                content_md5=hashlib.md5(b"other").hexdigest(),
            )
        assert await list_keys(bucket) == []
    finally:
        await endpoint.close()


@WITH_SEAWEED
@pytest.mark.parametrize("announced", [MiB + 1, MiB - 1], ids=["body-short", "body-long"])
async def test_body_of_the_wrong_size_stores_nothing(streaming: Bucket, announced: int) -> None:
    data = os.urandom(MiB)
    with pytest.raises(IntegrityError, match="bytes announced"):
        await streaming.write(
            "sized",
            chunks_of(data, 256 * 1024),
            size=announced,
            attributes=ObjectAttributes(),
            content_md5=hashlib.md5(data).hexdigest(),
        )
    assert await list_keys(streaming) == []


async def test_without_a_known_md5_large_objects_go_multipart(s3: LoopbackServer) -> None:
    endpoint = S3Endpoint(
        s3.endpoint(),
        retry_policy=FAST_RETRY,
        stream_threshold=0,
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
    )
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        data = os.urandom(6 * MiB)
        result = await bucket.write(
            "multi", chunks_of(data, MiB), size=len(data), attributes=ObjectAttributes()
        )
        assert result.etag.endswith("-2") and result.etag == result.expected_etag
        assert await read_all(bucket, "multi") == data
    finally:
        await endpoint.close()
