"""Operator commands on a plan's stored state: start, stop, interrupt, proceed, restart,
force-complete.

Each command is one write transaction and works the same whether the plan's runner is
in this process, in another process, or dead: it changes the database only, bumping
the epoch of every step it touches (the runner sees that within one poll and cancels
that step's work) and the plan's version (so a runner about to exit looks again).
The boolean results say whether anything changed: False becomes HTTP 208. Every
command that changes a plan adds an entry to its history (`plan logs`).

`resume` and `force-restart` may bring parameters again (`given`): a secret the plan
needs but no longer keeps (its kept copy is deleted when a plan completes) must come
with them, else the command is refused (`MissingSecretError`) and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.secret import MASK, looks_secret
from bucketvault.errors import ConflictError, PlanInputError
from bucketvault.plans import secrets
from bucketvault.plans.codec import all_locks, step_fingerprint
from bucketvault.plans.spec import PhaseSpec, PlanSpec, StepSpec
from bucketvault.plans.state import PlanState, StateStore, Tx
from bucketvault.plans.status import IN_FLIGHT, Status
from bucketvault.plans.view import derive


def _require(tx: Tx, service: str, plan: str) -> PlanState:
    state = tx.load(service, plan)
    if state is None:
        raise PlanInputError(
            f"plan '{plan}' has not been started yet: use `plan start {plan}` with its parameters"
        )
    return state


#: The step kind of a plan recorded as failed before it could be built: it has no work.
UNBUILT = "unbuilt"


class MissingSecretError(PlanInputError):
    """A plan to run again needs a secret parameter it no longer keeps."""

    def __init__(self, plan: str, names: list[str]) -> None:
        self.plan = plan
        self.names = names
        first = names[0]
        super().__init__(
            f"plan '{plan}' needs {', '.join(names)} again (the kept copy is deleted when a "
            f"plan completes): pass it with -p {first}=…"
        )


def missing_secrets(state: PlanState, given: Mapping[str, str]) -> list[str]:
    """Secret parameters the plan was started with whose values are no longer kept."""
    kept = secrets.load(state.service, state.plan)
    return sorted(
        name
        for name, value in state.params.items()
        if looks_secret(name) and value == MASK and name not in kept and name not in given
    )


def _take_params(tx: Tx, state: PlanState, given: Mapping[str, str]) -> None:
    """Refuse to run without a secret; store the parameters given again (secrets to
    their 0600 file, the rest masked in the database)."""
    missing = missing_secrets(state, given)
    if missing:
        raise MissingSecretError(state.plan, missing)
    if not given:
        return
    masked, secret = secrets.split_params(given)
    tx.set_params(state.service, state.plan, {**state.params, **masked})
    if secret:
        kept = secrets.load(state.service, state.plan)
        secrets.save(state.service, state.plan, {**kept, **secret})


def unbuilt(state: PlanState) -> str | None:
    """The reason a plan failed before its steps were made, or None if it was built."""
    for phase in state.spec.phases:
        for step in phase.steps:
            if step.kind == UNBUILT:
                return str(step.args.get("reason", "it could not be built"))
    return None


def running_conflict(plan: str, pid: int | None) -> ConflictError:
    return ConflictError(
        f"plan '{plan}' is already running (pid {pid}): use `plan stop {plan}` first or wait"
    )


def start(
    store: StateStore, service: str, plan: str, spec: PlanSpec, params: Mapping[str, str]
) -> None:
    """Store the built plan and its parameters, keep finished work that is unchanged
    (unless the plan had completed), reset ERROR steps, and un-interrupt."""
    masked, secret = secrets.split_params(params)
    with store.write() as tx:
        old = tx.load(service, plan)
        if old is not None and old.runner_alive:
            raise running_conflict(plan, old.runner_pid)
        conflicts = tx.lock_conflicts(all_locks(spec), service, plan)
        if conflicts:
            held = conflicts[0]
            raise ConflictError(
                f"{held.resource} is in use by plan '{held.plan}' of service '{held.service}' "
                f"(pid {held.pid}): wait for it to finish or stop it first"
            )
        was_complete = old is not None and derive(old.spec, old).status is Status.COMPLETE
        tx.put_plan(service, plan, spec, masked)
        keep: set[tuple[str, str]] = set()
        for phase in spec.phases:
            for step in phase.steps:
                keep.add((phase.name, step.name))
                created = tx.ensure_step(
                    service, plan, phase.name, step.name, step_fingerprint(step)
                )
                prior = old.steps.get((phase.name, step.name)) if old is not None else None
                if (
                    not created
                    and prior is not None
                    and (was_complete or prior.status in (Status.ERROR, *IN_FLIGHT))
                ):
                    tx.reset_step(service, plan, phase.name, step.name, Status.PENDING)
        tx.delete_steps_except(service, plan, keep)
        tx.set_interrupted(service, plan, False)
        tx.clear_phase_interrupts(service, plan)
        tx.bump_version(service, plan)
        names = ", ".join(sorted(params)) or "none"
        tx.log(service, plan, "STARTED", f"plan started (parameters: {names})")
        secrets.save(service, plan, secret)  # inside the transaction: fails -> nothing stored


def record_failure(
    store: StateStore,
    service: str,
    plan: str,
    params: Mapping[str, str],
    message: str,
    exit_code: int,
) -> None:
    """A plan that failed before its steps could be made (the store it lists was
    unreachable, or refused): show it in ERROR with the reason, instead of the previous
    run. Changes nothing while another process runs the plan."""
    masked, _ = secrets.split_params(params)
    step = StepSpec("init-0:[init]", UNBUILT, {"reason": message})
    spec = PlanSpec(plan, (PhaseSpec("init", (step,)),))
    with store.write() as tx:
        old = tx.load(service, plan)
        if old is not None and old.runner_alive:
            return
        tx.put_plan(service, plan, spec, masked)
        tx.ensure_step(service, plan, "init", step.name, step_fingerprint(step))
        tx.delete_steps_except(service, plan, {("init", step.name)})
        tx.fail_new_step(service, plan, "init", step.name, message, exit_code)
        tx.add_errors(service, plan, "init", step.name, [message])
        tx.set_interrupted(service, plan, False)
        tx.clear_phase_interrupts(service, plan)
        tx.bump_version(service, plan)
        tx.log(service, plan, "ERROR", message, details={"exit_code": exit_code})
        secrets.delete(service, plan)  # nothing can resume this run: it never began


def stop(store: StateStore, service: str, plan: str) -> None:
    with store.write() as tx:
        state = tx.load(service, plan)
        if state is None:
            return
        tx.set_interrupted(service, plan, True)
        tx.clear_phase_interrupts(service, plan)
        for phase, step in state.steps:
            tx.reset_step(service, plan, phase, step, Status.PENDING, "stopped")
        tx.bump_version(service, plan)
        tx.log(service, plan, "WAITING", "plan stopped: every step reset to PENDING")


def interrupt(store: StateStore, service: str, plan: str, phase: str | None) -> bool:
    with store.write() as tx:
        state = tx.load(service, plan)
        if state is None:
            return False  # a plan that was never started is interrupted already
        tree = derive(state.spec, state)
        if tree.status is Status.COMPLETE:
            return False
        if phase is None:
            if state.interrupted:
                return False
            tx.set_interrupted(service, plan, True)
        else:
            if tree.phase_interrupted[phase] or tree.phases[phase] is Status.COMPLETE:
                return False
            tx.set_phase_interrupted(service, plan, phase, True)
        for (ph, step), st in state.steps.items():
            if (phase is None or ph == phase) and st.status in IN_FLIGHT:
                tx.reset_step(service, plan, ph, step, Status.PENDING, "interrupted")
        tx.bump_version(service, plan)
        tx.log(service, plan, "WAITING", "paused", phase=phase or "")
        return True


def proceed(
    store: StateStore,
    service: str,
    plan: str,
    phase: str | None,
    given: Mapping[str, str] | None = None,
) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
        if phase is None:
            if not state.interrupted:
                return False
            _take_params(tx, state, given or {})
            tx.set_interrupted(service, plan, False)
        else:
            if not state.phase_interrupted.get(phase, False):
                return False
            _take_params(tx, state, given or {})
            tx.set_phase_interrupted(service, plan, phase, False)
        tx.bump_version(service, plan)
        tx.log(service, plan, "PENDING", "resumed", phase=phase or "")
        return True


def force_complete(store: StateStore, service: str, plan: str, phase: str, step: str) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
        if state.step(phase, step).status is Status.COMPLETE:
            return False
        tx.reset_step(service, plan, phase, step, Status.COMPLETE, "forced to complete")
        tx.bump_version(service, plan)
        tx.log(service, plan, "COMPLETE", "forced to complete", phase=phase, step=step)
        after = tx.load(service, plan)
        if after is not None and derive(after.spec, after).status is Status.COMPLETE:
            secrets.delete(service, plan)
        return True


def restart(
    store: StateStore,
    service: str,
    plan: str,
    phase: str | None,
    step: str | None,
    given: Mapping[str, str] | None = None,
) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
        reason = unbuilt(state)
        if reason is not None:
            raise PlanInputError(
                f"plan '{plan}' failed before its steps were made ({reason}): "
                f"start it again with `plan start {plan}`"
            )
        targets = [
            key
            for key in state.steps
            if (phase is None or key[0] == phase) and (step is None or key[1] == step)
        ]
        if phase is None:
            interrupted = state.interrupted or any(state.phase_interrupted.values())
        elif step is None:
            interrupted = state.phase_interrupted.get(phase, False)
        else:
            interrupted = False
        fresh = all(
            state.steps[k].status is Status.PENDING and not state.steps[k].message for k in targets
        )
        if fresh and not interrupted:
            return False
        _take_params(tx, state, given or {})
        for ph, st in targets:
            tx.reset_step(service, plan, ph, st, Status.PENDING)
        if phase is None:
            tx.set_interrupted(service, plan, False)
            tx.clear_phase_interrupts(service, plan)
        elif step is None:
            tx.set_phase_interrupted(service, plan, phase, False)
        tx.bump_version(service, plan)
        tx.log(service, plan, "PENDING", "restarted", phase=phase or "", step=step or "")
        return True
