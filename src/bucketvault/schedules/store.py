"""Schedules in the state database (`$BUCKETVAULT_HOME/state.db`, table `schedules`).

The table is created here, beside the plans' tables, on first use. Parameters are kept
with secrets masked (`plans.secrets.split_params`); the secret values go to the 0600
file `secrets/<service>.schedule.<id>.json` and are merged back only when the schedule
fires, in the scheduler's memory.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from bucketvault.errors import ConflictError, NotFoundError, UsageError
from bucketvault.plans import secrets
from bucketvault.plans.state import StateStore, Tx
from bucketvault.schedules.model import Schedule, next_slot

_TABLE = """
CREATE TABLE IF NOT EXISTS schedules (
    service TEXT NOT NULL,
    id TEXT NOT NULL,
    plan TEXT NOT NULL,
    cron TEXT,
    every_s REAL,
    params TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    anchor REAL NOT NULL,
    next_run REAL NOT NULL,
    last_fire REAL,
    last_outcome TEXT NOT NULL DEFAULT '',
    runs INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    PRIMARY KEY (service, id)
)
"""

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def secret_key(schedule_id: str) -> str:
    """The name under which `plans.secrets` keeps a schedule's secret parameters."""
    return f"schedule.{schedule_id}"


def _row(r: Any) -> Schedule:
    return Schedule(
        service=r["service"],
        id=r["id"],
        plan=r["plan"],
        cron=r["cron"],
        every_s=r["every_s"],
        params=json.loads(r["params"]),
        paused=bool(r["paused"]),
        anchor=r["anchor"],
        next_run=r["next_run"],
        last_fire=r["last_fire"],
        last_outcome=r["last_outcome"],
        runs=r["runs"],
        skipped=r["skipped"],
        failed=r["failed"],
        created=r["created"],
    )


class ScheduleStore:
    """Every schedule of every service; cheap to create, safe to share between processes."""

    def __init__(self, state: StateStore | None = None) -> None:
        self.state = state or StateStore()
        self._ready = False

    def _write(self) -> Any:
        self._ensure()
        return self.state.write()

    def _read(self) -> Any:
        self._ensure()
        return self.state.read()

    def _ensure(self) -> None:
        if not self._ready:
            with self.state.write() as tx:
                tx.conn.execute(_TABLE)
            self._ready = True

    # -- reading -------------------------------------------------------------------------

    def list_schedules(self, service: str | None = None) -> list[Schedule]:
        with self._read() as tx:
            if service is None:
                rows = tx.conn.execute("SELECT * FROM schedules ORDER BY service, created, id")
            else:
                rows = tx.conn.execute(
                    "SELECT * FROM schedules WHERE service=? ORDER BY created, id", (service,)
                )
            return [_row(r) for r in rows]

    def get(self, service: str, schedule_id: str) -> Schedule:
        with self._read() as tx:
            return self._get(tx, service, schedule_id)

    def _get(self, tx: Tx, service: str, schedule_id: str) -> Schedule:
        r = tx.conn.execute(
            "SELECT * FROM schedules WHERE service=? AND id=?", (service, schedule_id)
        ).fetchone()
        if r is None:
            known = [
                row["id"]
                for row in tx.conn.execute(
                    "SELECT id FROM schedules WHERE service=? ORDER BY id", (service,)
                )
            ]
            listed = ", ".join(known) or "none"
            raise NotFoundError(
                f"no schedule {schedule_id!r} for service {service!r} (schedules: {listed}): "
                "see `schedule list`"
            )
        return _row(r)

    def due(self, now: float) -> list[Schedule]:
        """Schedules not paused whose next slot is at or before `now`, earliest first."""
        with self._read() as tx:
            rows = tx.conn.execute(
                "SELECT * FROM schedules WHERE paused=0 AND next_run<=? ORDER BY next_run, id",
                (now,),
            )
            return [_row(r) for r in rows]

    # -- changing ------------------------------------------------------------------------

    def add(
        self,
        *,
        service: str,
        plan: str,
        params: Mapping[str, str],
        cron: str | None = None,
        every_s: float | None = None,
        schedule_id: str | None = None,
        now: float | None = None,
    ) -> Schedule:
        """Store a new schedule; its secret parameters go to a 0600 file, never here."""
        if (cron is None) == (every_s is None):
            raise UsageError("a schedule needs exactly one of --cron and --every")
        now = time.time() if now is None else now
        masked, secret = secrets.split_params(params)
        with self._write() as tx:
            if schedule_id is None:
                taken = {
                    r["id"]
                    for r in tx.conn.execute("SELECT id FROM schedules WHERE service=?", (service,))
                }
                schedule_id = next(
                    f"{plan}-{n}" for n in range(1, len(taken) + 2) if f"{plan}-{n}" not in taken
                )
            elif not _ID.match(schedule_id):
                raise UsageError(
                    f"schedule id {schedule_id!r} is invalid: lower-case letters, digits and '-'"
                )
            exists = tx.conn.execute(
                "SELECT 1 FROM schedules WHERE service=? AND id=?", (service, schedule_id)
            ).fetchone()
            if exists:
                raise ConflictError(
                    f"schedule {schedule_id!r} of service {service!r} exists: remove it first"
                )
            draft = Schedule(
                service=service,
                id=schedule_id,
                plan=plan,
                cron=cron,
                every_s=every_s,
                params=masked,
                anchor=now,
                created=now,
            )
            first = next_slot(draft, now)
            tx.conn.execute(
                "INSERT INTO schedules (service, id, plan, cron, every_s, params, anchor, "
                "next_run, created) VALUES (?,?,?,?,?,?,?,?,?)",
                (service, schedule_id, plan, cron, every_s, json.dumps(masked), now, first, now),
            )
            # inside the transaction: if the secret cannot be kept, nothing is stored
            secrets.save(service, secret_key(schedule_id), secret)
            return self._get(tx, service, schedule_id)

    def remove(self, service: str, schedule_id: str) -> Schedule:
        with self._write() as tx:
            found = self._get(tx, service, schedule_id)
            tx.conn.execute(
                "DELETE FROM schedules WHERE service=? AND id=?", (service, schedule_id)
            )
        secrets.delete(service, secret_key(schedule_id))
        return found

    def remove_service(self, service: str) -> int:
        """Remove every schedule of a service (its kept secrets go with the service's)."""
        with self._write() as tx:
            ids = [
                r["id"]
                for r in tx.conn.execute("SELECT id FROM schedules WHERE service=?", (service,))
            ]
            tx.conn.execute("DELETE FROM schedules WHERE service=?", (service,))
        for schedule_id in ids:
            secrets.delete(service, secret_key(schedule_id))
        return len(ids)

    def set_paused(self, service: str, schedule_id: str, paused: bool, now: float) -> bool:
        """Pause or resume; False if it already was. A resumed schedule's next slot is the
        first one after `now` (the slots it missed while paused are not made up)."""
        with self._write() as tx:
            found = self._get(tx, service, schedule_id)
            if found.paused == paused:
                return False
            tx.conn.execute(
                "UPDATE schedules SET paused=?, next_run=? WHERE service=? AND id=?",
                (int(paused), next_slot(found, now), service, schedule_id),
            )
            return True

    def claim(self, schedule: Schedule, now: float) -> bool:
        """Take a due slot: move the schedule's next slot to the first one after `now`, so
        missed slots (the scheduler was down) amount to one run, not one per slot. False
        if the slot was taken meanwhile (another scheduler on the same database, or the
        schedule was paused, resumed or removed): then it must not fire."""
        with self._write() as tx:
            try:
                current = self._get(tx, schedule.service, schedule.id)
            except NotFoundError:
                return False
            if current.paused or current.next_run != schedule.next_run:
                return False
            tx.conn.execute(
                "UPDATE schedules SET next_run=?, last_fire=? WHERE service=? AND id=?",
                (next_slot(current, now), now, schedule.service, schedule.id),
            )
            return True

    def record_fire(
        self, schedule: Schedule, *, outcome: str, started: bool, skipped: bool
    ) -> Schedule | None:
        """What became of a claimed slot: started, skipped (the previous run is still
        going) or failed to start."""
        with self._write() as tx:
            tx.conn.execute(
                "UPDATE schedules SET last_outcome=?, runs=runs+?, skipped=skipped+?, "
                "failed=failed+? WHERE service=? AND id=?",
                (
                    outcome,
                    int(started),
                    int(skipped),
                    int(not started and not skipped),
                    schedule.service,
                    schedule.id,
                ),
            )
            try:
                return self._get(tx, schedule.service, schedule.id)
            except NotFoundError:
                return None  # removed meanwhile

    def secret_params(self, schedule: Schedule) -> dict[str, str]:
        """The full parameters of a schedule: stored ones with its kept secrets merged in."""
        kept = secrets.load(schedule.service, secret_key(schedule.id))
        return secrets.merge(schedule.params, kept)
