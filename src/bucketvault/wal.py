"""Putting a local SQLite database (plan state, a snapshot index) in WAL mode.

Switching a file to WAL needs the only lock on it, and SQLite answers "database is
locked" at once to a connection that asks while another holds it, without waiting for
the busy timeout: two plans opening a new state database at the same moment failed that
way. So the switch is tried again, briefly, until it is done or was done by the other.
"""

from __future__ import annotations

import sqlite3
import time

WAL_WAIT_SECONDS = 30.0


def use_wal(conn: sqlite3.Connection, *, seconds: float = WAL_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
