"""`bucketvault serve`: the scheduler and its HTTP API (see `api/`)."""

from __future__ import annotations

from typing import Annotated

import typer

from bucketvault.cli.context import global_options
from bucketvault.cli.output import abort_on
from bucketvault.errors import BucketvaultError


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8480,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="BUCKETVAULT_TOKEN",
            help="Require 'Authorization: Bearer <token>' (mandatory off loopback).",
        ),
    ] = None,
) -> None:
    """Run plans in the background, start scheduled ones (`schedule add`), and serve the
    plan API (`/v1/plans`, docs at /docs), Prometheus metrics (/metrics) and a web view (/).

    Plans that were running when a previous server was killed continue. `--name` sets
    the service `/v1/plans` refers to; every service is at `/v1/service/<name>/plans`.
    """
    from bucketvault.api.server import serve as run_server

    opts = global_options(ctx)
    try:
        run_server(host, port, token or opts.token, default_service=opts.name)
    except BucketvaultError as exc:
        abort_on(exc)
