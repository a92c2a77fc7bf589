"""Fixtures of the reliability suite: the fault proxy, fresh loopback servers, and the
table every scenario records a row into (written to docs/reliability.md at session end,
only when reliability scenarios ran)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from tests.reliability.report import COLLECTOR, Row
from tests.support.fixtures import fault_proxy

__all__ = ["fault_proxy"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        item.stash[_REPORT] = report
    return report


_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if COLLECTOR.rows:
        COLLECTOR.write()


RowFactory = Callable[..., Row]


@pytest.fixture
def table(request: pytest.FixtureRequest) -> Iterator[RowFactory]:
    """``row = table("scenario", "mode", done=...)``: a row of docs/reliability.md, whose
    outcome is set from the test's result when it ends."""
    made: list[Row] = []

    def make(scenario: str, mode: str = "", **values: str) -> Row:
        row = Row(scenario=scenario, mode=mode, **values)
        made.append(row)
        return row

    yield make
    report = request.node.stash.get(_REPORT, None)
    for row in made:
        if report is None:
            continue
        if hasattr(report, "wasxfail"):
            row.outcome = "known bug (xfail)"
            row.note(str(report.wasxfail).replace("reason: ", ""))
        elif report.passed:
            row.outcome = "pass"
        elif report.skipped:
            continue
        else:
            message = str(report.longrepr.reprcrash.message) if report.longrepr else ""  # type: ignore[union-attr]
            row.outcome = "FAIL"
            row.note(message.splitlines()[0][:200] if message else "failed")
        COLLECTOR.add(row)


@pytest.fixture
def rclone_pair(tmp_path: Path) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    """Two fresh, empty rclone servers (files on disk): (live or source, backup or target)."""
    with (
        loopback_server("rclone", tmp_path / "rclone-a") as a,
        loopback_server("rclone", tmp_path / "rclone-b") as b,
    ):
        yield a, b
