"""The one way to print and the one way to fail."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

from rich.console import Console

from bucketvault.errors import BucketvaultError, ExitCode, exit_code_for


def _console(stderr: bool) -> Console:
    force = os.environ.get("FORCE_COLOR")
    return Console(
        stderr=stderr,
        no_color=bool(os.environ.get("NO_COLOR")),
        force_terminal=True if force else None,
        highlight=False,
        soft_wrap=True,
    )


out = _console(stderr=False)
err = _console(stderr=True)


def print_data(text: str) -> None:
    """Data for stdout, written as is: keys and names are user data, never markup."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_json(record: Any) -> None:
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def info(text: str) -> None:
    err.print(text, markup=False, emoji=False)


def abort(message: str, code: ExitCode = ExitCode.FAILURE) -> NoReturn:
    err.print(f"Error: {message}", markup=False, emoji=False, style="red")
    raise SystemExit(int(code))


def abort_on(exc: BaseException) -> NoReturn:
    if isinstance(exc, BucketvaultError):
        abort(str(exc), exit_code_for(exc))
    abort(f"{type(exc).__name__}: {exc}", exit_code_for(exc))
