"""The `bucketvault` command line: its global options, and its commands, each imported
from its module only when it runs or is listed (`bucketvault mirror` loads nothing of
`plan`, `serve` or `schedule`; `--help` loads them all, to show their help)."""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
import typer.main
from typer._click.core import Command as ClickCommand
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup
from typer.models import TyperInfo

from bucketvault import __version__
from bucketvault.cli.context import global_options
from bucketvault.cli.output import abort_on
from bucketvault.errors import BucketvaultError

# every command, in the order `--help` lists them: (module in bucketvault.cli, attribute),
# the attribute a command function or a typer app of subcommands
COMMANDS = {
    "mirror": ("mirror_cmd", "mirror"),
    "serve": ("serve_cmd", "serve"),
    "demo": ("demo_cmd", "demo"),
    "plan": ("plan_cmd", "app"),
    "service": ("service_cmd", "app"),
    "alias": ("alias_cmd", "app"),
    "snapshot": ("snapshot_cmd", "app"),
    "schedule": ("schedule_cmd", "app"),
}


class _Commands(TyperGroup):
    """Turns every bucketvault error, from any command, into one line and its exit code;
    builds each command when it is first asked for."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (BucketvaultError, KeyboardInterrupt) as exc:
            abort_on(exc)

    def list_commands(self, ctx: ClickContext) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: ClickContext, cmd_name: str) -> ClickCommand | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _build(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: ClickContext, args: list[str]
    ) -> tuple[str | None, ClickCommand | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in COMMANDS:
            for name in COMMANDS:  # a mistyped command: typer suggests from those it has
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


def _build(name: str) -> ClickCommand:
    """The click command `name`, made as `app.command(name)` / `app.add_typer(sub,
    name=name)` would have made it."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"bucketvault.cli.{module}"), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group_from_info(
            TyperInfo(target, name=name),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
    holder = typer.Typer()
    holder.command(name)(target)
    return typer.main.get_command_from_info(
        holder.registered_commands[0],
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


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
