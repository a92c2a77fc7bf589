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

from bucketvault.history.index import EntryTable, connect
from bucketvault.history.record import Entry
from bucketvault.store.keys import sort_key


@dataclass(frozen=True, slots=True)
class Change:
    """One key of the new snapshot against its parent."""

    key: str
    entry: Entry | None  # None: deleted
    before: Entry | None  # the parent's entry


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

    def _raw_changes(self) -> Iterator[tuple[bytes, str | None]]:
        after = b""
        first = True
        while True:
            rows = self._conn.execute(
                "SELECT k, line FROM changes WHERE k > ? OR ? ORDER BY k LIMIT 1000",
                (after, first),
            ).fetchall()
            yield from ((bytes(k), line) for k, line in rows)
            if len(rows) < 1000:
                return
            after, first = bytes(rows[-1][0]), False

    def merged(self) -> Iterator[Change]:
        """Every key of parent and changes, in key order, with both sides."""
        parents = iter(self.parent.ordered())
        changes = self._raw_changes()
        p = next(parents, None)
        c = next(changes, None)
        while p is not None or c is not None:
            pk = sort_key(p.key) if p is not None else None
            if c is None or (pk is not None and pk < c[0]):
                assert p is not None
                yield Change(p.key, p, p)
                p = next(parents, None)
                continue
            entry = Entry.from_line(c[1]) if c[1] is not None else None
            before = p if pk == c[0] else None
            key = entry.key if entry is not None else (before.key if before else None)
            if key is None:  # deleted, and never in the parent: nothing to say
                c = next(changes, None)
                continue
            yield Change(key, entry, before)
            if pk == c[0]:
                p = next(parents, None)
            c = next(changes, None)

    def listing(self) -> Iterator[Entry]:
        """What the backup bucket holds, in key order (the mirror's target listing)."""
        for change in self.merged():
            if change.entry is not None:
                yield change.entry

    def close(self) -> None:
        self._conn.close()

    def discard(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
