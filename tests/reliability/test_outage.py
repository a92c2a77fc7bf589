"""The backup store unreachable mid-run.

For a while: the proxy in front of the backup store refuses connections as soon as the
second bucket's step touches it, for longer than one step attempt's request retries; the
step must go DELAYED (watched from another thread in the state database) and the plan
finish when the store is back. Past the retry budget: the store stays down, the plan
ends in ERROR with a clear message and exit code 5, and a later `plan start` finishes
the job, copying only what the failed run had not. The mirror is run the same way: a
run against a dead target ends with one clear message, and the re-run copies only what
is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from bucketvault.plans.factory import manager_for
from tests.e2e.helpers import run_cli
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    QUICK_ENGINE,
    add_service,
    alias_url,
    compare,
    corpus,
    creds,
    engine,
    list_keys,
    plan,
    plan_status,
    seed,
    snapshot,
    step_messages,
    summary_of,
)
from tests.support.faultproxy import FaultProxy
from tests.support.fixtures import FaultProxyFactory

BUCKETS = ("alpha", "bravo", "charlie")
OBJECTS = corpus(25, seed=21)


@contextmanager
def outage_when(
    proxy: FaultProxy, seen: Callable[[str], bool], seconds: float | None
) -> Iterator[threading.Event]:
    """Take `proxy` down (for `seconds`, or until the block ends) the first time a request
    target satisfies `seen`. Yields an event set when the outage began."""
    began = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            if any(seen(e.target) for e in proxy.events()):
                if seconds is None:
                    proxy.set_down(True)
                else:
                    proxy.down_for(seconds)
                began.set()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield began
    finally:
        stop.set()
        thread.join(timeout=5)
        proxy.set_down(False)


def watch_statuses(service: str, plan_name: str, stop: threading.Event) -> set[str]:
    """Step statuses seen while the plan runs (read from the state database)."""
    seen: set[str] = set()

    def poll() -> None:
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                body = manager_for(service).status(plan_name)
            except Exception:
                body = None
            if body:
                seen.update(s for s, _ in step_messages(body).values())
            time.sleep(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    stop.thread = thread  # type: ignore[attr-defined]
    return seen


def setup_plan(mode: str, live: LoopbackServer, backup: LoopbackServer, proxy: FaultProxy) -> None:
    add_service("minio", live.url, proxy.url, live)
    for bucket in BUCKETS:
        if mode == "backup":
            seed(live, bucket, OBJECTS)
        else:
            seed(backup, f"minio-{bucket}", OBJECTS)


def plan_args(mode: str, backup: LoopbackServer) -> list[str]:
    if mode == "backup":
        return ["start", "backup", *creds(backup)]
    return ["start", "restore", *creds(backup), "-p", "ALL_BUCKETS=true"]


def compare_all(mode: str, live: LoopbackServer, backup: LoopbackServer) -> tuple[int, int, bool]:
    expected = intact = 0
    identical = True
    for bucket in BUCKETS:
        if mode == "backup":
            got = compare(snapshot(live, bucket), snapshot(backup, f"minio-{bucket}", strip=True))
        else:
            got = compare(snapshot(backup, f"minio-{bucket}"), snapshot(live, bucket))
        expected, intact = expected + got.expected, intact + got.intact
        identical = identical and got.identical
    return expected, intact, identical


def second_bucket(mode: str) -> Callable[[str], bool]:
    return lambda target: target.startswith("/minio-bravo")


# Slow and timing-sensitive: the 6 s outage must catch a request the store retries only
# briefly (the bucket check) rather than object copies, whose whole-object retries ride
# it out; on an idle machine the watcher often starts the outage too late to see DELAYED.
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["backup", "restore"])
def test_store_unreachable_for_a_while(
    mode: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    fault_proxy: FaultProxyFactory,
    table: RowFactory,
) -> None:
    live, backup = rclone_pair
    proxy, _ = fault_proxy(backup)
    row = table(
        "backup store unreachable for a while",
        mode,
        done=(
            f"{mode} of 3 buckets × {len(OBJECTS)} objects; the backup store refuses "
            "connections for 6 s from the moment the second bucket's step reaches it"
        ),
        expected=str(3 * len(OBJECTS)),
    )
    setup_plan(mode, live, backup, proxy)
    stop = threading.Event()
    seen = watch_statuses("minio", mode, stop)
    with outage_when(proxy, second_bucket(mode), 6.0) as began:
        started = time.monotonic()
        result = plan("minio", *plan_args(mode, backup))
        elapsed = time.monotonic() - started
    stop.set()
    stop.thread.join(timeout=5)  # type: ignore[attr-defined]
    assert began.is_set(), "the outage never began"
    row.note(f"step statuses seen: {', '.join(sorted(seen))}; plan took {elapsed:.0f} s")
    _, intact, identical = compare_all(mode, live, backup)
    row.intact = str(intact)
    assert result.exit_code == 0, result.stderr
    assert "DELAYED" in seen
    assert plan_status("minio", mode)["status"] == "COMPLETE"
    assert identical


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("mirror", marks=pytest.mark.slow),
        pytest.param("backup", marks=pytest.mark.slow),
        "restore",
    ],
)
def test_store_unreachable_past_the_retry_budget(
    mode: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    fault_proxy: FaultProxyFactory,
    table: RowFactory,
) -> None:
    live, backup = rclone_pair
    proxy, _ = fault_proxy(backup)
    row = table(
        "backup store unreachable past the retry budget",
        mode,
        done=(
            f"{mode}: the backup store goes down for good when the second bucket is "
            "reached; the run must fail clearly; then the store is back and the run is "
            "started again"
        ),
    )
    if mode == "mirror":
        seed(live, "bravo", OBJECTS)
        env = {
            "BUCKETVAULT_ALIAS_SRC": alias_url(live),
            "BUCKETVAULT_ALIAS_DST": alias_url(backup, proxy.url),
        }
        row.expected = str(len(OBJECTS))
        # down after ten objects have been written
        with outage_when(
            proxy, lambda t: sum(1 for e in proxy.events() if e.method == "PUT") >= 10, None
        ):
            first = run_cli("mirror", "src/bravo", "dst/bravo", "--json", env=env)
        assert first.exit_code != 0
        before = list_keys(backup, "bravo")
        message = first.stderr.strip() or str(summary_of(first)["failed_objects"][:1])
        row.note(f"first run: exit {first.exit_code}: {message[:160]}")
        proxy.reset_counters()
        again = run_cli("mirror", "src/bravo", "dst/bravo", "--json", env=env)
        assert again.exit_code == 0, again.stderr
        summary = summary_of(again)
        row.note(f"re-run copied {summary['copied']}, skipped {summary['skipped']}")
        got = compare(snapshot(live, "bravo"), snapshot(backup, "bravo", strip=True))
        row.intact = str(got.intact)
        assert got.identical, got
        assert summary["copied"] == len(OBJECTS) - len(before)
        return

    setup_plan(mode, live, backup, proxy)
    row.expected = str(3 * len(OBJECTS))
    with engine(QUICK_ENGINE), outage_when(proxy, second_bucket(mode), None) as began:
        first = plan("minio", *plan_args(mode, backup))
    assert began.is_set()
    assert first.exit_code == ExitCode.STORE, (first.exit_code, first.stderr)
    # what each finished step did (`- step: …`), then one line saying what failed
    *results, error = first.stderr.strip().splitlines()
    assert all(r.startswith("- ") for r in results), results
    assert error.startswith("Error: ") and "cannot reach" in error, error
    row.note(f"first run: exit {first.exit_code}: {error[:200]}")
    side = live if mode == "restore" else backup
    names = {b["Name"] for b in _buckets(side)}
    done_before = sum(
        len(list_keys(side, name))
        for name in (b if mode == "restore" else f"minio-{b}" for b in BUCKETS)
        if name in names
    )
    after_first = step_messages(plan_status("minio", mode))
    again = plan("minio", *plan_args(mode, backup))
    assert again.exit_code == 0, again.stderr
    copied = 0
    for name, (status, message) in step_messages(plan_status("minio", mode)).items():
        assert status == "COMPLETE", (name, message)
        if after_first[name][0] == "COMPLETE":
            assert after_first[name][1] == message, f"{name} ran again"
        elif name.startswith(("backup-", "restore-")):
            copied += int(message.split(" objects")[0].split()[-1].replace(",", ""))
    row.note(
        f"{done_before} objects were done before; the second start ran only the steps "
        f"not COMPLETE and copied {copied}"
    )
    expected, intact, identical = compare_all(mode, live, backup)
    row.intact = str(intact)
    assert identical
    assert copied == expected - done_before, "the second run recopied finished objects"


def _buckets(server: LoopbackServer) -> list[dict[str, str]]:
    from tests.conftest import boto_client

    return list(boto_client(server).list_buckets()["Buckets"])
