"""Merge two key-sorted listings into pairs: source only, target only, or both.

The walk has no policy: it never decides what to copy or delete. It refuses listings
that are out of order, because a mis-ordered listing would make an object look absent
on one side — and absent objects get copied over or deleted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from bucketvault.errors import BucketvaultError
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectInfo


class ListingOrderError(BucketvaultError):
    """A store listed keys out of order; comparing such listings would be unsafe."""


@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    source: ObjectInfo | None
    target: ObjectInfo | None


async def _ordered(listing: AsyncIterator[ObjectInfo], side: str) -> AsyncIterator[ObjectInfo]:
    previous: bytes | None = None
    async for info in listing:
        current = sort_key(info.key)
        if previous is not None and current <= previous:
            raise ListingOrderError(
                f"the {side} listing is not in key order at {info.key!r}: refusing to compare"
            )
        previous = current
        yield info


async def merge(
    source: AsyncIterator[ObjectInfo], target: AsyncIterator[ObjectInfo]
) -> AsyncIterator[Pair]:
    """Yield one `Pair` per distinct key, in key order."""
    src_iter = _ordered(source, "source")
    dst_iter = _ordered(target, "target")
    src = await anext(src_iter, None)
    dst = await anext(dst_iter, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and sort_key(src.key) < sort_key(dst.key)):
            assert src is not None
            yield Pair(src.key, src, None)
            src = await anext(src_iter, None)
        elif src is None or sort_key(dst.key) < sort_key(src.key):
            yield Pair(dst.key, None, dst)
            dst = await anext(dst_iter, None)
        else:
            yield Pair(src.key, src, dst)
            src = await anext(src_iter, None)
            dst = await anext(dst_iter, None)
