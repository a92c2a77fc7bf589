"""`bucketvault`: the entry point.

Kept light: `bucketvault --version` answers before the command line parser (typer) is
imported, and every other command line goes to the typer app (`cli/app.py`), which
imports a command's module only when that command runs or is listed.
"""

from __future__ import annotations

import sys
from typing import Any


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from bucketvault import __version__

        print(f"bucketvault {__version__}")
        return
    from bucketvault.cli.app import app
    from bucketvault.collector import set_for_streaming

    set_for_streaming()
    try:
        app()
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other command-line tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


def __getattr__(name: str) -> Any:
    if name == "app":  # `from bucketvault.cli.main import app`, as before the split
        from bucketvault.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    run()
