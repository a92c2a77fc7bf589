"""Retention: which snapshots a policy keeps, with the semantics of restic's `forget`.

Terms:
- *snapshot*: anything `Dated`, i.e. with an `id` and a timezone-aware `time`.
- *period*: the calendar hour, day, ISO week (ISO year + week), month or year a snapshot
  falls in, always taken in UTC.
- *bucket rule* (`last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly` = N): walking
  from the newest snapshot to the oldest, keep the newest snapshot of each period until N
  periods have been kept (`last` counts every snapshot as its own period).
- *within* (`--keep-within 1y2m`): keep every snapshot newer than the *latest snapshot's*
  time minus the duration (calendar years and months, then days, then hours).

`apply` follows restic's `ApplyPolicy` (internal/restic/snapshot_policy.go, restic 0.17+):
- snapshots are sorted newest first, stably (equal times keep the caller's order);
- an empty policy keeps everything, each with the reason "policy is empty";
- `within` is measured from the newest snapshot that is not in the future (relative to
  `now`), so a stale history is not wiped out just because no backup ran lately; if every
  snapshot is in the future, all of them count as within. One deliberate difference: a
  snapshot stamped exactly `now` is not "in the future" here (restic tests `Before(now)`,
  which only matters to the nanosecond with its live clock, but often with a given `now`);
- a bucket rule with counts left also keeps the *oldest* snapshot, even when its period
  was already kept (reason "oldest daily snapshot" etc.), so a young history keeps its
  first backup;
- rules are ORed: a snapshot is kept when any rule keeps it, and its reasons list every
  rule that did, in the order within, last, hourly, daily, weekly, monthly, yearly.
Not carried over from restic: tags, `--keep-within-<period>`, and `-1` ("unlimited") counts.

bucketvault adds one rule: the newest snapshot is always kept (reason "newest snapshot",
listed last), so no policy can delete the latest backup.

Pure: no I/O, no clock; the caller passes `now`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from bucketvault.errors import ConfigError, UsageError

_DURATION_HINT = "use e.g. 30d, 12h or 1y2m"
_DURATION_TEXT = re.compile(r"(?:[0-9]+[ymdh])+")
_DURATION_PAIR = re.compile(r"([0-9]+)([ymdh])")
_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True, slots=True)
class Duration:
    """A `--keep-within` span: calendar years and months, days and hours (all ≥ 0, not all 0)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        parts = (self.years, self.months, self.days, self.hours)
        if any(part < 0 for part in parts):
            raise UsageError("--keep-within must not have negative parts")
        if not any(parts):
            raise UsageError(f"--keep-within must be longer than zero: {_DURATION_HINT}")

    def __str__(self) -> str:
        parts = zip((self.years, self.months, self.days, self.hours), "ymdh", strict=True)
        return "".join(f"{number}{unit}" for number, unit in parts if number)

    def before(self, t: datetime) -> datetime:
        """`t` minus this duration, as restic computes it: Go's `t.AddDate(-y, -m, -d)` on
        t's own calendar, with day overflow rolled forward (March 31 minus 1m is March 3,
        or March 2 in a leap year, never February 28), then minus the hours in absolute
        time. The result is in UTC; a span reaching before year 1 gives `datetime.min`."""
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"Duration.before needs a timezone-aware time, got {t!r}")
        try:
            month0 = t.month - 1 - self.months
            first = t.replace(year=t.year - self.years + month0 // 12, month=month0 % 12 + 1, day=1)
            dated = first + timedelta(days=t.day - 1 - self.days)
            return dated.astimezone(UTC) - timedelta(hours=self.hours)
        except (OverflowError, ValueError):
            return datetime.min.replace(tzinfo=UTC)


def parse_duration(text: str) -> Duration:
    """Parse restic's `--keep-within` format: number+unit pairs, units y (years),
    m (months), d (days), h (hours), in any order, each at most once: `2y5m7d3h`, `30d`."""
    stripped = text.strip()
    if _DURATION_TEXT.fullmatch(stripped) is None:
        raise UsageError(f"--keep-within {text!r} is not a duration: {_DURATION_HINT}")
    values: dict[str, int] = {}
    for number, unit in _DURATION_PAIR.findall(stripped):
        if unit in values:
            raise UsageError(f"--keep-within {text!r} is not a duration: {_DURATION_HINT}")
        try:
            values[unit] = int(number)
        except ValueError:  # more digits than int() will convert
            raise UsageError(
                f"--keep-within {text!r} is not a duration: {_DURATION_HINT}"
            ) from None
    if not any(values.values()):
        raise UsageError(f"--keep-within {text!r} must be longer than zero: {_DURATION_HINT}")
    return Duration(
        years=values.get("y", 0),
        months=values.get("m", 0),
        days=values.get("d", 0),
        hours=values.get("h", 0),
    )


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Which snapshots to keep; every rule that is set keeps snapshots (rules are ORed)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None

    def __post_init__(self) -> None:
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"--keep-{name} must be a whole number")
            if value < 0:
                raise UsageError(f"--keep-{name} must be 0 or more")

    @property
    def is_empty(self) -> bool:
        """No rule set: the policy keeps everything."""
        return self.within is None and not any(getattr(self, name) for name in _COUNTS)

    def describe(self) -> str:
        """A short human line, e.g. "keep last 3, daily 7, within 1y2m"."""
        parts = [f"{name} {getattr(self, name)}" for name in _COUNTS if getattr(self, name)]
        if self.within is not None:
            parts.append(f"within {self.within}")
        return "keep " + ", ".join(parts) if parts else "keep everything"

    def to_record(self) -> dict[str, int | str | None]:
        """A plain JSON object: every count, and `within` as its text or null."""
        record: dict[str, int | str | None] = {name: getattr(self, name) for name in _COUNTS}
        record["within"] = None if self.within is None else str(self.within)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> RetentionPolicy:
        """The policy `to_record` wrote; missing keys mean "not set". A malformed record
        raises `ConfigError` naming what is wrong."""
        if not isinstance(record, Mapping):
            raise ConfigError(f"retention policy must be a JSON object, not {record!r}")
        unknown = sorted(str(key) for key in record if key not in (*_COUNTS, "within"))
        if unknown:
            raise ConfigError(f"retention policy has unknown keys: {', '.join(unknown)}")
        counts: dict[str, int] = {}
        for name in _COUNTS:
            value = record.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"retention policy: {name} must be a whole number, not {value!r}")
            counts[name] = value
        within_text = record.get("within")
        if within_text is not None and not isinstance(within_text, str):
            raise ConfigError(f"retention policy: within must be a string, not {within_text!r}")
        try:
            within = None if within_text is None else parse_duration(within_text)
            return cls(**counts, within=within)
        except UsageError as exc:
            raise ConfigError(f"retention policy: {exc}") from exc


class Dated(Protocol):
    """What retention needs from a snapshot."""

    @property
    def id(self) -> str: ...

    @property
    def time(self) -> datetime: ...


T = TypeVar("T", bound=Dated)


@dataclass(frozen=True, slots=True)
class Decision(Generic[T]):
    """What `apply` decided: both lists newest first; `reasons` maps each kept id to
    why it was kept."""

    keep: list[T]
    forget: list[T]
    reasons: dict[str, list[str]]


def _every(_t: datetime, nr: int) -> Hashable:
    return nr


def _hour(t: datetime, _nr: int) -> Hashable:
    return (t.year, t.month, t.day, t.hour)


def _day(t: datetime, _nr: int) -> Hashable:
    return t.date()


def _iso_week(t: datetime, _nr: int) -> Hashable:
    iso = t.isocalendar()
    return (iso.year, iso.week)


def _month(t: datetime, _nr: int) -> Hashable:
    return (t.year, t.month)


def _year(t: datetime, _nr: int) -> Hashable:
    return t.year


# (policy field, reason, period of a UTC time and its position newest-first), in restic's order
_BUCKETS: tuple[tuple[str, str, Callable[[datetime, int], Hashable]], ...] = (
    ("last", "last snapshot", _every),
    ("hourly", "hourly snapshot", _hour),
    ("daily", "daily snapshot", _day),
    ("weekly", "weekly snapshot", _iso_week),
    ("monthly", "monthly snapshot", _month),
    ("yearly", "yearly snapshot", _year),
)


def _require_aware(t: datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware time, got {t!r}")


def _within_cutoff(ordered: Sequence[Dated], within: Duration, now: datetime) -> datetime:
    """Snapshots strictly after this are "within": measured from the newest snapshot
    not after `now` (restic ignores future snapshots here; if all are, all count)."""
    latest = next((s.time for s in ordered if s.time <= now), None)
    if latest is None:
        return datetime.min.replace(tzinfo=UTC)
    return within.before(latest)


def apply(snapshots: Sequence[T], policy: RetentionPolicy, *, now: datetime) -> Decision[T]:
    """Split `snapshots` into kept and forgotten by `policy` (see the module docstring).
    Ids must be unique and times timezone-aware; `now` only decides which snapshots are
    in the future for `within`."""
    _require_aware(now, "now")
    seen: set[str] = set()
    for snapshot in snapshots:
        _require_aware(snapshot.time, f"snapshot {snapshot.id!r}")
        if snapshot.id in seen:
            raise ValueError(f"snapshot id {snapshot.id!r} appears more than once")
        seen.add(snapshot.id)
    ordered = sorted(snapshots, key=lambda s: s.time, reverse=True)  # stable, like restic

    keep: list[T] = []
    forget: list[T] = []
    reasons: dict[str, list[str]] = {}
    empty = policy.is_empty
    cutoff = None if policy.within is None else _within_cutoff(ordered, policy.within, now)
    left = [getattr(policy, name) for name, _, _ in _BUCKETS]
    last_period: list[Hashable | None] = [None] * len(_BUCKETS)
    oldest = len(ordered) - 1

    for nr, snapshot in enumerate(ordered):
        why: list[str] = []
        if empty:
            why.append("policy is empty")
        if cutoff is not None and snapshot.time > cutoff:
            why.append(f"within {policy.within}")
        utc = snapshot.time.astimezone(UTC)
        for i, (_, reason, period_of) in enumerate(_BUCKETS):
            if left[i] <= 0:
                continue
            period = period_of(utc, nr)
            if period != last_period[i]:
                why.append(reason)
            elif nr == oldest:  # counts left: keep the oldest too, as restic does
                why.append(f"oldest {reason}")
            else:
                continue
            last_period[i] = period
            left[i] -= 1
        if nr == 0:
            why.append("newest snapshot")
        if why:
            keep.append(snapshot)
            reasons[snapshot.id] = why
        else:
            forget.append(snapshot)
    return Decision(keep=keep, forget=forget, reasons=reasons)
