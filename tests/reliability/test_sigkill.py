"""SIGKILL at random points (fixed seed) during a restore, and during a mirror into a
local directory, of many objects including multipart-sized ones.

Each run is a child process killed with SIGKILL after a random delay; after every kill
the target is checked: every object visible under its final key must be complete and
exact (S3 PUTs and multipart completes are atomic; the file:// store writes a temporary
file and renames it). Then the same command is run again; after the last kill point a
run must complete, and the target must equal the source byte for byte and in metadata.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bucketvault.loopback import LoopbackServer
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    Obj,
    add_service,
    alias_url,
    compare,
    corpus,
    creds,
    finish,
    list_keys,
    seed,
    snapshot,
    spawn,
)

SEED = 20261125
RESERVED = ".bucketvault"
TMP_PREFIX = ".bucketvault-tmp-"


def expected_md5(objs: list[Obj]) -> dict[str, str]:
    return {o.key: hashlib.md5(o.body()).hexdigest() for o in objs}


def check_s3_target(server: LoopbackServer, bucket: str, md5s: dict[str, str]) -> int:
    """Every visible object is complete and exact; returns how many are visible."""
    try:
        listed = list_keys(server, bucket)
    except Exception:  # the bucket does not exist yet
        return 0
    unsure = []
    for key, (_size, etag) in listed.items():
        assert key in md5s, f"unexpected object {key!r} at the target"
        if "-" in etag:
            unsure.append(key)
        else:
            assert etag == md5s[key], f"{key!r} is visible but not the complete object"
    if unsure:
        from tests.conftest import boto_client

        client = boto_client(server)
        for key in unsure:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == md5s[key], f"{key!r} is half-written"
    return len(listed)


def empty_bucket(server: LoopbackServer, bucket: str) -> None:
    from tests.conftest import boto_client

    client = boto_client(server)
    keys = list(list_keys(server, bucket))
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i : i + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch})


def check_dir_target(root: Path, md5s: dict[str, str]) -> tuple[int, int]:
    """(complete files visible, temporary files left)."""
    visible = temporary = 0
    if not root.exists():
        return 0, 0
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() or rel.split("/")[0] == RESERVED:
            continue
        if path.name.startswith(TMP_PREFIX):
            temporary += 1
            continue
        assert rel in md5s, f"unexpected file {rel!r}"
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5s[rel], f"{rel!r} half-written"
        visible += 1
    return visible, temporary


def run_with_kills(
    args: list[str],
    kills: int,
    total: int,
    check: Callable[[], int],
    restart: Callable[[], None],
    seed: int = SEED,
) -> list[str]:
    """Run `args` again and again, each run killed with SIGKILL after a random delay,
    until `kills` runs were killed while work remained; `check()` (the objects visible,
    each verified) after each. The delays are drawn from 20-90% of the time one whole
    run takes (measured first, on a fresh copy), so the kills land mid-work however fast
    the machine or the code is. Whenever the target is complete, `restart()` empties it,
    so the next kills land in a fresh copy again. Bounded: at most 4 x `kills` runs."""
    started = time.monotonic()
    calibration = finish(spawn(*args), timeout=300)
    whole = time.monotonic() - started
    assert calibration.code == 0, f"a run failed: {calibration.stderr[-2000:]}"
    assert check() == total
    restart()
    rng = random.Random(seed)
    notes: list[str] = [f"[one whole run: {whole:.2f}s]"]
    killed = 0
    visible = check()
    for _ in range(4 * kills):
        if killed >= kills:
            break
        if visible >= total:
            restart()
            notes.append("[fresh copy]")
        delay = round(rng.uniform(0.2 * whole, 0.9 * whole), 2)
        done = finish(spawn(*args), timeout=delay)  # SIGKILLed at the deadline
        visible = check()
        if done.code == -9:
            killed += 1
            notes.append(f"{delay}s:{visible}")
        elif done.code == 0:
            notes.append(f"{delay}s:done:{visible}")
        else:
            raise AssertionError(f"a run failed: {done.code} {done.stderr[-2000:]}")
    assert killed >= kills, f"only {killed} runs were killed while working: {notes}"
    return notes


def complete(args: list[str]) -> int:
    for _ in range(3):  # bounded
        done = finish(spawn(*args), timeout=300)
        if done.code == 0:
            return 0
        last = done
    raise AssertionError(f"no run completed after the kills: {last.code} {last.stderr[-2000:]}")


def restore_case(
    small: int, points: int, rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    live, backup = rclone_pair
    objs = corpus(small, large=2, seed=61)
    row = table(
        f"SIGKILL at {points} random points",
        "restore",
        done=(
            f"restore of {len(objs):,} objects (2 of 17 MiB, multipart) as a child process, "
            f"killed with SIGKILL after a random delay (seed {SEED}) until {points} runs "
            "were killed mid-work, re-run each time (a fresh copy after a run completes); "
            "the target is checked after every kill"
        ),
        expected=str(len(objs)),
    )
    seed(backup, "minio-data", objs)
    add_service("minio", live.url, backup.url, live)
    md5s = expected_md5(objs)
    args = [
        "--name=minio",
        "plan",
        "start",
        "restore",
        *creds(backup),
        "-p",
        "S3_BUCKET=minio-data",
    ]
    notes = run_with_kills(
        args,
        points,
        len(objs),
        lambda: check_s3_target(live, "data", md5s),
        lambda: empty_bucket(live, "data"),
    )
    row.note("kill delay:objects visible (done: that run ended first) = " + " ".join(notes))
    complete(args)
    got = compare(snapshot(backup, "minio-data"), snapshot(live, "data"))
    row.intact = str(got.intact)
    assert got.identical, got


def mirror_case(
    monkeypatch: pytest.MonkeyPatch,
    small: int,
    points: int,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    tmp_path: Path,
    table: RowFactory,
) -> None:
    source, _ = rclone_pair
    objs = corpus(small, large=2, seed=62)
    row = table(
        f"SIGKILL at {points} random points",
        "mirror to file://",
        done=(
            f"mirror of {len(objs):,} objects (2 of 17 MiB) into a local directory as a child "
            f"process, killed with SIGKILL after a random delay (seed {SEED + 1}) until "
            f"{points} runs were killed mid-work, re-run each time (a fresh copy after a run "
            "completes); every file is checked after every kill"
        ),
        expected=str(len(objs)),
    )
    seed(source, "data", objs)
    md5s = expected_md5(objs)
    target = tmp_path / "copy"
    args = ["mirror", "src/data", f"file://{target}"]
    env_args = {"BUCKETVAULT_ALIAS_SRC": alias_url(source)}
    for name, value in env_args.items():
        monkeypatch.setenv(name, value)
    temporaries: list[int] = []

    def check() -> int:
        visible, temporary = check_dir_target(target, md5s)
        temporaries.append(temporary)
        return visible

    notes = run_with_kills(
        args,
        points,
        len(objs),
        check,
        lambda: shutil.rmtree(target, ignore_errors=True),
        seed=SEED + 1,
    )
    row.note("kill delay:files visible (done: that run ended first) = " + " ".join(notes))
    complete(args)
    visible, temporary = check_dir_target(target, md5s)
    row.intact = str(visible)
    row.note(
        f"temporary files left by killed runs: max {max(temporaries)}, "
        f"after the final run {temporary}"
    )
    assert visible == len(objs)


@pytest.mark.parametrize("kind", ["restore", "mirror"])
def test_sigkill_5_points(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    tmp_path: Path,
    table: RowFactory,
) -> None:
    if kind == "restore":
        restore_case(500, 5, rclone_pair, table)
    else:
        mirror_case(monkeypatch, 500, 5, rclone_pair, tmp_path, table)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["restore", "mirror"])
def test_sigkill_20_points(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    tmp_path: Path,
    table: RowFactory,
) -> None:
    if kind == "restore":
        restore_case(3_000, 20, rclone_pair, table)
    else:
        mirror_case(monkeypatch, 3_000, 20, rclone_pair, tmp_path, table)
