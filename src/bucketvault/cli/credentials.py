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


BACKUP_KEY_ENV = "BUCKETVAULT_BACKUP_ACCESS_KEY_ID"
BACKUP_SECRET_ENV = "BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY"


def with_backup_credentials(
    params: dict[str, str], *, secret_file: Path | None = None, secret_stdin: bool = False
) -> dict[str, str]:
    """The plan parameters with the backup store's credentials filled in, when `-p` did
    not give them, from --secret-file, --secret-stdin or the environment: a secret given
    with `-p` is visible in `ps` for the whole run."""
    if "ACCESS_KEY_ID" not in params and os.environ.get(BACKUP_KEY_ENV):
        params["ACCESS_KEY_ID"] = os.environ[BACKUP_KEY_ENV]
    if "SECRET_ACCESS_KEY" in params:
        if secret_file is not None or secret_stdin:
            raise UsageError("SECRET_ACCESS_KEY given twice: with -p and with --secret-*")
        return params
    if secret_file is None and not secret_stdin and not os.environ.get(BACKUP_SECRET_ENV):
        return params
    secret = read_secret(
        env_names=(BACKUP_SECRET_ENV,),
        file=secret_file,
        stdin=secret_stdin,
        what="backup store's secret access key",
    )
    if secret is not None:
        params["SECRET_ACCESS_KEY"] = secret.reveal()
    return params
