"""Folder-by-folder listing (`store.s3_folders`): the same keys in the same order as one
plain listing, at a bounded cost in requests.

The property tests answer ListObjectsV2 from a sorted list of keys, with AWS's rules
for `prefix`, `delimiter`, `start-after`, `max-keys` and continuation tokens; the
tests at the end run the same listings against the real loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketvault.errors import PermanentStoreError
from bucketvault.loopback import LoopbackServer
from bucketvault.store import Bucket, S3Endpoint
from bucketvault.store.s3_errors import Where
from bucketvault.store.s3_folders import MAX_SKIPPED_PAGES, Listing, list_by_folder
from bucketvault.store.s3_wire import S3_XMLNS, WireResponse
from tests.store.conftest import WITH_SEAWEED, put


def utf8(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


class ListingServer:
    """ListObjectsV2 over a fixed set of keys, as AWS answers it (a stand-in for the
    wire: only `send` of a listing is used)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(set(keys), key=utf8)
        self.requests: list[dict[str, str]] = []

    async def send(
        self, method: str, where: Where, *, bucket: str | None, query: Mapping[str, str]
    ) -> WireResponse:
        assert method == "GET" and query["list-type"] == "2"
        self.requests.append(dict(query))
        await asyncio.sleep(0)  # let the other listings run, as a real request would
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter")
        after = query.get("continuation-token") or query.get("start-after")
        entries: list[tuple[str, bool]] = []  # (name, is a common prefix)
        for key in self.keys:
            if not key.startswith(prefix) or (after is not None and utf8(key) <= utf8(after)):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter or "")]
                if not entries or entries[-1] != (common, True):
                    entries.append((common, True))
            else:
                entries.append((key, False))
        size = int(query["max-keys"])
        page, more = entries[:size], len(entries) > size
        root = ElementTree.Element("ListBucketResult", xmlns=S3_XMLNS)
        ElementTree.SubElement(root, "IsTruncated").text = "true" if more else "false"
        if more:
            # the last entry of the page, common prefix or key, is where the next one starts
            last, is_prefix = page[-1]
            token = last + "\U0010ffff" if is_prefix else last
            ElementTree.SubElement(root, "NextContinuationToken").text = token
        for name, is_prefix in page:
            if not is_prefix:
                item = ElementTree.SubElement(root, "Contents")
                ElementTree.SubElement(item, "Key").text = quote(utf8(name), safe="/")
                ElementTree.SubElement(item, "LastModified").text = "2026-12-01T00:00:00.000Z"
                ElementTree.SubElement(item, "ETag").text = '"0123"'
                ElementTree.SubElement(item, "Size").text = str(len(utf8(name)))
        for name, is_prefix in page:
            if is_prefix:
                item = ElementTree.SubElement(root, "CommonPrefixes")
                ElementTree.SubElement(item, "Prefix").text = quote(utf8(name), safe="/")
        return WireResponse(200, {}, ElementTree.tostring(root))


def listing(server: ListingServer, prefix: str = "", width: int = 3, page: int = 2) -> Listing:
    wire: Any = server
    return Listing(wire, Where("http://fake", "bucket"), prefix, width=width, page_size=page)


async def listed(target: Listing, start_after: str | None = None) -> list[str]:
    return [info.key async for info in list_by_folder(target, start_after)]


def expected(keys: list[str], prefix: str, start_after: str | None = None) -> list[str]:
    relative = sorted({k[len(prefix) :] for k in keys if k.startswith(prefix)}, key=utf8)
    return [k for k in relative if start_after is None or utf8(k) > utf8(start_after)]


KEY = st.text(alphabet="ab/-.é", min_size=1, max_size=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(KEY, max_size=40),
    prefix=st.sampled_from(["", "a", "a/", "b/a"]),
    start_after=st.none() | KEY,
    width=st.integers(1, 4),
    page=st.integers(1, 4),
)
def test_same_keys_in_the_same_order_as_one_listing(
    keys: list[str], prefix: str, start_after: str | None, width: int, page: int
) -> None:
    server = ListingServer(keys)
    got = asyncio.run(listed(listing(server, prefix, width, page), start_after))
    assert got == expected(keys, prefix, start_after)
    if start_after is not None:  # no level is listed from a key (SeaweedFS skips folders)
        assert not any("delimiter" in q and "start-after" in q for q in server.requests)


@settings(max_examples=100, deadline=None)
@given(
    folders=st.integers(0, 60),
    per_folder=st.integers(1, 9),
    loose=st.integers(0, 5),
    page=st.integers(1, 5),
)
def test_requests_stay_within_twice_a_plain_listing(
    folders: int, per_folder: int, loose: int, page: int
) -> None:
    """Many small folders cost at most about twice the pages of one listing: once they
    cost more, the rest is listed as one stream."""
    keys = [f"f{f:03d}/k{k}" for f in range(folders) for k in range(per_folder)]
    keys += [f"loose{n}" for n in range(loose)]
    server = ListingServer(keys)
    width = 4
    assert asyncio.run(listed(listing(server, "", width, page))) == sorted(keys, key=utf8)
    plain_pages = -(-len(keys) // page) or 1
    level_pages = -(-(folders + loose) // page) or 1
    assert len(server.requests) <= 2 * plain_pages + 2 * width + level_pages + 2


def test_folders_are_listed_at_once() -> None:
    """The folders after the one being read are asked for before it is finished."""
    keys = [f"d{f}/k{k}" for f in range(6) for k in range(3)]
    server = ListingServer(keys)
    got = asyncio.run(listed(listing(server, "", width=4, page=10)))
    assert got == sorted(keys, key=utf8)
    prefixes = [q.get("prefix") for q in server.requests]
    assert prefixes[0] is None  # the top level first, with the delimiter
    assert server.requests[0]["delimiter"] == "/"
    assert prefixes[1:5] == ["d0/", "d1/", "d2/", "d3/"]  # four at once, in order


def test_lone_folders_are_gone_down_to_find_folders_to_list_at_once() -> None:
    keys = [f"backups/2026/12/d{f}/k{k}" for f in range(5) for k in range(3)]
    server = ListingServer(keys)
    assert asyncio.run(listed(listing(server, "", width=3, page=10))) == sorted(keys, key=utf8)
    levels = [q.get("prefix") for q in server.requests if "delimiter" in q]
    assert levels == [None, "backups/", "backups/2026/", "backups/2026/12/"]
    folders = [q["prefix"] for q in server.requests if "delimiter" not in q]
    assert folders == [f"backups/2026/12/d{f}/" for f in range(5)]


def test_a_start_deep_in_a_long_level_goes_on_as_one_plain_stream() -> None:
    """A level is read from its start, but not for ever: past `MAX_SKIPPED_PAGES` pages
    before the start key, the listing goes on with StartAfter and no delimiter."""
    keys = [f"k{i:02d}" for i in range(20)] + [f"f{i}/x" for i in range(5)]
    server = ListingServer(keys)
    got = asyncio.run(listed(listing(server, "", width=3, page=1), "k10"))
    assert got == expected(keys, "", "k10")
    level_pages = [q for q in server.requests if "delimiter" in q]
    assert len(level_pages) == MAX_SKIPPED_PAGES
    assert all(q.get("start-after") == "k10" for q in server.requests[len(level_pages) :])


def test_a_reader_that_stops_leaves_nothing_running() -> None:
    keys = [f"d{f}/k{k}" for f in range(20) for k in range(5)]

    async def first_and_stop() -> list[asyncio.Task[Any]]:
        found = list_by_folder(listing(ListingServer(keys), "", width=6, page=2))
        assert (await anext(found)).key == "d0/k0"
        await found.aclose()
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(first_and_stop()) == []


# No key is also a folder's name ("a" beside "a/b"): a server on a file system cannot
# hold both. Inside each folder, byte order and a directory tree's order agree.
FOLDER_KEYS = ["Z", "a b", "a-b", "a.b", "a/b", "a/c/d", "a0", "b/x", "b/y/z", "c", "d/1", "é/1"]


@WITH_SEAWEED
@pytest.mark.parametrize(
    "start_after", ["Z", "a-b", "a/", "a/b", "a/c/d", "a0", "b/", "b/y/z", "c", "é/1", "zz"]
)
async def test_real_servers_list_folders_from_any_key(
    s3_endpoint: S3Endpoint, s3_bucket: Bucket, start_after: str
) -> None:
    """Started before a folder, at its name, inside it, at its last key, after all:
    the level is read from its start, so SeaweedFS (which reads StartAfter in its tree
    order and skips the folder `a/` after `a-b`) lists the same keys as the others."""
    for key in FOLDER_KEYS:
        await put(s3_bucket, key, b"x")
    where = s3_endpoint.where(s3_bucket.name)
    target = Listing(s3_endpoint.wire, where, "", width=3)
    assert await listed(target, start_after) == expected(FOLDER_KEYS, "", start_after)
    bucket_listing = [info.key async for info in s3_bucket.list(start_after=start_after)]
    assert bucket_listing == expected(FOLDER_KEYS, "", start_after)


@WITH_SEAWEED
@pytest.mark.parametrize("prefix", ["", "a", "a/", "b/", "é"])
async def test_real_servers_list_folders_as_one_listing(
    s3: LoopbackServer, s3_endpoint: S3Endpoint, s3_bucket: Bucket, prefix: str
) -> None:
    """The servers' own answers to delimiter listings and continuation tokens.

    SeaweedFS pages a level in its tree order (the folder `a/` before the key `a b`),
    so where a page ends between the two the next page is out of byte order: refused,
    as a plain listing of that bucket is; with every entry on one page it is right."""
    for key in FOLDER_KEYS:
        await put(s3_bucket, key, b"x")
    where = s3_endpoint.where(s3_bucket.name)
    for width, page in ((3, 1000), (2, 1), (1, 2)):
        target = Listing(s3_endpoint.wire, where, prefix, width=width, page_size=page)
        if s3.kind == "seaweed" and page < 1000 and prefix in ("", "a"):
            with pytest.raises(PermanentStoreError, match="does not sort keys by UTF-8"):
                await listed(target)
        else:
            assert await listed(target) == expected(FOLDER_KEYS, prefix), (width, page)


# -- how far the reader goes: fewer requests ahead of it, never fewer keys ----------------


def bounded(
    server: ListingServer, prefix: str, last: str | None, budget: int | None, page: int
) -> Listing:
    wire: Any = server
    return Listing(
        wire,
        Where("http://fake", "bucket"),
        prefix,
        width=4,
        page_size=page,
        last=None if last is None else prefix + last,
        budget=None if budget is None else lambda: budget,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(KEY, max_size=40),
    prefix=st.sampled_from(["", "a", "a/"]),
    start_after=st.none() | KEY,
    last=st.none() | KEY,
    budget=st.none() | st.integers(0, 12),
    page=st.integers(1, 4),
)
def test_hints_leave_every_key_up_to_last(
    keys: list[str],
    prefix: str,
    start_after: str | None,
    last: str | None,
    budget: int | None,
    page: int,
) -> None:
    """With `last` and a budget, a listing may stop fetching early, but it hands on every
    key up to `last`, in order, as without them."""
    server = ListingServer(keys)
    got = asyncio.run(listed(bounded(server, prefix, last, budget, page), start_after))
    wanted = expected(keys, prefix, start_after)
    upto = [k for k in wanted if last is None or utf8(k) <= utf8(last)]
    assert got[: len(upto)] == upto
    assert got == wanted[: len(got)]


def test_no_folder_past_last_is_asked_for() -> None:
    keys = [f"d{f}/k{k}" for f in range(10) for k in range(3)]
    server = ListingServer(keys)
    got = asyncio.run(listed(bounded(server, "", "d2/k1", None, page=10)))
    assert got[: got.index("d2/k1") + 1] == sorted(keys, key=utf8)[:8]
    folders = [q["prefix"] for q in server.requests if "delimiter" not in q]
    assert folders == ["d0/", "d1/", "d2/"]


def test_no_more_folders_are_queued_than_the_budget_can_fill() -> None:
    """A budget of 5 keys, both sides together (about 3 for this side: one folder of 3
    keys), has this side queue one folder at a time, not the whole width of 4: after 5
    keys only the two folders they came from were asked for."""
    keys = [f"d{f}/k{k}" for f in range(10) for k in range(3)]
    server = ListingServer(keys)

    async def read_five() -> list[str]:
        found = list_by_folder(bounded(server, "", None, 5, page=3))
        got = [(await anext(found)).key for _ in range(5)]
        await found.aclose()
        return got

    assert asyncio.run(read_five()) == sorted(keys, key=utf8)[:5]
    folders = [q["prefix"] for q in server.requests if "delimiter" not in q]
    assert folders == ["d0/", "d1/"]
