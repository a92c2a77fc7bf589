"""What a plan is made of before it runs: the tree of phases and steps, and the work contract.

A plan is built by a `PlanBuilder` when it is started (it may look at the service, e.g.
to make one step per bucket), persisted as JSON, and run by the plan engine. Each step
names a `kind`; the engine asks a `WorkResolver` for the coroutine that performs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Strategy(StrEnum):
    SERIAL = "serial"
    PARALLEL = "parallel"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One unit of work. `args` must be JSON-serialisable and hold no secrets;
    `locks` name the resources (e.g. `"<endpoint>/<bucket>"`) only one running plan
    may write at a time."""

    name: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    locks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    name: str
    steps: tuple[StepSpec, ...]
    strategy: Strategy = Strategy.SERIAL


@dataclass(frozen=True, slots=True)
class PlanSpec:
    name: str
    phases: tuple[PhaseSpec, ...]
    strategy: Strategy = Strategy.SERIAL


@dataclass(frozen=True, slots=True)
class StepProgress:
    """Progress of a running step, shown in `plan status`; all counts are optional."""

    objects_done: int = 0
    objects_total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    rate_bytes_per_s: float = 0.0
    failed: int = 0
    eta_s: float | None = None
    # of the objects done, those copied (not already there) and their bytes (None: not
    # told apart), and the retries of single requests so far (run history, /metrics)
    copied: int | None = None
    copied_bytes: int | None = None
    retries: int = 0
    failed_transient: int = 0  # of `failed`: still failing transiently after the retries


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What a finished step reports. A step with `errors` ends in ERROR, and the errors
    (e.g. one line per failed object key) appear in the plan's error list.

    A step that finished but left work undone on purpose (objects that differ at the
    target kept, deletions skipped over a cap) completes with `exit_code` (ExitCode
    CONFLICT or PARTIAL) so the plan does not report plain success; `details` (e.g. the
    first keys kept) go to the plan's history."""

    message: str
    errors: tuple[str, ...] = ()
    exit_code: int | None = None
    details: tuple[str, ...] = ()


class StepContext(Protocol):
    """What the engine hands a running step."""

    @property
    def service(self) -> str: ...

    @property
    def plan(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str]:
        """The plan's parameters, secrets included (in memory only)."""
        ...

    @property
    def attempt(self) -> int:
        """1 for the first try, 2 after the first transient failure, ..."""
        ...

    def report(self, progress: StepProgress) -> None:
        """Publish progress; cheap, may be called often (the engine throttles)."""
        ...


StepWork = Callable[[StepContext], Awaitable[StepOutcome]]


class WorkResolver(Protocol):
    def __call__(self, step: StepSpec) -> StepWork: ...


class PlanBuilder(Protocol):
    """Knows the plans a service offers and builds one from its parameters."""

    def plan_names(self) -> list[str]: ...

    def template(self, plan: str) -> PlanSpec:
        """The plan's shape before it was ever started (for `plan status`)."""
        ...

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        """Validate parameters (raise PlanInputError naming the bad one) and build the
        plan. Must not change any store."""
        ...
