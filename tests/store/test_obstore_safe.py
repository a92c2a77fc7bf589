"""obstore_safe: the keys the fast path may carry, checked by round-trips through
obstore against real servers (written by obstore, listed by botocore)."""

from __future__ import annotations

import obstore
import pytest

from bucketvault.loopback import LoopbackServer
from bucketvault.store import S3Endpoint, obstore_safe
from tests.conftest import boto_client, new_bucket_name

SAFE = [
    "plain",
    "a b",
    "a+b",
    "100%",
    "a%2Fb",
    "q?x=1",
    "h#f",
    "caf\u00e9",
    "cafe\u0301",
    "\U0001f600",
    "back\\slash",
    "a&b'c\"d<e>",
    "..x",
    "x..",
    ".x",
    "...",
    "a/.../b",
    "c1\u0085x",
    "line\u2028sep",
    "nbsp\u00a0x",
    "x/y/z",
]
UNSAFE = [
    "",
    "a//b",
    "/leading",
    "trailing/",
    "./x",
    "a/../b",
    "a/./b",
    "x/.",
    "x/..",
    ".",
    "..",
    "tab\tx",
    "nl\nx",
    "cr\rx",
    "del\x7fx",
    "\x01ctl",
    "nul\x00x",
    "lone\ud800",
]


@pytest.mark.parametrize("key", SAFE)
def test_safe(key: str) -> None:
    assert obstore_safe(key)


@pytest.mark.parametrize("key", UNSAFE)
def test_unsafe(key: str) -> None:
    assert not obstore_safe(key)


async def test_obstore_round_trips_exactly_what_obstore_safe_allows(s3: LoopbackServer) -> None:
    endpoint = S3Endpoint(s3.endpoint())
    name = new_bucket_name()
    client = boto_client(s3)
    client.create_bucket(Bucket=name)
    store = endpoint.clients.store(name)
    try:
        for key in SAFE:
            await obstore.put_async(store, key, key.encode())
            result = await obstore.get_async(store, key)
            assert bytes(await result.bytes_async()) == key.encode()
        listed = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name)
            for o in page.get("Contents", [])
        ]
        assert sorted(listed) == sorted(SAFE)
        # and why the others are excluded: obstore rejects them or changes the key
        for key in ["a//b", "./x", "a/../b", "tab\tx", "del\x7fx"]:
            with pytest.raises(ValueError):
                await obstore.put_async(store, key, b"x")
        for key, stored_as in [("/leading", "leading"), ("trailing/", "trailing")]:
            await obstore.put_async(store, key, b"x")
            head = client.head_object(Bucket=name, Key=stored_as)
            assert head["ContentLength"] == 1
    finally:
        await endpoint.close()
