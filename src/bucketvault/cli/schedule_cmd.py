"""`bucketvault --name=SVC schedule add|list|remove|pause|resume`: plans that start on
their own when `bucketvault serve` runs.

Schedules are kept in the state database, which the scheduler reads every second: a
schedule added, paused or removed here takes effect there without a restart. The backup
store's credentials are taken as `plan start` takes them (-p, --secret-file,
--secret-stdin, $BUCKETVAULT_BACKUP_*); the secret goes to a 0600 file, never into the
database, and is never printed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bucketvault.cli.context import global_options
from bucketvault.cli.output import print_data, print_json
from bucketvault.errors import UsageError

if TYPE_CHECKING:
    from bucketvault.schedules import Schedule

app = typer.Typer(
    help="Start plans on their own: by cron expression or at a fixed interval "
    "(run by `bucketvault serve`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

CREDENTIALS = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
IdArg = Annotated[str, typer.Argument(help="Schedule id (see `schedule list`).")]


@app.callback()
def _service_option(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Option("--name", help="The service (also accepted before `schedule`).")
    ] = None,
) -> None:
    if name is not None:
        global_options(ctx).name = name


def _when(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@app.command("add")
def add(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan to start (e.g. backup).")],
    cron: Annotated[
        str | None,
        typer.Option(help="Cron expression, five fields in UTC, e.g. '0 2 * * *'."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="Fixed interval: 30s, 15m, 6h, 1d, 1h30m.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="NAME=VALUE (repeatable), as for `plan start`."),
    ] = None,
    schedule_id: Annotated[
        str | None, typer.Option("--id", help="Name the schedule (default <plan>-<n>).")
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help="Read SECRET_ACCESS_KEY (the backup store's) from this file."),
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read SECRET_ACCESS_KEY from standard input.")
    ] = False,
) -> None:
    """Add a schedule: `schedule add backup --every 6h` or `--cron '0 2 * * *'`.

    The backup store's credentials come from -p ACCESS_KEY_ID=…, and the secret from
    --secret-file, --secret-stdin or $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY (or -p)."""
    from bucketvault.cli.credentials import with_backup_credentials
    from bucketvault.cli.plan_cmd import parse_params
    from bucketvault.plans.factory import manager_for
    from bucketvault.schedules import ScheduleStore, parse_every, validate_cron

    service = global_options(ctx).service_name()
    if (cron is None) == (every is None):
        raise UsageError("give exactly one of --cron 'EXPR' and --every DURATION")
    every_s = parse_every(every) if every is not None else None
    cron_expr = validate_cron(cron) if cron is not None else None
    params = parse_params(param or [])
    names = manager_for(service).plan_names()
    if plan not in names:
        raise UsageError(f"no plan {plan!r} to schedule: plans are {', '.join(names)}")
    params = with_backup_credentials(params, secret_file=secret_file, secret_stdin=secret_stdin)
    missing = [name for name in CREDENTIALS if not params.get(name)]
    if missing:
        raise UsageError(
            f"a scheduled plan runs unattended and needs the backup store's credentials "
            f"(missing {', '.join(missing)}): -p ACCESS_KEY_ID=… and the secret with "
            "--secret-file, --secret-stdin or $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY"
        )
    added = ScheduleStore().add(
        service=service,
        plan=plan,
        params=params,
        cron=cron_expr,
        every_s=every_s,
        schedule_id=schedule_id,
    )
    print_data(
        f'Schedule "{added.id}" added: {plan} {added.when}, next run at '
        f"{_when(added.next_run)} (when `bucketvault serve` runs)."
    )


def _line(schedule: Schedule) -> str:
    state = "paused" if schedule.paused else f"next {_when(schedule.next_run)}"
    last = (
        f"last {_when(schedule.last_fire)}: {schedule.last_outcome}"
        if schedule.last_fire is not None
        else "never run"
    )
    counts = f"{schedule.runs} runs, {schedule.skipped} skipped, {schedule.failed} failed"
    return f"{schedule.id}\t{schedule.plan}\t{schedule.when}\t{state}\t{counts}\t{last}"


@app.command("list")
def list_schedules(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """The service's schedules (all services' without --name)."""
    from bucketvault.schedules import ScheduleStore

    found = ScheduleStore().list_schedules(global_options(ctx).name)
    for schedule in found:
        if json_output:
            print_json(schedule.as_dict())
        else:
            print_data(_line(schedule))


@app.command("remove")
def remove(ctx: typer.Context, schedule_id: IdArg) -> None:
    """Remove a schedule (and its kept secret); a run it started is not touched."""
    from bucketvault.schedules import ScheduleStore

    removed = ScheduleStore().remove(global_options(ctx).service_name(), schedule_id)
    print_data(f'Schedule "{removed.id}" removed.')


def _set_paused(ctx: typer.Context, schedule_id: str, paused: bool) -> None:
    from bucketvault.cli.output import abort
    from bucketvault.errors import ExitCode
    from bucketvault.schedules import ScheduleStore

    store = ScheduleStore()
    service = global_options(ctx).service_name()
    if not store.set_paused(service, schedule_id, paused, time.time()):
        abort(
            f"schedule {schedule_id!r} is already {'paused' if paused else 'active'}",
            ExitCode.CONFLICT,
        )
    if paused:
        print_data(f'Schedule "{schedule_id}" has been paused.')
    else:
        nxt = store.get(service, schedule_id).next_run
        print_data(f'Schedule "{schedule_id}" has been resumed: next run at {_when(nxt)}.')


@app.command("pause")
def pause(ctx: typer.Context, schedule_id: IdArg) -> None:
    """Stop starting the plan until `schedule resume` (a running plan goes on)."""
    _set_paused(ctx, schedule_id, True)


@app.command("resume")
def resume(ctx: typer.Context, schedule_id: IdArg) -> None:
    """Start the plan again when due; slots missed while paused are not made up."""
    _set_paused(ctx, schedule_id, False)
