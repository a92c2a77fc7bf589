"""A backup run's working state, in a local SQLite file next to the state database.

It holds the parent snapshot's entries (what the backup bucket is known to hold) and
what this run changed: objects written, keys deleted. A run that is killed keeps its
journal; the next run with the same parent picks it up and copies only what is still
missing. A journal whose parent is no longer the latest snapshot is discarded, and
losing it (a new machine) only means copying again what was not yet published.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bucketvault.history.index import EntryTable, Stored, connect, window_lines
from bucketvault.history.record import Entry
from bucketvault.store.keys import sort_key


@dataclass(frozen=True, slots=True)
class Counts:
    """The new snapshot against its parent."""

    objects: int
    bytes: int
    added: int
    changed: int
    deleted: int


def _key(k: bytes) -> str:
    return k.decode("utf-8", "surrogatepass")


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._conn = connect(path)
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self.parent = EntryTable(self._conn, "parent")
        self.changes = EntryTable(self._conn, "changes")

    def _meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?,?)", (name, value))

    def resume_or_reset(self, parent_id: str | None) -> bool:
        """True when an interrupted run on the same parent left work to keep."""
        same = self._meta("parent") == (parent_id or "") and self._meta("loaded") == "1"
        if not same:
            self.parent.clear()
            self.changes.clear()
            self._set("parent", parent_id or "")
            self._set("loaded", "0")
        return same

    def load_parent(self, entries: Iterable[Entry]) -> None:
        self.parent.load(entries)
        self._set("loaded", "1")

    def record(self, entry: Entry) -> None:
        self.changes.put(entry)

    def record_deleted(self, key: str) -> None:
        self.changes.mark_deleted(key)

    def current(self, key: str) -> Entry | None:
        """What the backup bucket holds for `key` now, as far as this run knows."""
        row = self._conn.execute("SELECT line FROM changes WHERE k=?", (sort_key(key),)).fetchone()
        if row is not None:
            return None if row[0] is None else Entry.from_line(row[0])
        return self.parent.get(key)

    def _merged(
        self, start_after: str | None = None
    ) -> Iterator[tuple[Stored | None, Stored | None]]:
        """(parent row, change row) for every key (after `start_after`), in key order;
        either may be None."""
        parents = self.parent.rows(start_after=start_after)
        changes = self.changes.rows(deleted=True, start_after=start_after)
        p = next(parents, None)
        c = next(changes, None)
        while p is not None or c is not None:
            if c is None or (p is not None and p[0] < c[0]):
                yield p, None
                p = next(parents, None)
            elif p is None or c[0] < p[0]:
                yield None, c
                c = next(changes, None)
            else:
                yield p, c
                p = next(parents, None)
                c = next(changes, None)

    def _current(self, start_after: str | None = None) -> Iterator[Stored]:
        """The row for each key the backup bucket now holds, in key order."""
        for parent, change in self._merged(start_after):
            row = change if change is not None else parent
            if row is not None and row[3] is not None:
                yield row

    def listing(self, start_after: str | None = None) -> Iterator[tuple[str, int, str]]:
        """(key, size, live ETag) of what the backup bucket holds, in key order: the
        mirror's target listing, read without parsing a record."""
        for k, size, etag, _ in self._current(start_after):
            yield _key(k), size, etag or ""

    def window(self, start_after: str | None, last: str | None, limit: int) -> list[str]:
        """The records of what the backup bucket holds after `start_after` up to `last`,
        at most `limit` of them: what a worker backing up that key range needs to know."""
        return window_lines(self._current(start_after), last, limit)

    def lines(self) -> Iterator[str]:
        """The new snapshot's records in key order; unchanged ones copied verbatim."""
        for _, _, _, line in self._current():
            assert line is not None
            yield line

    def counts(self) -> Counts:
        objects = size = added = changed = deleted = 0
        for parent, change in self._merged():
            if change is None:
                assert parent is not None
                objects += 1
                size += parent[1]
            elif change[3] is None:
                deleted += parent is not None
            else:
                objects += 1
                size += change[1]
                if parent is None:
                    added += 1
                elif parent[3] != change[3]:
                    changed += 1
        return Counts(objects, size, added, changed, deleted)

    def close(self) -> None:
        self._conn.close()

    def discard(self) -> None:
        """Close and remove the journal (closing twice is harmless)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
