"""The backup journal: the parent snapshot plus what a run changed, merged in key order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketvault.history.journal import Journal
from bucketvault.history.record import Entry


def entry(key: str, etag: str = "e1", size: int = 1) -> Entry:
    return Entry(key=key, size=size, etag=etag, md5=None, stored_etag=etag)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j" / "bucket.db")
    assert not j.resume_or_reset("parent-1")
    j.load_parent([entry("a"), entry("b"), entry("d"), entry("é")])
    return j


CASES = {
    "nothing changed": ([], [], ["a", "b", "d", "é"], (0, 0, 0)),
    "a new key between two old ones": ([entry("c")], [], ["a", "b", "c", "d", "é"], (1, 0, 0)),
    "a changed key": ([entry("b", "e2")], [], ["a", "b", "d", "é"], (0, 1, 0)),
    "a deleted key": ([], ["d"], ["a", "b", "é"], (0, 0, 1)),
    "a key added then deleted in one run": ([entry("c")], ["c"], ["a", "b", "d", "é"], (0, 0, 0)),
    "keys after the last old one, in byte order": (
        [entry("z"), entry("ü")],
        ["a"],
        ["b", "d", "z", "é", "ü"],
        (2, 0, 1),
    ),
}


@pytest.mark.parametrize(
    ("written", "deleted", "keys", "counts"), list(CASES.values()), ids=list(CASES)
)
def test_merged(
    journal: Journal,
    written: list[Entry],
    deleted: list[str],
    keys: list[str],
    counts: tuple[int, int, int],
) -> None:
    for e in written:
        journal.record(e)
    for key in deleted:
        journal.record_deleted(key)
    assert [key for key, _, _ in journal.listing()] == keys
    assert [Entry.from_line(line).key for line in journal.lines()] == keys
    found = journal.counts()
    assert (found.added, found.changed, found.deleted) == counts
    assert found.objects == len(keys)
    for key in deleted:
        assert journal.current(key) is None


def test_a_killed_run_resumes_only_on_the_same_parent(journal: Journal, tmp_path: Path) -> None:
    journal.record(entry("c"))
    journal.close()
    again = Journal(tmp_path / "j" / "bucket.db")
    assert again.resume_or_reset("parent-1")  # same parent: keep what was written
    assert [key for key, _, _ in again.listing()] == ["a", "b", "c", "d", "é"]
    again.close()
    other = Journal(tmp_path / "j" / "bucket.db")
    assert not other.resume_or_reset("parent-2")  # another run published since: start over
    assert list(other.listing()) == []
    other.discard()
    assert not (tmp_path / "j" / "bucket.db").exists()


def test_listing_pages_through_many_keys(tmp_path: Path) -> None:
    j = Journal(tmp_path / "many.db")
    j.resume_or_reset(None)
    j.load_parent(entry(f"k{i:05d}") for i in range(0, 5000, 2))
    for i in range(1, 5000, 2):
        j.record(entry(f"k{i:05d}"))
    assert [key for key, _, _ in j.listing()] == [f"k{i:05d}" for i in range(5000)]
    j.discard()
