"""The state database's schema and its version (`PRAGMA user_version`).

A database written by a newer bucketvault is refused rather than misread; an older one
is brought up to date here: every statement is `CREATE … IF NOT EXISTS`, so running them
all again adds what a newer version added (2: the `events` table of `plan logs`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bucketvault.errors import ConfigError
from bucketvault.wal import use_wal

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    spec TEXT NOT NULL,
    params TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 0,
    runner_id TEXT,
    runner_pid INTEGER,
    runner_lease REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (service, plan)
);
CREATE TABLE IF NOT EXISTS phases (
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    phase TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service, plan, phase)
);
CREATE TABLE IF NOT EXISTS steps (
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    phase TEXT NOT NULL,
    step TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 0,
    progress TEXT,
    exit_code INTEGER,
    epoch INTEGER NOT NULL DEFAULT 0,
    owner_id TEXT,
    owner_pid INTEGER,
    updated REAL NOT NULL,
    PRIMARY KEY (service, plan, phase, step)
);
CREATE TABLE IF NOT EXISTS errors (
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    phase TEXT NOT NULL,
    step TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS errors_by_plan ON errors (service, plan);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    phase TEXT NOT NULL,
    step TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT
);
CREATE INDEX IF NOT EXISTS events_by_plan ON events (service, plan, id);
CREATE TABLE IF NOT EXISTS locks (
    resource TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    plan TEXT NOT NULL,
    runner_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    lease REAL NOT NULL
);
"""


def prepare(path: Path) -> None:
    """Switch the file to WAL mode and create or check the schema."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        use_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            raise ConfigError(
                f"{path} was written by a newer bucketvault (schema {version}, "
                f"this one knows {SCHEMA_VERSION}): upgrade bucketvault"
            )
        if version < SCHEMA_VERSION:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    finally:
        conn.close()
