"""The one way to print and the one way to fail.

`out` and `err` are rich consoles, made on first use: commands that only parse, print
help or write data (`--json`) do not pay for importing rich.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from bucketvault.errors import BucketvaultError, ExitCode, exit_code_for

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console


def _console(stderr: bool) -> Console:
    from rich.console import Console

    force = os.environ.get("FORCE_COLOR")
    return Console(
        stderr=stderr,
        no_color=bool(os.environ.get("NO_COLOR")),
        force_terminal=True if force else None,
        highlight=False,
        soft_wrap=True,
    )


def _named(name: str) -> Console:
    console: Console | None = globals().get(name)
    if console is None:
        console = globals()[name] = _console(stderr=name == "err")
    return console


def __getattr__(name: str) -> Console:
    """`out` and `err`, each made once, on first access (PEP 562)."""
    if name in ("out", "err"):
        return _named(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_data(text: str) -> None:
    """Data for stdout, written as is: keys and names are user data, never markup."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_json(record: Any) -> None:
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def info(text: str) -> None:
    _named("err").print(text, markup=False, emoji=False)


def abort(message: str, code: ExitCode = ExitCode.FAILURE) -> NoReturn:
    _named("err").print(f"Error: {message}", markup=False, emoji=False, style="red")
    raise SystemExit(int(code))


def abort_on(exc: BaseException) -> NoReturn:
    if isinstance(exc, BucketvaultError):
        abort(str(exc), exit_code_for(exc))
    if isinstance(exc, KeyboardInterrupt):
        abort("interrupted (Ctrl-C): nothing more was changed", ExitCode.INTERRUPTED)
    abort(f"{type(exc).__name__}: {exc}", exit_code_for(exc))
