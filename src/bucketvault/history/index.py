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

PAGE = 1000


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class EntryTable:
    """One table of entries; a NULL line marks a key as deleted (the backup journal)."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self._conn = conn
        self.name = name
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} "
            "(k BLOB PRIMARY KEY, size INTEGER NOT NULL, line TEXT) WITHOUT ROWID"
        )

    def clear(self) -> None:
        self._conn.execute(f"DELETE FROM {self.name}")

    def load(self, entries: Iterable[Entry]) -> int:
        count = 0
        rows: list[tuple[bytes, int, str]] = []
        self._conn.execute("BEGIN")
        try:
            for entry in entries:
                rows.append((sort_key(entry.key), entry.size, entry.to_line()))
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

    def _insert(self, rows: list[tuple[bytes, int, str]]) -> None:
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {self.name} (k, size, line) VALUES (?,?,?)", rows
        )

    def put(self, entry: Entry) -> None:
        self._insert([(sort_key(entry.key), entry.size, entry.to_line())])

    def mark_deleted(self, key: str) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO {self.name} (k, size, line) VALUES (?,0,NULL)",
            (sort_key(key),),
        )

    def get(self, key: str) -> Entry | None:
        row = self._conn.execute(
            f"SELECT line FROM {self.name} WHERE k=?", (sort_key(key),)
        ).fetchone()
        return Entry.from_line(row[0]) if row is not None and row[0] is not None else None

    def ordered(self, *, prefix: str = "") -> Iterator[Entry]:
        """Every entry whose key starts with `prefix`, in key order; read a page at a time
        (keyset), so rows may be added behind the read position while it runs."""
        low = sort_key(prefix)
        after: bytes | None = None
        while True:
            if after is None:
                rows = self._conn.execute(
                    f"SELECT k, line FROM {self.name} WHERE k >= ? AND line IS NOT NULL "
                    "ORDER BY k LIMIT ?",
                    (low, PAGE),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT k, line FROM {self.name} WHERE k > ? AND line IS NOT NULL "
                    "ORDER BY k LIMIT ?",
                    (after, PAGE),
                ).fetchall()
            for k, line in rows:
                if not bytes(k).startswith(low):
                    return
                yield Entry.from_line(line)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def count(self) -> tuple[int, int]:
        """(objects, bytes) of the entries present."""
        row = self._conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size),0) FROM {self.name} WHERE line IS NOT NULL"
        ).fetchone()
        return int(row[0]), int(row[1])
