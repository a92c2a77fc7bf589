"""Recent runs and each backup bucket's last success, in the state database."""

from __future__ import annotations

import json
from typing import Any

from bucketvault.plans.state import StateStore
from bucketvault.runs.record import RunRecord, StepRecord

KEEP_RUNS = 500  # per service; older records are dropped

_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service TEXT NOT NULL,
        plan TEXT NOT NULL,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL NOT NULL,
        record TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS runs_by_service ON runs (service, id)",
    """
    CREATE TABLE IF NOT EXISTS snapshot_stats (
        service TEXT NOT NULL,
        bucket TEXT NOT NULL,
        count INTEGER NOT NULL,
        oldest REAL,
        at REAL NOT NULL,
        PRIMARY KEY (service, bucket)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backup_success (
        service TEXT NOT NULL,
        bucket TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (service, bucket)
    )
    """,
)


def _from_json(text: str) -> RunRecord:
    data: dict[str, Any] = json.loads(text)
    steps = tuple(StepRecord(**s) for s in data.pop("steps", []))
    data["first_errors"] = tuple(data.get("first_errors", ()))
    return RunRecord(steps=steps, **data)


def _to_json(record: RunRecord) -> str:
    from dataclasses import asdict

    return json.dumps(asdict(record))


class RunStore:
    def __init__(self, state: StateStore | None = None) -> None:
        self.state = state or StateStore()
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            with self.state.write() as tx:
                for statement in _TABLES:
                    tx.conn.execute(statement)
            self._ready = True

    def add(self, record: RunRecord) -> None:
        self._ensure()
        with self.state.write() as tx:
            tx.conn.execute(
                "INSERT INTO runs (service, plan, status, started, ended, record) "
                "VALUES (?,?,?,?,?,?)",
                (
                    record.service,
                    record.plan,
                    record.status,
                    record.started,
                    record.ended,
                    _to_json(record),
                ),
            )
            tx.conn.execute(
                "DELETE FROM runs WHERE service=? AND id NOT IN "
                "(SELECT id FROM runs WHERE service=? ORDER BY id DESC LIMIT ?)",
                (record.service, record.service, KEEP_RUNS),
            )
            for bucket in record.succeeded_buckets:
                tx.conn.execute(
                    "INSERT INTO backup_success (service, bucket, at) VALUES (?,?,?) "
                    "ON CONFLICT (service, bucket) DO UPDATE SET at=max(at, excluded.at)",
                    (record.service, bucket, record.ended),
                )

    def recent(self, service: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The latest runs, newest first."""
        self._ensure()
        with self.state.read() as tx:
            if service is None:
                rows = tx.conn.execute("SELECT record FROM runs ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = tx.conn.execute(
                    "SELECT record FROM runs WHERE service=? ORDER BY id DESC LIMIT ?",
                    (service, limit),
                )
            return [_from_json(r["record"]) for r in rows]

    def last_runs(self) -> list[RunRecord]:
        """The latest run of every (service, plan)."""
        self._ensure()
        with self.state.read() as tx:
            rows = tx.conn.execute(
                "SELECT record FROM runs WHERE id IN "
                "(SELECT max(id) FROM runs GROUP BY service, plan) ORDER BY service, plan"
            )
            return [_from_json(r["record"]) for r in rows]

    def last_backup_success(self) -> dict[tuple[str, str], float]:
        """(service, bucket) → when its backup last completed."""
        self._ensure()
        with self.state.read() as tx:
            rows = tx.conn.execute("SELECT service, bucket, at FROM backup_success")
            return {(r["service"], r["bucket"]): r["at"] for r in rows}

    def set_snapshots(
        self, service: str, stats: dict[str, tuple[int, float | None]], at: float
    ) -> None:
        self._ensure()
        with self.state.write() as tx:
            for bucket, (count, oldest) in stats.items():
                tx.conn.execute(
                    "INSERT INTO snapshot_stats (service, bucket, count, oldest, at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT (service, bucket) DO UPDATE SET "
                    "count=excluded.count, oldest=excluded.oldest, at=excluded.at",
                    (service, bucket, count, oldest, at),
                )

    def snapshots(self) -> dict[tuple[str, str], tuple[int, float | None]]:
        """(service, bucket) → (snapshots kept, oldest one's time), as last seen."""
        self._ensure()
        with self.state.read() as tx:
            rows = tx.conn.execute("SELECT service, bucket, count, oldest FROM snapshot_stats")
            return {(r["service"], r["bucket"]): (r["count"], r["oldest"]) for r in rows}
