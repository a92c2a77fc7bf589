"""The key corpus: every tricky key is written, listed and read back exactly, on moto,
rclone, SeaweedFS and a local directory; where a store cannot hold a key, that is stated
here (and in docs/servers.md)."""

from __future__ import annotations

import hashlib

import pytest

from bucketvault.errors import StoreError, UnrepresentableKeyError
from bucketvault.loopback import LoopbackServer
from bucketvault.store import Bucket, ObjectAttributes, S3Endpoint
from tests.conftest import new_bucket_name
from tests.store.conftest import (
    FAST_RETRY,
    StoreUnderTest,
    chunks_of,
    list_keys,
    put,
    read_all,
)

LONG_KEY = "/".join(["k" * 200] * 5) + "/" + "z" * 19  # 1024 bytes, segments <= 255
LONG_SEGMENT = "s" * 1024

CORPUS: dict[str, str] = {
    "plain": "plain.txt",
    "space": "with space/and more",
    "plus": "a+b",
    "percent": "100%",
    "percent-2F": "a%2Fb",
    "question": "what?x=1",
    "hash": "tag#fragment",
    "nfc": "caf\u00e9",
    "nfd": "cafe\u0301",
    "emoji": "emoji/\U0001f600.png",
    "tab": "tab\there",
    "newline": "line\nbreak",
    "ampersand-quote": "a&b'c\"d<e>",
    "backslash": "back\\slash",
    "double-slash": "a//b",
    "leading-slash": "/leading",
    "trailing-slash": "trailing/",
    "dot-segment": "./x",
    "dotdot-segment": "a/../b",
    "long-1024": LONG_KEY,
    "long-segment-1024": LONG_SEGMENT,
}

# Keys a store cannot hold. "refuse": the store says so up front with
# UnrepresentableKeyError; "server": the server cannot hold it (an error or a changed key).
LOCAL_REFUSES = {
    "double-slash",
    "leading-slash",
    "trailing-slash",
    "dot-segment",
    "dotdot-segment",
    "long-segment-1024",
}
# Keys a server cannot hold: writing them must fail with a clear StoreError, and the key
# must not show up in the listing. rclone serve s3 stores objects as files (REFERENCE §4).
SERVER_REFUSES: dict[str, dict[str, str]] = {
    "moto": {
        "newline": "moto_server answers 404 to any request whose key holds a newline",
    },
    "rclone": {
        "double-slash": "file-backed: rejects 'a//b' with 400 InvalidArgument",
        "leading-slash": "file-backed: rejects '/leading' with 400 InvalidArgument",
        "dot-segment": "file-backed: rejects './x' with 400 InvalidArgument",
        "dotdot-segment": "file-backed: rejects 'a/../b' with 400 InvalidArgument",
        "long-segment-1024": "file names hold at most 255 bytes: 500 InternalError "
        "(and rclone still lists the key it failed to store)",
    },
    "seaweed": {
        "dot-segment": "rejects './x' with 400 InvalidRequest",
        "dotdot-segment": "rejects 'a/../b' with 400 InvalidRequest",
        "long-segment-1024": "a path segment holds at most 255 bytes: 400 KeyTooLongError",
    },
}
# Keys a server accepts but stores under another name (and answers GET and HEAD for
# with what it stored): the write must raise UnrepresentableKeyError ("KeyChanged") and
# leave nothing behind under any name. SeaweedFS keeps objects in a filer tree.
KEY_CHANGED: dict[str, dict[str, str]] = {
    "rclone": {"trailing-slash": "stores 'trailing/' as the file 'trailing'"},
    "seaweed": {
        "backslash": "stores 'back\\slash' as 'back/slash'",
        "double-slash": "stores 'a//b' as 'a/b'",
        "leading-slash": "stores '/leading' as 'leading'",
        "trailing-slash": "stores 'trailing/' as an empty folder: the content is lost",
    },
}


def test_long_key_is_1024_bytes() -> None:
    assert len(LONG_KEY.encode()) == 1024
    assert len(LONG_SEGMENT.encode()) == 1024


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_key_round_trip(store: StoreUnderTest, name: str) -> None:
    key = CORPUS[name]
    bucket = store.bucket
    data = f"content of {name}".encode()
    if store.kind == "local" and name in LOCAL_REFUSES:
        assert bucket.unrepresentable(key) is not None
        with pytest.raises(UnrepresentableKeyError):
            await bucket.write(key, chunks_of(data), size=len(data), attributes=ObjectAttributes())
        assert await list_keys(bucket) == []
        return
    changed = KEY_CHANGED.get(store.kind, {}).get(name)
    if changed is not None:
        with pytest.raises(UnrepresentableKeyError) as changed_error:
            await bucket.write(key, chunks_of(data), size=len(data), attributes=ObjectAttributes())
        assert changed_error.value.code == "KeyChanged", changed
        assert await list_keys(bucket) == [], changed  # no stray object under the new name
        return
    refusal = SERVER_REFUSES.get(store.kind, {}).get(name)
    if refusal is not None:
        with pytest.raises(StoreError) as caught:
            await bucket.write(key, chunks_of(data), size=len(data), attributes=ObjectAttributes())
        assert "\n" not in str(caught.value), refusal
        if "still lists" not in refusal:
            assert key not in await list_keys(bucket), refusal
        if store.kind == "seaweed":
            assert await list_keys(bucket) == [], refusal
        return
    assert bucket.unrepresentable(key) is None
    result = await bucket.write(key, chunks_of(data), size=len(data), attributes=ObjectAttributes())
    assert result.etag == result.expected_etag
    assert await list_keys(bucket) == [key]
    assert await read_all(bucket, key) == data
    info, _ = await bucket.head(key)
    assert (info.key, info.size) == (key, len(data))
    await bucket.delete(key)
    assert await list_keys(bucket) == []


async def test_nfc_and_nfd_are_distinct_keys(store: StoreUnderTest) -> None:
    bucket = store.bucket
    for name in ("nfc", "nfd"):
        data = name.encode()
        await put(bucket, CORPUS[name], data)
    assert await list_keys(bucket) == sorted([CORPUS["nfc"], CORPUS["nfd"]], key=str.encode)
    assert await read_all(bucket, CORPUS["nfc"]) == b"nfc"
    assert await read_all(bucket, CORPUS["nfd"]) == b"nfd"


async def test_zero_byte_object(store: StoreUnderTest) -> None:
    result = await put(store.bucket, "empty", b"")
    assert result.expected_etag == "d41d8cd98f00b204e9800998ecf8427e" == result.etag
    assert [(i.key, i.size) async for i in store.bucket.list()] == [("empty", 0)]
    assert await read_all(store.bucket, "empty") == b""


@pytest.mark.parametrize("s3", ["moto", "seaweed"], indirect=True)
async def test_double_slash_is_told_from_its_neighbours(
    s3: LoopbackServer, s3_bucket: Bucket
) -> None:
    """SeaweedFS lists `a/b` as `a//b` when asked for prefix `a//b`: the post-write check
    must not take that echo for the key, nor take a neighbour for a changed key."""
    for neighbour in ("a/a", "a/c"):
        await put(s3_bucket, neighbour, b"neighbour")
    if s3.kind == "seaweed":
        with pytest.raises(UnrepresentableKeyError):
            await put(s3_bucket, "a//b", b"data")
        assert await list_keys(s3_bucket) == ["a/a", "a/c"]
    else:
        await put(s3_bucket, "a//b", b"data")
        assert await list_keys(s3_bucket) == ["a//b", "a/a", "a/c"]


@pytest.mark.parametrize("path", ["buffered", "streamed", "multipart"])
@pytest.mark.parametrize("key", ["a//b", "trailing/"])
async def test_changed_key_is_caught_whatever_the_write_path(
    seaweed: LoopbackServer, path: str, key: str
) -> None:
    """`a//b` tests the listing that SeaweedFS echoes; `trailing/` the stray that its
    multipart upload makes (`trailing/trailing`), which a DELETE of the key misses."""
    MiB = 1024 * 1024
    endpoint = S3Endpoint(
        seaweed.endpoint(),
        retry_policy=FAST_RETRY,
        stream_threshold=0 if path == "streamed" else 64 * MiB,
        multipart_threshold=5 * MiB if path == "multipart" else 64 * MiB,
        part_size=5 * MiB,
    )
    data = bytes(range(256)) * (5 * MiB // 256 + 1) if path == "multipart" else b"data"
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        with pytest.raises(UnrepresentableKeyError):
            await bucket.write(
                key,
                chunks_of(data, MiB),
                size=len(data),
                attributes=ObjectAttributes(),
                content_md5=hashlib.md5(data).hexdigest(),
            )
        assert await list_keys(bucket) == []
    finally:
        await endpoint.close()
