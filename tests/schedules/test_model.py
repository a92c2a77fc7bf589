"""Slots of `--every` and `--cron` schedules, and what their parsers refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bucketvault.errors import UsageError
from bucketvault.schedules import Schedule, next_slot, parse_every, validate_cron
from bucketvault.schedules.model import every_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("2w", 1209600)],
    ids=["seconds", "minutes", "hours", "day", "combined", "weeks"],
)
def test_parse_every(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds
    assert parse_every(every_text(seconds)) == seconds


@pytest.mark.parametrize(
    "text", ["", "5", "m", "5x", "1h 30m", "-5m", "0s", "0.5s", "5m1"], ids=repr
)
def test_parse_every_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--every"):
        parse_every(text)


def test_validate_cron() -> None:
    assert validate_cron(" 0  2 * * * ") == "0 2 * * *"
    for bad in ("", "* * * *", "61 * * * *", "0 2 * * * *", "every day"):
        with pytest.raises(UsageError, match="--cron"):
            validate_cron(bad)


def _every(seconds: float, anchor: float) -> Schedule:
    return Schedule(service="s", id="x", plan="backup", cron=None, every_s=seconds, anchor=anchor)


def test_every_slots_are_anchor_plus_multiples() -> None:
    s = _every(60, anchor=1000)
    assert next_slot(s, 999) == 1000
    assert next_slot(s, 1000) == 1060
    assert next_slot(s, 1059.9) == 1060
    assert next_slot(s, 1060) == 1120
    assert next_slot(s, 1000 + 60 * 10 + 5) == 1000 + 60 * 11  # after downtime: one, later


def test_cron_slots_in_utc() -> None:
    s = Schedule(service="s", id="x", plan="backup", cron="0 2 * * *", every_s=None)
    start = datetime(2026, 12, 1, 13, 0, tzinfo=UTC).timestamp()
    assert next_slot(s, start) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC).timestamp()
    assert s.when == "cron 0 2 * * *"
    assert _every(5400, 0).when == "every 1h30m"
