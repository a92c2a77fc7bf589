"""Parts of the key space that list and copy independently, and how to cut them finer.

A `KeyRange` is the keys `k` with `start_after < k <= last` in listing order
(`keys.sort_key`): S3's `StartAfter` gives the lower bound, the lister stops past the
upper one. Ranges that share a bound never share a key, so a bucket cut into ranges is
listed exactly once, in parallel.

Nobody knows where a bucket's keys lie before listing it, so a range is cut while it is
being worked on: the worker that stops after its budget hands back the rest of its range
with a sample of the keys it saw, and `split_remainder` cuts the rest at the sibling
characters of the position where those keys vary (a counter's digits, a hash's hex
characters, a date's day). Cuts that fall where there are no keys cost one empty LIST.
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from bucketvault.mirror.merge import Pair
from bucketvault.store.base import Bucket, list_batches
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo

# Character classes a key position is assumed to range over, in listing order; the
# narrowest one holding every character the sample shows there is taken (hex hashes cut
# at 0-9a-f, not at every letter).
_CLASSES = (
    string.digits,
    "0123456789abcdef",
    string.ascii_uppercase,
    string.ascii_lowercase,
    string.ascii_letters + string.digits,
)
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True, slots=True)
class KeyRange:
    start_after: str | None = None
    last: str | None = None

    def __post_init__(self) -> None:
        if (
            self.start_after is not None
            and self.last is not None
            and sort_key(self.last) <= sort_key(self.start_after)
        ):
            raise ValueError(f"empty key range {self}")

    def past_end(self, key_order: bytes) -> bool:
        """Whether a key (given by its `sort_key`) lies beyond the range's upper end."""
        return self.last is not None and key_order > sort_key(self.last)

    def rest_after(self, key: str) -> KeyRange | None:
        """The part of this range after `key`; None when `key` is its last key."""
        if self.last is not None and sort_key(key) >= sort_key(self.last):
            return None
        return KeyRange(key, self.last)

    def __str__(self) -> str:
        low = "" if self.start_after is None else repr(self.start_after)
        high = "" if self.last is None else repr(self.last)
        return f"({low}, {high}]"


WHOLE = KeyRange()


@dataclass(frozen=True, slots=True)
class RangeScope:
    """One part of a run: the keys of `key_range`, stopping once `max_keys` keys were
    listed (both sides together) or `max_bytes` planned for copying, so a worker hands
    the rest back to be shared out (`split_remainder`)."""

    key_range: KeyRange = WHOLE
    max_keys: int | None = None
    max_bytes: int | None = None
    sample_every: int = 0  # keep every n-th listed key, to cut the rest by


class ScopeWalk:
    """Walks the merged listings of one scope: bounds them to its range, counts what was
    listed and planned, keeps the sample, and says when the budget is spent."""

    def __init__(self, scope: RangeScope | None) -> None:
        self.scope = scope or RangeScope()
        self.listed = 0
        self._planned = 0
        self.sample: list[str] = []
        self.stopped_after: str | None = None
        self._last: str | None = None

    def listing(
        self, bucket: Bucket, *, exists: bool = True
    ) -> AsyncGenerator[list[ObjectInfo], None]:
        """`bucket`'s keys within the range, in batches (none when the bucket does not
        exist)."""
        if not exists:
            return _nothing()
        key_range = self.scope.key_range
        found = list_batches(
            bucket, start_after=key_range.start_after, last=key_range.last, budget=self.keys_left
        )
        # an open-ended range is the listing itself: no step per batch between the two
        return found if key_range.last is None else _until(found, key_range)

    def keys_left(self) -> int | None:
        """How many more keys (both sides) the walk may list; None: no limit."""
        most = self.scope.max_keys
        return None if most is None else max(0, most - self.listed)

    def seen(self, pair: Pair) -> None:
        self.listed += (pair.source is not None) + (pair.target is not None)
        every = self.scope.sample_every
        if every and self.listed % every < 2:
            self.sample.append(pair.key)
        self._last = pair.key

    def seen_on_both_sides(self, pairs: Sequence[Pair]) -> bool:
        """`seen` for pairs that are each on both sides, at once; False, counting
        nothing, when the budget would run out among them (they then go one by one)."""
        listed = 2 * len(pairs)
        if self.scope.max_keys is not None and self.listed + listed >= self.scope.max_keys:
            return False
        every = self.scope.sample_every
        if every:
            base = self.listed
            self.sample += [
                pair.key for n, pair in enumerate(pairs, 1) if (base + 2 * n) % every < 2
            ]
        self.listed += listed
        self._last = pairs[-1].key
        return True

    def planned(self, size: int) -> None:
        self._planned += size

    def full(self) -> bool:
        """Whether the budget is spent: then the walk stops after the last key seen."""
        scope = self.scope
        spent = (scope.max_keys is not None and self.listed >= scope.max_keys) or (
            scope.max_bytes is not None and self._planned >= scope.max_bytes
        )
        if spent:
            self.stopped_after = self._last
        return spent


async def _nothing() -> AsyncGenerator[list[ObjectInfo], None]:
    return
    yield


async def _until(
    found: AsyncGenerator[list[ObjectInfo], None], key_range: KeyRange
) -> AsyncGenerator[list[ObjectInfo], None]:
    # closed on the way out: past the end, the listing stops now, with what it fetched ahead
    async with contextlib.aclosing(found):
        async for batch in found:
            end = next(
                (n for n, info in enumerate(batch) if key_range.past_end(sort_key(info.key))),
                None,
            )
            if end is None:
                yield batch
                continue
            if end:
                yield batch[:end]
            return


def _class_of(char: str, seen: set[str]) -> str:
    for chars in _CLASSES:
        if char in chars and seen <= set(chars):
            return "".join(sorted(chars))
    return _PRINTABLE


def _varying_position(sample: Sequence[str]) -> int | None:
    """The first position at which the sampled keys differ."""
    if len(sample) < 2:
        return None
    first, last = min(sample, key=sort_key), max(sample, key=sort_key)
    limit = min(len(first), len(last))
    for position in range(limit):
        if first[position] != last[position]:
            return position
    return limit if len(first) != len(last) else None


def cut_points(after: str, sample: Sequence[str], upper: str | None, most: int) -> list[str]:
    """Up to `most` keys between `after` and `upper`, in order, where the rest of a range
    is likely to be spread: the characters that follow `after`'s at the position where
    the sampled keys vary and one position shallower (a counter that carries over), in
    the narrowest class holding what the sample shows there, and the next character at
    each shallower letter or digit. Measured by replaying the coordinator on 1,000,000
    keys of four layouts (bench/listing_probe.py --mode replay)."""
    varying = _varying_position([*sample, after])
    if varying is None:
        varying = max(0, len(after) - 1)
    candidates: set[str] = set()
    # one rung at every shallower letter or digit: where the keys go on past what the
    # sample shows (the next month after a run of days); past the last key, an empty LIST
    for position in range(0, max(0, varying - 1)):
        here = after[position]
        following = next((c for c in _class_of(here, set()) if c > here), None)
        if here.isalnum() and following is not None:
            candidates.add(after[:position] + following)
    for position in (varying - 1, varying):
        if position < 0 or position >= len(after):
            continue
        here = after[position]
        seen = {key[position] for key in sample if len(key) > position}
        for char in _class_of(here, seen):
            if char > here:
                candidates.add(after[:position] + char)
    low = sort_key(after)
    high = sort_key(upper) if upper is not None else None
    usable = sorted(
        (c for c in candidates if sort_key(c) > low and (high is None or sort_key(c) < high)),
        key=sort_key,
    )
    if len(usable) <= most:
        return usable
    step = len(usable) / most
    return [usable[int(i * step)] for i in range(most)]


def split_remainder(rest: KeyRange, sample: Sequence[str], parts: int) -> list[KeyRange]:
    """`rest` cut into at most `parts` ranges (just `rest` when no cut point is found)."""
    if parts < 2 or rest.start_after is None:
        return [rest]
    points = cut_points(rest.start_after, sample, rest.last, parts - 1)
    bounds: list[str | None] = [rest.start_after, *points, rest.last]
    return [KeyRange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
