"""5%, 20% and 50% of requests failing transiently, for mirror, backup and restore.

A fault proxy sits in front of both stores. Its faults are a mix, in equal shares: 503
SlowDown and a TCP reset (the server never sees the request), 500 InternalError *after*
the server applied the request (the write happened, the client saw an error), and GET
bodies cut off half-way. The run must complete in one go, the target must equal the
source byte for byte and in every header and metadata item, no object may be copied
twice or left half-uploaded, and the retries must show in the run's summary.
"""

from __future__ import annotations

import pytest

from bucketvault.loopback import LoopbackServer
from tests.e2e.helpers import run_cli
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    add_service,
    alias_url,
    compare,
    corpus,
    creds,
    pending_uploads,
    plan,
    plan_status,
    seed,
    snapshot,
    step_messages,
    summary_of,
)
from tests.support.faultproxy import Fault, FaultProxy
from tests.support.fixtures import FaultProxyFactory

RATES = (0.05, 0.20, 0.50)
OBJECTS = corpus(40, large=2, seed=11)


def faults(rate: float) -> list[Fault]:
    share = 1 - (1 - rate) ** (1 / 4)
    return [
        Fault.slow_down(p=share),
        Fault.reset(p=share),
        Fault.error(500, p=share, after_forward=True),
        Fault.truncate(p=share, method="GET"),
    ]


def fault_note(*proxies: FaultProxy) -> str:
    requests = sum(p.counters().requests for p in proxies)
    hit = sum(p.counters().total_faults for p in proxies)
    return f"{hit:,} of {requests:,} requests faulted ({hit / max(requests, 1):.0%})"


@pytest.mark.parametrize("mode", ["mirror", "backup", "restore"])
@pytest.mark.parametrize("rate", RATES, ids=[f"{int(r * 100)}pct" for r in RATES])
def test_transient_faults(
    mode: str,
    rate: float,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    fault_proxy: FaultProxyFactory,
    table: RowFactory,
) -> None:
    a, b = rclone_pair
    row = table(
        f"{int(rate * 100)}% of requests fail transiently",
        mode,
        done=(
            f"{mode} of {len(OBJECTS)} objects (2 of 17 MiB, one multipart) through a proxy "
            "failing requests: 503 SlowDown, reset, 500 after applying, truncated GET"
        ),
        expected=str(len(OBJECTS)),
    )
    proxy_a, _ = fault_proxy(a, *faults(rate), seed=101)
    proxy_b, _ = fault_proxy(b, *faults(rate), seed=202)

    if mode == "mirror":
        seed(a, "src", OBJECTS)
        env = {
            "BUCKETVAULT_ALIAS_SRC": alias_url(a, proxy_a.url),
            "BUCKETVAULT_ALIAS_DST": alias_url(b, proxy_b.url),
        }
        result = run_cli("mirror", "src/src", "dst/dst", "--json", env=env)
        assert result.exit_code == 0, result.stderr[-3000:]
        summary = summary_of(result)
        retries, copied = summary["retries"], summary["copied"]
        source, target = snapshot(a, "src"), snapshot(b, "dst", strip=True)
        leftovers = pending_uploads(b, "dst")
    else:
        add_service("minio", proxy_a.url, proxy_b.url, a)
        if mode == "backup":
            seed(a, "data", OBJECTS)
            result = plan("minio", "start", "backup", *creds(b))
            source, target = snapshot(a, "data"), snapshot(b, "minio-data", strip=True)
            leftovers = pending_uploads(b, "minio-data")
            step = "backup-data"
        else:
            seed(b, "minio-data", OBJECTS)
            result = plan("minio", "start", "restore", *creds(b), "-p", "S3_BUCKET=minio-data")
            source, target = snapshot(b, "minio-data"), snapshot(a, "data")
            leftovers = pending_uploads(a, "data")
            step = "restore-0:[restore]"
        assert result.exit_code == 0, result.stderr[-3000:]
        status, message = step_messages(plan_status("minio", mode))[step]
        assert status == "COMPLETE", message
        row.note(f"step: {message}")
        copied = int(message.split(" objects")[0].split()[-1].replace(",", ""))
        retries = (
            int(message.split(" retries")[0].split()[-1].replace(",", ""))
            if (" retries" in message)
            else 0
        )

    comparison = compare(source, target)
    row.intact = str(comparison.intact)
    row.note(fault_note(proxy_a, proxy_b))
    row.note(f"{retries} retries in the summary")
    assert comparison.identical, comparison
    # A step that went DELAYED and ran again reports only its last attempt's copies (the
    # objects the earlier attempt had not finished); never more than there are objects.
    assert 0 < copied <= len(OBJECTS), "an object was counted (copied) more than once"
    holding = {key: parts for key, parts in leftovers.items() if parts}
    if leftovers:
        row.note(f"{len(leftovers)} empty multipart upload(s) left open (lost create answer)")
    assert not holding, f"multipart uploads left holding parts: {holding}"
    assert retries > 0, "retries are not visible in the summary"
