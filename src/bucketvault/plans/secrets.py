"""Secret plan parameters kept on disk so a plan can resume after a restart.

The state database never holds a secret: a parameter whose name looks secret
(`config.secret.looks_secret`) is stored there masked, and its value goes to
`$BUCKETVAULT_HOME/secrets/<service>.<plan>.json`, created with mode 0600 from the
first byte (never world-readable, not even briefly) in a 0700 directory, replaced
atomically, and deleted when the plan completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from bucketvault.config.secret import MASK, looks_secret


def bucketvault_home() -> Path:
    """`$BUCKETVAULT_HOME`, default `~/.config/bucketvault`."""
    raw = os.environ.get("BUCKETVAULT_HOME") or "~/.config/bucketvault"
    return Path(raw).expanduser()


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 where bucketvault creates them."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for created in missing:
        os.chmod(created, 0o700)
    return path


def split_params(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(parameters as stored in the database with secrets masked, the secret ones)."""
    masked: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in params.items():
        if looks_secret(name):
            masked[name] = MASK
            secret[name] = value
        else:
            masked[name] = value
    return masked, secret


def _path(service: str, plan: str) -> Path:
    safe = f"{urllib.parse.quote(service, safe='')}.{urllib.parse.quote(plan, safe='')}.json"
    return bucketvault_home() / "secrets" / safe


def save(service: str, plan: str, secret: Mapping[str, str]) -> None:
    """Keep `secret` for a later resume; with nothing secret, remove any old file."""
    if not secret:
        delete(service, plan)
        return
    path = _path(service, plan)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps(dict(secret)).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load(service: str, plan: str) -> dict[str, str]:
    try:
        data = json.loads(_path(service, plan).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def delete(service: str, plan: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(service, plan).unlink()


def delete_service(service: str) -> int:
    """Remove every plan's kept secrets of `service` (failed and paused plans' too)."""
    folder = bucketvault_home() / "secrets"
    prefix = f"{urllib.parse.quote(service, safe='')}."
    removed = 0
    for path in folder.glob("*.json") if folder.is_dir() else ():
        if path.name.startswith(prefix):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def merge(masked: Mapping[str, str], secret: Mapping[str, str]) -> dict[str, str]:
    """The full parameters again: stored ones with masked values replaced by the secrets."""
    full = dict(masked)
    for name, value in secret.items():
        full[name] = value
    return {k: v for k, v in full.items() if not (v == MASK and looks_secret(k))}


def scrub(text: str, secret_values: Mapping[str, str] | list[str]) -> str:
    """`text` with every secret value (4+ characters) replaced by the mask."""
    values = secret_values.values() if isinstance(secret_values, Mapping) else secret_values
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text
