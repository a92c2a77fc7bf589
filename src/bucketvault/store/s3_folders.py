"""Listing a bucket folder by folder, several folders at once, in one ordered stream.

A listing of one stream waits for every page in turn, and servers that keep objects in
a directory tree (MinIO, SeaweedFS's filer, `rclone serve s3`) answer a page scoped to
one folder (`Prefix=d0041/`) for less than a page of the whole bucket: on `rclone serve
s3`, 16-23 ms of server CPU against 30 ms. So a bucket is listed by its top level first
(`Delimiter=/`: the keys at that level and one common prefix per folder), and the
folders' own listings are fetched several at once, ahead of the reader. The keys under
one folder lie together in byte order, so putting each folder's keys in its place gives
exactly the bucket's order, which the merge with the other side relies on.

A bucket of many small folders would take one request per folder where one page holds
a thousand keys; once the folders listed so far cost more than twice the pages their
keys would fill, the rest is listed as one plain stream from the last key handed on.
A server that ignores the delimiter answers with plain keys, which are handed on as
they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from bucketvault.store.keys import order_key, sort_key
from bucketvault.store.model import ObjectInfo
from bucketvault.store.s3_errors import Where
from bucketvault.store.s3_list_page import ListPage
from bucketvault.store.s3_listing import (
    PAGE_SIZE,
    OrderCheck,
    list_object_pages,
    list_pages,
    relative,
)
from bucketvault.store.s3_wire import S3Wire

DELIMITER = "/"
LISTING_WIDTH = 8  # folders whose listings are fetched at once, the one being read included
MAX_DESCENT = 4  # levels of lone folders gone down to find folders to list at once
# level pages read before a listing's start key, at most, before it goes on as one plain
# stream from the key instead (a level of a thousand folders is one or two pages)
MAX_SKIPPED_PAGES = 4


@dataclass(frozen=True, slots=True)
class Listing:
    """Where one listing runs and how wide; keys given to it are whole keys.

    `last` and `budget` say how far the reader will go (`store.base.ListsInBatches`):
    no page is fetched ahead past `last`, and no folder is queued ahead of the reader
    beyond what `budget()` keys could fill, so a range that stops at its end or budget
    leaves few requests behind it."""

    wire: S3Wire
    where: Where
    prefix: str
    width: int = LISTING_WIDTH
    page_size: int = PAGE_SIZE
    last: str | None = None
    budget: Callable[[], int | None] | None = None

    def room_ahead(self, folders: int) -> bool:
        """Whether one more folder may be queued behind `folders` already queued."""
        if folders >= self.width:
            return False
        left = None if self.budget is None else self.budget()
        # the budget counts both sides' keys, and the two sides of a run mostly list
        # alike: this side is given half of it
        return folders == 0 or left is None or 2 * folders * self.page_size < left

    def beyond(self, name: str) -> bool:
        """Whether a key or a folder named `name` holds nothing the reader needs."""
        return self.last is not None and order_key(name) > order_key(self.last)

    def pages(
        self,
        prefix: str,
        start_after: str | None,
        delimiter: str | None = None,
        token: str | None = None,
    ) -> AsyncGenerator[ListPage, None]:
        return list_pages(
            self.wire,
            where=self.where,
            prefix=prefix,
            start_after=start_after,
            delimiter=delimiter,
            page_size=self.page_size,
            token=token,
            until=self.last,
        )


class _Folder:
    """One folder's plain listing, its first page asked for as soon as it is queued."""

    def __init__(self, listing: Listing, name: str, start_after: str | None = None) -> None:
        self.name = name
        self._pages = listing.pages(name, start_after)
        self._first = asyncio.ensure_future(anext(self._pages, None))
        self.requests = 0
        self.keys = 0

    async def pages(self) -> AsyncGenerator[ListPage, None]:
        page = await self._first
        while page is not None:
            self.requests += 1
            self.keys += len(page.objects)
            yield page
            page = await anext(self._pages, None)

    async def close(self) -> None:
        """Stop fetching; the first page's request may still be on its way."""
        self._first.cancel()
        await asyncio.wait([self._first])  # the generator is free again once it ended
        if not self._first.cancelled():
            self._first.exception()  # seen, so asyncio does not report it as lost
        await self._pages.aclose()


async def list_by_folder(
    listing: Listing, start_after: str | None = None
) -> AsyncGenerator[ObjectInfo, None]:
    """`batches_by_folder`, a key at a time."""
    async with contextlib.aclosing(batches_by_folder(listing, start_after)) as batches:
        async for batch in batches:
            for info in batch:
                yield info


async def batches_by_folder(
    listing: Listing, start_after: str | None = None
) -> AsyncGenerator[list[ObjectInfo], None]:
    """Every object under the listing's prefix after `start_after` (relative to it), in
    UTF-8 byte order, keys relative to the prefix, in batches (a page of a folder, or the
    keys of a level between two folders): a reader takes a page in one step, not a
    thousand.

    A level is never listed with `StartAfter`: a server that keeps a directory tree may
    read `StartAfter=a-b` in its own order and leave out the folder `a/`, which sorts
    after `a-b` in bytes and before it in the tree (SeaweedFS does). So a listing that
    starts after a key reads its level from the start, and goes folder by folder when
    the key lies within the level's first `MAX_SKIPPED_PAGES` pages.

    Where going folder by folder stops paying (the start key lies further in, or the
    folders are small), the listing goes on as one plain stream from the last key handed
    on (`s3_listing.list_object_pages`). On a server that reads `StartAfter` in its own
    tree order, a key it then sends out of order is refused by the check, as in any
    plain listing."""
    cut = len(listing.prefix)
    after = None if start_after is None else listing.prefix + start_after
    level, first = await _level(listing)
    handed = start_after
    try:
        async with contextlib.aclosing(_walk(listing, level, first, after)) as walk:
            async for batch in walk:
                found = relative(batch, cut)
                handed = found[-1].key
                yield found
    except _GoOnPlain:
        async with contextlib.aclosing(
            list_object_pages(
                listing.wire,
                where=listing.where,
                prefix=listing.prefix,
                start_after=handed,
                page_size=listing.page_size,
                until=listing.last,
            )
        ) as plain:
            async for batch in plain:
                yield batch


class _GoOnPlain(Exception):
    """Listing folder by folder costs more requests than it saves here: the level's
    entries before the start key fill too many pages, or the folders are small. The
    listing goes on as one plain stream from the last key handed on."""


async def _walk(
    listing: Listing, level: str, first: ListPage, after: str | None
) -> AsyncGenerator[list[ObjectInfo], None]:
    ahead: deque[_Folder | ObjectInfo] = deque()
    # a start inside a folder: the rest of that folder first, then the level after it
    inside = None if after is None else _folder_of(level, after)
    if inside is not None:
        ahead.append(_Folder(listing, inside, after))
    requests = keys = 0
    try:
        async with contextlib.aclosing(_level_entries(listing, level, first, after)) as entries:
            folders = len(ahead)
            exhausted = False
            while True:
                while (
                    not exhausted and listing.room_ahead(folders) and len(ahead) < listing.page_size
                ):
                    entry = await anext(entries, None)
                    if entry is None or listing.beyond(
                        entry.key if isinstance(entry, ObjectInfo) else entry
                    ):
                        exhausted = True
                    elif isinstance(entry, ObjectInfo):
                        ahead.append(entry)
                    else:
                        ahead.append(_Folder(listing, entry))
                        folders += 1
                if not ahead:
                    return
                if isinstance(ahead[0], ObjectInfo):
                    # the level's own keys up to its next folder, handed on together
                    level_keys: list[ObjectInfo] = []
                    while ahead and isinstance(head := ahead[0], ObjectInfo):
                        level_keys.append(head)
                        ahead.popleft()
                    yield level_keys
                    continue
                item = ahead.popleft()
                assert isinstance(item, _Folder)
                folders -= 1
                order = OrderCheck(listing.where, item.name)
                try:
                    async with contextlib.aclosing(item.pages()) as pages:
                        async for page in pages:
                            order.check_page(page.objects)
                            if page.objects:
                                yield page.objects
                finally:
                    await item.close()
                requests += item.requests
                keys += item.keys
                if requests > 2 * -(-keys // listing.page_size) + listing.width:
                    raise _GoOnPlain  # small folders: a request each costs more than it saves
    finally:
        await _close_all(ahead)


async def _close_all(ahead: deque[_Folder | ObjectInfo]) -> None:
    while ahead:
        item = ahead.popleft()
        if isinstance(item, _Folder):
            await item.close()


async def _level(listing: Listing) -> tuple[str, ListPage]:
    """The level to list folder by folder, and its first page: the listing's prefix,
    or, where that holds one folder and nothing else (`backups/2026/...`), the deepest
    such folder, so that there are folders to list at once."""
    level = listing.prefix
    for depth in range(MAX_DESCENT + 1):
        async with contextlib.aclosing(listing.pages(level, None, DELIMITER)) as pages:
            first = await anext(pages)
        alone = first.next_token is None and not first.objects and len(first.prefixes) == 1
        if not alone or depth == MAX_DESCENT or not first.prefixes[0].startswith(level):
            return level, first
        level = first.prefixes[0]
    raise AssertionError("unreachable")


def _folder_of(level: str, key: str) -> str | None:
    """The folder directly under `level` that holds `key`, if any."""
    if not key.startswith(level):
        return None
    slash = key.find(DELIMITER, len(level))
    return None if slash < 0 else key[: slash + 1]


async def _level_entries(
    listing: Listing, level: str, first: ListPage, after: str | None = None
) -> AsyncGenerator[ObjectInfo | str, None]:
    """The keys and folders directly under `level`, in order: each folder stands at its
    name, before every key that sorts after all of its own keys. With `after`, only
    the keys after it and the folders whose keys all lie after it (the folder holding
    `after` is the caller's)."""
    order = OrderCheck(listing.where, level)
    start = None if after is None else sort_key(after)
    skipped_pages = 0
    page: ListPage | None = first
    rest = listing.pages(level, None, DELIMITER, token=first.next_token)
    async with contextlib.aclosing(rest) as pages:
        while page is not None:
            for entry in _in_order(page):
                name = entry if isinstance(entry, str) else entry.key
                order.check(name)
                if start is not None:
                    if sort_key(name) <= start:
                        continue  # a folder named at or before `after` holds no key after it
                    start = None  # or holds it: that folder is the caller's
                # the level's own name sorts first under it, so only the first page holds it
                own_name = isinstance(entry, ObjectInfo) and entry.key == level
                if not own_name or await _is_object(listing, level):
                    yield entry
            if page.next_token is None:
                return
            if start is not None:
                skipped_pages += 1
                if skipped_pages >= MAX_SKIPPED_PAGES:
                    raise _GoOnPlain
            page = await anext(pages, None)


async def _is_object(listing: Listing, level: str) -> bool:
    """Whether the key `level` (`back/`), which a listing of that level with a
    delimiter showed, is an object. SeaweedFS shows an empty folder there as a key
    that its plain listings never show: what a plain listing shows decides."""
    plain = list_pages(
        listing.wire, where=listing.where, prefix=level, start_after=None, page_size=1, pages=1
    )
    async with contextlib.aclosing(plain) as pages:
        page = await anext(pages, None)
    return page is not None and [info.key for info in page.objects] == [level]


def _in_order(page: ListPage) -> list[ObjectInfo | str]:
    """A page's keys and folders merged: a folder stands at its name, and no key of the
    level sorts between a folder's name and its last key."""
    merged: list[ObjectInfo | str] = []
    folders = iter(page.prefixes)
    folder = next(folders, None)
    for info in page.objects:
        while folder is not None and sort_key(folder) < sort_key(info.key):
            merged.append(folder)
            folder = next(folders, None)
        merged.append(info)
    if folder is not None:
        merged.append(folder)
        merged.extend(folders)
    return merged
