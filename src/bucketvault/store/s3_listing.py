"""Listing an S3 bucket: ListObjectsV2 pages, streamed, keys exactly as stored.

Keys are requested URL-encoded (`EncodingType=url`) and decoded when a page is read
(`s3_list_page`), so keys with control characters survive XML. A failed page is
retried on its own (same continuation token), never the whole listing; out-of-order
pages are refused rather than silently passed on to a merge.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import operator
from collections.abc import AsyncGenerator
from typing import Any

from bucketvault.errors import PermanentStoreError
from bucketvault.store.keys import order_key, order_keys
from bucketvault.store.model import ObjectInfo
from bucketvault.store.s3_errors import Where, quote_key
from bucketvault.store.s3_list_page import ListPage, read_list_page
from bucketvault.store.s3_wire import S3Wire

PAGE_SIZE = 1000


async def list_pages(
    wire: S3Wire,
    *,
    where: Where,
    prefix: str,
    start_after: str | None,
    delimiter: str | None = None,
    page_size: int = PAGE_SIZE,
    pages: int | None = None,
    token: str | None = None,
    until: str | None = None,
) -> AsyncGenerator[ListPage, None]:
    """The answers to one listing, in order (the first `pages` only, when given), from
    its start or from a continuation `token`; with `until`, ending with the page that
    reaches that key (the reader needs nothing after it). `start_after` and `until` are
    whole keys, not relative to `prefix`."""
    bucket = where.bucket
    assert bucket is not None
    params = {"list-type": "2", "encoding-type": "url", "max-keys": str(page_size)}
    if prefix:
        params["prefix"] = prefix
    if start_after is not None:
        params["start-after"] = start_after
    if delimiter is not None:
        params["delimiter"] = delimiter

    async def fetch(token: str | None) -> ListPage:
        query = params if token is None else {**params, "continuation-token": token}
        return read_list_page((await wire.send("GET", where, bucket=bucket, query=query)).body)

    pending: asyncio.Task[ListPage] | None = None
    try:
        page = await fetch(token)
        while True:
            if pages is not None:
                pages -= 1
            # The next page is asked for before this one is handed on: the server works
            # on it while the caller (a merge with the other side's listing) consumes
            # this one, instead of every page's round trip adding to the run.
            more = page.next_token is not None and pages != 0 and not _reaches(page, until)
            pending = asyncio.create_task(fetch(page.next_token)) if more else None
            yield page
            if pending is None:
                return
            page = await pending
            pending = None
    finally:
        if pending is not None:  # the caller stopped early, or this page failed
            pending.cancel()
            pending.add_done_callback(_forget)


def _reaches(page: ListPage, until: str | None) -> bool:
    """Whether `page` lists `until` or something after it: then every later page holds
    only keys after `until` (a folder's keys sort after its name)."""
    if until is None:
        return False
    ends = [page.objects[-1].key] if page.objects else []
    if page.prefixes:
        ends.append(page.prefixes[-1])
    return any(order_key(end) >= order_key(until) for end in ends)


def _forget(task: asyncio.Task[Any]) -> None:
    """Retrieve an abandoned prefetch's outcome, so nothing reports it as unhandled."""
    if not task.cancelled():
        task.exception()


class OrderCheck:
    """Refuses keys a listing should never send: outside its prefix, or out of order
    (a merge of two listings relies on UTF-8 byte order)."""

    def __init__(self, where: Where, prefix: str, after: str | None = None) -> None:
        self._where = where
        self._prefix = prefix
        self._last: str | None = None if after is None else order_key(after)

    def check_page(self, objects: list[ObjectInfo]) -> None:
        """`check` for a page's keys at once: a thousand keys are compared in a few C
        loops; only a page that fails is gone through key by key, to name the key."""
        if not objects:
            return
        keys = [info.key for info in objects]
        orders = order_keys(keys)
        in_order = (self._last is None or orders[0] > self._last) and all(
            map(operator.lt, orders, itertools.islice(orders, 1, None))
        )
        if in_order and (not self._prefix or all(k.startswith(self._prefix) for k in keys)):
            self._last = orders[-1]
            return
        for key in keys:
            self.check(key)

    def check(self, key: str) -> None:
        if not key.startswith(self._prefix):
            raise PermanentStoreError(
                f"{self._where.endpoint} listed {quote_key(key)} outside prefix "
                f"{self._prefix!r} of bucket {self._where.bucket!r}: the server ignores prefixes"
            )
        order = order_key(key)
        if self._last is not None and order <= self._last:
            raise PermanentStoreError(
                f"{self._where.endpoint} listed bucket {self._where.bucket!r} out of order at "
                f"{quote_key(key)}: the server does not sort keys by UTF-8 bytes"
            )
        self._last = order


def relative(infos: list[ObjectInfo], cut: int) -> list[ObjectInfo]:
    """`infos` with their keys relative to a listing prefix `cut` characters long."""
    if not cut:
        return infos
    return [info._replace(key=info.key[cut:]) for info in infos]


async def list_object_pages(
    wire: S3Wire,
    *,
    where: Where,
    prefix: str,
    start_after: str | None,
    page_size: int = PAGE_SIZE,
    pages: int | None = None,
    until: str | None = None,
) -> AsyncGenerator[list[ObjectInfo], None]:
    """Every object under `prefix` in UTF-8 byte order, keys relative to it, a page at
    a time (from the first `pages` pages only, when given; up to the page that reaches
    the whole key `until`, when given)."""
    order = OrderCheck(where, prefix)
    cut = len(prefix)
    listing = list_pages(
        wire,
        where=where,
        prefix=prefix,
        start_after=None if start_after is None else prefix + start_after,
        page_size=page_size,
        pages=pages,
        until=until,
    )
    # closed with this generator, so the page asked for ahead is cancelled at once
    async with contextlib.aclosing(listing):
        async for page in listing:
            order.check_page(page.objects)
            if page.objects:
                yield relative(page.objects, cut)
