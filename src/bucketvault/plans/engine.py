"""`PlanManager`: the plans of one service — their status, the operator commands, and
running them.

It checks names (plan, phase, step, parameter) and then delegates: operator commands
to `plans/operations.py` (one database transaction each), running to
`plans/runner.py`. Everything it knows about a plan's progress is read back from the
state database, so several managers in several processes agree.

A plan whose building fails for a reason other than bad input (the store it lists is
unreachable or refuses) is recorded in ERROR with that reason, so `plan status` shows
why it did not run instead of the previous run's state.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from bucketvault.config.secret import looks_secret
from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    ExitCode,
    NotFoundError,
    PlanInputError,
    UsageError,
    exit_code_for,
)
from bucketvault.plans import operations, secrets
from bucketvault.plans.codec import validate_spec
from bucketvault.plans.runner import EngineConfig, Runner, describe
from bucketvault.plans.spec import PlanBuilder, PlanSpec, WorkResolver
from bucketvault.plans.state import Event, StateStore
from bucketvault.plans.status import Status
from bucketvault.plans.view import derive, runnable, status_json

PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_SHOWN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def shown_param_name(name: str) -> str:
    """An invalid parameter name as an error message may show it: quoted when it looks
    like a mistyped name, never when it may be a value (a secret) given without NAME=."""
    if _SHOWN_NAME.fullmatch(name):
        return repr(name)
    return f"of {len(name)} characters (not shown: is it a value missing its NAME=?)"


def check_param_names(params: Mapping[str, str]) -> None:
    for name in params:
        if not PARAM_NAME.fullmatch(name):
            raise PlanInputError(
                f"invalid parameter name {shown_param_name(name)}: "
                "names must match [A-Za-z_][A-Za-z0-9_]*"
            )


def check_rerun_params(plan: str, stored: Mapping[str, str], given: Mapping[str, str]) -> None:
    """Parameters brought again to `resume`/`force-restart` may replace credentials
    (secrets, `*ACCESS_KEY_ID`); any other must be as the plan was started, since the
    plan is not rebuilt: changing what it does takes `plan start`."""
    check_param_names(given)
    for name, value in given.items():
        if looks_secret(name) or name.endswith("ACCESS_KEY_ID"):
            continue
        if stored.get(name) != value:
            how = "differs from the one" if name in stored else "was not given when"
            raise PlanInputError(
                f"parameter {name} {how} the plan was started with: to change what the plan "
                f"does, start it again with `plan start {plan}`"
            )


class PlanManager:
    """The plans of one service."""

    def __init__(
        self,
        service: str,
        builder: PlanBuilder,
        resolve: WorkResolver,
        state: StateStore,
        config: EngineConfig | None = None,
    ) -> None:
        self.service = service
        self.builder = builder
        self.resolve = resolve
        self.state = state
        self.config = config or EngineConfig()

    # -- names ---------------------------------------------------------------------------

    def plan_names(self) -> list[str]:
        return list(self.builder.plan_names())

    def _spec(self, plan: str) -> PlanSpec:
        """The plan's current shape: as started, or the template if never started."""
        names = self.plan_names()
        if plan not in names:
            close = difflib.get_close_matches(plan, names, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise NotFoundError(
                f"plan '{plan}' not found for service '{self.service}': "
                f"{hint}plans are {', '.join(names) or '(none)'}"
            )
        stored = self.state.load(self.service, plan)
        return stored.spec if stored is not None else self.builder.template(plan)

    def _check(self, plan: str, phase: str | None = None, step: str | None = None) -> None:
        spec = self._spec(plan)
        if step is not None and phase is None:
            raise PlanInputError(f"step '{step}' given without its phase: name the phase too")
        if phase is None:
            return
        phases = {p.name: p for p in spec.phases}
        if phase not in phases:
            raise NotFoundError(
                f"phase '{phase}' not found in plan '{plan}': phases are {', '.join(phases)}"
            )
        if step is not None and step not in {s.name for s in phases[phase].steps}:
            steps = ", ".join(s.name for s in phases[phase].steps)
            raise NotFoundError(
                f"step '{step}' not found in phase '{phase}' of plan '{plan}': steps are {steps}"
            )

    # -- reading -------------------------------------------------------------------------

    def status(self, plan: str) -> dict[str, Any]:
        spec = self._spec(plan)
        return status_json(self.service, spec, self.state.load(self.service, plan))

    def plan_status(self, plan: str) -> Status:
        spec = self._spec(plan)
        return derive(spec, self.state.load(self.service, plan)).status

    def running_pid(self, plan: str) -> int | None:
        """The pid of the process running the plan now, if any."""
        self._spec(plan)
        stored = self.state.load(self.service, plan)
        return stored.runner_pid if stored is not None and stored.runner_alive else None

    def has_runnable(self, plan: str) -> bool:
        """Whether any step may start now (the plan is started and not interrupted)."""
        self._spec(plan)
        stored = self.state.load(self.service, plan)
        return stored is not None and bool(runnable(stored.spec, derive(stored.spec, stored)))

    def halted(self, plan: str) -> tuple[str, str | None]:
        """Why a started plan stopped short of the end: ("paused" or "stopped", the
        paused phase or None for the whole plan); ("", None) if it was not halted."""
        stored = self.state.load(self.service, plan)
        if stored is None:
            return "", None
        if stored.interrupted:
            stopped = all(st.message == "stopped" for st in stored.steps.values())
            return ("stopped" if stopped and stored.steps else "paused"), None
        for phase in stored.spec.phases:
            if stored.phase_interrupted.get(phase.name):
                return "paused", phase.name
        return "", None

    def logs(self, plan: str, step: str | None = None) -> list[Event]:
        """The plan's history, oldest first; with `step`, that step's (or phase's)."""
        spec = self._spec(plan)
        with self.state.read() as tx:
            events = tx.events(self.service, plan)
        if step is None:
            return events
        names = {s.name for p in spec.phases for s in p.steps} | {p.name for p in spec.phases}
        names |= {e.step for e in events} | {e.phase for e in events}
        names.discard("")
        if step not in names:
            close = difflib.get_close_matches(step, sorted(names), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise NotFoundError(
                f"step '{step}' not found in plan '{plan}': {hint}"
                f"steps are {', '.join(s.name for p in spec.phases for s in p.steps) or '(none)'}"
            )
        return [e for e in events if step in (e.step, e.phase)]

    def exit_code(self, plan: str) -> int:
        """0 when COMPLETE and every step did all its work; when COMPLETE with work left
        undone on purpose, the highest code its steps recorded (PARTIAL over CONFLICT);
        else the exit code of the first failed step (1 if none said)."""
        stored = self.state.load(self.service, plan)
        if stored is None:
            return int(ExitCode.FAILURE)
        tree = derive(stored.spec, stored)
        if tree.status is Status.COMPLETE:
            codes = [st.exit_code for st in stored.steps.values() if st.exit_code]
            return max(codes, default=int(ExitCode.OK))
        for phase in stored.spec.phases:
            for step in phase.steps:
                st = stored.steps.get((phase.name, step.name))
                if st is not None and st.status is Status.ERROR:
                    return st.exit_code or int(ExitCode.FAILURE)
        return int(ExitCode.FAILURE)

    # -- commands ------------------------------------------------------------------------

    async def start(self, plan: str, params: Mapping[str, str]) -> None:
        """Validate and store; the plan runs when `run(plan)` is called."""
        self._spec(plan)
        check_param_names(params)
        try:
            spec = await self.builder.build(plan, dict(params))
        except (UsageError, ConflictError, NotFoundError):
            raise  # bad input changes nothing
        except BucketvaultError as exc:
            self._record_failure(plan, params, exc)
            raise
        validate_spec(spec)
        if spec.name != plan:
            raise PlanInputError(f"the builder made plan '{spec.name}' when asked for '{plan}'")
        operations.start(self.state, self.service, plan, spec, params)

    def _record_failure(self, plan: str, params: Mapping[str, str], exc: BucketvaultError) -> None:
        _, secret = secrets.split_params(params)
        text = secrets.scrub(describe(exc, self.config.max_message), list(secret.values()))
        message = f"{plan} could not start: {text}"
        code = int(exit_code_for(exc))
        operations.record_failure(self.state, self.service, plan, params, message, code)

    def stop(self, plan: str) -> None:
        self._check(plan)
        operations.stop(self.state, self.service, plan)

    def interrupt(self, plan: str, phase: str | None = None) -> bool:
        self._check(plan, phase)
        return operations.interrupt(self.state, self.service, plan, phase)

    def _given(self, plan: str, params: Mapping[str, str] | None) -> dict[str, str]:
        given = dict(params or {})
        if given:
            stored = self.state.load(self.service, plan)
            check_rerun_params(plan, stored.params if stored is not None else {}, given)
        return given

    def proceed(
        self, plan: str, phase: str | None = None, params: Mapping[str, str] | None = None
    ) -> bool:
        """Resume; `params` may bring credentials again (a secret no longer kept)."""
        self._check(plan, phase)
        given = self._given(plan, params)
        return operations.proceed(self.state, self.service, plan, phase, given)

    def force_complete(self, plan: str, phase: str | None, step: str | None) -> bool:
        self._check(plan, phase, step)
        if phase is None or step is None:
            raise PlanInputError("force-complete needs both a phase and a step")
        return operations.force_complete(self.state, self.service, plan, phase, step)

    def restart(
        self,
        plan: str,
        phase: str | None = None,
        step: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> bool:
        """Force-restart; `params` may bring credentials again (a completed plan's secret
        was deleted)."""
        self._check(plan, phase, step)
        given = self._given(plan, params)
        return operations.restart(self.state, self.service, plan, phase, step, given)

    # -- running -------------------------------------------------------------------------

    async def run(self, plan: str, *, interrupt_on_cancel: bool = False) -> Status:
        """Drive the plan until it is COMPLETE, in ERROR, or can go no further (interrupted).

        Raises ConflictError if another live runner has it. If cancelled, steps in flight
        go back to PENDING; with `interrupt_on_cancel` (Ctrl-C) the plan is also
        interrupted, otherwise (scheduler shutdown) it continues on the next start."""
        self._spec(plan)
        runner = Runner(
            service=self.service,
            plan=plan,
            store=self.state,
            resolve=self.resolve,
            config=self.config,
        )
        return await runner.run(interrupt_on_cancel=interrupt_on_cancel)

    def resumable_plans(self) -> list[str]:
        """Plans that were running when their process died: started, not interrupted, and
        neither COMPLETE nor ERROR."""
        result = []
        with self.state.read() as tx:
            names = [plan for _, plan in tx.list_plans(self.service)]
            states = [tx.load(self.service, name) for name in names]
        for st in states:
            if st is None or st.interrupted or st.runner_alive:
                continue
            if derive(st.spec, st).status not in (Status.COMPLETE, Status.ERROR):
                result.append(st.plan)
        return result
