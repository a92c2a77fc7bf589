"""What a backup range is sent and sends back: the journal's records of its keys (cut
where a budget of them ends) and what it recorded, written into the journal."""

from __future__ import annotations

from pathlib import Path

from bucketvault.history.journal import Journal
from bucketvault.history.record import Entry
from bucketvault.mirror.engine import MirrorJob
from bucketvault.mirror.ranges import KeyRange
from bucketvault.scaleout.coordinator import Distributed, _with_records, next_budget
from bucketvault.scaleout.sealing import Sealed
from bucketvault.scaleout.views import JournalWindow, RangeJournal
from bucketvault.scaleout.work import BucketSpec, JobSpec
from bucketvault.store.memory import MemoryEndpoint


def entry(key: str, etag: str = "e1") -> Entry:
    return Entry(key=key, size=1, etag=etag, md5=None, stored_etag=etag)


def journal_of(tmp_path: Path, keys: list[str]) -> Journal:
    journal = Journal(tmp_path / "j.db")
    journal.resume_or_reset("parent")
    journal.load_parent(entry(k) for k in keys)
    return journal


def work_with(journal: Journal) -> Distributed:
    store = MemoryEndpoint()
    job = MirrorJob(store.bucket("live"), store.bucket("backup"))
    unsent = BucketSpec(Sealed(b""), "unused")  # the range is not sent anywhere here
    spec = JobSpec(unsent, unsent, job.options)
    return Distributed(job, spec, target_window=JournalWindow(journal))


def test_a_range_with_more_records_than_its_budget_is_cut_where_they_end(
    tmp_path: Path,
) -> None:
    keys = [f"k{i:03d}" for i in range(10)] + ["z/é", "z/ü"]
    journal = journal_of(tmp_path, keys)
    work = work_with(journal)
    sent, rest = _with_records(work.spec, work, KeyRange("k001", None), 4)
    assert sent.key_range == KeyRange("k001", "k005")
    assert [Entry.from_line(line).key for line in sent.target_lines] == [
        "k002", "k003", "k004", "k005",
    ]  # fmt: skip
    assert rest == KeyRange("k005", None)
    last, none_left = _with_records(work.spec, work, KeyRange("k007", None), 10)
    assert last.key_range == KeyRange("k007", None) and none_left is None
    assert [Entry.from_line(line).key for line in last.target_lines] == [
        "k008", "k009", "z/é", "z/ü",
    ]  # fmt: skip


def test_what_a_range_recorded_goes_into_the_journal(tmp_path: Path) -> None:
    journal = journal_of(tmp_path, ["a", "b", "c"])
    window = JournalWindow(journal)
    worker_side = RangeJournal(window.lines(KeyRange("a", "c"), 10))
    assert [key for key, _, _ in worker_side.listing()] == ["b", "c"]
    assert worker_side.current("b") == entry("b")
    worker_side.record(entry("b", "e2"))
    worker_side.record_deleted("c")
    worker_side.record(entry("bb"))
    assert worker_side.current("b") == entry("b", "e2") and worker_side.current("c") is None
    window.absorb(worker_side.recorded, archived=2)
    assert [key for key, _, _ in journal.listing()] == ["a", "b", "bb"]
    assert journal.current("b") == entry("b", "e2") and window.archived == 2
    counts = journal.counts()
    assert (counts.added, counts.changed, counts.deleted) == (1, 1, 1)


def test_the_budget_grows_with_what_was_listed() -> None:
    assert next_budget(4000, 0, 2, windowed=False) == 4000
    assert next_budget(4000, 400_000, 2, windowed=False) == 50_000
    assert next_budget(4000, 10**9, 2, windowed=False) == 100_000
    assert next_budget(4000, 10**9, 2, windowed=True) == 20_000
    assert next_budget(37, 100, 2, windowed=False) == 37
