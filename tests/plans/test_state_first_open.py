"""A new state database opened by several plans at the same moment: every one of them
gets it (switching a new file to WAL needs the only lock on it, and SQLite answers
"database is locked" at once to whoever comes second, without waiting)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bucketvault.plans.schema import SCHEMA_VERSION, prepare

OPENERS = 8


def open_at_once(path: Path) -> list[BaseException]:
    start = threading.Barrier(OPENERS)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait(timeout=10)
        try:
            prepare(path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_many_first_opens_at_once(tmp_path: Path) -> None:
    for attempt in range(15):  # bounded: a race, so tried on several fresh files
        path = tmp_path / f"state-{attempt}.db"
        assert open_at_once(path) == []
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            conn.close()
