"""Merge two key-sorted listings into pairs: source only, target only, or both.

The walk has no policy: it never decides what to copy or delete. It refuses listings
that are out of order, because a mis-ordered listing would make an object look absent
on one side — and absent objects get copied over or deleted.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import NamedTuple

from bucketvault.errors import BucketvaultError
from bucketvault.store.keys import order_key
from bucketvault.store.model import ObjectInfo


class ListingOrderError(BucketvaultError):
    """A store listed keys out of order; comparing such listings would be unsafe."""


class Pair(NamedTuple):
    """One key and what each side holds under it. A named tuple: one is built per key."""

    key: str
    source: ObjectInfo | None
    target: ObjectInfo | None


async def _ordered(
    listing: AsyncIterator[ObjectInfo], side: str
) -> AsyncIterator[tuple[str, ObjectInfo]]:
    """The listing with each key's sort order, computed once here and used both to check
    the order and to merge."""
    previous: str | None = None
    async for info in listing:
        current = order_key(info.key)
        if previous is not None and current <= previous:
            raise ListingOrderError(
                f"the {side} listing is not in key order at {info.key!r}: refusing to compare"
            )
        previous = current
        yield current, info


async def merge(
    source: AsyncIterator[ObjectInfo], target: AsyncIterator[ObjectInfo]
) -> AsyncGenerator[Pair]:
    """Yield one `Pair` per distinct key, in key order."""
    src_iter = _ordered(source, "source")
    dst_iter = _ordered(target, "target")
    src = await anext(src_iter, None)
    dst = await anext(dst_iter, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src[0] < dst[0]):
            assert src is not None
            yield Pair(src[1].key, src[1], None)
            src = await anext(src_iter, None)
        elif src is None or dst[0] < src[0]:
            yield Pair(dst[1].key, None, dst[1])
            dst = await anext(dst_iter, None)
        else:
            yield Pair(src[1].key, src[1], dst[1])
            src = await anext(src_iter, None)
            dst = await anext(dst_iter, None)
