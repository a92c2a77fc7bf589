"""`RunRecord`: a finished run of a plan, summed up from its stored state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bucketvault.plans.scheduler import RunEnd
from bucketvault.plans.state import PlanState, StateStore
from bucketvault.plans.status import Status

FIRST_FAILED = 10  # failed keys (error lines) a record keeps; the count stays exact


@dataclass(frozen=True, slots=True)
class StepRecord:
    phase: str
    step: str
    kind: str
    bucket: str | None
    status: str
    message: str
    attempts: int
    objects: int  # objects seen and done (copied or already there)
    copied: int
    bytes: int
    failed: int
    failed_transient: int
    retries: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    service: str
    plan: str
    status: str
    started: float
    ended: float
    steps: tuple[StepRecord, ...] = ()
    error_count: int = 0
    first_errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def copied(self) -> int:
        return sum(s.copied for s in self.steps)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.steps)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.steps)

    @property
    def succeeded_buckets(self) -> list[str]:
        """Buckets whose backup step completed in this run."""
        return [
            s.bucket
            for s in self.steps
            if s.kind == "backup" and s.bucket and s.status == str(Status.COMPLETE)
        ]

    def summary(self) -> dict[str, Any]:
        """The record as JSON for the API, the page and webhooks (no parameter values)."""
        duration = self.duration_s
        return {
            "service": self.service,
            "plan": self.plan,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "duration_seconds": round(duration, 3),
            "objects_copied": self.copied,
            "bytes_copied": self.bytes,
            "objects_failed": self.failed,
            "bytes_per_second": round(self.bytes / duration, 1) if duration > 0 else 0.0,
            "error_count": self.error_count,
            "first_failed": list(self.first_errors),
            "steps": [asdict(s) for s in self.steps],
        }


def _int(progress: dict[str, Any], name: str, default: int = 0) -> int:
    value = progress.get(name)
    return int(value) if isinstance(value, (int, float)) else default


def _step(phase: str, spec_step: Any, state: PlanState) -> StepRecord:
    stored = state.steps.get((phase, spec_step.name))
    progress: dict[str, Any] = (stored.progress if stored is not None else None) or {}
    bucket = spec_step.args.get("bucket") if isinstance(spec_step.args, dict) else None
    attempts = stored.attempt if stored is not None else 0
    objects = _int(progress, "objects_done")
    transferred = _int(progress, "bytes_done")
    return StepRecord(
        phase=phase,
        step=spec_step.name,
        kind=spec_step.kind,
        bucket=str(bucket) if bucket else None,
        status=str(stored.status) if stored is not None else str(Status.PENDING),
        message=stored.message if stored is not None else "",
        attempts=attempts,
        objects=objects,
        # older progress records have no `copied`: every object done counts
        copied=_int(progress, "copied", objects),
        bytes=_int(progress, "copied_bytes", transferred),
        failed=_int(progress, "failed"),
        failed_transient=_int(progress, "failed_transient"),
        retries=_int(progress, "retries") + max(0, attempts - 1),
    )


def record_run(store: StateStore, end: RunEnd) -> RunRecord:
    """The record of the run that just ended, from the plan's state as stored."""
    state = store.load(end.service, end.plan)
    if state is None:
        return RunRecord(end.service, end.plan, str(end.status), end.started, end.ended)
    steps = tuple(
        _step(phase.name, step, state) for phase in state.spec.phases for step in phase.steps
    )
    return RunRecord(
        service=end.service,
        plan=end.plan,
        status=str(end.status),
        started=end.started,
        ended=end.ended,
        steps=steps,
        error_count=len(state.errors),
        first_errors=tuple(state.errors[:FIRST_FAILED]),
    )
