"""compare_buckets: what verify reports, on the in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bucketvault.mirror.compare import compare_buckets
from bucketvault.store.memory import MemoryBucket, MemoryEndpoint
from bucketvault.store.model import ObjectAttributes


async def put(bucket: MemoryBucket, key: str, data: bytes) -> None:
    async def one() -> AsyncIterator[bytes]:
        yield data

    await bucket.create()
    await bucket.write(key, one(), size=len(data), attributes=ObjectAttributes())


async def test_missing_differing_extra_and_corrupt() -> None:
    endpoint = MemoryEndpoint()
    live, backup = endpoint.bucket("live"), endpoint.bucket("backup")
    for key in ("same", "rotten", "changed", "only-live"):
        await put(live, key, b"content-" + key.encode())
    for key in ("same", "rotten", "only-backup"):
        await put(backup, key, b"content-" + key.encode())
    await put(backup, "changed", b"CONTENT-changed")
    backup.corrupt("rotten")

    quick = await compare_buckets(live, backup, read_data=False)
    assert (quick.missing.keys, quick.differing.keys, quick.extra.keys) == (
        ["only-live"],
        ["changed"],
        ["only-backup"],
    )
    assert quick.corrupt.count == 0 and not quick.clean

    full = await compare_buckets(live, backup, read_data=True)
    assert full.corrupt.keys == ["rotten"]
    assert full.same == 1 and full.read_back == 1


async def test_missing_buckets_are_findings_not_crashes() -> None:
    endpoint = MemoryEndpoint()
    live = endpoint.bucket("live")
    await put(live, "a", b"1")
    no_backup = await compare_buckets(live, endpoint.bucket("none"), read_data=True)
    assert no_backup.missing.keys == ["a"]
    no_live = await compare_buckets(endpoint.bucket("gone"), live, read_data=True)
    assert no_live.extra.keys == ["a"]
