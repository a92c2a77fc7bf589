"""Merge two key-sorted listings into pairs: source only, target only, or both.

The walk has no policy: it never decides what to copy or delete. It refuses listings
that are out of order, because a mis-ordered listing would make an object look absent
on one side — and absent objects get copied over or deleted.

Listings arrive in batches (an S3 page each) and pairs leave in batches: the merge of
two batches is a plain loop, and where both hold the same keys (a bucket and its
mirror) one list comparison in C, instead of several asynchronous steps per key.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import AsyncGenerator
from typing import NamedTuple

from bucketvault.errors import BucketvaultError
from bucketvault.store.keys import order_keys
from bucketvault.store.model import ObjectInfo


class ListingOrderError(BucketvaultError):
    """A store listed keys out of order; comparing such listings would be unsafe."""


class Pair(NamedTuple):
    """One key and what each side holds under it. A named tuple: one is built per key."""

    key: str
    source: ObjectInfo | None
    target: ObjectInfo | None


_key_of = operator.itemgetter(0)  # ObjectInfo.key
_listed_identity = operator.itemgetter(1, 2)  # ObjectInfo.size, ObjectInfo.etag


class PairBatch(list[Pair]):
    """Pairs in key order. `same_listed`: each is on both sides, listed with the same
    size and ETag there (a bucket and its unchanged copy), found for the whole batch by
    two list comparisons in C; a reader may then take the batch as one."""

    same_listed = False


class _Side:
    """One listing's current batch, with each key's sort order (computed once, to check
    the order and to merge), and how far the merge has taken it."""

    def __init__(self, batches: AsyncGenerator[list[ObjectInfo], None], name: str) -> None:
        self._batches = batches
        self._name = name
        self._last: str | None = None
        self.infos: list[ObjectInfo] = []
        self.orders: list[str] = []
        self.at = 0
        self.ended = False

    async def advance(self) -> None:
        """Take the next non-empty batch, or mark the listing ended."""
        while (batch := await anext(self._batches, None)) is not None:
            if batch:
                self.infos, self.orders, self.at = batch, self._checked(batch), 0
                return
        self.infos, self.orders, self.at, self.ended = [], [], 0, True

    def _checked(self, batch: list[ObjectInfo]) -> list[str]:
        orders = order_keys(list(map(_key_of, batch)))
        in_order = (self._last is None or orders[0] > self._last) and all(
            map(operator.lt, orders, itertools.islice(orders, 1, None))
        )
        if not in_order:
            previous = self._last
            for info, current in zip(batch, orders, strict=True):
                if previous is not None and current <= previous:
                    raise ListingOrderError(
                        f"the {self._name} listing is not in key order at {info.key!r}: "
                        "refusing to compare"
                    )
                previous = current
        self._last = orders[-1]
        return orders


async def merge_batches(
    source: AsyncGenerator[list[ObjectInfo], None], target: AsyncGenerator[list[ObjectInfo], None]
) -> AsyncGenerator[PairBatch]:
    """Yield one `Pair` per distinct key, in key order, in non-empty batches."""
    # a reader that stops early stops both listings now (and the pages they fetch ahead),
    # not whenever they are collected
    async with contextlib.aclosing(source), contextlib.aclosing(target):
        async for pairs in _merged(_Side(source, "source"), _Side(target, "target")):
            yield pairs


async def _merged(src: _Side, dst: _Side) -> AsyncGenerator[PairBatch]:
    await src.advance()
    await dst.advance()
    while not (src.ended and dst.ended):
        if dst.ended:
            pairs = PairBatch(Pair(info.key, info, None) for info in src.infos[src.at :])
            src.at = len(src.infos)
        elif src.ended:
            pairs = PairBatch(Pair(info.key, None, info) for info in dst.infos[dst.at :])
            dst.at = len(dst.infos)
        else:
            pairs = _merge_two(src, dst)
        if pairs:
            yield pairs
        if src.at == len(src.infos) and not src.ended:
            await src.advance()
        if dst.at == len(dst.infos) and not dst.ended:
            await dst.advance()


def _merge_two(src: _Side, dst: _Side) -> PairBatch:
    """Pairs from both current batches, until one of them is used up."""
    s, t = src.at, dst.at
    s_infos, s_orders, s_end = src.infos, src.orders, len(src.infos)
    t_infos, t_orders, t_end = dst.infos, dst.orders, len(dst.infos)
    same = min(s_end - s, t_end - t)
    if s_orders[s : s + same] == t_orders[t : t + same]:
        # the usual case between a bucket and its copy: the same keys on both sides
        sources, targets = s_infos[s : s + same], t_infos[t : t + same]
        pairs = PairBatch(map(Pair, map(_key_of, sources), sources, targets))
        pairs.same_listed = list(map(_listed_identity, sources)) == list(
            map(_listed_identity, targets)
        )
        src.at, dst.at = s + same, t + same
        return pairs
    pairs = PairBatch()
    while s < s_end and t < t_end:
        here, there = s_orders[s], t_orders[t]
        if here < there:
            info = s_infos[s]
            pairs.append(Pair(info.key, info, None))
            s += 1
        elif there < here:
            info = t_infos[t]
            pairs.append(Pair(info.key, None, info))
            t += 1
        else:
            info = s_infos[s]
            pairs.append(Pair(info.key, info, t_infos[t]))
            s += 1
            t += 1
    src.at, dst.at = s, t
    return pairs
