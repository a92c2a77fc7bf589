"""A schedule and its slots: parsing `--every` and `--cron`, and the next slot after a time."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bucketvault.errors import UsageError

MIN_EVERY_S = 1.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_every(text: str) -> float:
    """`90s`, `15m`, `6h`, `1d`, `1h30m`, `2w` → seconds (at least one second)."""
    cleaned = text.strip().lower()
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise UsageError(
            f"--every {text!r} is not a duration: write a number and a unit (s, m, h, d, w), "
            "e.g. 30s, 15m, 6h, 1d or 1h30m"
        )
    if total < MIN_EVERY_S:
        raise UsageError(f"--every {text!r} is too short: at least {MIN_EVERY_S:g} second")
    return total


def validate_cron(expr: str) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week, UTC)."""
    from croniter import croniter

    fields = expr.split()
    if len(fields) != 5 or not croniter.is_valid(expr):
        raise UsageError(
            f"--cron {expr!r} is not a cron expression: five fields, minute hour "
            "day-of-month month day-of-week (in UTC), e.g. '0 2 * * *' for 02:00 every day"
        )
    return " ".join(fields)


def every_text(seconds: float) -> str:
    """6h, 1h30m, 45s: the shortest way to write an interval."""
    rest = int(seconds)
    if rest != seconds:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule as stored; `params` are the plan's parameters with secrets masked."""

    service: str
    id: str
    plan: str
    cron: str | None
    every_s: float | None
    params: dict[str, str] = field(default_factory=dict)
    paused: bool = False
    anchor: float = 0.0
    next_run: float = 0.0
    last_fire: float | None = None
    last_outcome: str = ""
    runs: int = 0
    skipped: int = 0
    failed: int = 0
    created: float = 0.0

    @property
    def when(self) -> str:
        """`every 6h` or `cron 0 2 * * *`."""
        if self.cron is not None:
            return f"cron {self.cron}"
        assert self.every_s is not None
        return f"every {every_text(self.every_s)}"

    @property
    def interval_s(self) -> float:
        """The time between two slots (for a cron expression: between the next two)."""
        if self.every_s is not None:
            return self.every_s
        first = next_slot(self, self.next_run)
        return next_slot(self, first) - first

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "id": self.id,
            "plan": self.plan,
            "when": self.when,
            "cron": self.cron,
            "every_seconds": self.every_s,
            "params": dict(self.params),
            "paused": self.paused,
            "next_run": None if self.paused else _iso(self.next_run),
            "last_fire": _iso(self.last_fire) if self.last_fire is not None else None,
            "last_outcome": self.last_outcome,
            "runs": self.runs,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def next_slot(schedule: Schedule, after: float) -> float:
    """The first slot strictly later than `after`."""
    if schedule.cron is not None:
        from croniter import croniter

        start = datetime.fromtimestamp(after, UTC)
        result: float = croniter(schedule.cron, start).get_next(float)
        return result
    every = schedule.every_s
    assert every is not None and every > 0
    if after < schedule.anchor:
        return schedule.anchor
    passed = math.floor((after - schedule.anchor) / every) + 1
    return schedule.anchor + passed * every
