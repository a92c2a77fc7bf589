"""A plan's derived view: every element's status, the status JSON, and what may run now.

Both the status JSON (API, CLI) and the engine's scheduling decisions are computed from
the same `PlanState` snapshot by the functions here, so what `plan status` shows is
exactly what the engine acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bucketvault.plans.codec import element_id
from bucketvault.plans.spec import PlanSpec
from bucketvault.plans.state import PlanState
from bucketvault.plans.status import Child, Status, candidates, derive_status


@dataclass(frozen=True, slots=True)
class Tree:
    """Derived statuses: the plan's, each phase's, and each step's."""

    status: Status
    phases: dict[str, Status]
    steps: dict[tuple[str, str], Status]
    phase_interrupted: dict[str, bool]
    interrupted: bool


def derive(spec: PlanSpec, state: PlanState | None) -> Tree:
    """Statuses for `spec`; with no state (never started) every step is PENDING and the
    plan (unless it is `deploy`) interrupted, so it shows WAITING."""
    interrupted = spec.name != "deploy" if state is None else state.interrupted
    phase_flags = {} if state is None else state.phase_interrupted
    steps: dict[tuple[str, str], Status] = {}
    phases: dict[str, Status] = {}
    phase_children: list[Child] = []
    for phase in spec.phases:
        children = []
        for step in phase.steps:
            key = (phase.name, step.name)
            status = Status.PENDING
            if state is not None and key in state.steps:
                status = state.steps[key].status
            steps[key] = status
            children.append(Child(status))
        flag = phase_flags.get(phase.name, False)
        phases[phase.name] = derive_status(children, phase.strategy, flag)
        phase_children.append(Child(phases[phase.name], interrupted=flag))
    status = derive_status(phase_children, spec.strategy, interrupted)
    return Tree(
        status,
        phases,
        steps,
        {p.name: phase_flags.get(p.name, False) for p in spec.phases},
        interrupted,
    )


def runnable(spec: PlanSpec, tree: Tree) -> list[tuple[str, str]]:
    """The PENDING steps the strategies would start now (nothing if the plan is interrupted)."""
    if tree.interrupted:
        return []
    phase_children = [
        Child(tree.phases[p.name], interrupted=tree.phase_interrupted[p.name]) for p in spec.phases
    ]
    result = []
    for pi in candidates(spec.strategy, phase_children):
        phase = spec.phases[pi]
        children = [Child(tree.steps[(phase.name, s.name)]) for s in phase.steps]
        for si in candidates(phase.strategy, children):
            key = (phase.name, phase.steps[si].name)
            if tree.steps[key] is Status.PENDING:
                result.append(key)
    return result


def status_json(service: str, spec: PlanSpec, state: PlanState | None) -> dict[str, Any]:
    """The SDK status JSON, plus `progress` per step (null when none was reported)."""
    tree = derive(spec, state)
    phases = []
    for phase in spec.phases:
        steps = []
        for step in phase.steps:
            key = (phase.name, step.name)
            stored = state.steps.get(key) if state is not None else None
            steps.append(
                {
                    "id": element_id(service, spec.name, phase.name, step.name),
                    "name": step.name,
                    "status": str(tree.steps[key]),
                    "message": stored.message if stored is not None else "",
                    "progress": stored.progress if stored is not None else None,
                    # set when a step failed, or completed leaving work undone on purpose
                    # (4: conflicts kept, 7: e.g. deletions skipped)
                    "exit_code": stored.exit_code if stored is not None else None,
                }
            )
        phases.append(
            {
                "id": element_id(service, spec.name, phase.name),
                "name": phase.name,
                "strategy": str(phase.strategy),
                "status": str(tree.phases[phase.name]),
                "steps": steps,
            }
        )
    return {
        "phases": phases,
        "errors": list(state.errors) if state is not None else [],
        "status": str(tree.status),
        "strategy": str(spec.strategy),
    }
