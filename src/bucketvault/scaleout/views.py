"""The backup bucket and snapshots, spread over workers: each worker is sent the records
of its key range only.

A backup compares the live bucket with the latest snapshot as the local journal holds
it, and a restore reads a snapshot indexed on the coordinator's disk; neither file can
be reached from a Ray node elsewhere. So the coordinator sends each range the records it
needs (`window`: at most as many as the range's budget; the range is cut where they end)
and a worker reads them through the same views a one-process run uses
(`history.target.BackupTarget`, `history.source.SnapshotSource`). What a backup worker
records comes back with its range and goes into the journal; a range that is lost
records nothing, and redoing it is safe (a copy replaced before is archived first).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bucketvault.history.index import EntryTable, window_lines
from bucketvault.history.journal import Journal
from bucketvault.history.record import Entry
from bucketvault.mirror.ranges import KeyRange
from bucketvault.store.keys import sort_key

Recorded = tuple[str, str | None]
"""(key, record line) a backup worker wrote, or (key, None) for a key it deleted."""


class EntrySlice:
    """A snapshot's entries for one key range, as `SnapshotSource` reads them."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._entries = [Entry.from_line(line) for line in lines]
        self._by_key = {entry.key: entry for entry in self._entries}

    def get(self, key: str) -> Entry | None:
        return self._by_key.get(key)

    def ordered(self, *, prefix: str = "", start_after: str | None = None) -> Iterator[Entry]:
        after = sort_key(start_after) if start_after is not None else None
        for entry in self._entries:
            if entry.key.startswith(prefix) and (after is None or sort_key(entry.key) > after):
                yield entry


class RangeJournal:
    """A backup journal for one key range: what the backup bucket holds there (sent by
    the coordinator), and what this worker changed."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._held = EntrySlice(lines)
        self._changed: dict[str, Entry | None] = {}
        self.recorded: list[Recorded] = []

    def listing(self, start_after: str | None = None) -> Iterator[tuple[str, int, str]]:
        for entry in self._held.ordered(start_after=start_after):
            yield entry.key, entry.size, entry.etag

    def current(self, key: str) -> Entry | None:
        if key in self._changed:
            return self._changed[key]
        return self._held.get(key)

    def record(self, entry: Entry) -> None:
        self._changed[entry.key] = entry
        self.recorded.append((entry.key, entry.to_line()))

    def record_deleted(self, key: str) -> None:
        self._changed[key] = None
        self.recorded.append((key, None))


class Window(Protocol):
    """Coordinator side: the records a range needs, from a local table."""

    def lines(self, key_range: KeyRange, limit: int) -> list[str]: ...

    def absorb(self, recorded: Iterable[Recorded], archived: int) -> None:
        """Take in what a worker recorded (only a backup's journal records anything) and
        how many replaced copies it archived."""
        ...


@dataclass(slots=True)
class JournalWindow:
    journal: Journal
    archived: int = 0

    def lines(self, key_range: KeyRange, limit: int) -> list[str]:
        return self.journal.window(key_range.start_after, key_range.last, limit)

    def absorb(self, recorded: Iterable[Recorded], archived: int) -> None:
        self.archived += archived
        for key, line in recorded:
            if line is None:
                self.journal.record_deleted(key)
            else:
                self.journal.record(Entry.from_line(line))


@dataclass(slots=True)
class SnapshotWindow:
    table: EntryTable
    prefix: str = ""

    def lines(self, key_range: KeyRange, limit: int) -> list[str]:
        rows = self.table.rows(prefix=self.prefix, start_after=key_range.start_after)
        return window_lines(rows, key_range.last, limit)

    def absorb(self, recorded: Iterable[Recorded], archived: int) -> None:
        pass
