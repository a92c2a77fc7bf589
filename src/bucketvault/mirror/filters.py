"""Which keys a mirror considers: include/exclude globs and age limits.

Filters apply to both sides, so an excluded key is neither copied nor deleted.
Globs use shell syntax on the whole key (`*` also matches `/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from bucketvault.errors import UsageError
from bucketvault.store.model import ObjectInfo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str, *, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `30m`, `2w` (ago), or an ISO date/time; returns the instant it names."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an age: use a duration like 7d, 12h, 30m or an ISO date"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class KeyFilter:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    newer_than: datetime | None = None
    older_than: datetime | None = None

    def key_selected(self, key: str) -> bool:
        if not self.include and not self.exclude:
            return True  # no globs: the common case, checked for every key of a listing
        if self.include and not any(fnmatchcase(key, glob) for glob in self.include):
            return False
        return not any(fnmatchcase(key, glob) for glob in self.exclude)

    def source_selected(self, info: ObjectInfo) -> bool:
        if not self.key_selected(info.key):
            return False
        if self.newer_than is not None and info.last_modified < self.newer_than:
            return False
        return not (self.older_than is not None and info.last_modified > self.older_than)
