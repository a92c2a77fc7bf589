"""Getting a secret from the user without it ever touching the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from bucketvault.config.secret import Secret
from bucketvault.errors import UsageError


def read_secret(
    *, env_names: tuple[str, ...], file: Path | None, stdin: bool, what: str
) -> Secret | None:
    """From a file, standard input, the environment, or (on a terminal) a hidden prompt."""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read {what} from {file}: {exc.strerror}") from None
        if not text:
            raise UsageError(f"{file} is empty: it should hold the {what}")
        return Secret(text)
    if stdin:
        text = sys.stdin.readline().strip()
        if not text:
            raise UsageError(f"no {what} on standard input")
        return Secret(text)
    for name in env_names:
        if os.environ.get(name):
            return Secret(os.environ[name])
    if sys.stdin.isatty():
        return Secret(typer.prompt(what, hide_input=True))
    return None
