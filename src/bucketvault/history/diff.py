"""What changed between two snapshots: a merge of their sorted records."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bucketvault.history.record import Entry
from bucketvault.store.keys import sort_key


def changed(old: Entry, new: Entry) -> bool:
    return (old.size, old.etag, old.md5, old.attributes) != (
        new.size,
        new.etag,
        new.md5,
        new.attributes,
    )


async def diff_entries(
    old: AsyncIterator[Entry], new: AsyncIterator[Entry]
) -> AsyncIterator[tuple[str, str]]:
    """("+", key) added, ("M", key) changed, ("-", key) deleted, in key order."""
    a = await anext(old, None)
    b = await anext(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and sort_key(a.key) < sort_key(b.key)):
            assert a is not None
            yield "-", a.key
            a = await anext(old, None)
        elif a is None or sort_key(b.key) < sort_key(a.key):
            yield "+", b.key
            b = await anext(new, None)
        else:
            if changed(a, b):
                yield "M", b.key
            a = await anext(old, None)
            b = await anext(new, None)
