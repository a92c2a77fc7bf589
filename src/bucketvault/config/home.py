"""The bucketvault home directory and private (0600) files in it."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from bucketvault.errors import ConfigError


def home_dir() -> Path:
    configured = os.environ.get("BUCKETVAULT_HOME")
    home = Path(configured) if configured else Path.home() / ".config" / "bucketvault"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}): fix or remove the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object: fix or remove the file")
    return data
