"""The local-directory store: safety (never outside the root), atomic writes, sidecars,
listing order."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import (
    IntegrityError,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    StoreError,
    UnrepresentableKeyError,
)
from bucketvault.store import LocalEndpoint, ObjectAttributes, local_unrepresentable, open_endpoint
from bucketvault.store import local as local_module
from tests.store.conftest import chunks_of, list_keys, put, read_all


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
async def bucket(local_endpoint: LocalEndpoint):  # type: ignore[no-untyped-def]
    b = local_endpoint.bucket("data")
    await b.create()
    return b


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../../x",
        "../../../../etc/passwd",
        "/abs",
        "a//b",
        "x/",
        ".",
        "..",
        "./x",
        "nul\x00",
        ".bucketvault/meta/x.json",
        ".bucketvault",
        "a/.bucketvault-tmp-1",
        "s" * 256,
    ],
)
async def test_unrepresentable_keys_never_touch_the_disk(
    tmp_path: Path, local_endpoint: LocalEndpoint, key: str
) -> None:
    bucket = local_endpoint.bucket("data")
    await bucket.create()
    assert bucket.unrepresentable(key) is not None
    before = all_files(tmp_path)
    with pytest.raises(UnrepresentableKeyError):
        await put(bucket, key, b"evil")
    assert all_files(tmp_path) == before


async def test_symlink_escaping_the_root_is_refused(
    tmp_path: Path, local_endpoint: LocalEndpoint
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    bucket = local_endpoint.bucket("data")
    await bucket.create()
    os.symlink(outside, local_endpoint.root / "data" / "link")
    with pytest.raises(PermanentStoreError, match="symbolic link"):
        await put(bucket, "link/x", b"evil")
    assert list(outside.iterdir()) == []
    with pytest.raises(PermanentStoreError, match="symbolic link"):
        await read_all(bucket, "link/x")
    # a symlinked file is not followed either, and listings skip links
    (outside / "secret").write_bytes(b"secret")
    os.symlink(outside / "secret", local_endpoint.root / "data" / "file-link")
    with pytest.raises(NoSuchKeyError):
        await read_all(bucket, "file-link")
    assert await list_keys(bucket) == []
    # writing over a link replaces the link, never the file it points to
    await put(bucket, "file-link", b"mine")
    assert (outside / "secret").read_bytes() == b"secret"
    assert await read_all(bucket, "file-link") == b"mine"


async def test_round_trip_with_attributes(bucket) -> None:  # type: ignore[no-untyped-def]
    attributes = ObjectAttributes(
        content_type="text/plain",
        cache_control="no-cache",
        metadata={"owner": "alice"},
        tags={"team": "ops"},
    )
    result = await put(bucket, "dir/sub/file.txt", b"hello", attributes)
    assert result.etag == result.expected_etag == "5d41402abc4b2a76b9719d911017c592"
    info, got = await bucket.head("dir/sub/file.txt")
    assert (info.size, info.etag) == (5, result.etag)
    assert got == attributes
    async with bucket.open("dir/sub/file.txt") as reader:
        assert reader.attributes == attributes
        assert b"".join([c async for c in reader.chunks()]) == b"hello"
    [listed] = [i async for i in bucket.list()]
    assert (listed.key, listed.etag) == ("dir/sub/file.txt", result.etag)


async def test_bytes_that_do_not_match_the_named_md5_are_not_kept(bucket) -> None:  # type: ignore[no-untyped-def]
    await put(bucket, "kept", b"old")
    with pytest.raises(IntegrityError, match="does not match its checksum"):
        await bucket.write(
            "kept",
            chunks_of(b"new"),
            size=3,
            attributes=ObjectAttributes(),
            content_md5=hashlib.md5(b"other").hexdigest(),
        )
    assert await read_all(bucket, "kept") == b"old"
    assert await list_keys(bucket) == ["kept"]


async def test_stale_sidecar_is_not_trusted(bucket, local_endpoint: LocalEndpoint) -> None:  # type: ignore[no-untyped-def]
    await put(bucket, "f", b"old", ObjectAttributes(metadata={"a": "b"}))
    path = local_endpoint.root / "data" / "f"
    path.write_bytes(b"changed by someone else")
    info, attributes = await bucket.head("f")
    assert info.etag == hashlib.md5(b"changed by someone else").hexdigest()
    assert dict(attributes.metadata) == {}
    [listed] = [i async for i in bucket.list()]
    assert listed.etag == info.etag


async def test_file_and_directory_prefix_cannot_coexist(bucket) -> None:  # type: ignore[no-untyped-def]
    await put(bucket, "a", b"file")
    with pytest.raises(UnrepresentableKeyError):
        await put(bucket, "a/b", b"under")
    await bucket.delete("a")
    await put(bucket, "a/b", b"under")
    with pytest.raises(UnrepresentableKeyError):
        await put(bucket, "a", b"file")
    assert await list_keys(bucket) == ["a/b"]


async def test_listing_order_is_utf8_bytes_of_full_keys(bucket) -> None:  # type: ignore[no-untyped-def]
    keys = [
        "a/b",
        "a-b",
        "a0",
        "a.b",
        "Z",
        "a b",
        "é",
        "\U0001f600",
        "aa/b/c",
        "a~",
        "ab",
        "a/c/d",
        "a/b-c",
        "a/b0",
    ]
    for key in reversed(keys):
        await put(bucket, key, b"x")
    expected = sorted(keys, key=lambda k: k.encode())
    assert expected[:6] == ["Z", "a b", "a-b", "a.b", "a/b", "a/b-c"]
    assert await list_keys(bucket) == expected
    for after in ["a-b", "a/", "a/b", "a/c", "aa", "zzz", ""]:
        assert await list_keys(bucket, start_after=after) == [
            k for k in expected if k.encode() > after.encode()
        ], after


async def test_prefix_narrows_keys(local_endpoint: LocalEndpoint) -> None:
    whole = local_endpoint.bucket("data")
    await whole.create()
    for key in ["a/b", "a-b", "a/c/d", "ab", "b"]:
        await put(whole, key, b"x")
    assert await list_keys(local_endpoint.bucket("data", "a/")) == ["b", "c/d"]
    assert await list_keys(local_endpoint.bucket("data", "a")) == ["-b", "/b", "/c/d", "b"]
    assert await list_keys(local_endpoint.bucket("data", "a/c/")) == ["d"]


async def test_failed_write_leaves_no_partial_file(
    bucket,
    local_endpoint: LocalEndpoint,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    await put(bucket, "keep", b"original")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError):
        await bucket.write("keep", broken(), size=100, attributes=ObjectAttributes())
    assert await read_all(bucket, "keep") == b"original"

    def disk_full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_module.os, "write", disk_full)
    with pytest.raises(StoreError, match=r"disk full writing .*keep: free space") as caught:
        await put(bucket, "keep", b"new content")
    assert "\n" not in str(caught.value)
    monkeypatch.undo()
    assert await read_all(bucket, "keep") == b"original"
    names = {p.name for p in (local_endpoint.root / "data").rglob("*")}
    assert not any(n.startswith(local_module.TMP_PREFIX) for n in names)


async def test_endpoint_operations(tmp_path: Path) -> None:
    endpoint = open_endpoint(EndpointConfig(url=f"file://{tmp_path}/root"))
    assert isinstance(endpoint, LocalEndpoint)
    with pytest.raises(Exception, match="does not exist"):
        await endpoint.check()
    bucket = endpoint.bucket("b1")
    assert not await bucket.exists()
    with pytest.raises(NoSuchBucketError):
        await list_keys(bucket)
    await bucket.create()
    await bucket.create()
    await endpoint.check()
    assert await endpoint.list_buckets() == ["b1"]
    await put(bucket, "x/y", b"1")
    with pytest.raises(PermanentStoreError, match="not empty"):
        await endpoint.delete_bucket("b1")
    await bucket.delete("x/y")
    assert not (tmp_path / "root" / "b1" / "x").exists()
    await endpoint.delete_bucket("b1")
    assert await endpoint.list_buckets() == []
    assert endpoint.display == f"file://{tmp_path}/root"


def test_unrepresentable_reasons() -> None:
    assert local_unrepresentable("ok/key with spaces%2F?#") is None
    assert local_unrepresentable("s" * 255) is None
    for key in ["a//b", "/x", "x/", "a/./b", "a/../b", "n\x00", "s" * 256, ".bucketvault/x"]:
        assert local_unrepresentable(key), key
