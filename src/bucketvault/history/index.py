"""Snapshot entries on disk, in key order: SQLite tables keyed by the key's UTF-8 bytes.

A snapshot can name millions of objects; reading one into memory would make memory
grow with bucket size. An `EntryTable` keeps entries in a SQLite file instead, keyed
by `keys.sort_key(key)` (SQLite compares BLOBs bytewise, which is S3's listing order),
so entries come back in listing order and single keys are found without a scan.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from bucketvault.history.record import Entry
from bucketvault.store.keys import sort_key
from bucketvault.wal import use_wal

PAGE = 1000

Row = tuple[str, int, str, str]
"""(key, size, etag, line) of one entry."""
Stored = tuple[bytes, int, str | None, str | None]
"""(sort key, size, etag, line) as stored; etag and line are None for a deletion mark."""


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def window_lines(rows: Iterable[Stored], last: str | None, limit: int) -> list[str]:
    """The record lines of `rows` up to key `last`, at most `limit` of them."""
    high = sort_key(last) if last is not None else None
    lines: list[str] = []
    for k, _, _, line in rows:
        if (high is not None and k > high) or len(lines) >= limit:
            break
        assert line is not None
        lines.append(line)
    return lines


class EntryTable:
    """One table of entries; a NULL line marks a key as deleted (the backup journal)."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self._conn = conn
        self.name = name
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} "
            "(k BLOB PRIMARY KEY, size INTEGER NOT NULL, etag TEXT, line TEXT) WITHOUT ROWID"
        )

    def clear(self) -> None:
        self._conn.execute(f"DELETE FROM {self.name}")

    def load(self, entries: Iterable[Entry]) -> int:
        return self.load_rows((e.key, e.size, e.etag, e.to_line()) for e in entries)

    def load_rows(self, rows_in: Iterable[Row]) -> int:
        """Store (key, size, etag, line) rows as they are: the line text is kept verbatim,
        so entries that do not change are never parsed or written again."""
        count = 0
        rows: list[tuple[bytes, int, str, str]] = []
        self._conn.execute("BEGIN")
        try:
            for key, size, etag, line in rows_in:
                rows.append((sort_key(key), size, etag, line))
                if len(rows) >= PAGE:
                    self._insert(rows)
                    count += len(rows)
                    rows = []
            self._insert(rows)
            count += len(rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return count

    def _insert(self, rows: list[tuple[bytes, int, str, str]]) -> None:
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {self.name} (k, size, etag, line) VALUES (?,?,?,?)", rows
        )

    def put(self, entry: Entry) -> None:
        self._insert([(sort_key(entry.key), entry.size, entry.etag, entry.to_line())])

    def mark_deleted(self, key: str) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO {self.name} (k, size, etag, line) VALUES (?,0,NULL,NULL)",
            (sort_key(key),),
        )

    def get(self, key: str) -> Entry | None:
        row = self._conn.execute(
            f"SELECT line FROM {self.name} WHERE k=?", (sort_key(key),)
        ).fetchone()
        return Entry.from_line(row[0]) if row is not None and row[0] is not None else None

    def rows(
        self, *, prefix: str = "", deleted: bool = False, start_after: str | None = None
    ) -> Iterator[Stored]:
        """(key bytes, size, etag, line) of every row whose key starts with `prefix` (and
        comes after `start_after`), in key order (with `deleted`, also the deletion marks,
        whose line is None). Read a page at a time (keyset), so rows may be added behind
        the read position meanwhile."""
        low = sort_key(prefix)
        live = "" if deleted else " AND line IS NOT NULL"
        query = (
            f"SELECT k, size, etag, line FROM {self.name} WHERE k {{}} ?{live} ORDER BY k LIMIT ?"
        )
        after = sort_key(start_after) if start_after is not None else None
        if after is not None and after >= low:
            rows = self._conn.execute(query.format(">"), (after, PAGE)).fetchall()
        else:
            rows = self._conn.execute(query.format(">="), (low, PAGE)).fetchall()
        while True:
            for k, size, etag, line in rows:
                if not bytes(k).startswith(low):
                    return
                yield bytes(k), size, etag, line
            if len(rows) < PAGE:
                return
            rows = self._conn.execute(query.format(">"), (rows[-1][0], PAGE)).fetchall()

    def ordered(self, *, prefix: str = "", start_after: str | None = None) -> Iterator[Entry]:
        """Every entry whose key starts with `prefix` (after `start_after`), in key order."""
        for _, _, _, line in self.rows(prefix=prefix, start_after=start_after):
            assert line is not None
            yield Entry.from_line(line)
