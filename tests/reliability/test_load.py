"""Load: a restore of many small objects, and of one very large object, as a child
process; the kernel's peak RSS of that process (wait4) is reported and bounded, and no
object may fail. The backup bucket's objects are written straight into the backup rclone
server's directory; source and target are compared file by file on disk."""

from __future__ import annotations

import hashlib
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bucketvault.loopback import LoopbackServer
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    MiB,
    Obj,
    add_service,
    corpus,
    creds,
    finish,
    mib,
    plan_status,
    seed_files,
    spawn,
    step_messages,
)

GiB = 1024 * MiB


def digest(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


def same_files(source: Path, target: Path, keys: list[str]) -> int:
    def ok(key: str) -> bool:
        t = target / key
        return t.is_file() and digest(source / key) == digest(t)

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(ok, keys))


def restore_load(
    objs: list[Obj],
    what: str,
    rss_bound: int,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    table: RowFactory,
    timeout: float,
) -> None:
    live, backup = rclone_pair
    row = table(
        f"load: restore of {what}",
        "restore",
        done=(
            f"`plan start restore` of {what} as a child process; "
            "peak RSS of that process alone (rusage wrapper)"
        ),
        expected=f"{len(objs):,}",
    )
    seed_files(backup, "minio-data", objs)
    add_service("minio", live.url, backup.url, live)
    args = [
        "--name=minio",
        "plan",
        "start",
        "restore",
        *creds(backup),
        "-p",
        "S3_BUCKET=minio-data",
    ]
    report = Path(tempfile.mkdtemp(prefix="bv-rusage-")) / "rusage.json"
    done = finish(spawn(*args, rusage_report=report), timeout=timeout, rusage_report=report)
    status, message = step_messages(plan_status("minio", "restore"))["restore-0:[restore]"]
    intact = same_files(backup.root / "minio-data", live.root / "data", [o.key for o in objs])
    row.intact = f"{intact:,}"
    row.note(f"peak RSS {mib(done.peak_rss)} (bound {mib(rss_bound)}); {done.seconds:.0f} s")
    row.note(f"step: {message}")
    assert done.code == 0, done.stderr[-2000:]
    assert status == "COMPLETE" and "FAILED" not in message, message
    assert intact == len(objs)
    assert done.peak_rss < rss_bound, f"peak RSS {mib(done.peak_rss)}"


def big(size: int) -> list[Obj]:
    return [Obj("huge/blob.bin", size, 77)]


def test_load_small_objects_reduced(
    rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    restore_load(corpus(2_000, seed=71), "2,000 small objects", 400 * MiB, rclone_pair, table, 300)


def test_load_large_object_reduced(
    rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    restore_load(big(64 * MiB), "one 64 MiB object", 400 * MiB, rclone_pair, table, 300)


@pytest.mark.slow
def test_load_100k_small_objects(
    rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    objs = corpus(100_000, seed=72)
    restore_load(objs, "100,000 small objects", 600 * MiB, rclone_pair, table, 3600)


@pytest.mark.slow
def test_load_2gib_object(
    rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    restore_load(big(2 * GiB), "one 2 GiB object", 400 * MiB, rclone_pair, table, 1800)
