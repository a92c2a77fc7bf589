from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bucketvault.mirror.merge import ListingOrderError, merge
from bucketvault.store.model import ObjectInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(key: str) -> ObjectInfo:
    return ObjectInfo(key=key, size=1, etag="e", last_modified=T0)


async def listing(keys: list[str]) -> AsyncIterator[ObjectInfo]:
    for key in keys:
        yield info(key)


async def pairs(src: list[str], dst: list[str]) -> list[tuple[str, bool, bool]]:
    return [
        (p.key, p.source is not None, p.target is not None)
        async for p in merge(listing(src), listing(dst))
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
