"""Global command-line options, shared by every command through typer's context."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass
class GlobalOptions:
    name: str | None = None
    url: str | None = None
    token: str | None = None
    verbosity: int = 0

    def service_name(self) -> str:
        from bucketvault.errors import UsageError

        if not self.name:
            raise UsageError("no service named: pass --name=<SERVICE_NAME> (see `service list`)")
        return self.name


def global_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj
