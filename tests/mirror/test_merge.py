from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bucketvault.mirror.merge import ListingOrderError, merge_batches
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(key: str) -> ObjectInfo:
    return ObjectInfo(key=key, size=1, etag="e", last_modified=T0)


async def listing(keys: list[str]) -> AsyncGenerator[list[ObjectInfo], None]:
    """A listing that hands on a key at a time."""
    for key in keys:
        yield [info(key)]


async def pairs(src: list[str], dst: list[str]) -> list[tuple[str, bool, bool]]:
    return [
        (p.key, p.source is not None, p.target is not None)
        async for batch in merge_batches(listing(src), listing(dst))
        for p in batch
    ]


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        pytest.param([], [], [], id="both-empty"),
        pytest.param(["a"], [], [("a", True, False)], id="source-only"),
        pytest.param([], ["a"], [("a", False, True)], id="target-only"),
        pytest.param(["a"], ["a"], [("a", True, True)], id="match"),
        pytest.param(
            ["a", "c"],
            ["b", "c", "d"],
            [("a", True, False), ("b", False, True), ("c", True, True), ("d", False, True)],
            id="interleaved",
        ),
        pytest.param(
            ["a-b", "a/b"],
            ["a/b"],
            [("a-b", True, False), ("a/b", True, True)],
            id="byte-order-dash-before-slash",
        ),
        pytest.param(
            ["Z", "a", "\u00e9", "\U0001f600"],
            ["a", "\U0001f600"],
            [
                ("Z", True, False),
                ("a", True, True),
                ("\u00e9", True, False),
                ("\U0001f600", True, True),
            ],
            id="utf8-byte-order",
        ),
        pytest.param(
            ["cafe\u0301", "caf\u00e9"],
            ["caf\u00e9"],
            [("cafe\u0301", True, False), ("caf\u00e9", True, True)],
            id="nfd-and-nfc-are-distinct",
        ),
    ],
)
async def test_merge_cases(
    src: list[str], dst: list[str], expected: list[tuple[str, bool, bool]]
) -> None:
    assert await pairs(src, dst) == expected


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        pytest.param(["b", "a"], [], id="source-out-of-order"),
        pytest.param([], ["a", "a"], id="target-duplicate"),
        pytest.param(["a/b", "a-b"], [], id="source-not-byte-ordered"),
    ],
)
async def test_merge_refuses_unordered_listings(src: list[str], dst: list[str]) -> None:
    with pytest.raises(ListingOrderError):
        await pairs(src, dst)


# -- batches: the same pairs wherever the listings' batches begin and end ------------------

KEY_POOL = ["Z", "a", "a b", "a-b", "a/b", "a/c", "b", "caf\u00e9", "d/1", "\U0001f600", "~"]


async def batched(keys: list[str], cuts: list[int]) -> AsyncGenerator[list[ObjectInfo], None]:
    """`keys` in batches ending at the positions in `cuts` (empty batches included)."""
    start = 0
    for end in [*cuts, len(keys)]:
        yield [info(key) for key in keys[start:end]]
        start = end


async def batch_pairs(
    src: list[str], src_cuts: list[int], dst: list[str], dst_cuts: list[int]
) -> list[tuple[str, bool, bool]]:
    found = []
    async for batch in merge_batches(batched(src, src_cuts), batched(dst, dst_cuts)):
        assert batch, "a batch of pairs is never empty"
        found += [(p.key, p.source is not None, p.target is not None) for p in batch]
    return found


def expected_pairs(src: list[str], dst: list[str]) -> list[tuple[str, bool, bool]]:
    keys = sorted(set(src) | set(dst), key=sort_key)
    return [(key, key in src, key in dst) for key in keys]


def cuts_of(size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, size), max_size=4).map(sorted)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_batches_merge_like_keys_one_by_one(data: st.DataObject) -> None:
    """Both the same-keys shortcut and the key-by-key merge, at every batch boundary."""
    pool = st.lists(st.sampled_from(KEY_POOL), unique=True).map(lambda k: sorted(k, key=sort_key))
    src, dst = data.draw(pool), data.draw(pool)
    if data.draw(st.booleans()):
        dst = list(src)  # a bucket and its mirror: the shortcut's case
    src_cuts, dst_cuts = data.draw(cuts_of(len(src))), data.draw(cuts_of(len(dst)))
    found = asyncio.run(batch_pairs(src, src_cuts, dst, dst_cuts))
    assert found == expected_pairs(src, dst)


@pytest.mark.parametrize(
    ("keys", "cuts"),
    [
        pytest.param(["b", "a"], [], id="within-a-batch"),
        pytest.param(["b", "a"], [1], id="across-batches"),
        pytest.param(["a", "a"], [1], id="duplicate-across-batches"),
        pytest.param(["a", "b", "c", "b"], [0, 3], id="after-an-empty-batch"),
        pytest.param(["a/b", "a-b"], [], id="not-byte-ordered"),
    ],
)
@pytest.mark.parametrize("side", ["source", "target"])
async def test_batches_out_of_order_are_refused(
    keys: list[str], cuts: list[int], side: str
) -> None:
    listings = (keys, cuts, ["a"], []) if side == "source" else (["a"], [], keys, cuts)
    with pytest.raises(ListingOrderError, match=f"the {side} listing is not in key order"):
        await batch_pairs(*listings)


async def test_a_batch_is_same_listed_only_when_every_pair_is() -> None:
    """Keys alike on both sides; one target object differs in ETag, one in size."""

    def listed(keys: list[str], etag: dict[str, str], size: dict[str, int]) -> list[ObjectInfo]:
        return [ObjectInfo(k, size.get(k, 1), etag.get(k, "e"), T0) for k in keys]

    async def pages(infos: list[ObjectInfo]) -> AsyncGenerator[list[ObjectInfo], None]:
        for start in range(0, len(infos), 3):
            yield infos[start : start + 3]

    keys = [f"k{n}" for n in range(9)]
    source = listed(keys, {}, {})
    target = listed(keys, {"k4": "other"}, {"k8": 2})
    found = [
        ([p.key for p in batch], batch.same_listed)
        async for batch in merge_batches(pages(source), pages(target))
    ]
    assert found == [(keys[0:3], True), (keys[3:6], False), (keys[6:9], False)]


async def test_a_reader_that_stops_closes_both_listings() -> None:
    """Listings fetch pages ahead; a merge closed early closes them at once."""
    closed: list[str] = []

    async def side(name: str) -> AsyncGenerator[list[ObjectInfo], None]:
        try:
            for n in range(10):
                yield [info(f"{name}{n}")]
        finally:
            closed.append(name)

    batches = merge_batches(side("a"), side("b"))
    assert [p.key for p in await anext(batches)] == ["a0"]
    await batches.aclose()
    assert sorted(closed) == ["a", "b"]
