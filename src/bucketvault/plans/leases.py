"""Who is running what: runner leases on plans and resource locks, and liveness.

A *holder* (the runner of a plan, or the owner of a lock) is identified by a runner id,
its pid and a lease expiry. It is *alive* while the lease has not expired and the pid
is alive; in the holder's own process, while the runner id is registered here (so a
runner that ended without releasing — or a second manager in the same process — is
told apart from the live one). Dead holders' locks are dropped when next looked at.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_LOCAL_RUNNERS: set[str] = set()


def register_local_runner(runner_id: str) -> None:
    _LOCAL_RUNNERS.add(runner_id)


def unregister_local_runner(runner_id: str) -> None:
    _LOCAL_RUNNERS.discard(runner_id)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(runner_id: str | None, pid: int | None, lease: float | None, now: float) -> bool:
    if runner_id is None or pid is None or lease is None or lease < now:
        return False
    if pid == os.getpid():
        return runner_id in _LOCAL_RUNNERS
    return pid_alive(pid)


@dataclass(frozen=True, slots=True)
class LockHolder:
    resource: str
    service: str
    plan: str
    pid: int


class LeaseOps:
    """The runner and lock operations of a transaction (mixed into `state.Tx`)."""

    conn: sqlite3.Connection
    now: float

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def claim_runner(
        self, service: str, plan: str, runner_id: str, lease: float
    ) -> tuple[bool, int | None]:
        """Become the plan's runner; (False, pid of the live runner) if another one runs it."""
        row = self._one(
            "SELECT runner_id, runner_pid, runner_lease FROM plans WHERE service=? AND plan=?",
            service,
            plan,
        )
        if row is None:
            return False, None
        if row["runner_id"] != runner_id and holder_alive(
            row["runner_id"], row["runner_pid"], row["runner_lease"], self.now
        ):
            return False, row["runner_pid"]
        self.conn.execute(
            "UPDATE plans SET runner_id=?, runner_pid=?, runner_lease=? WHERE service=? AND plan=?",
            (runner_id, os.getpid(), lease, service, plan),
        )
        return True, os.getpid()

    def renew(self, runner_id: str, lease: float) -> None:
        self.conn.execute("UPDATE plans SET runner_lease=? WHERE runner_id=?", (lease, runner_id))
        self.conn.execute("UPDATE locks SET lease=? WHERE runner_id=?", (lease, runner_id))

    def release_runner(self, service: str, plan: str, runner_id: str) -> None:
        self.conn.execute(
            "UPDATE plans SET runner_id=NULL, runner_pid=NULL, runner_lease=NULL "
            "WHERE service=? AND plan=? AND runner_id=?",
            (service, plan, runner_id),
        )
        self.conn.execute("DELETE FROM locks WHERE runner_id=?", (runner_id,))

    def lock_conflicts(self, resources: Sequence[str], service: str, plan: str) -> list[LockHolder]:
        """Live holders of any of `resources` other than this plan; dead holders are dropped."""
        conflicts = []
        for resource in resources:
            row = self._one("SELECT * FROM locks WHERE resource=?", resource)
            if row is None:
                continue
            if not holder_alive(row["runner_id"], row["pid"], row["lease"], self.now):
                self.conn.execute("DELETE FROM locks WHERE resource=?", (resource,))
                continue
            if (row["service"], row["plan"]) != (service, plan):
                conflicts.append(LockHolder(resource, row["service"], row["plan"], row["pid"]))
        return conflicts

    def acquire_locks(
        self, resources: Sequence[str], service: str, plan: str, runner_id: str, lease: float
    ) -> list[LockHolder]:
        """Take every lock in `resources`, or none of them and return the conflicts."""
        conflicts = self.lock_conflicts(resources, service, plan)
        if conflicts:
            return conflicts
        self.conn.executemany(
            "INSERT OR REPLACE INTO locks (resource, service, plan, runner_id, pid, lease) "
            "VALUES (?,?,?,?,?,?)",
            [(r, service, plan, runner_id, os.getpid(), lease) for r in resources],
        )
        return []
