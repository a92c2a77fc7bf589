"""Accounting: the running rate starts sane (no spike from the first chunk), follows
recent transfer, and gives an ETA; a finished run reports its average."""

from __future__ import annotations

from bucketvault.errors import ExitCode
from bucketvault.mirror.stats import RATE_WINDOW_S, MirrorStats


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_rate_until_a_second_of_transfer_was_seen() -> None:
    clock = Clock()
    stats = MirrorStats(clock=clock)
    stats.plan_copy(100 * 2**20)
    clock.now += 5.0  # listing took a while: not part of the rate
    stats.add_bytes(8 * 2**20)  # one buffered chunk, in no time at all
    first = stats.snapshot()
    assert (first.rate_bytes_per_s, first.eta_s) == (0.0, None)  # not 8 MiB / 0 s
    for _ in range(5):
        clock.now += 0.25
        stats.add_bytes(2**20)  # 4 MiB/s from here on
        stats.snapshot()
    s = stats.snapshot()
    assert s.rate_bytes_per_s == 4 * 2**20
    remaining = 100 * 2**20 - stats.transferred_bytes
    assert s.eta_s == round(remaining / (4 * 2**20), 1)


def test_rate_follows_recent_transfer() -> None:
    clock = Clock()
    stats = MirrorStats(clock=clock)
    stats.plan_copy(10 * 2**30)
    for _ in range(100):  # 20 s at 10 MiB/s
        clock.now += 0.2
        stats.add_bytes(2 * 2**20)
        stats.snapshot()
    for _ in range(100):  # then 20 s at 1 MiB/s
        clock.now += 0.2
        stats.add_bytes(2**20 // 5)
        stats.snapshot()
    rate = stats.snapshot().rate_bytes_per_s
    assert abs(rate - 2**20) < 0.05 * 2**20, rate  # the last RATE_WINDOW_S, not the average
    assert RATE_WINDOW_S < 20


def test_finished_run_reports_its_average() -> None:
    clock = Clock()
    stats = MirrorStats(clock=clock)
    clock.now += 2.0
    stats.add_bytes(2**20)
    clock.now += 2.0
    stats.finish()
    s = stats.snapshot()
    assert s.rate_bytes_per_s == 2**20 / 4 and s.eta_s is None


def test_exit_code_says_what_was_not_done() -> None:
    stats = MirrorStats()
    assert stats.snapshot().exit_code is ExitCode.OK
    stats.conflict("k")
    assert stats.snapshot().exit_code is ExitCode.CONFLICT
    stats.delete_skipped_reason = "3 deletions exceed --max-delete 2; deleted nothing"
    assert stats.snapshot().exit_code is ExitCode.PARTIAL
