"""A fake PlanBuilder and WorkResolver: plans whose steps sleep, block, report progress,
fail transiently N times, fail permanently or return per-object errors — no S3 needed.

Plans (parameters drive the behaviour, so CLI/API/subprocess tests can use them too):

- `restore` — needs ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3_BUCKET; phases `init`
  (`init-0:[init]`) and `restore` (`restore-0:[restore]`, lock `minio/<S3_BUCKET>`).
- `backup` — BUCKETS (default `a,b`): phase `init`, then phase `backup` (parallel) with
  `backup-<b>:[backup]` per bucket, lock `minio/<b>`.
- `verify` — two serial phases `first`, `second`, each with steps `s1`, `s2`.

Common parameters: KIND (the work of the main steps: ok, sleep, block, flaky, fail,
crash, errors, leak), SECONDS, FAILS, COUNT, MARKER (a directory where each step
appends `<step> start` / `<step> done` to `runs.log`, visible across processes).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from bucketvault.errors import AccessDeniedError, PlanInputError, TransientStoreError
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.runner import EngineConfig
from bucketvault.plans.spec import (
    PhaseSpec,
    PlanSpec,
    StepContext,
    StepOutcome,
    StepProgress,
    StepSpec,
    StepWork,
    Strategy,
)
from bucketvault.plans.state import StateStore

FAST = EngineConfig(
    max_attempts=3,
    backoff_initial=0.01,
    backoff_max=0.05,
    poll_interval=0.02,
    progress_interval=0.0,
    lease_seconds=10.0,
)

SECRET = "s3cr3t-Value-9f8e7d"

RESTORE_PARAMS = {
    "ACCESS_KEY_ID": "AKIAFAKE",
    "SECRET_ACCESS_KEY": SECRET,
    "S3_BUCKET": "svc-photos",
}

_REQUIRED = {"restore": ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "S3_BUCKET")}


def _work_args(params: Mapping[str, str]) -> dict[str, str]:
    keys = ("SECONDS", "FAILS", "COUNT", "MARKER")
    return {k.lower(): params[k] for k in keys if k in params}


class FakeBuilder:
    def plan_names(self) -> list[str]:
        return ["backup", "restore", "verify"]

    def template(self, plan: str) -> PlanSpec:
        return self._make(plan, {"S3_BUCKET": "<S3_BUCKET>"})

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        for name in _REQUIRED.get(plan, ()):
            if not params.get(name):
                raise PlanInputError(f"plan '{plan}' needs parameter {name}: pass -p {name}=...")
        return self._make(plan, params)

    def _make(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        kind = params.get("KIND", "ok")
        args = _work_args(params)
        init = PhaseSpec("init", (StepSpec("init-0:[init]", "ok", dict(args)),))
        if plan == "restore":
            bucket = params.get("S3_BUCKET", "")
            step = StepSpec("restore-0:[restore]", kind, dict(args), (f"minio/{bucket}",))
            return PlanSpec("restore", (init, PhaseSpec("restore", (step,))))
        if plan == "backup":
            buckets = params.get("BUCKETS", "a,b").split(",")
            steps = tuple(
                StepSpec(f"backup-{b}:[backup]", kind, dict(args), (f"minio/{b}",)) for b in buckets
            )
            return PlanSpec("backup", (init, PhaseSpec("backup", steps, Strategy.PARALLEL)))
        if plan == "verify":
            phases = tuple(
                PhaseSpec(name, tuple(StepSpec(s, kind, dict(args)) for s in ("s1", "s2")))
                for name in ("first", "second")
            )
            return PlanSpec("verify", phases)
        raise AssertionError(plan)


def _mark(step: StepSpec, what: str) -> None:
    marker = step.args.get("marker")
    if marker:
        with open(Path(marker) / "runs.log", "a") as f:
            f.write(f"{step.name} {what} {os.getpid()}\n")


class FakeWork:
    """The WorkResolver: `step.kind` picks the behaviour; also records what ran."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.params_seen: list[dict[str, str]] = []

    def __call__(self, step: StepSpec) -> StepWork:
        behaviour = getattr(self, f"_{step.kind}", None)
        if behaviour is None:
            raise ValueError(f"no work for kind {step.kind}")

        async def work(ctx: StepContext) -> StepOutcome:
            self.runs.append(step.name)
            self.params_seen.append(dict(ctx.params))
            _mark(step, "start")
            outcome: StepOutcome = await behaviour(step, ctx)
            _mark(step, "done")
            return outcome

        return work

    async def _ok(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        return StepOutcome(f"{step.name} done")

    async def _sleep(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        seconds = float(step.args.get("seconds", "0.05"))
        n = max(1, int(seconds / 0.01))
        for i in range(n):
            await asyncio.sleep(0.01)
            ctx.report(StepProgress(i + 1, n, (i + 1) * 1024 * 1024, n * 1024 * 1024, 2e6))
        return StepOutcome(f"copied {n} objects")

    async def _block(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        for i in range(100_000):  # until cancelled (bounded: ~17 minutes)
            ctx.report(StepProgress(objects_done=i, objects_total=None, bytes_done=i * 10))
            await asyncio.sleep(0.01)
        raise AssertionError("block step was never cancelled")

    async def _gate(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        """Runs while the file `<MARKER>/hold` exists (bounded: ~60 s), then completes."""
        hold = Path(step.args["marker"]) / "hold"
        for i in range(6000):
            if not hold.exists():
                return StepOutcome(f"gate opened after {i} polls")
            ctx.report(StepProgress(objects_done=i))
            await asyncio.sleep(0.01)
        raise AssertionError("gate never opened")

    async def _sigint(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        """Like Ctrl-C during the step, once: while `<MARKER>/hold` exists, remove it and
        send this process SIGINT; otherwise complete."""
        hold = Path(step.args["marker"]) / "hold"
        if hold.exists():
            hold.unlink()
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(10)
            raise AssertionError("SIGINT did not cancel the step")
        return StepOutcome("no interruption this time")

    async def _flaky(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        if ctx.attempt <= int(step.args.get("fails", "1")):
            raise TransientStoreError("SlowDown: please reduce your request rate", code="SlowDown")
        return StepOutcome(f"ok on attempt {ctx.attempt}")

    async def _fail(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        raise AccessDeniedError("access denied to bucket svc-photos", code="AccessDenied")

    async def _crash(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        raise ValueError("boom\nTraceback (most recent call last): noise")

    async def _errors(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        n = int(step.args.get("count", "3"))
        return StepOutcome(
            f"{n} objects failed", errors=tuple(f"key-{i}: AccessDenied" for i in range(n))
        )

    async def _leak(self, step: StepSpec, ctx: StepContext) -> StepOutcome:
        raise TransientStoreError(f"signature mismatch for {ctx.params['SECRET_ACCESS_KEY']}")


def make_manager(
    service: str = "svc", config: EngineConfig = FAST, work: FakeWork | None = None
) -> PlanManager:
    return PlanManager(service, FakeBuilder(), work or FakeWork(), StateStore(), config)


async def wait_until(predicate: object, seconds: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate()` every 10 ms until true; fail after `seconds`."""
    assert callable(predicate)
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def step_status(manager: PlanManager, plan: str, phase: str, step: str) -> str:
    for ph in manager.status(plan)["phases"]:
        if ph["name"] == phase:
            for st in ph["steps"]:
                if st["name"] == step:
                    return str(st["status"])
    raise KeyError((phase, step))


def state_bytes(home: Path) -> bytes:
    """Everything the state database holds on disk (db, WAL, shared memory)."""
    data = b""
    for path in home.glob("state.db*"):
        data += path.read_bytes()
    return data
