"""Webhook URLs per service, in `$BUCKETVAULT_HOME/notify.json` (mode 0600)."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from bucketvault.config.home import home_dir, read_json, write_private
from bucketvault.errors import ConfigError, UsageError

MAX_TARGETS = 10


def _path() -> Path:
    return home_dir() / "notify.json"


def check_target(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(
            f"--notify {shown(url)!r} is not a webhook URL: use http(s)://host[:port]/path"
        )
    return url


def shown(url: str) -> str:
    """The URL as logs and messages may show it: scheme, host and port only (its path and
    query often hold the webhook's token)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "?"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}/…"


def check_targets(urls: list[str]) -> list[str]:
    """The `--notify` URLs, checked, without repeats."""
    if len(urls) > MAX_TARGETS:
        raise UsageError(f"at most {MAX_TARGETS} --notify URLs per service")
    return list(dict.fromkeys(check_target(url) for url in urls))


def save_targets(service: str, urls: list[str]) -> None:
    """Replace the service's targets (none: remove them)."""
    if len(urls) > MAX_TARGETS:
        raise UsageError(f"at most {MAX_TARGETS} --notify URLs per service")
    for url in urls:
        check_target(url)
    records = read_json(_path())
    if urls:
        records[service] = list(dict.fromkeys(urls))
    else:
        records.pop(service, None)
    write_private(_path(), json.dumps(records, indent=2, sort_keys=True))


def load_targets(service: str) -> list[str]:
    record = read_json(_path()).get(service) or []
    if not isinstance(record, list) or not all(isinstance(u, str) for u in record):
        raise ConfigError(f"{_path()}: the targets of {service!r} must be a list of URLs")
    return list(record)


def remove_targets(service: str) -> None:
    if _path().exists() and service in read_json(_path()):
        save_targets(service, [])
