"""`bucketvault service ...` (under construction)."""

import typer

app = typer.Typer(help="service commands", no_args_is_help=True)
