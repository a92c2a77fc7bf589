"""Storage keys for keys some servers cannot hold, and the record format's round trip."""

from __future__ import annotations

import pytest

from bucketvault.errors import IntegrityError
from bucketvault.history.layout import (
    MAPPED,
    is_snapshot_id,
    needs_mapping,
    new_snapshot_id,
    storage_key,
)
from bucketvault.history.record import Entry
from bucketvault.store.model import ObjectAttributes

MAPPING = {
    "plain key": ("photos/2024/a.jpg", False),
    "unicode": ("résumé/東京.txt", False),
    "space and plus": ("with space+plus", False),
    "double slash (SeaweedFS folds it)": ("a//b", True),
    "leading slash (SeaweedFS drops it)": ("/leading", True),
    "trailing slash (file-backed servers drop it)": ("folder/", True),
    "dot segment (MinIO refuses it)": ("a/./b", True),
    "dot-dot segment": ("../up", True),
    "lone dot": (".", True),
    "dots inside a name are fine": ("a..b/.hidden", False),
    "backslash": ("a\\b", True),
    "control character": ("a\nb", True),
    "bucketvault's own folder": (".bucketvault/snapshots/x.json", True),
    "lone surrogate": ("bad\udc80", True),
}


@pytest.mark.parametrize(("key", "mapped"), list(MAPPING.values()), ids=list(MAPPING))
def test_storage_key(key: str, mapped: bool) -> None:
    assert needs_mapping(key) is mapped
    location = storage_key(key)
    if mapped:
        assert location.startswith(MAPPED) and len(location) == len(MAPPED) + 64
        assert storage_key(key) == location  # stable: a re-run finds the same copy
    else:
        assert location == key


def test_distinct_keys_get_distinct_storage_keys() -> None:
    keys = [k for k, mapped in MAPPING.values() if mapped]
    assert len({storage_key(k) for k in keys}) == len(keys)


def test_snapshot_ids_sort_by_time() -> None:
    from datetime import UTC, datetime

    first = new_snapshot_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    second = new_snapshot_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert first.startswith("20260102T030405Z-") and first < second
    assert is_snapshot_id(first) and not is_snapshot_id("20260102T030405Z")


ENTRY = Entry(
    key="/odd//ключ\t",
    size=5,
    etag="d41d8cd98f00b204e9800998ecf8427e",
    md5="d41d8cd98f00b204e9800998ecf8427e",
    stored_etag="d41d8cd98f00b204e9800998ecf8427e",
    version="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    stored_as=storage_key("/odd//ключ\t"),
    attributes=ObjectAttributes(
        content_type="text/plain; charset=utf-8",
        cache_control="max-age=60",
        metadata={"owner": "alice", "bucketvault-mine": "kept"},
        tags={"team": "ops", "empty": ""},
    ),
)


@pytest.mark.parametrize(
    "entry",
    [
        ENTRY,
        Entry(key="k", size=0, etag="abc-2", md5=None, stored_etag="def-3"),
        Entry(
            key="k",
            size=1,
            etag="e",
            md5=None,
            stored_etag="e",
            attributes=ObjectAttributes(tags={}),
        ),
    ],
    ids=["every field", "multipart, no md5, tags unknown", "no tags"],
)
def test_entry_round_trip(entry: Entry) -> None:
    line = entry.to_line()
    assert "\n" not in line
    assert Entry.from_line(line) == entry


def test_checked_attributes_carry_the_md5() -> None:
    checked = ENTRY.checked_attributes()
    assert checked.recorded_md5 == ENTRY.md5
    assert checked.metadata == ENTRY.attributes.metadata  # the user's own, nothing added
    assert ENTRY.location == ENTRY.stored_as


@pytest.mark.parametrize("line", ['{"key": "k"}', "not json", '{"key": 1, "size": "x"}'])
def test_malformed_records_are_integrity_errors(line: str) -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        Entry.from_line(line)
