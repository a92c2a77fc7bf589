"""Plan state in SQLite: the single source of truth shared by every process.

One file, `$BUCKETVAULT_HOME/state.db` (WAL mode, mode 0600, schema version in
`PRAGMA user_version`). Per (service, plan) it keeps the spec, the parameters with
secrets masked, the interrupted flags of the plan and of each phase, every step's
status/message/attempt/progress/owner, the plan's error lines, its run history
(`events`: step status changes and operator commands with their time, at most
`MAX_EVENTS` per plan, the oldest dropped first), and a global table of resource locks.
Secrets themselves live in `plans/secrets.py`, never here.

Terms:

- *runner*: the one task (in some process) driving a plan; it holds a lease
  (`runner_id`, pid, lease expiry) in the plan row and renews it while it runs.
- *alive*: a holder (runner or lock) whose lease has not expired and whose pid is
  alive (in this process: whose runner id is registered here).
- *epoch*: a per-step counter bumped by every operator command that changes the step.
  A runner writes a step only if the epoch is still the one it started with
  (compare-and-set), so a `pause`/`stop`/`force-complete` issued by another process
  always wins, and the runner notices it by polling.
- *in flight*: a step PREPARED/STARTING/STARTED/DELAYED. One whose owner is not the
  live runner is shown and treated as PENDING (crash recovery).

Every read or write is one short transaction on a fresh connection (`read()`/`write()`),
so the CLI and a running plan in another process can use the file at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketvault.plans.codec import spec_from_json, spec_to_json
from bucketvault.plans.leases import (
    LeaseOps,
    LockHolder,
    holder_alive,
    register_local_runner,
    unregister_local_runner,
)
from bucketvault.plans.schema import SCHEMA_VERSION, prepare
from bucketvault.plans.secrets import bucketvault_home, private_dir
from bucketvault.plans.spec import PlanSpec
from bucketvault.plans.status import IN_FLIGHT, Status, check_transition

MAX_EVENTS = 1000  # history kept per plan: enough for many runs, bounded for years of cron

__all__ = [
    "MAX_EVENTS",
    "SCHEMA_VERSION",
    "Event",
    "LockHolder",
    "PlanState",
    "StateStore",
    "StepState",
    "Tx",
    "holder_alive",
    "register_local_runner",
    "unregister_local_runner",
]


@dataclass(frozen=True, slots=True)
class StepState:
    phase: str
    step: str
    status: Status
    message: str
    attempt: int
    progress: dict[str, Any] | None
    exit_code: int | None
    epoch: int
    owner_id: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a plan's run history; `step` and `phase` are "" for the plan itself."""

    at: float
    phase: str
    step: str
    status: str
    message: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "phase": self.phase,
            "step": self.step,
            "status": self.status,
            "message": self.message,
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class PlanState:
    """One plan as stored, with crash recovery applied (dead owners' steps are PENDING)."""

    service: str
    plan: str
    spec: PlanSpec
    params: dict[str, str]
    interrupted: bool
    phase_interrupted: dict[str, bool]
    steps: dict[tuple[str, str], StepState]
    errors: list[str]
    version: int
    runner_id: str | None
    runner_pid: int | None
    runner_alive: bool

    def step(self, phase: str, step: str) -> StepState:
        return self.steps[(phase, step)]


class Tx(LeaseOps):
    """The operations available inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.now = time.time()

    # -- plans ---------------------------------------------------------------------------

    def load(self, service: str, plan: str) -> PlanState | None:
        row = self._one("SELECT * FROM plans WHERE service=? AND plan=?", service, plan)
        if row is None:
            return None
        alive = holder_alive(row["runner_id"], row["runner_pid"], row["runner_lease"], self.now)
        phases = {
            r["phase"]: bool(r["interrupted"])
            for r in self.conn.execute(
                "SELECT phase, interrupted FROM phases WHERE service=? AND plan=?", (service, plan)
            )
        }
        steps: dict[tuple[str, str], StepState] = {}
        for r in self.conn.execute(
            "SELECT * FROM steps WHERE service=? AND plan=?", (service, plan)
        ):
            status = Status(r["status"])
            owned = alive and r["owner_id"] == row["runner_id"]
            if status in IN_FLIGHT and not owned:
                status = Status.PENDING
            steps[(r["phase"], r["step"])] = StepState(
                phase=r["phase"],
                step=r["step"],
                status=status,
                message=r["message"],
                attempt=r["attempt"],
                progress=json.loads(r["progress"]) if r["progress"] else None,
                exit_code=r["exit_code"],
                epoch=r["epoch"],
                owner_id=r["owner_id"] if owned else None,
            )
        errors = [
            r["line"]
            for r in self.conn.execute(
                "SELECT line FROM errors WHERE service=? AND plan=? ORDER BY rowid", (service, plan)
            )
        ]
        return PlanState(
            service=service,
            plan=plan,
            spec=spec_from_json(row["spec"]),
            params=json.loads(row["params"]),
            interrupted=bool(row["interrupted"]),
            phase_interrupted=phases,
            steps=steps,
            errors=errors,
            version=row["version"],
            runner_id=row["runner_id"] if alive else None,
            runner_pid=row["runner_pid"] if alive else None,
            runner_alive=alive,
        )

    def list_plans(self, service: str | None = None) -> list[tuple[str, str]]:
        if service is None:
            rows = self.conn.execute("SELECT service, plan FROM plans ORDER BY service, plan")
        else:
            rows = self.conn.execute(
                "SELECT service, plan FROM plans WHERE service=? ORDER BY plan", (service,)
            )
        return [(r["service"], r["plan"]) for r in rows]

    def put_plan(self, service: str, plan: str, spec: PlanSpec, params: dict[str, str]) -> None:
        self.conn.execute(
            "INSERT INTO plans (service, plan, spec, params, updated) VALUES (?,?,?,?,?) "
            "ON CONFLICT (service, plan) DO UPDATE SET spec=excluded.spec, "
            "params=excluded.params, updated=excluded.updated",
            (service, plan, spec_to_json(spec), json.dumps(params), self.now),
        )

    def set_params(self, service: str, plan: str, params: dict[str, str]) -> None:
        """Replace the stored (masked) parameters of a plan that was started."""
        self.conn.execute(
            "UPDATE plans SET params=?, updated=? WHERE service=? AND plan=?",
            (json.dumps(params), self.now, service, plan),
        )

    def set_interrupted(self, service: str, plan: str, value: bool) -> None:
        self.conn.execute(
            "UPDATE plans SET interrupted=?, updated=? WHERE service=? AND plan=?",
            (int(value), self.now, service, plan),
        )

    def set_phase_interrupted(self, service: str, plan: str, phase: str, value: bool) -> None:
        self.conn.execute(
            "INSERT INTO phases (service, plan, phase, interrupted) VALUES (?,?,?,?) "
            "ON CONFLICT (service, plan, phase) DO UPDATE SET interrupted=excluded.interrupted",
            (service, plan, phase, int(value)),
        )

    def clear_phase_interrupts(self, service: str, plan: str) -> None:
        self.conn.execute("DELETE FROM phases WHERE service=? AND plan=?", (service, plan))

    def bump_version(self, service: str, plan: str) -> None:
        self.conn.execute(
            "UPDATE plans SET version=version+1 WHERE service=? AND plan=?", (service, plan)
        )

    # -- steps ---------------------------------------------------------------------------

    def ensure_step(self, service: str, plan: str, phase: str, step: str, fingerprint: str) -> bool:
        """Create the step PENDING unless it exists doing the same work; True if (re)created."""
        row = self._one(
            "SELECT fingerprint FROM steps WHERE service=? AND plan=? AND phase=? AND step=?",
            service,
            plan,
            phase,
            step,
        )
        if row is not None and row["fingerprint"] == fingerprint:
            return False
        self.clear_errors(service, plan, phase, step)
        self.conn.execute(
            "INSERT INTO steps (service, plan, phase, step, fingerprint, status, updated) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT (service, plan, phase, step) DO UPDATE SET "
            "fingerprint=excluded.fingerprint, status=excluded.status, message='', attempt=0, "
            "progress=NULL, exit_code=NULL, epoch=epoch+1, owner_id=NULL, owner_pid=NULL, "
            "updated=excluded.updated",
            (service, plan, phase, step, fingerprint, str(Status.PENDING), self.now),
        )
        return True

    def delete_steps_except(self, service: str, plan: str, keep: set[tuple[str, str]]) -> None:
        rows = self.conn.execute(
            "SELECT phase, step FROM steps WHERE service=? AND plan=?", (service, plan)
        ).fetchall()
        for r in rows:
            if (r["phase"], r["step"]) not in keep:
                self.conn.execute(
                    "DELETE FROM steps WHERE service=? AND plan=? AND phase=? AND step=?",
                    (service, plan, r["phase"], r["step"]),
                )
                self.clear_errors(service, plan, r["phase"], r["step"])

    def reset_step(
        self, service: str, plan: str, phase: str, step: str, status: Status, message: str = ""
    ) -> None:
        """An operator's change (restart, force-complete, interrupt): wins over any runner."""
        row = self._one(
            "SELECT status FROM steps WHERE service=? AND plan=? AND phase=? AND step=?",
            service,
            plan,
            phase,
            step,
        )
        if row is None:
            return
        check_transition(Status(row["status"]), status)
        self.clear_errors(service, plan, phase, step)
        keep_progress = status is Status.COMPLETE
        self.conn.execute(
            "UPDATE steps SET status=?, message=?, attempt=0, exit_code=NULL, epoch=epoch+1, "
            "owner_id=NULL, owner_pid=NULL, updated=?"
            + ("" if keep_progress else ", progress=NULL")
            + " WHERE service=? AND plan=? AND phase=? AND step=?",
            (str(status), message, self.now, service, plan, phase, step),
        )

    def update_step(
        self,
        service: str,
        plan: str,
        phase: str,
        step: str,
        *,
        epoch: int,
        owner_id: str,
        status: Status | None = None,
        message: str | None = None,
        attempt: int | None = None,
        progress: dict[str, Any] | None = None,
        exit_code: int | None = None,
    ) -> bool:
        """A runner's write, applied only if the step's epoch is still `epoch`."""
        row = self._one(
            "SELECT status FROM steps WHERE service=? AND plan=? AND phase=? AND step=? "
            "AND epoch=?",
            service,
            plan,
            phase,
            step,
            epoch,
        )
        if row is None:
            return False
        sets = ["owner_id=?", "owner_pid=?", "updated=?"]
        args: list[Any] = [owner_id, os.getpid(), self.now]
        if status is not None:
            check_transition(Status(row["status"]), status)
            sets.append("status=?")
            args.append(str(status))
        for column, value in (("message", message), ("attempt", attempt), ("exit_code", exit_code)):
            if value is not None:
                sets.append(f"{column}=?")
                args.append(value)
        if progress is not None:
            sets.append("progress=?")
            args.append(json.dumps(progress))
        self.conn.execute(
            f"UPDATE steps SET {', '.join(sets)} WHERE service=? AND plan=? AND phase=? AND step=?",
            (*args, service, plan, phase, step),
        )
        return True

    def fail_new_step(
        self, service: str, plan: str, phase: str, step: str, message: str, exit_code: int
    ) -> None:
        """Put a step that never ran straight into ERROR: the plan failed before any of
        its steps could start (its store was unreachable while it was being built)."""
        self.clear_errors(service, plan, phase, step)
        self.conn.execute(
            "UPDATE steps SET status=?, message=?, attempt=0, exit_code=?, progress=NULL, "
            "epoch=epoch+1, owner_id=NULL, owner_pid=NULL, updated=? "
            "WHERE service=? AND plan=? AND phase=? AND step=?",
            (str(Status.ERROR), message, exit_code, self.now, service, plan, phase, step),
        )

    def recover_in_flight(self, service: str, plan: str, runner_id: str) -> None:
        """Steps left in flight by another (dead) runner go back to PENDING."""
        rows = self.conn.execute(
            "SELECT phase, step, status, owner_id FROM steps WHERE service=? AND plan=?",
            (service, plan),
        ).fetchall()
        for r in rows:
            if Status(r["status"]) in IN_FLIGHT and r["owner_id"] != runner_id:
                self.reset_step(
                    service, plan, r["phase"], r["step"], Status.PENDING, "resumed after restart"
                )
                note = "left unfinished by a process that died: runs again"
                self.log(service, plan, "PENDING", note, phase=r["phase"], step=r["step"])

    def add_errors(
        self, service: str, plan: str, phase: str, step: str, lines: Sequence[str]
    ) -> None:
        self.conn.executemany(
            "INSERT INTO errors (service, plan, phase, step, line) VALUES (?,?,?,?,?)",
            [(service, plan, phase, step, line) for line in lines],
        )

    # -- history -------------------------------------------------------------------------

    def log(
        self,
        service: str,
        plan: str,
        status: str,
        message: str,
        *,
        phase: str = "",
        step: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Add one entry to the plan's history (secrets already scrubbed by the caller),
        dropping the oldest beyond `MAX_EVENTS`."""
        self.conn.execute(
            "INSERT INTO events (service, plan, phase, step, at, status, message, details) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                service,
                plan,
                phase,
                step,
                self.now,
                status,
                message,
                json.dumps(details) if details else None,
            ),
        )
        self.conn.execute(
            "DELETE FROM events WHERE service=? AND plan=? AND id <= (SELECT id FROM events "
            "WHERE service=? AND plan=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (service, plan, service, plan, MAX_EVENTS),
        )

    def events(self, service: str, plan: str) -> list[Event]:
        """The plan's history, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM events WHERE service=? AND plan=? ORDER BY id", (service, plan)
        )
        return [
            Event(
                at=r["at"],
                phase=r["phase"],
                step=r["step"],
                status=r["status"],
                message=r["message"],
                details=json.loads(r["details"]) if r["details"] else {},
            )
            for r in rows
        ]

    def clear_errors(self, service: str, plan: str, phase: str, step: str) -> None:
        self.conn.execute(
            "DELETE FROM errors WHERE service=? AND plan=? AND phase=? AND step=?",
            (service, plan, phase, step),
        )


class StateStore:
    """The state database; cheap to create, safe to share between processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or bucketvault_home() / "state.db"
        self._ready = False

    @classmethod
    def default(cls) -> StateStore:
        """The store at `$BUCKETVAULT_HOME/state.db`."""
        return cls()

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self._init()
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: no corruption, fewer fsyncs
        return conn

    def _init(self) -> None:
        private_dir(self.path.parent)
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        prepare(self.path)
        self._ready = True

    @contextlib.contextmanager
    def _tx(self, begin: str) -> Iterator[Tx]:
        conn = self._connect()
        try:
            conn.execute(begin)
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def read(self) -> contextlib.AbstractContextManager[Tx]:
        """A consistent snapshot for reading."""
        return self._tx("BEGIN")

    def write(self) -> contextlib.AbstractContextManager[Tx]:
        """An exclusive write transaction (other writers wait)."""
        return self._tx("BEGIN IMMEDIATE")

    def load(self, service: str, plan: str) -> PlanState | None:
        with self.read() as tx:
            return tx.load(service, plan)
