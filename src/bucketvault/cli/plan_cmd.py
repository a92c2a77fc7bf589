"""`bucketvault plan ...`: list, status, logs, start, stop, pause, resume, force-restart,
force-complete — the DC/OS CLI plan commands (REFERENCE.md §2).

Results go to stdout, diagnostics and the live progress display to stderr. Parameters
are never echoed. With `--url` the commands talk to a scheduler; without it they act
in-process, and `start` runs the plan in the foreground: exit 0 when it completes with
all its work done, 4 or 7 when it completed leaving work undone (conflicts kept,
deletions skipped), the failure's exit code when it ends in ERROR, 130 when interrupted
(Ctrl-C, or `plan pause` from another terminal, leaves the plan paused and resumable
with `plan resume`, which the last line names).

The plan engine, its state database, httpx and rich are imported by the commands that
use them, so `bucketvault --help` and the other commands do not pay for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bucketvault.cli import output
from bucketvault.cli.context import global_options
from bucketvault.cli.output import abort, abort_on, print_data, print_json
from bucketvault.cli.plan_render import log_lines, outcome_code, render_tree, result_lines
from bucketvault.errors import BucketvaultError, ExitCode, PlanInputError

if TYPE_CHECKING:
    from bucketvault.cli.plan_backend import LocalBackend, PlanBackend
    from bucketvault.plans.status import Status

ALREADY = "Cannot execute command. Command has already been issued or the plan has completed"

app = typer.Typer(
    help="Start, watch and steer the plans (backup, restore, verify, prune) of a service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def _service_option(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The service (also accepted before `plan`)."),
    ] = None,
) -> None:
    """`bucketvault plan --name=SVC …` works as well as `bucketvault --name=SVC plan …`."""
    if name is not None:
        global_options(ctx).name = name


PlanArg = Annotated[str, typer.Argument(help="Plan name (see `plan list`).")]
PhaseArg = Annotated[str | None, typer.Argument(help="Phase name.")]
StepArg = Annotated[str | None, typer.Argument(help="Step name (needs the phase).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("-p", "--param", help="NAME=VALUE (repeatable; split on the first '=')."),
]
SecretFileOpt = Annotated[
    Path | None,
    typer.Option(help="Read SECRET_ACCESS_KEY (the backup store's) from this file."),
]
SecretStdinOpt = Annotated[bool, typer.Option(help="Read SECRET_ACCESS_KEY from standard input.")]


@contextlib.contextmanager
def _failures() -> Iterator[None]:
    try:
        yield
    except BucketvaultError as exc:
        abort_on(exc)


def _backend(ctx: typer.Context) -> PlanBackend:
    opts = global_options(ctx)
    if opts.url:
        from bucketvault.cli.plan_backend import HttpBackend

        return HttpBackend(opts.url, opts.token, opts.name)
    from bucketvault.cli.plan_backend import LocalBackend
    from bucketvault.plans.factory import manager_for

    return LocalBackend(manager_for(opts.service_name()))


def parse_params(items: list[str]) -> dict[str, str]:
    """`-p NAME=VALUE` items, split on the first `=`; errors never show a value."""
    from bucketvault.plans.engine import PARAM_NAME, shown_param_name

    params: dict[str, str] = {}
    for number, item in enumerate(items, 1):
        name, sep, value = item.partition("=")
        if not sep:
            raise PlanInputError(f"parameter #{number} has no '=': write -p NAME=VALUE")
        if not PARAM_NAME.fullmatch(name):
            raise PlanInputError(
                f"invalid parameter name {shown_param_name(name)} (parameter #{number}): "
                "names must match [A-Za-z_][A-Za-z0-9_]*"
            )
        if name in params:
            raise PlanInputError(f"parameter {name} given twice")
        params[name] = value
    return params


def _params(
    param: list[str] | None, secret_file: Path | None, secret_stdin: bool
) -> dict[str, str]:
    from bucketvault.cli.credentials import with_backup_credentials

    return with_backup_credentials(
        parse_params(param or []), secret_file=secret_file, secret_stdin=secret_stdin
    )


def _missing_secret(exc: BucketvaultError) -> BucketvaultError:
    """The engine's "needs SECRET_ACCESS_KEY again" with this command's ways to give it."""
    from bucketvault.plans.operations import MissingSecretError

    if not isinstance(exc, MissingSecretError) or exc.names != ["SECRET_ACCESS_KEY"]:
        return exc
    return PlanInputError(
        f"plan '{exc.plan}' needs the backup store's SECRET_ACCESS_KEY again (the kept copy "
        "is deleted when a plan completes): pass --secret-file FILE, --secret-stdin or "
        "$BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY (or -p SECRET_ACCESS_KEY=…)"
    )


def _resume_hint(ctx: typer.Context, plan: str, phase: str | None = None) -> str:
    name = global_options(ctx).name
    where = f" {phase}" if phase else ""
    return f"`bucketvault --name={name} plan resume {plan}{where}`"


def _undone(plan: str, body: dict[str, object], code: int) -> None:
    """A plan that completed leaving work undone: say where, exit with its code."""
    steps = [
        str(step["name"])
        for phase in body.get("phases", [])  # type: ignore[attr-defined]
        for step in phase.get("steps", [])
        if step.get("exit_code")
    ]
    what = "objects that differ at the target were kept" if code == 4 else "work was left undone"
    abort(
        f'"{plan}" plan completed, but {what} in {", ".join(steps)} (see the results above)',
        ExitCode(code) if code in ExitCode._value2member_map_ else ExitCode.PARTIAL,
    )


def _changed(changed: bool, message: str) -> None:
    if not changed:  # the SDK's 208: a conflict with the plan's state, not a failure
        abort(ALREADY, ExitCode.CONFLICT)
    print_data(message)


def _follow(ctx: typer.Context, backend: LocalBackend, plan: str) -> None:
    """Run the plan here until it ends; exit accordingly."""
    import asyncio

    from bucketvault import event_loop
    from bucketvault.plans.status import Status

    async def run_with_display() -> Status:
        err = output.err
        if not err.is_terminal:
            return await backend.run(plan)
        from rich.live import Live
        from rich.text import Text

        with Live(Text(""), console=err, refresh_per_second=4) as live:

            async def refresh() -> None:
                for _ in range(10**9):  # until cancelled
                    live.update(Text(render_tree(plan, backend.status(plan))))
                    await asyncio.sleep(0.5)

            task = asyncio.create_task(refresh())
            try:
                return await backend.run(plan)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                live.update(Text(render_tree(plan, backend.status(plan))))

    resume = _resume_hint(ctx, plan)
    try:
        status = event_loop.run(run_with_display())
    except KeyboardInterrupt:
        abort(f'"{plan}" plan interrupted: resume it with {resume}', ExitCode.INTERRUPTED)
    body = backend.status(plan)
    if status in (Status.COMPLETE, Status.ERROR):
        # what was done, also for cron: the live view above is only shown on a terminal
        for line in result_lines(body):
            output.info(line)
    if status is Status.COMPLETE:
        code = backend.manager.exit_code(plan)
        if code:
            _undone(plan, body, code)
        return
    if status is Status.ERROR:
        errors = body["errors"]
        first = errors[0] if errors else "a step failed"
        more = f" (and {len(errors) - 1} more: see `plan status {plan}`)" if len(errors) > 1 else ""
        code = backend.manager.exit_code(plan)
        exit_code = ExitCode(code) if code in ExitCode._value2member_map_ else ExitCode.FAILURE
        abort(f'"{plan}" plan failed: {first}{more}', exit_code)
    how, phase = backend.manager.halted(plan)
    if how == "stopped":
        abort(
            f'"{plan}" plan was stopped (`plan stop`): run it again with {resume}',
            ExitCode.INTERRUPTED,
        )
    if how == "paused":
        where = f'phase "{phase}" of the "{plan}" plan' if phase else f'"{plan}" plan'
        abort(
            f"{where} was paused (`plan pause`, from another terminal or the API): "
            f"resume it with {_resume_hint(ctx, plan, phase)}",
            ExitCode.INTERRUPTED,
        )
    abort(f'"{plan}" plan is {status} and cannot go on: see `plan status {plan}`')


def _wait(backend: PlanBackend, plan: str, poll: float = 0.5) -> None:
    """Poll a scheduler's plan until it completes, fails or is interrupted; exit so."""
    import time

    while True:  # ends when the plan does (a started plan is never WAITING unless paused)
        body = backend.status(plan)
        status = body.get("status")
        if status == "COMPLETE":
            for line in result_lines(body):
                output.info(line)
            code = outcome_code(body)
            if code:
                _undone(plan, body, code)
            return
        if status == "ERROR":
            errors = body.get("errors") or ["a step failed"]
            more = f" (and {len(errors) - 1} more: see `plan status {plan}`)"
            abort(f'"{plan}" plan failed: {errors[0]}{more if len(errors) > 1 else ""}',
                  ExitCode.PARTIAL)  # fmt: skip
        if status == "WAITING":
            abort(
                f'"{plan}" plan was paused or stopped: resume it with `plan resume {plan}`',
                ExitCode.INTERRUPTED,
            )
        time.sleep(poll)


def _follow_if_idle(ctx: typer.Context, backend: PlanBackend, plan: str) -> None:
    from bucketvault.cli.plan_backend import LocalBackend  # loaded by _backend already

    if isinstance(backend, LocalBackend) and backend.needs_runner(plan):
        _follow(ctx, backend, plan)


@app.command("list")
def list_plans(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the service's plans."""
    with _failures():
        names = _backend(ctx).names()
    if json_:
        print_json(names)
    else:
        for name in names:
            print_data(name)


@app.command()
def status(ctx: typer.Context, plan: PlanArg, json_: JsonOpt = False) -> None:
    """Show a plan's phases and steps with their statuses, results and errors.

    Exits 7 while the plan is in ERROR, and 4 (objects that differ kept) or 7 (e.g.
    deletions skipped) when it completed leaving work undone; else 0."""
    with _failures():
        body = _backend(ctx).status(plan)
    if json_:
        print_json(body)
    else:
        print_data(render_tree(plan, body))
    code = outcome_code(body)  # 7 in ERROR; 4/7 when it completed leaving work undone
    if code:
        raise SystemExit(code)


@app.command()
def logs(
    ctx: typer.Context,
    plan: PlanArg,
    step: Annotated[
        str | None, typer.Argument(help="Only this step (or phase) — see `plan status`.")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON lines, one per entry.")] = False,
) -> None:
    """Show a plan's history: when each step started, retried, completed or failed (with
    its counts and first errors), and the commands given to the plan."""
    with _failures():
        events = _backend(ctx).logs(plan, step)
    if json_:
        for event in events:
            print_json(event)
        return
    if not events:
        output.info(f'no history for the "{plan}" plan yet: start it with `plan start {plan}`')
    for line in log_lines(events):
        print_data(line)


@app.command()
def start(
    ctx: typer.Context,
    plan: PlanArg,
    param: ParamOpt = None,
    secret_file: SecretFileOpt = None,
    secret_stdin: SecretStdinOpt = False,
    wait: Annotated[
        bool,
        typer.Option(
            help="With --url: follow the plan to its end and exit with its outcome "
            "(without --url a plan always runs in the foreground)."
        ),
    ] = False,
) -> None:
    """Start a plan with its parameters (restart it if it had completed).

    The backup store's credentials: -p ACCESS_KEY_ID=… -p SECRET_ACCESS_KEY=… as DC/OS
    documented, or — keeping the secret out of `ps` — --secret-file, --secret-stdin, or
    $BUCKETVAULT_BACKUP_ACCESS_KEY_ID and $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY."""
    from bucketvault.cli.plan_backend import LocalBackend

    with _failures():
        params = _params(param, secret_file, secret_stdin)
        backend = _backend(ctx)
        backend.start(plan, params)
        print_data(f'"{plan}" plan has been started.')
        if isinstance(backend, LocalBackend):
            _follow(ctx, backend, plan)
        elif wait:
            _wait(backend, plan)


@app.command()
def stop(ctx: typer.Context, plan: PlanArg) -> None:
    """Interrupt a plan and reset all its steps to PENDING."""
    with _failures():
        _backend(ctx).stop(plan)
    print_data(f'"{plan}" plan has been stopped.')


@app.command()
def pause(ctx: typer.Context, plan: PlanArg, phase: PhaseArg = None) -> None:
    """Pause a plan (or one phase); running steps go back to PENDING."""
    with _failures():
        changed = _backend(ctx).interrupt(plan, phase)
    where = f'"{plan}" plan: phase "{phase}"' if phase else f'"{plan}" plan'
    _changed(changed, f"{where} has been paused.")


@app.command()
def resume(
    ctx: typer.Context,
    plan: PlanArg,
    phase: PhaseArg = None,
    param: ParamOpt = None,
    secret_file: SecretFileOpt = None,
    secret_stdin: SecretStdinOpt = False,
) -> None:
    """Resume a paused plan (or phase); in-process, it then runs in the foreground.

    Credentials may be given again as for `plan start` (-p, --secret-file,
    --secret-stdin, $BUCKETVAULT_BACKUP_*); other parameters must be as started."""
    with _failures():
        params = _params(param, secret_file, secret_stdin)
        backend = _backend(ctx)
        try:
            changed = backend.proceed(plan, phase, params)
        except BucketvaultError as exc:
            raise _missing_secret(exc) from None
        where = f'"{plan}" plan: phase "{phase}"' if phase else f'"{plan}" plan'
        _changed(changed, f"{where} has been resumed.")
        _follow_if_idle(ctx, backend, plan)


@app.command("force-restart")
def force_restart(
    ctx: typer.Context,
    plan: PlanArg,
    phase: PhaseArg = None,
    step: StepArg = None,
    param: ParamOpt = None,
    secret_file: SecretFileOpt = None,
    secret_stdin: SecretStdinOpt = False,
) -> None:
    """Reset a plan, phase or step to PENDING and un-interrupt it.

    A plan that completed no longer keeps its secret: give it again as for `plan start`
    (-p SECRET_ACCESS_KEY=…, --secret-file, --secret-stdin, $BUCKETVAULT_BACKUP_*)."""
    with _failures():
        params = _params(param, secret_file, secret_stdin)
        backend = _backend(ctx)
        try:
            changed = backend.restart(plan, phase, step, params)
        except BucketvaultError as exc:
            raise _missing_secret(exc) from None
        if step:
            where = f'"{plan}" plan: step "{step}" in phase "{phase}"'
        elif phase:
            where = f'"{plan}" plan: phase "{phase}"'
        else:
            where = f'"{plan}" plan'
        _changed(changed, f"{where} has been restarted.")
        _follow_if_idle(ctx, backend, plan)


@app.command("force-complete")
def force_complete(
    ctx: typer.Context,
    plan: PlanArg,
    phase: Annotated[str, typer.Argument(help="Phase name.")],
    step: Annotated[str, typer.Argument(help="Step name.")],
) -> None:
    """Mark a step COMPLETE without running it."""
    with _failures():
        backend = _backend(ctx)
        changed = backend.force_complete(plan, phase, step)
        _changed(
            changed, f'"{plan}" plan: step "{step}" in phase "{phase}" has been forced to complete.'
        )
        _follow_if_idle(ctx, backend, plan)
