"""The 13 derivation rules (REFERENCE.md §2), candidate selection and the step transition table."""

from __future__ import annotations

import pytest

from bucketvault.plans.spec import Strategy
from bucketvault.plans.status import (
    STEP_TRANSITIONS,
    Child,
    Status,
    TransitionError,
    aggregate,
    candidates,
    check_transition,
    derive_status,
)

S = Status
E, W, P, PR, SG, SD, C, IP, D = (
    S.ERROR, S.WAITING, S.PENDING, S.PREPARED, S.STARTING, S.STARTED, S.COMPLETE,
    S.IN_PROGRESS, S.DELAYED,
)  # fmt: skip

# (children, candidates, interrupted, expected)
RULES = [
    pytest.param([C, E], [], False, E, id="r1-any-child-error"),
    pytest.param([E, D], [D], True, E, id="r1-error-beats-interrupt-and-delay"),
    pytest.param([C, C], [], False, C, id="r2-all-complete"),
    pytest.param([], [], False, C, id="r2-no-children-complete"),
    pytest.param([C, C], [], True, C, id="r2-complete-beats-interrupt"),
    pytest.param([P, P], [P], True, W, id="r3-interrupted-waiting"),
    pytest.param([D, D], [D, D], True, W, id="r3-interrupt-before-delayed"),
    pytest.param([D, D], [D, D], False, D, id="r4-all-delayed"),
    pytest.param([D, D], [], False, D, id="r4-all-children-delayed-no-candidates"),
    pytest.param([C, D], [D], False, IP, id="r8-complete-and-delayed"),
    pytest.param([D, P], [D], False, D, id="r12b-candidate-delayed-not-error"),
    pytest.param([PR, P], [P], False, IP, id="r5-any-prepared"),
    pytest.param([W, P], [W], False, W, id="r6-candidate-waiting"),
    pytest.param([IP, P], [IP, P], False, IP, id="r7-candidate-in-progress"),
    pytest.param([C, P], [P], False, IP, id="r8-complete-and-pending"),
    pytest.param([C, SG], [SG], False, IP, id="r8-complete-and-starting"),
    pytest.param([C, SD], [SD], False, IP, id="r8-complete-and-started"),
    pytest.param([P, P], [P], False, P, id="r9-candidate-pending"),
    pytest.param([SD, W], [SD], False, W, id="r10-child-waiting-beats-started"),
    pytest.param([W, P], [], False, W, id="r10-child-waiting-not-candidate"),
    pytest.param([SG, P], [SG], False, SG, id="r11-candidate-starting"),
    pytest.param([SD, P], [SD], False, SD, id="r12-candidate-started"),
    pytest.param([P, P], [], False, E, id="r13-nothing-matches"),
]


@pytest.mark.parametrize(("children", "cands", "interrupted", "expected"), RULES)
def test_aggregate_rules(
    children: list[Status], cands: list[Status], interrupted: bool, expected: Status
) -> None:
    assert aggregate(children, cands, interrupted) is expected


@pytest.mark.parametrize(
    ("strategy", "children", "expected"),
    [
        pytest.param(Strategy.SERIAL, [Child(C), Child(P), Child(P)], [1], id="serial-next"),
        pytest.param(
            Strategy.SERIAL, [Child(C), Child(E), Child(P)], [], id="serial-blocked-by-error"
        ),
        pytest.param(
            Strategy.SERIAL,
            [Child(P, interrupted=True), Child(P)],
            [],
            id="serial-interrupted-first",
        ),
        pytest.param(Strategy.SERIAL, [Child(C), Child(C)], [], id="serial-all-complete"),
        pytest.param(Strategy.SERIAL, [Child(SD), Child(P)], [0], id="serial-running-is-candidate"),
        pytest.param(
            Strategy.PARALLEL,
            [Child(C), Child(P), Child(E), Child(P, interrupted=True), Child(D)],
            [1, 4],
            id="parallel-eligible",
        ),
    ],
)
def test_candidates(strategy: Strategy, children: list[Child], expected: list[int]) -> None:
    assert candidates(strategy, children) == expected


def test_derive_serial_phase_after_first_step() -> None:
    assert derive_status([Child(C), Child(P)], Strategy.SERIAL, False) is IP


def test_derive_parallel_interrupted_child_shows_waiting() -> None:
    # the only non-complete child is interrupted: no candidates, rule 10
    assert derive_status([Child(C), Child(W, interrupted=True)], Strategy.PARALLEL, False) is W


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(P, SG, id="pending-starting"),
        pytest.param(SG, SD, id="starting-started"),
        pytest.param(SD, C, id="started-complete"),
        pytest.param(SD, D, id="started-delayed"),
        pytest.param(D, SG, id="delayed-retry"),
        pytest.param(SD, E, id="started-error"),
        pytest.param(E, P, id="error-restart"),
        pytest.param(C, P, id="complete-restart"),
        pytest.param(E, C, id="error-force-complete"),
    ],
)
def test_allowed_transitions(old: Status, new: Status) -> None:
    check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(C, SD, id="complete-started"),
        pytest.param(E, SG, id="error-starting"),
        pytest.param(P, E, id="pending-error"),
        pytest.param(P, SD, id="pending-started-skips-starting"),
        pytest.param(SD, W, id="steps-never-waiting"),
        pytest.param(P, IP, id="steps-never-in-progress"),
    ],
)
def test_forbidden_transitions(old: Status, new: Status) -> None:
    with pytest.raises(TransitionError):
        check_transition(old, new)


def test_every_step_status_can_be_reset_and_forced() -> None:
    for old, allowed in STEP_TRANSITIONS.items():
        assert P in allowed and C in allowed, old
