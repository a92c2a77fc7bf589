"""Statuses, how a parent's status follows from its children, and which moves a step may make.

Terms (REFERENCE.md §2, the DC/OS SDK plan model):

- *element*: a plan, a phase or a step. Plans and phases have children; steps do the work.
- *interrupted*: an operator paused the element (`plan pause`); it shows `WAITING`.
- *eligible*: a child the engine may work on: not `COMPLETE`, not `ERROR`, not interrupted.
- *candidates*: the children the element's strategy would run now: for `serial` the first
  child that is not `COMPLETE` (if it is eligible), for `parallel` every eligible child.

`derive_status` applies the 13 derivation rules in order; the first that matches wins.
`check_transition` is the one place that says which step status changes are legal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bucketvault.errors import BucketvaultError
from bucketvault.plans.spec import Strategy


class Status(StrEnum):
    ERROR = "ERROR"
    WAITING = "WAITING"
    PENDING = "PENDING"
    PREPARED = "PREPARED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    COMPLETE = "COMPLETE"
    IN_PROGRESS = "IN_PROGRESS"
    DELAYED = "DELAYED"


#: Step statuses meaning "some process is working on it right now".
IN_FLIGHT = frozenset({Status.PREPARED, Status.STARTING, Status.STARTED, Status.DELAYED})


@dataclass(frozen=True, slots=True)
class Child:
    """What derivation needs to know about one child element."""

    status: Status
    interrupted: bool = False

    @property
    def eligible(self) -> bool:
        return (
            self.status is not Status.COMPLETE
            and self.status is not Status.ERROR
            and not self.interrupted
        )


def candidates(strategy: Strategy, children: Sequence[Child]) -> list[int]:
    """Indexes of the children `strategy` would run now."""
    if strategy is Strategy.PARALLEL:
        return [i for i, child in enumerate(children) if child.eligible]
    for i, child in enumerate(children):
        if child.status is not Status.COMPLETE:
            return [i] if child.eligible else []
    return []


def derive_status(children: Sequence[Child], strategy: Strategy, interrupted: bool) -> Status:
    """The status of a plan or phase with these children (REFERENCE.md §2, rules 1-13)."""
    child_statuses = [c.status for c in children]
    cand = [children[i].status for i in candidates(strategy, children)]
    return aggregate(child_statuses, cand, interrupted)


def aggregate(children: Sequence[Status], cands: Sequence[Status], interrupted: bool) -> Status:
    """The 13 rules, on plain status lists; first match wins."""

    def any_child(*statuses: Status) -> bool:
        return any(s in statuses for s in children)

    def any_cand(*statuses: Status) -> bool:
        return any(s in statuses for s in cands)

    if any_child(Status.ERROR):  # 1
        return Status.ERROR
    if all(s is Status.COMPLETE for s in children):  # 2 (also: no children)
        return Status.COMPLETE
    if interrupted:  # 3
        return Status.WAITING
    if all(s is Status.DELAYED for s in cands) and all(s is Status.DELAYED for s in children):
        return Status.DELAYED  # 4
    if any_child(Status.PREPARED):  # 5
        return Status.IN_PROGRESS
    if any_cand(Status.WAITING):  # 6
        return Status.WAITING
    if any_cand(Status.IN_PROGRESS):  # 7
        return Status.IN_PROGRESS
    # Rule 8 also counts DELAYED candidates: the SDK's list omits them, so a plan whose
    # next step is backing off after a transient failure fell through to rule 13 and
    # showed ERROR (417 to API pollers) while it was only retrying.
    if any_child(Status.COMPLETE) and any_cand(
        Status.PENDING, Status.STARTING, Status.STARTED, Status.DELAYED
    ):
        return Status.IN_PROGRESS  # 8
    if any_cand(Status.PENDING):  # 9
        return Status.PENDING
    if any_child(Status.WAITING):  # 10
        return Status.WAITING
    if any_cand(Status.STARTING):  # 11
        return Status.STARTING
    if any_cand(Status.STARTED):  # 12
        return Status.STARTED
    if any_cand(Status.DELAYED):  # 12b, ours: a retry in backoff is not an error
        return Status.DELAYED
    return Status.ERROR  # 13


class TransitionError(BucketvaultError):
    """A step was asked to move between two statuses that the table does not allow."""


#: Step status -> statuses it may move to. Every status may go back to PENDING (interrupt,
#: stop, restart, crash recovery) and to COMPLETE (force-complete).
STEP_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PENDING, Status.PREPARED, Status.STARTING, Status.COMPLETE}),
    Status.PREPARED: frozenset({Status.PENDING, Status.STARTING, Status.COMPLETE, Status.ERROR}),
    Status.STARTING: frozenset(
        {Status.PENDING, Status.STARTED, Status.DELAYED, Status.COMPLETE, Status.ERROR}
    ),
    Status.STARTED: frozenset(
        {Status.PENDING, Status.STARTED, Status.DELAYED, Status.COMPLETE, Status.ERROR}
    ),
    Status.DELAYED: frozenset({Status.PENDING, Status.STARTING, Status.COMPLETE, Status.ERROR}),
    Status.COMPLETE: frozenset({Status.PENDING, Status.COMPLETE}),
    Status.ERROR: frozenset({Status.PENDING, Status.COMPLETE}),
}


def can_transition(old: Status, new: Status) -> bool:
    return new in STEP_TRANSITIONS.get(old, frozenset())


def check_transition(old: Status, new: Status) -> None:
    """Raise TransitionError unless a step may move from `old` to `new`."""
    if not can_transition(old, new):
        raise TransitionError(f"a step cannot go from {old} to {new}")


__all__ = [
    "IN_FLIGHT",
    "STEP_TRANSITIONS",
    "Child",
    "Status",
    "TransitionError",
    "aggregate",
    "can_transition",
    "candidates",
    "check_transition",
    "derive_status",
]
