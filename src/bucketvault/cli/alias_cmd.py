"""`bucketvault alias ...` (under construction)."""

import typer

app = typer.Typer(help="alias commands", no_args_is_help=True)
