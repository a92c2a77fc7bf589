"""Plan specs as JSON (how they are persisted), their structural checks, and stable ids.

A spec must have unique phase names within the plan and unique step names within a
phase: operators address phases and steps by name (`plan force-complete p PHASE STEP`).
Ids are derived from names (uuid5), so they are stable across restarts and processes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from bucketvault.errors import PlanInputError
from bucketvault.plans.spec import PhaseSpec, PlanSpec, StepSpec, Strategy

_NAMESPACE = uuid.UUID("6c0e7a52-5d43-4c0f-9a57-3b1f5a7f0b11")


def element_id(service: str, plan: str, phase: str | None = None, step: str | None = None) -> str:
    """A stable id for a plan element, the same in every process."""
    parts = [service, plan] + [p for p in (phase, step) if p is not None]
    return str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)))


def validate_spec(spec: PlanSpec) -> None:
    """Raise PlanInputError if names are missing or repeated."""
    seen_phases: set[str] = set()
    for phase in spec.phases:
        if not phase.name or phase.name in seen_phases:
            raise PlanInputError(
                f"plan '{spec.name}': phase name {phase.name!r} is empty or repeated"
            )
        seen_phases.add(phase.name)
        seen_steps: set[str] = set()
        for step in phase.steps:
            if not step.name or step.name in seen_steps:
                raise PlanInputError(
                    f"plan '{spec.name}', phase '{phase.name}': step name {step.name!r} "
                    "is empty or repeated"
                )
            seen_steps.add(step.name)


def spec_to_dict(spec: PlanSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "strategy": str(spec.strategy),
        "phases": [
            {
                "name": phase.name,
                "strategy": str(phase.strategy),
                "steps": [
                    {
                        "name": step.name,
                        "kind": step.kind,
                        "args": dict(step.args),
                        "locks": list(step.locks),
                    }
                    for step in phase.steps
                ],
            }
            for phase in spec.phases
        ],
    }


def spec_from_dict(data: dict[str, Any]) -> PlanSpec:
    return PlanSpec(
        name=data["name"],
        strategy=Strategy(data.get("strategy", "serial")),
        phases=tuple(
            PhaseSpec(
                name=phase["name"],
                strategy=Strategy(phase.get("strategy", "serial")),
                steps=tuple(
                    StepSpec(
                        name=step["name"],
                        kind=step["kind"],
                        args=dict(step.get("args", {})),
                        locks=tuple(step.get("locks", ())),
                    )
                    for step in phase["steps"]
                ),
            )
            for phase in data["phases"]
        ),
    )


def spec_to_json(spec: PlanSpec) -> str:
    return json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> PlanSpec:
    return spec_from_dict(json.loads(text))


def step_fingerprint(step: StepSpec) -> str:
    """Two steps with the same fingerprint do the same work (so progress can be kept)."""
    return json.dumps(
        {"kind": step.kind, "args": dict(step.args), "locks": list(step.locks)},
        sort_keys=True,
        default=str,
    )


def all_locks(spec: PlanSpec) -> list[str]:
    return sorted({lock for phase in spec.phases for step in phase.steps for lock in step.locks})
