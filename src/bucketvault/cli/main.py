"""`bucketvault`: the entry point and its global options."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from bucketvault import __version__
from bucketvault.cli import (
    alias_cmd,
    demo_cmd,
    mirror_cmd,
    plan_cmd,
    schedule_cmd,
    serve_cmd,
    service_cmd,
    snapshot_cmd,
)
from bucketvault.cli.context import global_options
from bucketvault.cli.output import abort_on
from bucketvault.errors import BucketvaultError


class _Commands(TyperGroup):
    """Turns every bucketvault error, from any command, into one line and its exit code."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (BucketvaultError, KeyboardInterrupt) as exc:
            abort_on(exc)


app = typer.Typer(
    cls=_Commands,
    name="bucketvault",
    help="Back up and restore MinIO and S3-compatible object storage, with DC/OS-style plans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"bucketvault {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Option("--name", help="The service to act on (see `service list`).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="BUCKETVAULT_URL",
            help="A running scheduler (`bucketvault serve`); without it plans run in-process.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="BUCKETVAULT_TOKEN", help="API token for --url."),
    ] = None,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True)] = 0,
    quiet: Annotated[int, typer.Option("-q", "--quiet", count=True)] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    opts = global_options(ctx)
    opts.name = name
    opts.url = url
    opts.token = token
    opts.verbosity = verbose - quiet


app.add_typer(plan_cmd.app, name="plan")
app.add_typer(service_cmd.app, name="service")
app.add_typer(alias_cmd.app, name="alias")
app.add_typer(snapshot_cmd.app, name="snapshot")
app.add_typer(schedule_cmd.app, name="schedule")
app.command("mirror")(mirror_cmd.mirror)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)


def run() -> None:
    try:
        app()
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other command-line tools do
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


if __name__ == "__main__":
    run()
