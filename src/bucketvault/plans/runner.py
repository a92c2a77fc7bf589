"""Driving one plan: the run loop, step execution with bounded retry, progress throttling.

A `Runner` claims the plan (a lease in the database), takes the plan's locks, resets
steps left in flight by a dead process to PENDING, and then loops, about every
`poll_interval` seconds:

1. load the plan from the database (the single source of truth);
2. cancel the work of any step whose epoch changed (an operator command, possibly from
   another process: pause, stop, restart, force-complete);
3. start every PENDING step the strategies allow (parallel steps run side by side in
   one `asyncio.TaskGroup`);
4. when nothing runs and nothing may start, release the plan atomically and return.

A step's work failing with a transient error (`errors.classify`) puts it in DELAYED
with a message and retries after a capped exponential backoff, up to `max_attempts`;
any other failure, or running out of attempts, ends it in ERROR with a one-line
message. Secret parameter values are scrubbed from every stored message. Every status
change of a step goes to the plan's history (`plan logs`) with its time, attempt,
message, counts and first errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bucketvault.config.secret import looks_secret
from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    ErrorClass,
    ExitCode,
    classify,
    exit_code_for,
)
from bucketvault.plans import secrets
from bucketvault.plans.codec import all_locks
from bucketvault.plans.operations import running_conflict
from bucketvault.plans.spec import StepOutcome, StepProgress, StepSpec, StepWork, WorkResolver
from bucketvault.plans.state import (
    StateStore,
    Tx,
    register_local_runner,
    unregister_local_runner,
)
from bucketvault.plans.status import IN_FLIGHT, Status
from bucketvault.plans.view import derive, runnable

HISTORY_LINES = 10  # first errors (or kept keys) a history entry holds; the count is exact


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunables; tests shrink the delays."""

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    poll_interval: float = 0.25
    progress_interval: float = 1.0
    lease_seconds: float = 30.0
    max_error_lines: int = 1000
    max_message: int = 300
    # steps of a parallel phase doing their work at once (each is a mirror with its own
    # workers); all of them are launched, as the SDK does, so one that fails early cannot
    # keep the others from running — the rest wait, PENDING, for a slot
    max_running_steps: int = 2

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)))


def describe(exc: BaseException, limit: int) -> str:
    """One line saying what failed: no traceback, bounded length."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, BucketvaultError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Context:
    """The `StepContext` a running step gets."""

    def __init__(self, runner: Runner, phase: str, step: str, epoch: int, attempt: int) -> None:
        self._runner = runner
        self._phase = phase
        self._step = step
        self._epoch = epoch
        self._attempt = attempt
        self._pending: StepProgress | None = None
        self._last_write = 0.0

    @property
    def service(self) -> str:
        return self._runner.service

    @property
    def plan(self) -> str:
        return self._runner.plan

    @property
    def params(self) -> Mapping[str, str]:
        return self._runner.params

    @property
    def attempt(self) -> int:
        return self._attempt

    def report(self, progress: StepProgress) -> None:
        self._pending = progress
        if time.monotonic() - self._last_write >= self._runner.config.progress_interval:
            self.flush()

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last_write >= self._runner.config.progress_interval:
            self.flush()

    def flush(self) -> None:
        if self._pending is None:
            return
        progress, self._pending = self._pending, None
        self._last_write = time.monotonic()
        with self._runner.store.write() as tx:
            tx.update_step(
                self._runner.service,
                self._runner.plan,
                self._phase,
                self._step,
                epoch=self._epoch,
                owner_id=self._runner.runner_id,
                progress=dataclasses.asdict(progress),
            )


class Runner:
    """Runs one plan of one service until it completes, fails, or is interrupted."""

    def __init__(
        self,
        *,
        service: str,
        plan: str,
        store: StateStore,
        resolve: WorkResolver,
        config: EngineConfig,
    ) -> None:
        self.service = service
        self.plan = plan
        self.store = store
        self.resolve = resolve
        self.config = config
        self.runner_id = uuid.uuid4().hex
        self.params: dict[str, str] = {}
        self._secret_values: list[str] = []
        self._contexts: dict[tuple[str, str], _Context] = {}
        self._slots = asyncio.Semaphore(config.max_running_steps)

    # -- claiming and releasing ----------------------------------------------------------

    def _lease(self) -> float:
        return time.time() + self.config.lease_seconds

    def _claim(self) -> None:
        with self.store.write() as tx:
            ok, pid = tx.claim_runner(self.service, self.plan, self.runner_id, self._lease())
            if not ok:
                if pid is None:
                    raise BucketvaultError(f"plan '{self.plan}' has not been started yet")
                raise running_conflict(self.plan, pid)
            state = tx.load(self.service, self.plan)
            assert state is not None
            conflicts = tx.acquire_locks(
                all_locks(state.spec), self.service, self.plan, self.runner_id, self._lease()
            )
            if conflicts:
                held = conflicts[0]
                tx.release_runner(self.service, self.plan, self.runner_id)
                raise ConflictError(
                    f"{held.resource} is in use by plan '{held.plan}' of service "
                    f"'{held.service}' (pid {held.pid}): wait for it to finish or stop it first"
                )
            tx.recover_in_flight(self.service, self.plan, self.runner_id)
            tx.log(self.service, self.plan, "IN_PROGRESS", f"run by process {os.getpid()}")
            stored = dict(state.params)
        secret = secrets.load(self.service, self.plan)
        self.params = secrets.merge(stored, secret)
        self._secret_values = [v for k, v in self.params.items() if looks_secret(k)]

    def _try_release(self) -> bool:
        """Release the plan if, seen inside one write transaction, nothing may start."""
        with self.store.write() as tx:
            state = tx.load(self.service, self.plan)
            if state is not None and runnable(state.spec, derive(state.spec, state)):
                return False
            tx.release_runner(self.service, self.plan, self.runner_id)
            return True

    def _abandon(self, interrupt: bool) -> None:
        """After cancellation: steps this runner had in flight go back to PENDING."""
        with self.store.write() as tx:
            state = tx.load(self.service, self.plan)
            if state is not None:
                for (phase, step), st in state.steps.items():
                    if st.status in IN_FLIGHT and st.owner_id == self.runner_id:
                        tx.reset_step(
                            self.service, self.plan, phase, step, Status.PENDING, "interrupted"
                        )
                if interrupt:
                    tx.set_interrupted(self.service, self.plan, True)
                    tx.bump_version(self.service, self.plan)
            tx.release_runner(self.service, self.plan, self.runner_id)

    # -- the loop ------------------------------------------------------------------------

    async def run(self, *, interrupt_on_cancel: bool = False) -> Status:
        register_local_runner(self.runner_id)
        released = False
        try:
            self._claim()
            released = await self._loop()
        except BaseException:
            if not released:
                with contextlib.suppress(Exception):
                    self._abandon(interrupt_on_cancel)
                released = True
            raise
        finally:
            unregister_local_runner(self.runner_id)
        state = self.store.load(self.service, self.plan)
        if state is None:
            return Status.PENDING
        final = derive(state.spec, state).status
        if final is Status.COMPLETE:
            secrets.delete(self.service, self.plan)
        if final in (Status.COMPLETE, Status.ERROR):
            with contextlib.suppress(Exception), self.store.write() as tx:
                tx.log(self.service, self.plan, str(final), f"plan ended {final}")
        return final

    async def _loop(self) -> bool:
        running: dict[tuple[str, str], tuple[asyncio.Task[None], int]] = {}
        last_renew = time.monotonic()
        async with asyncio.TaskGroup() as tg:
            while True:
                state = self.store.load(self.service, self.plan)
                if state is None:  # deleted under us
                    for task, _ in running.values():
                        task.cancel()
                    return False
                for key, (task, epoch) in list(running.items()):
                    if task.done():
                        del running[key]
                        self._contexts.pop(key, None)
                    elif key not in state.steps or state.steps[key].epoch != epoch:
                        task.cancel()
                if time.monotonic() - last_renew > self.config.lease_seconds / 4:
                    with self.store.write() as tx:
                        tx.renew(self.runner_id, self._lease())
                    last_renew = time.monotonic()
                for ctx in list(self._contexts.values()):
                    ctx.flush_if_due()
                specs = {(p.name, s.name): s for p in state.spec.phases for s in p.steps}
                launch = [
                    k for k in runnable(state.spec, derive(state.spec, state)) if k not in running
                ]
                for key in launch:
                    epoch = state.steps[key].epoch
                    task = tg.create_task(self._step(key[0], specs[key], epoch))
                    running[key] = (task, epoch)
                if not running:
                    if self._try_release():
                        return True
                    continue
                await asyncio.wait(
                    [t for t, _ in running.values()],
                    timeout=self.config.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )

    # -- one step ------------------------------------------------------------------------

    def _write(self, phase: str, step: str, epoch: int, **fields: Any) -> bool:
        if isinstance(fields.get("message"), str):
            fields["message"] = secrets.scrub(fields["message"], self._secret_values)
        errors = fields.pop("errors", None)
        details = fields.pop("details", ())
        with self.store.write() as tx:
            ok = tx.update_step(
                self.service,
                self.plan,
                phase,
                step,
                epoch=epoch,
                owner_id=self.runner_id,
                **fields,
            )
            lines = [secrets.scrub(line, self._secret_values) for line in errors or ()]
            if ok and lines:
                tx.add_errors(self.service, self.plan, phase, step, lines)
            # STARTING is followed at once by STARTED (or ERROR): one entry is enough
            if ok and fields.get("status") not in (None, Status.STARTING):
                self._log(tx, phase, step, fields, lines, details)
            return ok

    def _log(
        self,
        tx: Tx,
        phase: str,
        step: str,
        fields: Mapping[str, Any],
        errors: list[str],
        details: tuple[str, ...],
    ) -> None:
        """One history entry for a step's status change: what it says, its attempt and
        exit code, its last counts, and the first of its errors (bounded)."""
        record: dict[str, Any] = {}
        if fields.get("attempt"):
            record["attempt"] = fields["attempt"]
        if fields.get("exit_code"):
            record["exit_code"] = fields["exit_code"]
        status = fields["status"]
        if status in (Status.COMPLETE, Status.ERROR):
            stored = tx.load(self.service, self.plan)
            progress = stored.steps[(phase, step)].progress if stored is not None else None
            if progress:
                record["progress"] = progress
        if errors:
            record["error_count"] = len(errors)
            record["first_errors"] = errors[:HISTORY_LINES]
        if details:
            shown = [secrets.scrub(line, self._secret_values) for line in details]
            record["details"] = shown[:HISTORY_LINES]
        message = str(fields.get("message") or "")
        tx.log(
            self.service, self.plan, str(status), message, phase=phase, step=step, details=record
        )

    def _fail(self, phase: str, step: str, epoch: int, msg: str, exc: BaseException) -> None:
        code = int(exit_code_for(exc))
        self._write(
            phase, step, epoch, status=Status.ERROR, message=msg, exit_code=code, errors=[msg]
        )

    async def _step(self, phase: str, spec: StepSpec, epoch: int) -> None:
        async with self._slots:
            await self._attempts(phase, spec, epoch)

    async def _attempts(self, phase: str, spec: StepSpec, epoch: int) -> None:
        cfg = self.config
        work: StepWork | None = None
        for attempt in range(1, cfg.max_attempts + 1):
            if not self._write(
                phase, spec.name, epoch, status=Status.STARTING, attempt=attempt, message=""
            ):
                return
            try:
                work = work or self.resolve(spec)
            except Exception as exc:
                text = describe(exc, cfg.max_message)
                self._fail(phase, spec.name, epoch, f"{spec.name} cannot run: {text}", exc)
                return
            ctx = _Context(self, phase, spec.name, epoch, attempt)
            self._contexts[(phase, spec.name)] = ctx
            if not self._write(phase, spec.name, epoch, status=Status.STARTED, attempt=attempt):
                return
            try:
                outcome = await work(ctx)
            except Exception as exc:
                ctx.flush()
                text = describe(exc, cfg.max_message)
                transient = classify(exc) is ErrorClass.TRANSIENT
                if transient and attempt < cfg.max_attempts:
                    delay = cfg.backoff(attempt)
                    message = (
                        f"attempt {attempt}/{cfg.max_attempts} failed, "
                        f"retrying in {delay:.3g}s: {text}"
                    )
                    self._write(phase, spec.name, epoch, status=Status.DELAYED, message=message)
                    await asyncio.sleep(delay)
                    continue
                if transient:
                    msg = f"{spec.name} failed after {attempt} attempts: {text}"
                else:
                    msg = f"{spec.name} failed: {text}"
                self._fail(phase, spec.name, epoch, msg, exc)
                return
            ctx.flush()
            self._finish(phase, spec, epoch, outcome)
            return

    def _finish(self, phase: str, spec: StepSpec, epoch: int, outcome: StepOutcome) -> None:
        limit = self.config.max_error_lines
        message = outcome.message.strip().splitlines()[0] if outcome.message.strip() else ""
        if not outcome.errors:
            self._write(
                phase,
                spec.name,
                epoch,
                status=Status.COMPLETE,
                message=message,
                exit_code=outcome.exit_code or None,
                details=outcome.details,
            )
            return
        count = len(outcome.errors)
        lines = [f"{spec.name}: {line}" for line in outcome.errors[:limit]]
        if count > limit:
            lines.append(f"{spec.name}: ... and {count - limit} more errors")
        summary = message or f"{count} errors"
        self._write(
            phase,
            spec.name,
            epoch,
            status=Status.ERROR,
            message=summary,
            exit_code=int(ExitCode.PARTIAL),
            errors=lines,
        )
