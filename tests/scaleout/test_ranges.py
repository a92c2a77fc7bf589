"""Key ranges: bounds, the rest of a range, cutting it finer; ranges partition the keys."""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketvault.mirror.merge import Pair
from bucketvault.mirror.ranges import (
    WHOLE,
    KeyRange,
    RangeScope,
    ScopeWalk,
    cut_points,
    split_remainder,
)
from bucketvault.store.base import LIST_BATCH
from bucketvault.store.keys import sort_key
from bucketvault.store.memory import MemoryEndpoint
from bucketvault.store.model import ObjectAttributes, ObjectInfo


def keys_in(key_range: KeyRange, keys: list[str]) -> list[str]:
    """What a lister gives for the range: keys after `start_after`, up to `last`."""
    low = key_range.start_after
    return [
        k
        for k in sorted(keys, key=sort_key)
        if (low is None or sort_key(k) > sort_key(low)) and not key_range.past_end(sort_key(k))
    ]


# -- bounds -------------------------------------------------------------------------------


def test_bounds_are_exclusive_below_and_inclusive_above() -> None:
    keys = ["a", "b", "c", "d"]
    assert keys_in(KeyRange("a", "c"), keys) == ["b", "c"]
    assert keys_in(KeyRange(None, "b"), keys) == ["a", "b"]
    assert keys_in(KeyRange("c", None), keys) == ["d"]
    assert keys_in(WHOLE, keys) == keys


def test_an_empty_or_inverted_range_is_refused() -> None:
    with pytest.raises(ValueError, match="empty key range"):
        KeyRange("b", "b")
    with pytest.raises(ValueError, match="empty key range"):
        KeyRange("c", "b")


def test_non_ascii_bounds_follow_the_listing_order() -> None:
    keys = sorted(["z", "é", "日本", "😀", "\ue000"], key=sort_key)
    assert keys == ["z", "é", "日本", "\ue000", "😀"]  # UTF-8 byte order, as stores list
    assert keys_in(KeyRange("é", "\ue000"), keys) == ["日本", "\ue000"]
    assert KeyRange("z", "\ue000").past_end(sort_key("😀"))
    with pytest.raises(ValueError):
        KeyRange("😀", "\ue000")


def test_rest_after() -> None:
    assert KeyRange(None, "m").rest_after("f") == KeyRange("f", "m")
    assert KeyRange(None, "m").rest_after("m") is None  # the last key: nothing left
    assert KeyRange("a", None).rest_after("zzz") == KeyRange("zzz", None)  # open above
    assert WHOLE.rest_after("k") == KeyRange("k", None)


def test_str_shows_both_bounds() -> None:
    assert str(KeyRange("a", "b")) == "('a', 'b']"
    assert str(WHOLE) == "(, ]"


# -- cutting the rest ---------------------------------------------------------------------


def assert_cuts(rest: KeyRange, parts: list[KeyRange]) -> None:
    """Parts are contiguous, in order, non-empty, and cover exactly `rest`."""
    assert parts[0].start_after == rest.start_after
    assert parts[-1].last == rest.last
    for left, right in itertools.pairwise(parts):
        assert left.last == right.start_after
        assert left.last is not None and sort_key(left.last) > sort_key(left.start_after or "")


def test_counter_keys_are_cut_at_the_varying_digit() -> None:
    sample = [f"obj-{i:06d}" for i in range(0, 1000, 50)]
    rest = KeyRange("obj-000999", None)
    parts = split_remainder(rest, sample, 4)
    assert len(parts) == 4
    assert_cuts(rest, parts)
    cuts = [p.last for p in parts[:-1]]
    # the hundreds digit varied in the sample; cut points are its next values, the
    # thousands digit one position shallower (a counter that carries over), and a rung
    # at each shallower digit (where the keys go on past what the sample shows)
    assert all(c is not None and c.startswith("obj-0") for c in cuts), cuts
    assert "obj-001" in cuts and any(c is not None and len(c) < 7 for c in cuts), cuts
    assert cuts == sorted(cuts, key=lambda c: sort_key(c or ""))


def test_hex_hash_keys_are_cut_at_hex_characters_that_follow() -> None:
    rng = random.Random(5)
    keys = sorted(f"{rng.getrandbits(64):016x}" for _ in range(400))
    done, rest_keys = keys[:100], keys[100:]
    rest = KeyRange(done[-1], None)
    parts = split_remainder(rest, done[::10], 8)
    assert 2 <= len(parts) <= 8
    assert_cuts(rest, parts)
    shares = [len(keys_in(p, keys)) for p in parts]
    assert sum(shares) == len(rest_keys)
    assert max(shares) < len(rest_keys)  # really shared out, not one part with everything


def test_non_ascii_keys_are_cut_within_their_bounds() -> None:
    keys = sorted(
        (f"fotos/{name}-{i:03d}" for name in ("café", "日本", "😀", "zeta") for i in range(30)),
        key=sort_key,
    )
    rest = KeyRange(keys[20], None)
    parts = split_remainder(rest, keys[:21:2], 5)
    assert_cuts(rest, parts)
    assert sum(len(keys_in(p, keys)) for p in parts) == len(keys) - 21


def test_no_cut_possible_gives_the_rest_whole() -> None:
    # the last printable character: nothing sorts after it in its class
    rest = KeyRange("a~", "a~~")
    assert split_remainder(rest, ["a~", "a~"], 4) == [rest]
    # a single key in the sample, a rest open below, or one part asked for
    assert split_remainder(KeyRange("k5", None), ["k5"], 1) == [KeyRange("k5", None)]
    assert split_remainder(KeyRange(None, "k"), ["a", "b"], 4) == [KeyRange(None, "k")]


def test_cut_points_stay_strictly_inside_the_rest() -> None:
    assert cut_points("k3", ["k1", "k2", "k3"], "k6", 10) == ["k4", "k5"]
    assert cut_points("k3", ["k1", "k2", "k3"], "k4", 10) == []  # nothing strictly between
    assert all(sort_key(p) > sort_key("k9") for p in cut_points("k9", ["k1", "k9"], None, 10))


def test_cut_points_are_at_most_the_number_asked_and_ordered() -> None:
    points = cut_points("a", ["a", "b"], None, 5)
    assert len(points) == 5
    assert points == sorted(points, key=sort_key)
    assert len(set(points)) == 5


# -- ranges partition the keys (property) -------------------------------------------------

KEY_CHARS = st.sampled_from(list("0189afAZ-/._~ é日😀"))
KEYS = st.lists(st.text(KEY_CHARS, min_size=1, max_size=8), min_size=0, max_size=120, unique=True)


def share_out(keys: list[str], budget: int, slots: int, rng: random.Random) -> Counter[str]:
    """Play the coordinator's cutting with a pure 'lister': every range lists its keys up
    to `budget`, hands back the rest with a sample, and the rest is cut for idle slots."""
    seen: Counter[str] = Counter()
    waiting = deque([WHOLE])
    rounds = 0
    while waiting:
        rounds += 1
        assert rounds < 10_000, "ranges never ran out"
        key_range = waiting.popleft()
        listed = keys_in(key_range, keys)
        done = listed[:budget]
        seen.update(done)
        if len(listed) > budget:
            rest = key_range.rest_after(done[-1])
            assert rest is not None
            sample = done[:: max(1, len(done) // 7)] + done[-1:]
            parts = split_remainder(rest, sample, rng.randint(1, slots))
            assert_cuts(rest, parts)
            waiting.extend(parts)
    return seen


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=KEYS, budget=st.integers(1, 12), slots=st.integers(1, 6), seed=st.integers(0, 99))
def test_every_key_is_in_exactly_one_range(
    keys: list[str], budget: int, slots: int, seed: int
) -> None:
    seen = share_out(keys, budget, slots, random.Random(seed))
    assert set(seen) == set(keys)
    assert all(count == 1 for count in seen.values())


def test_a_million_counter_keys_spread_over_many_ranges() -> None:
    keys = [f"logs/2026/{i:07d}.json" for i in range(0, 1_000_000, 97)]
    seen = share_out(keys, 500, 8, random.Random(1))
    assert sorted(seen) == sorted(keys) and set(seen.values()) == {1}


# -- a walk lists exactly its range, in batches ---------------------------------------------


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize(
    "key_range",
    [WHOLE, KeyRange(None, "k01000"), KeyRange("k00999", "k02000"), KeyRange("k01998", None)],
    ids=str,
)
async def test_a_walk_lists_its_range_across_batches(key_range: KeyRange) -> None:
    """A bucket that lists a key at a time is handed on in batches of `LIST_BATCH`; a
    range's upper end cuts the batch it falls in, wherever that is."""
    endpoint = MemoryEndpoint()
    bucket = endpoint.bucket("walk")
    await bucket.create()
    keys = [f"k{n:05d}" for n in range(2 * LIST_BATCH + 1)]
    for key in keys:
        await bucket.write(key, _one(b"x"), size=1, attributes=ObjectAttributes())
    batches = [b async for b in ScopeWalk(RangeScope(key_range)).listing(bucket)]
    assert all(0 < len(batch) <= LIST_BATCH for batch in batches)
    assert [info.key for batch in batches for info in batch] == keys_in(key_range, keys)


@settings(max_examples=200, deadline=None)
@given(
    before=st.integers(0, 30),
    count=st.integers(1, 40),
    max_keys=st.one_of(st.none(), st.integers(1, 120)),
    every=st.sampled_from([0, 1, 3, 50]),
)
def test_pairs_counted_at_once_count_as_one_by_one(
    before: int, count: int, max_keys: int | None, every: int
) -> None:
    """Pairs on both sides counted in one step leave the walk as counting them one by
    one does (listed, sample, last key), or are refused when the budget ends among them."""
    info = ObjectInfo("x", 1, "e", datetime(2026, 1, 1, tzinfo=UTC))
    pairs = [Pair(f"k{n:03d}", info, info) for n in range(count)]
    scope = RangeScope(max_keys=max_keys, sample_every=every)
    at_once, one_by_one = ScopeWalk(scope), ScopeWalk(scope)
    for walk in (at_once, one_by_one):
        walk.listed = 2 * before
    if at_once.seen_on_both_sides(pairs):
        for pair in pairs:
            one_by_one.seen(pair)
            assert not one_by_one.full()
        assert (at_once.listed, at_once.sample) == (one_by_one.listed, one_by_one.sample)
        assert not at_once.full() and at_once.stopped_after is None
    else:
        assert max_keys is not None and 2 * (before + count) >= max_keys
        assert at_once.listed == 2 * before and at_once.sample == []
