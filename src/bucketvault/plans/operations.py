"""Operator commands on a plan's stored state: start, stop, interrupt, proceed, restart,
force-complete.

Each command is one write transaction and works the same whether the plan's runner is
in this process, in another process, or dead: it changes the database only, bumping
the epoch of every step it touches (the runner sees that within one poll and cancels
that step's work) and the plan's version (so a runner about to exit looks again).
The boolean results say whether anything changed: False becomes HTTP 208.
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.errors import ConflictError, PlanInputError
from bucketvault.plans import secrets
from bucketvault.plans.codec import all_locks, step_fingerprint
from bucketvault.plans.spec import PlanSpec
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
        secrets.save(service, plan, secret)  # inside the transaction: fails -> nothing stored


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
        return True


def proceed(store: StateStore, service: str, plan: str, phase: str | None) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
        if phase is None:
            if not state.interrupted:
                return False
            tx.set_interrupted(service, plan, False)
        else:
            if not state.phase_interrupted.get(phase, False):
                return False
            tx.set_phase_interrupted(service, plan, phase, False)
        tx.bump_version(service, plan)
        return True


def force_complete(store: StateStore, service: str, plan: str, phase: str, step: str) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
        if state.step(phase, step).status is Status.COMPLETE:
            return False
        tx.reset_step(service, plan, phase, step, Status.COMPLETE, "forced to complete")
        tx.bump_version(service, plan)
        after = tx.load(service, plan)
        if after is not None and derive(after.spec, after).status is Status.COMPLETE:
            secrets.delete(service, plan)
        return True


def restart(
    store: StateStore, service: str, plan: str, phase: str | None, step: str | None
) -> bool:
    with store.write() as tx:
        state = _require(tx, service, plan)
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
        for ph, st in targets:
            tx.reset_step(service, plan, ph, st, Status.PENDING)
        if phase is None:
            tx.set_interrupted(service, plan, False)
            tx.clear_phase_interrupts(service, plan)
        elif step is None:
            tx.set_phase_interrupted(service, plan, phase, False)
        tx.bump_version(service, plan)
        return True
