"""S3Endpoint/S3Bucket against real loopback servers (moto and rclone; SeaweedFS for the
tests marked WITH_SEAWEED)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.errors import (
    AccessDeniedError,
    IntegrityError,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    TransientStoreError,
    UnrepresentableKeyError,
)
from bucketvault.loopback import LoopbackServer, free_port
from bucketvault.store import (
    Bucket,
    ObjectAttributes,
    ObjectInfo,
    RetryPolicy,
    S3Endpoint,
    open_endpoint,
)
from bucketvault.store.s3_data import part_size_for
from bucketvault.store.s3_listing import list_object_pages
from tests.conftest import boto_client, new_bucket_name
from tests.store.conftest import (
    ATTRIBUTES,
    FAST_RETRY,
    WITH_SEAWEED,
    chunks_of,
    list_keys,
    put,
    read_all,
)

MiB = 1024 * 1024


@WITH_SEAWEED
@pytest.mark.parametrize("key", ["attrs/plain.txt", "attrs/\todd"], ids=["plain", "odd"])
async def test_attributes_round_trip(s3: LoopbackServer, s3_bucket: Bucket, key: str) -> None:
    await put(s3_bucket, key, b"payload", ATTRIBUTES)
    expected_tags = None if s3.kind == "rclone" else ATTRIBUTES.tags  # rclone: no tagging
    async with s3_bucket.open(key) as reader:
        got = reader.attributes
        assert reader.info.size == 7
        assert reader.info.etag == hashlib.md5(b"payload").hexdigest()
        assert b"".join([c async for c in reader.chunks()]) == b"payload"
    _, head = await s3_bucket.head(key)
    for attributes in (got, head):
        assert attributes.content_type == ATTRIBUTES.content_type
        assert attributes.content_encoding == ATTRIBUTES.content_encoding
        assert attributes.content_disposition == ATTRIBUTES.content_disposition
        assert attributes.content_language == ATTRIBUTES.content_language
        assert attributes.cache_control == ATTRIBUTES.cache_control
        assert dict(attributes.metadata) == dict(ATTRIBUTES.metadata)
        assert attributes.tags == expected_tags


@WITH_SEAWEED
async def test_untagged_object_reports_no_tags(s3: LoopbackServer, s3_bucket: Bucket) -> None:
    for key in ("plain", "plain\ttab"):
        await put(s3_bucket, key, b"x")
        async with s3_bucket.open(key) as reader:
            assert reader.attributes.tags == (None if s3.kind == "rclone" else {})


@WITH_SEAWEED
async def test_multipart_write_etag_matches_expected(s3: LoopbackServer) -> None:
    endpoint = S3Endpoint(s3.endpoint(), retry_policy=FAST_RETRY)
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        data = os.urandom(40 * MiB + 17)
        result = await bucket.write(
            "big/object.bin", chunks_of(data, 3 * MiB + 1), size=len(data), attributes=ATTRIBUTES
        )
        digests = [
            hashlib.md5(data[i : i + 16 * MiB]).digest() for i in range(0, len(data), 16 * MiB)
        ]
        assert result.expected_etag == hashlib.md5(b"".join(digests)).hexdigest() + "-3"
        assert result.etag == result.expected_etag
        received = hashlib.md5()
        async with bucket.open("big/object.bin") as reader:
            async for chunk in reader.chunks():
                assert len(chunk) <= 8 * MiB
                received.update(chunk)
        assert received.hexdigest() == hashlib.md5(data).hexdigest()
        _, attributes = await bucket.head("big/object.bin")
        assert dict(attributes.metadata) == dict(ATTRIBUTES.metadata)
    finally:
        await endpoint.close()


@WITH_SEAWEED
async def test_failed_multipart_write_leaves_no_upload(
    s3: LoopbackServer, s3_bucket: Bucket
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(17 * MiB)
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError):
        await s3_bucket.write("broken", broken(), size=40 * MiB, attributes=ObjectAttributes())
    uploads = boto_client(s3).list_multipart_uploads(Bucket=s3_bucket.name)
    assert uploads.get("Uploads", []) == []
    assert await list_keys(s3_bucket) == []


@WITH_SEAWEED
async def test_source_size_mismatch_is_an_integrity_error(s3_bucket: Bucket) -> None:
    with pytest.raises(IntegrityError):
        await s3_bucket.write("short", chunks_of(b"abc"), size=4, attributes=ObjectAttributes())
    assert await list_keys(s3_bucket) == []


def test_part_size_grows_beyond_10000_parts() -> None:
    assert part_size_for(100 * MiB, 16 * MiB) == 16 * MiB
    big = 5 * 1024 * 1024 * MiB  # 5 TiB
    size = part_size_for(big, 16 * MiB)
    assert size % MiB == 0 and -(-big // size) <= 10_000


# Keys whose UTF-8 byte order differs from naive or per-directory order:
# '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30); 'Z' < 'a'; é (0xc3) < 😀 (0xf0).
ORDER_KEYS = ["a/b", "a-b", "a0", "a.b", "Z", "a b", "é", "\U0001f600", "aa/b/c", "a~", "ab"]


async def test_listing_is_in_utf8_byte_order(s3_bucket: Bucket) -> None:
    for key in ORDER_KEYS:
        await put(s3_bucket, key, key.encode())
    expected = sorted(ORDER_KEYS, key=lambda k: k.encode())
    assert expected[:6] == ["Z", "a b", "a-b", "a.b", "a/b", "a0"]
    assert await list_keys(s3_bucket) == expected
    assert await list_keys(s3_bucket, start_after="a.b") == expected[4:]


@pytest.mark.parametrize("s3", ["seaweed"], indirect=True)
async def test_listing_out_of_byte_order_is_refused(
    s3_endpoint: S3Endpoint, s3_bucket: Bucket
) -> None:
    """SeaweedFS lists a directory tree: `a/b` before `a-b` (and `a b`, `a.b`). A bucket
    is listed folder by folder, so at one level the two come apart (`a-b`, then the
    folder `a/`) and in order; inside a folder a plain listing shows the tree order,
    which is refused, never handed to a merge that relies on UTF-8 byte order."""
    for key in ("top/a-b", "top/a/b", "x/w", "x/y/a-b", "x/y/a/b"):
        await put(s3_bucket, key, b"x")
    assert await list_keys(s3_endpoint.bucket(s3_bucket.name, "top/")) == ["a-b", "a/b"]
    with pytest.raises(PermanentStoreError, match="does not sort keys by UTF-8 bytes"):
        await list_keys(s3_endpoint.bucket(s3_bucket.name, "x/"))
    with pytest.raises(PermanentStoreError, match="does not sort keys by UTF-8 bytes"):
        await list_keys(s3_bucket)


async def in_pages_of_two(endpoint: S3Endpoint, bucket: Bucket) -> AsyncIterator[ObjectInfo]:
    pages = list_object_pages(
        endpoint.wire,
        where=endpoint.where(bucket.name),
        prefix="",
        start_after=None,
        page_size=2,
    )
    async with contextlib.aclosing(pages):
        async for page in pages:
            for info in page:
                yield info


async def test_listing_pages_and_prefix(s3_endpoint: S3Endpoint, s3_bucket: Bucket) -> None:
    for key in ORDER_KEYS:
        await put(s3_bucket, key, b"x")
    paged = [info.key async for info in in_pages_of_two(s3_endpoint, s3_bucket)]
    assert paged == sorted(ORDER_KEYS, key=lambda k: k.encode())
    narrowed = s3_endpoint.bucket(s3_bucket.name, "a")
    assert await list_keys(narrowed) == [" b", "-b", ".b", "/b", "0", "a/b/c", "b", "~"]
    assert await read_all(narrowed, "/b") == b"x"
    assert narrowed.display.endswith(f"/{s3_bucket.name}/a")


@WITH_SEAWEED
async def test_bucket_lifecycle(s3_endpoint: S3Endpoint) -> None:
    name = new_bucket_name()
    bucket = s3_endpoint.bucket(name)
    assert not await bucket.exists()
    await bucket.create()
    await bucket.create()  # idempotent
    assert await bucket.exists()
    assert name in await s3_endpoint.list_buckets()
    await put(bucket, "k", b"v")
    await bucket.delete("k")
    await bucket.delete("k")  # deleting a missing key is fine
    await s3_endpoint.delete_bucket(name)
    assert not await bucket.exists()


@WITH_SEAWEED
async def test_missing_bucket_and_key(s3_endpoint: S3Endpoint, s3_bucket: Bucket) -> None:
    missing = s3_endpoint.bucket(new_bucket_name("missing"))
    with pytest.raises(NoSuchBucketError, match="does not exist"):
        await list_keys(missing)
    with pytest.raises(NoSuchKeyError):
        async with s3_bucket.open("nope"):
            pass
    with pytest.raises(NoSuchKeyError):
        async with s3_bucket.open("nope\ttab"):
            pass
    with pytest.raises(NoSuchKeyError):
        await s3_bucket.head("nope")


@WITH_SEAWEED
async def test_keys_over_1024_bytes_are_unrepresentable(s3_bucket: Bucket) -> None:
    assert s3_bucket.unrepresentable("k" * 1024) is None
    reason = s3_bucket.unrepresentable("k" * 1025)
    assert reason is not None and "1024" in reason
    with pytest.raises(UnrepresentableKeyError):
        await put(s3_bucket, "k" * 1025, b"x")


@pytest.mark.parametrize("kind", ["rclone", "seaweed"])
async def test_wrong_secret_is_access_denied(request: pytest.FixtureRequest, kind: str) -> None:
    # moto_server does not check signatures, so only rclone and SeaweedFS can show this
    server: LoopbackServer = request.getfixturevalue(kind)
    cfg = EndpointConfig(
        url=server.url,
        access_key_id=server.access_key,
        secret_access_key=Secret("not-the-secret-at-all"),
    )
    endpoint = open_endpoint(cfg, retry_policy=FAST_RETRY)
    try:
        with pytest.raises(AccessDeniedError) as caught:
            await endpoint.check()
        message = str(caught.value)
        assert "check the access key and secret key" in message and server.url in message
        assert "not-the-secret-at-all" not in message and "\n" not in message
        bucket = endpoint.bucket("anything")
        with pytest.raises(AccessDeniedError):
            await put(bucket, "fast-key", b"x")
        with pytest.raises(AccessDeniedError):
            await list_keys(bucket)
    finally:
        await endpoint.close()


async def test_closed_port_is_a_clear_unreachable_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    endpoint = S3Endpoint(
        EndpointConfig(url=url, access_key_id="key-id", secret_access_key=Secret("s3cr3t-value")),
        retry_policy=RetryPolicy(attempts=1),
    )
    try:
        with pytest.raises(TransientStoreError) as caught:
            await endpoint.check()
        assert str(caught.value) == (
            f"cannot reach {url}: connection refused — is the server running?"
        )
        with pytest.raises(TransientStoreError, match="cannot reach"):
            await read_all(endpoint.bucket("b"), "fast-key")
    finally:
        await endpoint.close()


def test_display_never_shows_credentials(s3: LoopbackServer) -> None:
    endpoint = S3Endpoint(s3.endpoint())
    assert endpoint.display == s3.url
    assert endpoint.bucket("b", "p/").display == f"{s3.url}/b/p/"
    assert s3.secret_key not in repr(endpoint.cfg)


async def test_listing_stopped_early_leaves_no_page_in_flight(
    s3_endpoint: S3Endpoint, s3_bucket: Bucket
) -> None:
    for key in ORDER_KEYS:
        await put(s3_bucket, key, b"x")
    listing = in_pages_of_two(s3_endpoint, s3_bucket)
    first = await anext(listing)  # page 2 is being fetched ahead by now
    await listing.aclose()
    assert first.key == sorted(ORDER_KEYS, key=lambda k: k.encode())[0]
    for task in asyncio.all_tasks():
        assert "list_pages" not in repr(task.get_coro()) or task.done() or task.cancelling(), (
            repr(task),
            task.cancelling(),
        )
