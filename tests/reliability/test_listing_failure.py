"""The source listing fails mid-way (a later page or a later folder, every time) during a
mirror with `--remove` and during a backup: nothing at the target may be deleted."""

from __future__ import annotations

import pytest

from bucketvault.loopback import LoopbackServer
from tests.e2e.helpers import run_cli
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    QUICK_ENGINE,
    add_service,
    alias_url,
    corpus,
    creds,
    engine,
    list_keys,
    plan,
    plan_status,
    seed_files,
)
from tests.support.faultproxy import Fault
from tests.support.fixtures import FaultProxyFactory

SOURCE = corpus(1_100, seed=41)  # two listing pages of 1,000, or seven folders dir-0/..dir-6/
STALE = corpus(20, seed=42, prefix="stale/")  # only at the target: --remove would delete them


@pytest.mark.parametrize("mode", ["mirror --remove", "backup"])
def test_listing_fails_mid_way(
    mode: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    fault_proxy: FaultProxyFactory,
    table: RowFactory,
) -> None:
    source, target = rclone_pair
    target_bucket = "copy" if mode.startswith("mirror") else "minio-data"
    seed_files(source, "data", SOURCE)
    seed_files(target, target_bucket, SOURCE[:300] + STALE)
    before = list_keys(target, target_bucket)
    row = table(
        "the source listing fails mid-way",
        mode,
        done=(
            f"{mode} of {len(SOURCE):,} objects; every request for a later part of the "
            f"listing (a second page, the folder dir-3/) is reset; the target holds "
            f"{len(STALE)} objects the source does not"
        ),
        expected=f"{len(before)} kept",
    )
    # a plain listing asks for its later pages by continuation token; a listing folder
    # by folder asks for each folder by prefix
    later = (Fault.reset(query="continuation-token"), Fault.reset(query="prefix=dir-3"))
    proxy, _ = fault_proxy(source, *later)
    if mode.startswith("mirror"):
        env = {
            "BUCKETVAULT_ALIAS_SRC": alias_url(source, proxy.url),
            "BUCKETVAULT_ALIAS_DST": alias_url(target),
        }
        result = run_cli("mirror", "src/data", f"dst/{target_bucket}", "--remove", env=env)
        message = result.stderr.strip().splitlines()
    else:
        add_service("minio", proxy.url, target.url, source)
        with engine(QUICK_ENGINE):
            result = plan("minio", "start", "backup", *creds(target))
        message = result.stderr.strip().splitlines()
        assert plan_status("minio", "backup")["status"] == "ERROR"
    after = list_keys(target, target_bucket)
    kept = [k for k in before if after.get(k) == before[k]]
    row.intact = f"{len(kept)} kept"
    row.note(f"exit {result.exit_code}: {message[-1][:200] if message else ''}")
    row.note(f"{proxy.counters().faults['reset']} listing requests reset")
    assert result.exit_code != 0
    # a mirror says it in one line; a plan lists its steps' results, then that line
    last = message[-1].lower() if message else ""
    assert "cannot" in last or "fail" in last, message
    assert len(message) == 1 or not mode.startswith("mirror"), message
    assert len(kept) == len(before), "an object at the target was deleted or changed"
