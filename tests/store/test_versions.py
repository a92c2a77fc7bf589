"""Object versions and Object Lock against real servers: moto keeps both like AWS,
rclone serve s3 keeps neither (and says so), local directories and memory keep neither."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bucketvault.errors import (
    ErrorClass,
    NoSuchBucketError,
    NoSuchKeyError,
    ObjectLockedError,
    UnsupportedError,
    UsageError,
    classify,
)
from bucketvault.loopback import LoopbackServer
from bucketvault.store import Bucket, LocalEndpoint, S3Endpoint, sort_key
from bucketvault.store.memory import MemoryEndpoint
from bucketvault.store.model import ObjectLock, VersionInfo, Versioning, WriteResult
from bucketvault.store.s3_bucket import S3Bucket
from bucketvault.store.s3_errors import Where, from_response
from bucketvault.store.s3_versions import list_versions
from tests.conftest import boto_client, new_bucket_name
from tests.store.conftest import ATTRIBUTES, FAST_RETRY, chunks_of, list_keys, read_all

MiB = 1024 * 1024
LOCK = ObjectLock("GOVERNANCE", 1)


def small_endpoint(server: LoopbackServer) -> S3Endpoint:
    """Multipart from 5 MiB (parts of 5 MiB), streamed PUTs from 1 MiB."""
    return S3Endpoint(
        server.endpoint(),
        retry_policy=FAST_RETRY,
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
        stream_threshold=1 * MiB,
    )


@pytest_asyncio.fixture(loop_scope="function")
async def moto_endpoint(moto: LoopbackServer) -> AsyncIterator[S3Endpoint]:
    endpoint = small_endpoint(moto)
    try:
        yield endpoint
    finally:
        await endpoint.close()


@pytest_asyncio.fixture(loop_scope="function")
async def rclone_endpoint(rclone: LoopbackServer) -> AsyncIterator[S3Endpoint]:
    endpoint = small_endpoint(rclone)
    try:
        yield endpoint
    finally:
        await endpoint.close()


@pytest_asyncio.fixture(loop_scope="function")
async def versioned(moto_endpoint: S3Endpoint) -> S3Bucket:
    bucket = moto_endpoint.bucket(new_bucket_name("v"))
    await bucket.create()
    assert await bucket.enable_versioning() is Versioning.ENABLED
    return bucket


@dataclass(frozen=True)
class WritePath:
    """One of S3Bucket.write's paths: which key, size and MD5 knowledge lead to it."""

    key: str
    size: int
    with_md5: bool


# sizes against small_endpoint's thresholds; `a//b` is a key some servers rename
WRITE_PATHS = {
    "buffered": WritePath("fast/object", 1000, False),
    "buffered-odd-key": WritePath("a//b", 1000, True),
    "streamed": WritePath("streamed/object", 2 * MiB + 3, True),
    "multipart": WritePath("multi/object", 6 * MiB + 5, False),
}


async def write(bucket: Bucket, key: str, data: bytes, *, with_md5: bool) -> WriteResult:
    return await bucket.write(
        key,
        chunks_of(data, 1 * MiB),
        size=len(data),
        attributes=ATTRIBUTES,
        content_md5=hashlib.md5(data).hexdigest() if with_md5 else None,
    )


async def versions(bucket: Bucket, prefix: str = "") -> list[VersionInfo]:
    return [info async for info in bucket.list_versions(prefix=prefix)]


async def read_version(bucket: Bucket, key: str, version_id: str) -> bytes:
    async with bucket.open(key, version_id=version_id) as reader:
        # ObjectInfo, like WriteResult, says None for S3's "null" version
        assert reader.info.version_id == (None if version_id == "null" else version_id)
        return b"".join([chunk async for chunk in reader.chunks()])


# -- moto: versions --------------------------------------------------------------------


async def test_versioning_is_off_until_enabled(moto_endpoint: S3Endpoint) -> None:
    bucket = moto_endpoint.bucket(new_bucket_name())
    await bucket.create()
    assert await bucket.versioning() is Versioning.OFF
    assert await bucket.object_lock() is None
    result = await write(bucket, "k", b"unversioned", with_md5=False)
    assert result.version_id is None  # moto says "null": no version id
    assert await bucket.enable_versioning() is Versioning.ENABLED
    assert await bucket.versioning() is Versioning.ENABLED
    assert await bucket.enable_versioning() is Versioning.ENABLED  # idempotent


@pytest.mark.parametrize("path", list(WRITE_PATHS.values()), ids=list(WRITE_PATHS))
async def test_versions_on_every_write_path(versioned: S3Bucket, path: WritePath) -> None:
    old, new = os.urandom(path.size), os.urandom(path.size)
    first = await write(versioned, path.key, old, with_md5=path.with_md5)
    second = await write(versioned, path.key, new, with_md5=path.with_md5)
    assert first.version_id and second.version_id and first.version_id != second.version_id
    await versioned.delete(path.key)

    listed = await versions(versioned)
    assert [(v.key, v.delete_marker, v.is_latest) for v in listed] == [
        (path.key, True, True),
        (path.key, False, False),
        (path.key, False, False),
    ]
    marker, newer, older = listed
    assert (newer.version_id, older.version_id) == (second.version_id, first.version_id)
    assert (marker.size, marker.etag) == (0, "")
    assert (older.size, older.etag) == (path.size, first.etag)
    assert newer.last_modified >= older.last_modified

    # the old version reads back whole, with its attributes and tags
    async with versioned.open(path.key, version_id=older.version_id) as reader:
        assert reader.info.version_id == older.version_id
        assert reader.info.size == path.size
        assert reader.attributes.content_type == ATTRIBUTES.content_type
        assert dict(reader.attributes.metadata) == dict(ATTRIBUTES.metadata)
        assert reader.attributes.tags == ATTRIBUTES.tags
        assert b"".join([c async for c in reader.chunks()]) == old
    with pytest.raises(NoSuchKeyError):  # the latest is the delete marker
        await read_all(versioned, path.key)

    # deleting one version removes exactly that one
    await versioned.delete(path.key, version_id=older.version_id)
    assert [v.version_id for v in await versions(versioned)] == [
        marker.version_id,
        newer.version_id,
    ]
    # and deleting the delete marker brings the newer version back
    await versioned.delete(path.key, version_id=marker.version_id)
    assert await read_all(versioned, path.key) == new
    assert [(v.version_id, v.is_latest) for v in await versions(versioned)] == [
        (newer.version_id, True)
    ]


async def test_delete_marker_version_has_no_content(versioned: S3Bucket) -> None:
    await write(versioned, "gone", b"x", with_md5=False)
    await versioned.delete("gone")
    marker = (await versions(versioned))[0]
    assert marker.delete_marker
    with pytest.raises(NoSuchKeyError):
        await read_version(versioned, "gone", marker.version_id)
    with pytest.raises(NoSuchKeyError):
        await read_version(versioned, "gone", "no-such-version")


ODD_KEYS = ["a//b", "/lead", "trail/", "a/./b", "sp ace+plus%25", "tab\there", "é/\U0001f600"]


async def test_odd_keys_keep_their_versions(versioned: S3Bucket) -> None:
    written: dict[str, list[str]] = {}
    for key in ODD_KEYS:
        for n in (1, 2):
            result = await write(versioned, key, f"{key}#{n}".encode(), with_md5=False)
            assert result.version_id is not None
            written.setdefault(key, []).append(result.version_id)
    listed = await versions(versioned)
    assert [v.key for v in listed] == [k for k in sorted(ODD_KEYS, key=sort_key) for _ in (1, 2)]
    for key in ODD_KEYS:
        ids = [v.version_id for v in listed if v.key == key]
        assert ids == written[key][::-1]  # newest first
        assert await read_version(versioned, key, written[key][0]) == f"{key}#1".encode()
        await versioned.delete(key, version_id=written[key][1])
        assert await read_all(versioned, key) == f"{key}#1".encode()
    assert sorted(await list_keys(versioned), key=sort_key) == sorted(ODD_KEYS, key=sort_key)


async def test_version_listing_pages_prefixes_and_order(
    moto_endpoint: S3Endpoint, versioned: S3Bucket
) -> None:
    keys = ["p/b", "p/a", "p-x", "q", "p/a/z"]
    for key in keys:
        for n in range(3):
            await write(versioned, key, f"{n}".encode(), with_md5=False)
        if key != "q":
            await versioned.delete(key)
    whole = await versions(versioned)
    assert len(whole) == 3 * len(keys) + len(keys) - 1
    assert [v.key for v in whole] == sorted((v.key for v in whole), key=sort_key)
    for key in keys:
        mine = [v for v in whole if v.key == key]
        assert [v.is_latest for v in mine] == [True] + [False] * (len(mine) - 1)
        assert mine[0].delete_marker == (key != "q")
        assert [v.last_modified for v in mine] == sorted(
            (v.last_modified for v in mine), reverse=True
        )
    # pages of two split keys' versions across pages: the same listing
    for size in (1, 2, 3):
        paged = [v async for v in list_versions(versioned, page_size=size)]
        assert paged == whole, size
    # a prefix narrows the listing; a bucket's prefix makes keys relative to it
    assert [v.key for v in await versions(versioned, "p/a")] == ["p/a"] * 4 + ["p/a/z"] * 4
    narrowed = moto_endpoint.bucket(versioned.name, "p/")
    relative = await versions(narrowed)
    assert [v.key for v in relative] == ["a"] * 4 + ["a/z"] * 4 + ["b"] * 4
    assert [v.key for v in await versions(narrowed, "a/")] == ["a/z"] * 4
    oldest = relative[3]
    assert await read_version(narrowed, "a", oldest.version_id) == b"0"


async def test_suspended_versioning_writes_null_versions(
    moto: LoopbackServer, versioned: S3Bucket
) -> None:
    boto_client(moto).put_bucket_versioning(
        Bucket=versioned.name, VersioningConfiguration={"Status": "Suspended"}
    )
    assert await versioned.versioning() is Versioning.SUSPENDED
    result = await write(versioned, "k", b"null version", with_md5=False)
    assert result.version_id is None
    (listed,) = await versions(versioned)
    assert listed.version_id == "null"  # S3's own id for it, passed back as it is
    assert await read_version(versioned, "k", "null") == b"null version"


async def test_missing_bucket(moto_endpoint: S3Endpoint) -> None:
    missing = moto_endpoint.bucket(new_bucket_name("missing"))
    with pytest.raises(NoSuchBucketError):
        await missing.versioning()
    with pytest.raises(NoSuchBucketError):
        await missing.enable_versioning()
    with pytest.raises(NoSuchBucketError):
        await versions(missing)


# -- moto: Object Lock -----------------------------------------------------------------


async def test_object_lock_bucket(moto_endpoint: S3Endpoint) -> None:
    bucket = moto_endpoint.bucket(new_bucket_name("lock"))
    await bucket.create(object_lock=LOCK)
    await bucket.create(object_lock=LOCK)  # already so: quiet
    await bucket.create()  # a plain create of an existing bucket is quiet too
    assert await bucket.object_lock() == LOCK
    assert await bucket.versioning() is Versioning.ENABLED

    # every write path works (default retention refuses a PUT without Content-MD5;
    # every write sends one)
    results: dict[str, WriteResult] = {}
    for name, path in WRITE_PATHS.items():
        data = os.urandom(path.size)
        results[name] = await write(bucket, path.key, data, with_md5=path.with_md5)
        assert await read_all(bucket, path.key) == data
    listed = {v.key: v for v in await versions(bucket)}
    for name, path in WRITE_PATHS.items():
        assert results[name].version_id == listed[path.key].version_id, name

    # a retained version cannot be deleted; a delete marker can be added and removed
    fast = WRITE_PATHS["buffered"].key
    version = results["buffered"].version_id
    assert version is not None
    with pytest.raises(ObjectLockedError, match="retained by Object Lock") as caught:
        await bucket.delete(fast, version_id=version)
    assert classify(caught.value) is ErrorClass.PERMANENT
    await bucket.delete(fast)
    marker = (await versions(bucket, fast))[0]
    assert marker.delete_marker
    await bucket.delete(fast, version_id=marker.version_id)
    assert [v.version_id for v in await versions(bucket, fast)] == [version]


async def test_object_lock_on_an_existing_plain_bucket_is_refused(
    moto_endpoint: S3Endpoint,
) -> None:
    bucket = moto_endpoint.bucket(new_bucket_name())
    await bucket.create()
    with pytest.raises(UnsupportedError, match="existing bucket") as caught:
        await bucket.create(object_lock=LOCK)
    assert moto_endpoint.url in str(caught.value)
    assert await bucket.exists()  # not ours to remove
    assert await bucket.object_lock() is None


def test_object_lock_is_checked() -> None:
    with pytest.raises(UsageError, match="GOVERNANCE"):
        ObjectLock("governance", 1)
    with pytest.raises(UsageError, match="at least 1 day"):
        ObjectLock("COMPLIANCE", 0)


# -- rclone: no versions, no Object Lock -------------------------------------------------


async def test_rclone_keeps_no_versions(rclone_endpoint: S3Endpoint) -> None:
    bucket = rclone_endpoint.bucket(new_bucket_name())
    await bucket.create()
    # rclone answers GetBucketVersioning like a never-versioned bucket, and 501 to the
    # version listing that tells the two apart
    assert await bucket.versioning() is Versioning.UNSUPPORTED
    assert await bucket.enable_versioning() is Versioning.UNSUPPORTED
    assert await bucket.versioning() is Versioning.UNSUPPORTED
    assert await bucket.object_lock() is None
    for path in WRITE_PATHS.values():
        if path.key == "a//b":
            continue  # rclone cannot hold that key (test_key_corpus)
        result = await write(bucket, path.key, os.urandom(path.size), with_md5=path.with_md5)
        assert result.version_id is None
    with pytest.raises(UnsupportedError, match="keeps no object versions"):
        await versions(bucket)
    with pytest.raises(UnsupportedError, match="keeps no object versions"):
        await read_version(bucket, "fast/object", "some-version")
    with pytest.raises(UnsupportedError, match="keeps no object versions"):
        await bucket.delete("fast/object", version_id="some-version")
    assert len(await read_all(bucket, "fast/object")) == 1000


async def test_rclone_refuses_object_lock_and_leaves_no_bucket(
    rclone_endpoint: S3Endpoint,
) -> None:
    bucket = rclone_endpoint.bucket(new_bucket_name("lock"))
    with pytest.raises(UnsupportedError, match="cannot create bucket") as caught:
        await bucket.create(object_lock=LOCK)
    assert rclone_endpoint.url in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not await bucket.exists()


# -- local directory and memory: no versions, no Object Lock -----------------------------


@pytest_asyncio.fixture(loop_scope="function", params=["local", "memory"])
async def plain(request: pytest.FixtureRequest, tmp_path: Path) -> Bucket:
    bucket: Bucket
    if request.param == "local":
        bucket = LocalEndpoint(tmp_path).bucket("b")
    else:
        bucket = MemoryEndpoint().bucket("b")
    await bucket.create()
    return bucket


async def test_local_and_memory_keep_no_versions(plain: Bucket) -> None:
    assert await plain.versioning() is Versioning.UNSUPPORTED
    assert await plain.enable_versioning() is Versioning.UNSUPPORTED
    assert await plain.object_lock() is None
    result = await write(plain, "k", b"data", with_md5=False)
    assert result.version_id is None
    with pytest.raises(UnsupportedError, match="no object versions"):
        await versions(plain)
    with pytest.raises(UnsupportedError, match="no object versions"):
        await read_version(plain, "k", "v1")
    with pytest.raises(UnsupportedError, match="no object versions"):
        await plain.delete("k", version_id="v1")
    with pytest.raises(UnsupportedError, match="Object Lock"):
        await plain.create(object_lock=LOCK)
    assert await read_all(plain, "k") == b"data"  # nothing was touched


async def test_local_object_lock_creates_no_bucket(tmp_path: Path) -> None:
    bucket = LocalEndpoint(tmp_path).bucket("locked")
    with pytest.raises(UnsupportedError):
        await bucket.create(object_lock=LOCK)
    assert not await bucket.exists()


# -- translation ---------------------------------------------------------------------------


def test_not_implemented_is_unsupported() -> None:
    where = Where("http://127.0.0.1:1", "b")
    for code, status in (("NotImplemented", 501), ("", 501)):
        error = from_response(code, status, where)
        assert isinstance(error, UnsupportedError)
        assert classify(error) is ErrorClass.PERMANENT
        assert "does not implement" in str(error)
    assert not isinstance(from_response("NotImplemented", 400, where), ObjectLockedError)
