"""Two plans started at once against the same bucket: the second is refused (or waits);
never two writers on one bucket.

The first plan runs as a child process, slowed by a proxy that holds every PUT; once its
writing step is STARTED, the second is started in-process."""

from __future__ import annotations

import time

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    add_service,
    compare,
    corpus,
    creds,
    finish,
    plan,
    plan_status,
    seed,
    snapshot,
    spawn,
    step_messages,
)
from tests.support.faultproxy import Fault
from tests.support.fixtures import FaultProxyFactory

OBJECTS = corpus(60, seed=51)


def wait_started(service: str, plan_name: str, step: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            steps = step_messages(plan_status(service, plan_name))
        except AssertionError:
            steps = {}
        if steps.get(step, ("", ""))[0] == "STARTED":
            return
        time.sleep(0.1)
    raise AssertionError(f"{plan_name} {step} never STARTED")


CASES = {
    "restore twice": ("restore", "restore", "restore-0:[restore]"),
    "two services restoring into one bucket": ("restore", "restore-other", "restore-0:[restore]"),
    "backup twice": ("backup", "backup", "backup-data"),
    # the live bucket a backup reads and the backup bucket it writes are both taken
    "restore with OVERWRITE during a backup": ("backup", "restore", "backup-data"),
    "verify during a backup": ("backup", "verify", "backup-data"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_plans_on_one_bucket(
    case: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    fault_proxy: FaultProxyFactory,
    table: RowFactory,
) -> None:
    live, backup = rclone_pair
    first_plan, second_plan, step = CASES[case]
    row = table(
        "two plans started at once against the same bucket",
        case,
        done=(
            f"{first_plan} (a child process, its writes held 0.5 s each) and, while it "
            f"writes, {second_plan.replace('-other', ' of a second service')}"
        ),
        expected=str(len(OBJECTS)),
    )
    # PUTs to either store are slowed; both services reach the stores through the proxies
    live_proxy, _ = fault_proxy(live, Fault.stall(0.5, method="PUT"))
    backup_proxy, _ = fault_proxy(backup, Fault.stall(0.5, method="PUT"))
    add_service("minio", live_proxy.url, backup_proxy.url, live)
    add_service("other", live_proxy.url, backup_proxy.url, live)
    if first_plan == "backup":
        seed(live, "data", OBJECTS)
        args = ["start", "backup", *creds(backup)]
        if second_plan == "restore":
            restore = ["-p", "S3_BUCKET=minio-data", "-p", "OVERWRITE=true"]
            second = ("minio", ["start", "restore", *creds(backup), *restore])
        elif second_plan == "verify":
            second = ("minio", ["start", "verify", *creds(backup)])
        else:
            second = ("minio", args)
    else:
        seed(backup, "minio-data", OBJECTS)
        seed(backup, "other-data", OBJECTS)
        args = ["start", "restore", *creds(backup), "-p", "S3_BUCKET=minio-data"]
        other = ["start", "restore", *creds(backup), "-p", "S3_BUCKET=other-data"]
        second = ("other", other) if second_plan == "restore-other" else ("minio", args)
    child = spawn("--name=minio", "plan", *args)
    try:
        wait_started("minio", first_plan, step)
        started = time.monotonic()
        result = plan(second[0], *second[1])
        waited = time.monotonic() - started
        first_running = child.poll() is None
    finally:
        done = finish(child, timeout=120)
    lines = result.stderr.strip().splitlines()
    row.note(f"second: exit {result.exit_code} after {waited:.1f} s: {lines[-1] if lines else ''}")
    assert done.code == 0, done.stderr
    if second_plan in ("restore", "verify") and first_plan == "backup":
        # a different plan on the same buckets: refused at once, naming the running plan
        assert result.exit_code == ExitCode.CONFLICT, (result.exit_code, lines)
        assert "plan 'backup'" in lines[-1], lines
    if result.exit_code == ExitCode.CONFLICT:
        assert first_running and len(lines) == 1, lines
        assert "in use" in lines[0] or "already" in lines[0] or "running" in lines[0], lines
    else:  # it waited: then it may only have started writing after the first finished
        assert result.exit_code == 0 and not first_running, (result.exit_code, lines)
    if first_plan == "backup":
        got = compare(snapshot(live, "data"), snapshot(backup, "minio-data", strip=True))
    else:
        got = compare(snapshot(backup, "minio-data"), snapshot(live, "data"))
    row.intact = str(got.intact)
    assert got.identical, got
