"""Mirror policy and accounting, on the in-memory store (S3 behaviour: tests/e2e)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bucketvault.errors import (
    NoSuchBucketError,
    PermanentStoreError,
    TransientStoreError,
)
from bucketvault.mirror import MirrorJob, MirrorOptions, run_mirror
from bucketvault.mirror.decide import Action
from bucketvault.mirror.filters import KeyFilter
from bucketvault.store.memory import MemoryBucket, MemoryEndpoint
from bucketvault.store.model import META_MD5, META_SOURCE_ETAG, ObjectAttributes
from bucketvault.store.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0)


async def put(bucket: MemoryBucket, key: str, data: bytes, **attrs: object) -> None:
    async def one() -> object:
        yield data

    await bucket.create()
    await bucket.write(key, one(), size=len(data), attributes=ObjectAttributes(**attrs))  # type: ignore[arg-type]


async def contents(bucket: MemoryBucket) -> dict[str, bytes]:
    result = {}
    async for info in bucket.list():
        async with bucket.open(info.key) as reader:
            result[info.key] = b"".join([c async for c in reader.chunks()])
    return result


@pytest.fixture
def world() -> tuple[MemoryEndpoint, MemoryBucket, MemoryBucket]:
    endpoint = MemoryEndpoint()
    return endpoint, endpoint.bucket("src"), endpoint.bucket("dst")


def job(src: MemoryBucket, dst: MemoryBucket, **options: object) -> MirrorJob:
    options.setdefault("retry", FAST_RETRY)
    return MirrorJob(src, dst, MirrorOptions(**options))  # type: ignore[arg-type]


async def test_copies_new_then_nothing_on_rerun(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    for i in range(50):
        await put(src, f"k{i:03d}", bytes([i]) * i)
    first = await run_mirror(job(src, dst))
    assert (first.copied, first.failed, first.skipped) == (50, 0, 0)
    assert await contents(dst) == await contents(src)
    second = await run_mirror(job(src, dst))
    assert (second.copied, second.skipped, second.transferred_bytes) == (0, 50, 0)


async def test_same_size_edit_is_a_conflict_by_default_and_replaced_with_overwrite(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    await put(src, "doc", b"version-1")
    await run_mirror(job(src, dst))
    await put(src, "doc", b"version-2")  # same size
    kept = await run_mirror(job(src, dst))
    assert (kept.conflicts, kept.conflict_keys, kept.copied) == (1, ("doc",), 0)
    assert (await contents(dst))["doc"] == b"version-1"
    replaced = await run_mirror(job(src, dst, overwrite=True))
    assert replaced.copied == 1
    assert (await contents(dst))["doc"] == b"version-2"


async def test_remove_deletes_extra_only_after_clean_copy(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    await put(src, "keep", b"1")
    await put(dst, "extra", b"2")
    summary = await run_mirror(job(src, dst, remove=True))
    assert summary.deleted == 1
    assert set(await contents(dst)) == {"keep"}


async def test_remove_skipped_when_a_copy_failed(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    await put(src, "bad", b"1")
    await put(src, "good", b"1")
    await put(dst, "extra", b"2")

    def fault(operation: str, key: str) -> None:
        if operation == "get" and key == "bad":
            raise PermanentStoreError("access denied for 'bad'")

    endpoint.fault = fault
    summary = await run_mirror(job(src, dst, remove=True))
    assert summary.failed == 1 and summary.failed_objects[0].key == "bad"
    assert summary.deleted == 0 and summary.delete_skipped_reason
    assert set(await contents(dst)) == {"good", "extra"}


async def test_source_listing_failure_deletes_nothing(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    for key in ("a", "b", "c"):
        await put(src, key, b"x")
        await put(dst, key + "-extra", b"y")

    def fault(operation: str, key: str) -> None:
        if operation == "list" and key == "b":
            raise PermanentStoreError("listing broke")

    endpoint.fault = fault
    with pytest.raises(PermanentStoreError):
        await run_mirror(job(src, dst, remove=True))
    assert {"a-extra", "b-extra", "c-extra"} <= set(await contents(dst))


async def test_empty_source_never_empties_target(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    await src.create()
    await put(dst, "precious", b"1")
    summary = await run_mirror(job(src, dst, remove=True))
    assert summary.deleted == 0 and "no objects" in (summary.delete_skipped_reason or "")


async def test_max_delete_caps(world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket]) -> None:
    _, src, dst = world
    await put(src, "a", b"1")
    for i in range(5):
        await put(dst, f"x{i}", b"1")
    summary = await run_mirror(job(src, dst, remove=True, max_delete=3))
    assert summary.deleted == 0 and "max-delete" in (summary.delete_skipped_reason or "")
    summary = await run_mirror(job(src, dst, remove=True, max_delete=5))
    assert summary.deleted == 5


async def test_missing_source_bucket_changes_nothing(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    with pytest.raises(NoSuchBucketError, match="nothing was changed"):
        await run_mirror(job(src, dst, remove=True))
    assert "dst" not in endpoint.buckets


async def test_dry_run_changes_nothing_and_reports(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    await put(src, "new", b"1")
    seen: list[tuple[str, Action]] = []
    summary = await run_mirror(
        job(src, dst, dry_run=True), on_action=lambda k, a, _s: seen.append((k, a))
    )
    assert seen == [("new", Action.COPY)]
    assert summary.planned_objects == 1 and summary.copied == 0
    assert "dst" not in endpoint.buckets


async def test_transient_failures_are_retried(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    for i in range(10):
        await put(src, f"k{i}", b"data")
    failures: dict[str, int] = {}

    def fault(operation: str, key: str) -> None:
        if operation == "read" and failures.get(key, 0) < 2:
            failures[key] = failures.get(key, 0) + 1
            raise TransientStoreError("connection reset mid-body")

    endpoint.fault = fault
    summary = await run_mirror(job(src, dst))
    assert (summary.copied, summary.failed, summary.retries) == (10, 0, 20)
    assert summary.transferred_bytes == 40


async def test_whole_object_retries_are_bounded(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    endpoint, src, dst = world
    await put(src, "k", b"data")
    puts = 0

    def fault(operation: str, key: str) -> None:
        nonlocal puts
        if operation == "put":
            puts += 1
            raise TransientStoreError("503 SlowDown (after the store's own retries)")

    endpoint.fault = fault
    summary = await run_mirror(job(src, dst))
    assert (summary.failed, puts) == (1, FAST_RETRY.attempts)


async def test_corrupt_source_reported_and_not_written(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    await put(src, "rotten", b"precious bytes")
    await put(src, "fine", b"other bytes")
    src.corrupt("rotten")
    summary = await run_mirror(job(src, dst))
    assert summary.failed == 1 and summary.failed_objects[0].key == "rotten"
    assert "corrupt" in summary.failed_objects[0].error
    assert set(await contents(dst)) == {"fine"}


@pytest.mark.parametrize(
    ("key_filter", "expected"),
    [
        pytest.param(KeyFilter(include=("*.jpg",)), {"a.jpg", "d/b.jpg"}, id="include"),
        pytest.param(KeyFilter(exclude=("d/*",)), {"a.jpg", "c.txt"}, id="exclude"),
    ],
)
async def test_filters(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
    key_filter: KeyFilter,
    expected: set[str],
) -> None:
    _, src, dst = world
    for key in ("a.jpg", "c.txt", "d/b.jpg"):
        await put(src, key, b"1")
    await run_mirror(job(src, dst, filter=key_filter))
    assert set(await contents(dst)) == expected


async def test_attributes_travel_exactly_metadata_named_like_bookkeeping_too(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    await put(
        src,
        "k",
        b"x",
        content_type="image/png",
        cache_control="max-age=60",
        metadata={"owner": "ann", META_SOURCE_ETAG: "stale", META_MD5: "0" * 32},
        tags={"t": "1"},
    )
    await run_mirror(job(src, dst, bookkeeping=False))
    _, attrs = await dst.head("k")
    assert attrs.content_type == "image/png" and attrs.cache_control == "max-age=60"
    assert dict(attrs.metadata) == {"owner": "ann", META_SOURCE_ETAG: "stale", META_MD5: "0" * 32}
    assert dict(attrs.tags or {}) == {"t": "1"}
    assert (await run_mirror(job(src, dst))).skipped == 1  # and the copy is recognised


async def test_many_objects_with_few_workers(
    world: tuple[MemoryEndpoint, MemoryBucket, MemoryBucket],
) -> None:
    _, src, dst = world
    for i in range(500):
        await put(src, f"{i:05d}", b"z")
    summary = await run_mirror(job(src, dst, workers=2))
    assert summary.copied == 500


Fault = Callable[[str, str], None]
