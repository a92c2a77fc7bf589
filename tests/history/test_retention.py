from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bucketvault.errors import ConfigError, UsageError
from bucketvault.history.retention import (
    Duration,
    RetentionPolicy,
    apply,
    parse_duration,
)


@dataclass(frozen=True, slots=True)
class Snap:
    id: str
    time: datetime


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def snap(t: datetime) -> Snap:
    return Snap(f"{t:%Y-%m-%dT%H:%M}", t)


def snaps(*texts: str) -> list[Snap]:
    return [snap(at(text)) for text in texts]


# The fake clock's history: a backup every 6 hours for 400 days, ending on Sunday
# 2025-01-05 18:00 UTC, plus three irregular ones. ISO week 2025-W01 runs from Monday
# 2024-12-30 to that Sunday, so the last two days of 2024 are in the same week as 2025's
# first five. 2024 is a leap year.
END = at("2025-01-05T18:00")
NOW = END + timedelta(hours=1)
IRREGULAR = [at("2024-12-31T23:59"), at("2024-06-15T03:17"), at("2024-02-29T21:00")]
HISTORY = [snap(t) for t in sorted([END - k * timedelta(hours=6) for k in range(1600)] + IRREGULAR)]
NEWEST = "2025-01-05T18:00"
OLDEST = "2023-12-03T00:00"


def span(first: str, last: str) -> list[str]:
    """Ids of HISTORY from `first` to `last`, both included."""
    return [s.id for s in HISTORY if at(first) <= s.time <= at(last)]


def kept(*groups: tuple[list[str], str]) -> dict[str, list[str]]:
    """Expected reasons, built from (ids, reason) groups given in reason order."""
    out: dict[str, list[str]] = {}
    for ids, reason in groups:
        for snapshot_id in ids:
            out.setdefault(snapshot_id, []).append(reason)
    return out


def test_history_is_what_the_cases_assume() -> None:
    assert len(HISTORY) == 1603
    assert HISTORY[0].id == OLDEST
    assert HISTORY[-1].id == NEWEST
    assert END.isocalendar()[:2] == (2025, 1)
    assert at("2024-12-30T00:00").isocalendar()[:2] == (2025, 1)


MONTH_ENDS = [
    "2025-01-05T18:00",
    "2024-12-31T23:59",
    "2024-11-30T18:00",
    "2024-10-31T18:00",
    "2024-09-30T18:00",
    "2024-08-31T18:00",
    "2024-07-31T18:00",
    "2024-06-30T18:00",
    "2024-05-31T18:00",
    "2024-04-30T18:00",
    "2024-03-31T18:00",
    "2024-02-29T21:00",
    "2024-01-31T18:00",
    "2023-12-31T18:00",
]

HISTORY_CASES = [
    pytest.param(
        RetentionPolicy(last=3),
        NOW,
        kept(
            ([NEWEST, "2025-01-05T12:00", "2025-01-05T06:00"], "last snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="last-3",
    ),
    pytest.param(
        RetentionPolicy(hourly=4),
        NOW,
        kept(
            (
                [NEWEST, "2025-01-05T12:00", "2025-01-05T06:00", "2025-01-05T00:00"],
                "hourly snapshot",
            ),
            ([NEWEST], "newest snapshot"),
        ),
        id="hourly-4",
    ),
    pytest.param(
        RetentionPolicy(daily=7),
        NOW,
        kept(
            (
                [
                    NEWEST,
                    "2025-01-04T18:00",
                    "2025-01-03T18:00",
                    "2025-01-02T18:00",
                    "2025-01-01T18:00",
                    "2024-12-31T23:59",
                    "2024-12-30T18:00",
                ],
                "daily snapshot",
            ),
            ([NEWEST], "newest snapshot"),
        ),
        id="daily-7-newest-of-each-day",
    ),
    pytest.param(
        RetentionPolicy(weekly=3),
        NOW,
        kept(
            ([NEWEST, "2024-12-29T18:00", "2024-12-22T18:00"], "weekly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="weekly-3-iso-week-2025-w01-holds-dec-30-and-31",
    ),
    pytest.param(
        RetentionPolicy(monthly=3),
        NOW,
        kept(
            ([NEWEST, "2024-12-31T23:59", "2024-11-30T18:00"], "monthly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="monthly-3",
    ),
    pytest.param(
        RetentionPolicy(yearly=2),
        NOW,
        kept(
            ([NEWEST, "2024-12-31T23:59"], "yearly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="yearly-2",
    ),
    pytest.param(
        RetentionPolicy(yearly=5),
        NOW,
        kept(
            ([NEWEST, "2024-12-31T23:59", "2023-12-31T18:00"], "yearly snapshot"),
            ([OLDEST], "oldest yearly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="yearly-5-more-than-there-are-years-keeps-the-oldest-too",
    ),
    pytest.param(
        RetentionPolicy(monthly=100),
        NOW,
        kept(
            (MONTH_ENDS, "monthly snapshot"),
            ([OLDEST], "oldest monthly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="monthly-100-every-month-including-leap-february",
    ),
    pytest.param(
        RetentionPolicy(last=5000),
        NOW,
        kept(
            ([s.id for s in HISTORY], "last snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="last-5000-more-than-there-are-snapshots",
    ),
    pytest.param(
        RetentionPolicy(within=Duration(days=30)),
        NOW,
        kept(
            (span("2024-12-07T00:00", NEWEST), "within 30d"),
            ([NEWEST], "newest snapshot"),
        ),
        id="within-30d-cutoff-itself-is-forgotten",
    ),
    pytest.param(
        RetentionPolicy(within=Duration(days=30)),
        END + timedelta(days=90),
        kept(
            (span("2024-12-07T00:00", NEWEST), "within 30d"),
            ([NEWEST], "newest snapshot"),
        ),
        id="within-measured-from-newest-snapshot-not-from-now",
    ),
    pytest.param(
        RetentionPolicy(within=Duration(hours=12)),
        NOW,
        kept(
            ([NEWEST, "2025-01-05T12:00"], "within 12h"),
            ([NEWEST], "newest snapshot"),
        ),
        id="within-12h",
    ),
    pytest.param(
        RetentionPolicy(within=Duration(years=1)),
        NOW,
        kept(
            (span("2024-01-06T00:00", NEWEST), "within 1y"),
            ([NEWEST], "newest snapshot"),
        ),
        id="within-1y-across-a-leap-day",
    ),
    pytest.param(
        RetentionPolicy(within=Duration(years=1, months=2)),
        NOW,
        kept(
            ([s.id for s in HISTORY], "within 1y2m"),
            ([NEWEST], "newest snapshot"),
        ),
        id="within-longer-than-the-history-keeps-all",
    ),
    pytest.param(
        RetentionPolicy(last=2, daily=3, weekly=2, monthly=2, within=Duration(days=1)),
        NOW,
        {
            NEWEST: [
                "within 1d",
                "last snapshot",
                "daily snapshot",
                "weekly snapshot",
                "monthly snapshot",
                "newest snapshot",
            ],
            "2025-01-05T12:00": ["within 1d", "last snapshot"],
            "2025-01-05T06:00": ["within 1d"],
            "2025-01-05T00:00": ["within 1d"],
            "2025-01-04T18:00": ["daily snapshot"],
            "2025-01-03T18:00": ["daily snapshot"],
            "2024-12-31T23:59": ["monthly snapshot"],
            "2024-12-29T18:00": ["weekly snapshot"],
        },
        id="last-2-daily-3-weekly-2-monthly-2-within-1d",
    ),
    pytest.param(
        RetentionPolicy(daily=7, weekly=4, monthly=12, yearly=3),
        NOW,
        kept(
            (
                [
                    NEWEST,
                    "2025-01-04T18:00",
                    "2025-01-03T18:00",
                    "2025-01-02T18:00",
                    "2025-01-01T18:00",
                    "2024-12-31T23:59",
                    "2024-12-30T18:00",
                ],
                "daily snapshot",
            ),
            (
                [NEWEST, "2024-12-29T18:00", "2024-12-22T18:00", "2024-12-15T18:00"],
                "weekly snapshot",
            ),
            (MONTH_ENDS[:12], "monthly snapshot"),
            ([NEWEST, "2024-12-31T23:59", "2023-12-31T18:00"], "yearly snapshot"),
            ([NEWEST], "newest snapshot"),
        ),
        id="daily-7-weekly-4-monthly-12-yearly-3",
    ),
]

MARCH_31 = snaps("2023-03-31T12:00", "2023-03-03T13:00", "2023-03-03T12:00", "2023-02-28T12:00")
MARCH_31_LEAP = snaps(
    "2024-03-31T12:00", "2024-03-02T13:00", "2024-03-02T12:00", "2024-03-01T12:00"
)
WITH_FUTURE = snaps("2025-03-20T00:00", "2025-03-09T12:00", "2025-03-08T18:00", "2025-03-08T06:00")
NEW_YEAR_2021 = snaps("2020-12-30T12:00", "2021-01-03T12:00", "2021-01-04T12:00")
TWO_DAYS = snaps("2025-03-02T10:00", "2025-03-01T20:00", "2025-03-01T08:00")
ONE_HOURS = snaps("2025-03-01T10:45", "2025-03-01T10:05", "2025-03-01T09:59", "2025-03-01T09:00")
T = at("2025-03-01T12:00")
TIED = [Snap("a", T), Snap("b", T), Snap("c", T - timedelta(days=1))]
TIED_AGAIN = [Snap("b", T), Snap("a", T), Snap("c", T - timedelta(days=1))]
# 2025-03-02 01:00 at +02:00 is 2025-03-01 23:00 UTC: the same UTC day as "b".
ZONED = [
    Snap("a", datetime(2025, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))),
    Snap("b", at("2025-03-01T20:00")),
    Snap("c", at("2025-02-28T12:00")),
]
LATER = at("2026-01-01T00:00")

SMALL_CASES = [
    pytest.param([], RetentionPolicy(daily=3), LATER, {}, id="no-snapshots"),
    pytest.param(
        TWO_DAYS,
        RetentionPolicy(),
        LATER,
        {
            "2025-03-02T10:00": ["policy is empty", "newest snapshot"],
            "2025-03-01T20:00": ["policy is empty"],
            "2025-03-01T08:00": ["policy is empty"],
        },
        id="empty-policy-keeps-everything",
    ),
    pytest.param(
        snaps("2025-03-01T12:00"),
        RetentionPolicy(),
        LATER,
        {"2025-03-01T12:00": ["policy is empty", "newest snapshot"]},
        id="single-snapshot-empty-policy",
    ),
    pytest.param(
        snaps("2025-03-01T12:00"),
        RetentionPolicy(daily=1),
        LATER,
        {"2025-03-01T12:00": ["daily snapshot", "newest snapshot"]},
        id="single-snapshot-daily-1",
    ),
    pytest.param(
        snaps("2025-03-01T12:00"),
        RetentionPolicy(within=Duration(days=1)),
        LATER,
        {"2025-03-01T12:00": ["within 1d", "newest snapshot"]},
        id="single-snapshot-within-1d",
    ),
    pytest.param(
        TWO_DAYS,
        RetentionPolicy(daily=5),
        LATER,
        {
            "2025-03-02T10:00": ["daily snapshot", "newest snapshot"],
            "2025-03-01T20:00": ["daily snapshot"],
            "2025-03-01T08:00": ["oldest daily snapshot"],
        },
        id="counts-left-keep-the-oldest-even-in-a-kept-day",
    ),
    pytest.param(
        TWO_DAYS,
        RetentionPolicy(daily=2),
        LATER,
        {
            "2025-03-02T10:00": ["daily snapshot", "newest snapshot"],
            "2025-03-01T20:00": ["daily snapshot"],
        },
        id="counts-used-up-the-oldest-goes",
    ),
    pytest.param(
        ONE_HOURS,
        RetentionPolicy(hourly=2),
        LATER,
        {
            "2025-03-01T10:45": ["hourly snapshot", "newest snapshot"],
            "2025-03-01T09:59": ["hourly snapshot"],
        },
        id="hourly-2-newest-of-each-hour",
    ),
    pytest.param(
        ONE_HOURS,
        RetentionPolicy(hourly=5),
        LATER,
        {
            "2025-03-01T10:45": ["hourly snapshot", "newest snapshot"],
            "2025-03-01T09:59": ["hourly snapshot"],
            "2025-03-01T09:00": ["oldest hourly snapshot"],
        },
        id="hourly-5-more-than-there-are-hours",
    ),
    pytest.param(
        TIED,
        RetentionPolicy(last=1),
        LATER,
        {"a": ["last snapshot", "newest snapshot"]},
        id="identical-times-first-listed-counts-as-newer",
    ),
    pytest.param(
        TIED_AGAIN,
        RetentionPolicy(last=1),
        LATER,
        {"b": ["last snapshot", "newest snapshot"]},
        id="identical-times-listed-the-other-way",
    ),
    pytest.param(
        TIED,
        RetentionPolicy(daily=2),
        LATER,
        {"a": ["daily snapshot", "newest snapshot"], "c": ["daily snapshot"]},
        id="identical-times-one-per-day",
    ),
    pytest.param(
        TIED,
        RetentionPolicy(within=Duration(hours=1)),
        LATER,
        {"a": ["within 1h", "newest snapshot"], "b": ["within 1h"]},
        id="identical-times-both-within",
    ),
    pytest.param(
        NEW_YEAR_2021,
        RetentionPolicy(weekly=2),
        LATER,
        {
            "2021-01-04T12:00": ["weekly snapshot", "newest snapshot"],
            "2021-01-03T12:00": ["weekly snapshot"],
        },
        id="iso-week-2020-w53-runs-into-january",
    ),
    pytest.param(
        NEW_YEAR_2021,
        RetentionPolicy(yearly=2),
        LATER,
        {
            "2021-01-04T12:00": ["yearly snapshot", "newest snapshot"],
            "2020-12-30T12:00": ["yearly snapshot"],
        },
        id="yearly-is-the-calendar-year-not-the-iso-year",
    ),
    pytest.param(
        ZONED,
        RetentionPolicy(daily=2),
        LATER,
        {"a": ["daily snapshot", "newest snapshot"], "c": ["daily snapshot"]},
        id="periods-are-utc-days",
    ),
    pytest.param(
        MARCH_31,
        RetentionPolicy(within=Duration(months=1)),
        LATER,
        {
            "2023-03-31T12:00": ["within 1m", "newest snapshot"],
            "2023-03-03T13:00": ["within 1m"],
        },
        id="within-1m-back-from-march-31-is-march-3",
    ),
    pytest.param(
        MARCH_31_LEAP,
        RetentionPolicy(within=Duration(months=1)),
        LATER,
        {
            "2024-03-31T12:00": ["within 1m", "newest snapshot"],
            "2024-03-02T13:00": ["within 1m"],
        },
        id="within-1m-back-from-march-31-in-a-leap-year-is-march-2",
    ),
    pytest.param(
        WITH_FUTURE,
        RetentionPolicy(within=Duration(days=1)),
        at("2025-03-10T00:00"),
        {
            "2025-03-20T00:00": ["within 1d", "newest snapshot"],
            "2025-03-09T12:00": ["within 1d"],
            "2025-03-08T18:00": ["within 1d"],
        },
        id="within-ignores-future-snapshots-when-finding-the-latest",
    ),
    pytest.param(
        WITH_FUTURE[1:],
        RetentionPolicy(within=Duration(days=1)),
        at("2025-03-09T12:00"),
        {
            "2025-03-09T12:00": ["within 1d", "newest snapshot"],
            "2025-03-08T18:00": ["within 1d"],
        },
        id="within-a-snapshot-taken-at-now-is-not-in-the-future",
    ),
    pytest.param(
        WITH_FUTURE,
        RetentionPolicy(within=Duration(days=1)),
        at("2025-01-01T00:00"),
        {
            "2025-03-20T00:00": ["within 1d", "newest snapshot"],
            "2025-03-09T12:00": ["within 1d"],
            "2025-03-08T18:00": ["within 1d"],
            "2025-03-08T06:00": ["within 1d"],
        },
        id="within-all-in-the-future-keeps-all",
    ),
]


@pytest.mark.parametrize(("policy", "now", "expected"), HISTORY_CASES)
def test_apply_to_a_long_history(
    policy: RetentionPolicy, now: datetime, expected: dict[str, list[str]]
) -> None:
    check(HISTORY, policy, now, expected)


@pytest.mark.parametrize(("snapshots", "policy", "now", "expected"), SMALL_CASES)
def test_apply(
    snapshots: list[Snap], policy: RetentionPolicy, now: datetime, expected: dict[str, list[str]]
) -> None:
    check(snapshots, policy, now, expected)


def check(
    snapshots: list[Snap], policy: RetentionPolicy, now: datetime, expected: dict[str, list[str]]
) -> None:
    before = list(snapshots)
    decision = apply(snapshots, policy, now=now)
    assert snapshots == before, "apply must not reorder its input"
    assert decision.reasons == expected
    assert {s.id for s in decision.keep} == set(expected)
    assert {s.id for s in decision.keep} | {s.id for s in decision.forget} == {
        s.id for s in snapshots
    }
    assert len(decision.keep) + len(decision.forget) == len(snapshots)
    for listed in (decision.keep, decision.forget):
        times = [s.time for s in listed]
        assert times == sorted(times, reverse=True), "lists are newest first"


def test_every_rule_keeps_the_newest_snapshot() -> None:
    history = [*HISTORY[:-1], Snap("late", at("2030-01-01T00:00"))]
    for policy in (
        RetentionPolicy(last=1),
        RetentionPolicy(yearly=1),
        RetentionPolicy(within=Duration(hours=1)),
    ):
        decision = apply(history, policy, now=NOW)
        assert decision.keep[0].id == "late"
        assert decision.reasons["late"][-1] == "newest snapshot"


def test_apply_refuses_duplicate_ids_and_naive_times() -> None:
    with pytest.raises(ValueError, match="appears more than once"):
        apply([Snap("a", T), Snap("a", T)], RetentionPolicy(last=1), now=LATER)
    with pytest.raises(ValueError, match="timezone-aware"):
        apply([Snap("a", datetime(2025, 1, 1))], RetentionPolicy(last=1), now=LATER)
    with pytest.raises(ValueError, match="timezone-aware"):
        apply([Snap("a", T)], RetentionPolicy(last=1), now=datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30d", Duration(days=30), id="days"),
        pytest.param("12h", Duration(hours=12), id="hours"),
        pytest.param("1y2m", Duration(years=1, months=2), id="years-months"),
        pytest.param("2y5m7d3h", Duration(2, 5, 7, 3), id="all-units"),
        pytest.param("3h2d", Duration(days=2, hours=3), id="any-order"),
        pytest.param("  7d \n", Duration(days=7), id="surrounding-space"),
        pytest.param("030d", Duration(days=30), id="leading-zero"),
        pytest.param("0y1d", Duration(days=1), id="a-zero-part"),
        pytest.param("1000y", Duration(years=1000), id="long"),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(days=30), "30d"),
        (Duration(2, 5, 7, 3), "2y5m7d3h"),
        (Duration(days=2, hours=3), "2d3h"),
        (Duration(years=1), "1y"),
    ],
)
def test_duration_text_is_canonical(duration: Duration, text: str) -> None:
    assert str(duration) == text
    assert parse_duration(text) == duration


NOT_A_DURATION = "--keep-within {!r} is not a duration: use e.g. 30d, 12h or 1y2m"
ZERO = "--keep-within {!r} must be longer than zero: use e.g. 30d, 12h or 1y2m"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("5x", "--keep-within '5x' is not a duration: use e.g. 30d, 12h or 1y2m"),
        pytest.param("", NOT_A_DURATION.format(""), id="empty"),
        pytest.param("   ", NOT_A_DURATION.format("   "), id="blank"),
        pytest.param("d", NOT_A_DURATION.format("d"), id="unit-without-number"),
        pytest.param("5", NOT_A_DURATION.format("5"), id="number-without-unit"),
        pytest.param("1w", NOT_A_DURATION.format("1w"), id="weeks-are-not-a-unit"),
        pytest.param("1D", NOT_A_DURATION.format("1D"), id="upper-case"),
        pytest.param("-1d", NOT_A_DURATION.format("-1d"), id="negative"),
        pytest.param("1.5d", NOT_A_DURATION.format("1.5d"), id="fraction"),
        pytest.param("1d 2h", NOT_A_DURATION.format("1d 2h"), id="inner-space"),
        pytest.param("1d1d", NOT_A_DURATION.format("1d1d"), id="unit-twice"),
        pytest.param("\u0661d", NOT_A_DURATION.format("\u0661d"), id="non-ascii-digit"),
        pytest.param("9" * 5000 + "d", NOT_A_DURATION.format("9" * 5000 + "d"), id="huge"),
        pytest.param("0d", ZERO.format("0d"), id="zero"),
        pytest.param("0y0m0d0h", ZERO.format("0y0m0d0h"), id="all-zero"),
    ],
)
def test_parse_duration_refuses(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_duration_refuses_zero_and_negative_parts() -> None:
    with pytest.raises(UsageError, match="must be longer than zero"):
        Duration()
    with pytest.raises(UsageError, match="must not have negative parts"):
        Duration(days=-1, hours=30)


@pytest.mark.parametrize(
    ("duration", "t", "expected"),
    [
        pytest.param("1m", at("2023-03-31T12:00"), at("2023-03-03T12:00"), id="mar-31-minus-1m"),
        pytest.param(
            "1m", at("2024-03-31T12:00"), at("2024-03-02T12:00"), id="mar-31-minus-1m-leap"
        ),
        pytest.param("1y", at("2024-02-29T00:00"), at("2023-03-01T00:00"), id="leap-day-1y"),
        pytest.param("1m", at("2024-01-31T06:00"), at("2023-12-31T06:00"), id="across-year"),
        pytest.param("13m", at("2024-01-15T00:00"), at("2022-12-15T00:00"), id="13-months"),
        pytest.param("1m1d", at("2024-03-31T00:00"), at("2024-03-01T00:00"), id="month-and-day"),
        pytest.param("1d1h", at("2024-03-01T00:30"), at("2024-02-28T23:30"), id="day-and-hour"),
        pytest.param("2y5m7d3h", at("2025-01-05T18:00"), at("2022-07-29T15:00"), id="all-units"),
        pytest.param("12h", at("2025-01-01T06:00"), at("2024-12-31T18:00"), id="hours"),
        pytest.param(
            "1m",
            datetime(2024, 3, 31, 12, tzinfo=timezone(timedelta(hours=2))),
            at("2024-03-02T10:00"),
            id="calendar-of-the-given-zone",
        ),
        pytest.param(
            "9999y", at("2025-01-01T00:00"), datetime.min.replace(tzinfo=UTC), id="before-year-1"
        ),
    ],
)
def test_duration_before(duration: str, t: datetime, expected: datetime) -> None:
    result = parse_duration(duration).before(t)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize("name", ["last", "hourly", "daily", "weekly", "monthly", "yearly"])
def test_policy_refuses_negative_counts(name: str) -> None:
    counts: dict[str, Any] = {name: -1}
    with pytest.raises(UsageError) as caught:
        RetentionPolicy(**counts)
    assert str(caught.value) == f"--keep-{name} must be 0 or more"


def test_policy_is_empty() -> None:
    assert RetentionPolicy().is_empty
    assert not RetentionPolicy(yearly=1).is_empty
    assert not RetentionPolicy(within=Duration(hours=1)).is_empty


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        pytest.param(RetentionPolicy(), "keep everything", id="empty"),
        pytest.param(
            RetentionPolicy(last=3, daily=7, within=Duration(years=1, months=2)),
            "keep last 3, daily 7, within 1y2m",
            id="some",
        ),
        pytest.param(
            RetentionPolicy(1, 2, 3, 4, 5, 6, Duration(days=30)),
            "keep last 1, hourly 2, daily 3, weekly 4, monthly 5, yearly 6, within 30d",
            id="all",
        ),
    ],
)
def test_policy_describe(policy: RetentionPolicy, text: str) -> None:
    assert policy.describe() == text


def test_policy_record_shape() -> None:
    record = RetentionPolicy(daily=7, within=Duration(days=30)).to_record()
    assert record == {
        "last": 0,
        "hourly": 0,
        "daily": 7,
        "weekly": 0,
        "monthly": 0,
        "yearly": 0,
        "within": "30d",
    }


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(RetentionPolicy(), id="empty"),
        pytest.param(RetentionPolicy(last=3), id="last"),
        pytest.param(RetentionPolicy(within=Duration(2, 5, 7, 3)), id="within"),
        pytest.param(RetentionPolicy(1, 2, 3, 4, 5, 6, Duration(hours=12)), id="all"),
    ],
)
def test_policy_record_round_trip(policy: RetentionPolicy) -> None:
    assert RetentionPolicy.from_record(policy.to_record()) == policy
    assert RetentionPolicy.from_record(json.loads(json.dumps(policy.to_record()))) == policy


def test_policy_record_missing_keys_are_unset() -> None:
    assert RetentionPolicy.from_record({}) == RetentionPolicy()
    assert RetentionPolicy.from_record({"daily": 7}) == RetentionPolicy(daily=7)
    assert RetentionPolicy.from_record({"within": None}) == RetentionPolicy()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(
            {"dayly": 7, "daily": 1},
            "retention policy has unknown keys: dayly",
            id="unknown-key",
        ),
        pytest.param(
            {"daily": "7"},
            "retention policy: daily must be a whole number, not '7'",
            id="count-as-text",
        ),
        pytest.param(
            {"weekly": True},
            "retention policy: weekly must be a whole number, not True",
            id="count-as-bool",
        ),
        pytest.param(
            {"monthly": -2},
            "retention policy: --keep-monthly must be 0 or more",
            id="negative-count",
        ),
        pytest.param(
            {"within": 30},
            "retention policy: within must be a string, not 30",
            id="within-as-number",
        ),
        pytest.param(
            {"within": "30 days"},
            "retention policy: --keep-within '30 days' is not a duration: "
            "use e.g. 30d, 12h or 1y2m",
            id="within-bad-text",
        ),
    ],
)
def test_policy_from_bad_record(record: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RetentionPolicy.from_record(record)
    assert str(caught.value) == message
