"""SIGKILL at random points (fixed seed) during a backup that keeps history, and during a
prune, on a versioned backup store (moto) and on one without versioning (rclone serve s3,
where bucketvault archives replaced copies itself).

Backup: a service with `--keep-last 1` over one live bucket; a clean backup (S1, of the
live content C1). Each trial damages the live bucket (objects overwritten with other
bytes, deleted, added: C2) and runs the backup plan as a child process, SIGKILLed after
a random delay. After the kill every snapshot `snapshot list` shows restores exactly to
the content it was taken from (S1 to C1, one the killed run published to C2); a re-run
completes, copies only what the killed run had not copied (nothing when it had
published), and its snapshot restores exactly to C2. That snapshot is the next trial's
S1, so the history stays short and every trial starts from a published snapshot.

Prune: one service whose history grows by two damaged backups (no retention) before
each trial; then `--keep-last 1` and `plan start prune` as a child, SIGKILLed after a
random delay. After the kill every snapshot still listed restores exactly; a re-run of
prune completes and leaves the kept snapshot restoring exactly, and nothing that an
uninterrupted prune removes (forgotten snapshots' files, archived copies, old versions).

Kill delays: one clean run of the same command is timed first, with the moment its work
on the backup bucket begins (a backup's journal appears; a prune's first snapshot header
goes). Each killed run is watched for that moment too, and killed a delay later drawn
from the rest of the timed run (a run that finishes before its kill narrows that to its
delay), so the kills land in the work — not in interpreter start-up or in the init
step, whose length varies most on a loaded machine — however fast the machine or the
code is.

Restores are made by a second machine: its own `$BUCKETVAULT_HOME`, the same service
with its own live store (`scratch`), so restored buckets never join a backup and every
check reads only what is in the backup store.

Two kill points that random delays seldom hit are made exactly as well: a prune killed
between a forgotten snapshot's header and records deletes, or a backup killed between
its records and header writes (ORPHANED_RECORDS: stores without versioning keep those
records for ever), and a prune killed between removing a forgotten header's delete
marker and the version it hid (RESURRECTED_HEADER: a forgotten snapshot is listed again,
without its records). Both were bugs these tests found; they now guard the fixes.
"""

from __future__ import annotations

import io
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from bucketvault.history.journal import Journal
from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import Result, run_cli
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    MiB,
    compare,
    corpus,
    creds,
    finish,
    list_keys,
    plan_status,
    seed,
    snapshot,
    spawn,
    step_messages,
)
from tests.support.faultproxy import Fault
from tests.support.fixtures import FaultProxyFactory

SEED = 20261208
BUCKET = "data"
# the live bucket: small objects (the short runs fewer, to stay quick on moto), plus LARGE
# objects of LARGE_SIZE; the prune scenario's is smaller (each trial makes two backups)
SMALL = {"backup": (100, 200), "prune": (60, 100)}  # (default run, slow run)
LARGE = 2
LARGE_SIZE = 3 * MiB
DAMAGE_LARGE = 8 * MiB  # what overwrites a large object: a real multipart upload (2 parts)
COPIED = re.compile(r"backed up \S+ → ([\d,]+) objects?")
SNAPSHOTS = ".bucketvault/snapshots/"
ARCHIVE = ".bucketvault/archive/"

Content = dict[str, dict[str, Any]]

RESURRECTED_HEADER = (
    "a forgotten snapshot was listed again after a kill: prune must remove a forgotten "
    "header's delete marker only after the version it hides (once a bug, fixed in "
    "history/prune.py)"
)


# -- the stores -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stores:
    live: LoopbackServer  # the service's own store (rclone)
    backup: LoopbackServer  # moto (versioned) or rclone (no versioning: archived copies)
    # the checking machine's live store, where restores land: moto, which keeps every
    # object's attributes as written (rclone serve s3 was seen, under load, to list a
    # restored object with an empty ETag and fail every GET of it with InternalError
    # while the bytes in its folder were right)
    scratch: LoopbackServer

    @property
    def label(self) -> str:
        if self.backup.kind == "moto":
            return "versioned backup store (moto)"
        return "unversioned backup store (rclone serve s3: archived copies)"


@pytest.fixture(params=["moto", "rclone"], ids=["versioned-moto", "unversioned-rclone"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Fresh servers: live (rclone), backup (moto or rclone), scratch (moto)."""
    with (
        loopback_server("rclone", tmp_path / "live") as live,
        loopback_server(request.param, tmp_path / "backup") as backup,
        loopback_server("moto", tmp_path / "scratch") as scratch,
    ):
        yield Stores(live, backup, scratch)


def drop_bucket(server: LoopbackServer, bucket: str) -> None:
    """Delete everything in a bucket, then the bucket."""
    client = boto_client(server)
    doomed = [{"Key": key} for key in list_keys(server, bucket)]
    for i in range(0, len(doomed), 1000):
        batch = doomed[i : i + 1000]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


def damage(server: LoopbackServer, rng: random.Random, tag: str) -> int:
    """Overwrite 20 small objects and one large one with other bytes and metadata (the
    large one as a multipart upload), delete 10 and add 10 (the bucket keeps its size).
    Returns how many objects a backup must copy."""
    client = boto_client(server)
    keys = sorted(list_keys(server, BUCKET))
    large = [k for k in keys if k.startswith("large/")]
    small = [k for k in keys if k not in large]
    chosen = rng.sample(small, 30)
    overwritten, deleted = chosen[:20], chosen[20:]
    added = [f"added/{tag}/obj-{n:03d}.txt" for n in range(10)]
    bodies = [(key, rng.randbytes(rng.randint(1, 4096))) for key in overwritten + added]
    big_key = rng.choice(large)
    big = rng.randbytes(DAMAGE_LARGE + rng.randint(1, 99_999))

    def put(item: tuple[str, bytes]) -> None:
        key, body = item
        client.put_object(
            Bucket=BUCKET, Key=key, Body=body, ContentType="text/plain", Metadata={"rev": tag}
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, bodies))
    client.upload_fileobj(
        io.BytesIO(big), BUCKET, big_key,
        ExtraArgs={"ContentType": "application/x-blob", "Metadata": {"rev": tag}},
        Config=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB),
    )  # fmt: skip
    client.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in deleted], "Quiet": True}
    )
    return len(bodies) + 1


# -- a service, and the machine that checks its snapshots ---------------------------------


@dataclass
class Checks:
    """The checking machine's home, and every restore it made: how many, and the
    objects compared."""

    home: Path
    restores: int = 0
    expected: int = 0
    intact: int = 0


@dataclass
class Vault:
    name: str
    stores: Stores
    checks: Checks
    contents: dict[str, Content] = field(default_factory=dict)  # snapshot id -> content

    @property
    def backup_bucket(self) -> str:
        return f"{self.name}-{BUCKET}"

    @property
    def journal(self) -> Path:
        """Where a backup run keeps its journal (docs/history.md)."""
        home = Path(os.environ["BUCKETVAULT_HOME"])
        return home / "journals" / self.name / f"{self.backup_bucket}.db"

    def register(self, *retention: str) -> None:
        """(Re)define the service here, and on the checking machine."""
        machines = ((None, self.stores.live), (self.checks.home, self.stores.scratch))
        for home, live in machines:
            env = {"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key}
            if home is not None:
                env["BUCKETVAULT_HOME"] = str(home)
            result = run_cli(
                "service", "add", self.name, "--endpoint", live.url,
                "--backup-endpoint", self.stores.backup.url, "--access-key", live.access_key,
                "--replace", *retention, env=env,
            )  # fmt: skip
            assert result.exit_code == 0, result.stderr

    def plan_args(self, plan: str) -> list[str]:
        return [f"--name={self.name}", "plan", "start", plan, *creds(self.stores.backup)]

    def run(self, plan: str) -> Result:
        result = run_cli(*self.plan_args(plan))
        assert result.exit_code == 0, (plan, result.stdout[-2000:], result.stderr[-2000:])
        return result

    def listed(self) -> list[str]:
        """The ids `snapshot list` shows, oldest first."""
        result = run_cli(
            f"--name={self.name}", "snapshot", "list", BUCKET, "--json", *creds(self.stores.backup)
        )
        assert result.exit_code == 0, result.stderr
        return [record["id"] for record in result.json_lines()]

    def headers(self, client: Any) -> int:
        """How many snapshot headers the backup bucket holds, read with boto3."""
        response = client.list_objects_v2(Bucket=self.backup_bucket, Prefix=SNAPSHOTS)
        return sum(item["Key"].endswith(".json") for item in response.get("Contents", []))

    def backup(self, content: Content) -> str:
        """A clean backup (in-process); returns the id of the snapshot it published."""
        before = set(self.listed())
        self.run("backup")
        new = [i for i in self.listed() if i not in before]
        assert len(new) == 1, new
        self.contents[new[0]] = content
        return new[0]

    def copied_by_last_backup(self) -> int:
        status, message = step_messages(plan_status(self.name, "backup"))[f"backup-{BUCKET}"]
        assert status == "COMPLETE", (status, message)
        found = COPIED.search(message)
        assert found, message
        return int(found.group(1).replace(",", ""))

    def restores_exactly(self, snapshot_id: str) -> None:
        """Restore the snapshot on the checking machine into a new bucket, and compare it
        with the content it was taken from."""
        expected = self.contents[snapshot_id]
        self.checks.restores += 1
        target = f"check-{self.checks.restores:05d}"
        result = run_cli(
            f"--name={self.name}", "plan", "start", "restore", *creds(self.stores.backup),
            "-p", f"S3_BUCKET={self.backup_bucket}", "-p", f"SNAPSHOT={snapshot_id}",
            "-p", f"TARGET_BUCKET={target}",
            env={"BUCKETVAULT_HOME": str(self.checks.home)},
        )  # fmt: skip
        assert result.exit_code == 0, (snapshot_id, result.stdout[-2000:], result.stderr[-2000:])
        got = compare(expected, snapshot(self.stores.scratch, target))
        self.checks.expected += got.expected
        self.checks.intact += got.intact
        assert got.identical, f"snapshot {snapshot_id} of {self.backup_bucket}: {got}"
        drop_bucket(self.stores.scratch, target)

    def resurrected(self, snapshot_id: str) -> bool:
        """Whether the snapshot's header is back after a delete (RESURRECTED_HEADER): it
        has a delete marker in its history, and a published header is written once."""
        if self.stores.backup.kind != "moto":
            return False
        response = boto_client(self.stores.backup).list_object_versions(
            Bucket=self.backup_bucket, Prefix=f"{SNAPSHOTS}{snapshot_id}.json"
        )
        return any(m["Key"].endswith(".json") for m in response.get("DeleteMarkers", []))

    def leftovers(self, kept: str) -> list[str]:
        """What a finished prune keeping only `kept` would have removed: other snapshots'
        files, archived copies, old versions."""
        backup = self.stores.backup
        keys = list_keys(backup, self.backup_bucket)
        mine = {f"{SNAPSHOTS}{kept}.json", f"{SNAPSHOTS}{kept}.jsonl.gz"}
        left = [k for k in keys if k.startswith(SNAPSHOTS) and k not in mine]
        left += [k for k in keys if k.startswith(ARCHIVE)]
        if backup.kind == "moto":
            client = boto_client(backup)
            pages = client.get_paginator("list_object_versions").paginate(Bucket=self.backup_bucket)
            for page in pages:
                for v in page.get("Versions", []):
                    if not v["IsLatest"]:
                        left.append(f"{v['Key']}@{v['VersionId']}")
                for v in page.get("DeleteMarkers", []):
                    if v["Key"].startswith(SNAPSHOTS):
                        left.append(f"{v['Key']}@{v['VersionId']} (delete marker)")
        return left


# -- child processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One clean run of a command: when its work was seen to begin, and when the run
    ended (seconds from its start)."""

    begins: float
    whole: float

    def draw(self, rng: random.Random) -> float:
        """A kill delay, counted from the moment the work begins."""
        return round(rng.uniform(0.0, self.whole - self.begins), 2)

    def within(self, delay: float) -> Window:
        """The window after a run finished less than `delay` after its work began: the
        timed run was slower than the machine is now (it is shared)."""
        return Window(self.begins, min(self.whole, self.begins + delay))

    def __str__(self) -> str:
        return f"work from {self.begins:.2f}s of {self.whole:.2f}s"


def fewer_headers(vault: Vault, count: int) -> Callable[[], bool]:
    """Whether a prune has begun: fewer than `count` snapshot headers are left."""
    client = boto_client(vault.stores.backup)
    return lambda: vault.headers(client) < count


def timed(args: list[str], begun: Callable[[], bool]) -> Window:
    """One clean run of `bucketvault ARGS` as a child process, watched (every 20 ms, in
    a thread) for the moment `begun()` first holds."""
    started = time.monotonic()
    seen: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set() and not seen:  # bounded by the run below
            if begun():
                seen.append(time.monotonic() - started)
            stop.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = finish(spawn(*args), timeout=300)
    finally:
        stop.set()
        watcher.join(10)
    whole = time.monotonic() - started
    assert done.code == 0, f"the clean run failed: {done.stderr[-2000:]}"
    assert seen, "the clean run's work was never seen to begin"
    return Window(min(seen[0], whole), whole)


def killed_during(args: list[str], begun: Callable[[], bool], delay: float, window: Window) -> bool:
    """Run `bucketvault ARGS` as a child; once its work is seen to begin (`begun()`,
    polled every 20 ms), SIGKILL it `delay` seconds later. Counting from there rather
    than from the spawn keeps interpreter start-up, which varies most on a loaded
    machine, out of the kill points. False when the run finished first."""
    proc = spawn(*args)
    deadline = time.monotonic() + 3 * window.whole + 30
    while not begun() and time.monotonic() < deadline:  # bounded
        time.sleep(0.02)
    done = finish(proc, timeout=delay)  # SIGKILLed at the deadline
    if done.code == 0:
        return False
    assert done.code == -9, f"the run failed before its kill: {done.code} {done.stderr[-2000:]}"
    return True


def journal_writes(path: Path) -> int:
    """How many copies a killed backup's journal recorded as done."""
    if not path.exists():
        return 0
    journal = Journal(path)
    try:
        return sum(1 for _ in journal.changes.rows())
    finally:
        journal.close()


# -- backup -------------------------------------------------------------------------------


def backup_case(stores: Stores, points: int, small: int, tmp_path: Path, table: RowFactory) -> None:
    row = table(
        f"SIGKILL at {points} random points",
        f"backup with history, {stores.label}",
        done=(
            f"a live bucket of {small + LARGE} objects ({LARGE} of 3 MiB) backed up with "
            "--keep-last 1 (S1); per trial 20 objects and one large one overwritten with "
            "other bytes (8 MiB, multipart), 10 deleted, 10 added, then the backup plan "
            f"run as a child process SIGKILLed after a random delay (seed {SEED}, drawn "
            "from the work of a timed clean run) until "
            f"{points} runs were killed; after each kill every listed snapshot is restored "
            "on a second machine and compared; a re-run must complete, copy only what is "
            "missing (nothing when the killed run had published) and restore exactly; its "
            "snapshot is the next trial's S1"
        ),
    )
    checks = Checks(tmp_path / "checking-machine")
    seed(stores.live, BUCKET, corpus(small, large=LARGE, large_size=LARGE_SIZE, seed=71))
    rng = random.Random(SEED)
    vault = Vault("bv", stores, checks)
    vault.register("--keep-last", "1")  # the history stays short: S1, and what a run adds
    first = vault.backup(snapshot(stores.live, BUCKET))
    notes: list[str] = []
    window = Window(0.0, 0.0)
    killed = 0
    # bounded: trial 0 is timed, the rest are killed; a run that finishes first narrows
    # the window, and a fast run's work after its journal appears is a few tenths of a
    # second, so up to four attempts a kill are allowed
    for trial in range(4 * points + 1):
        if killed >= points:
            break
        changed = damage(stores.live, rng, f"b{trial:02d}")
        damaged = snapshot(stores.live, BUCKET)
        args = vault.plan_args("backup")
        if trial == 0:
            window = timed(args, vault.journal.exists)
            assert vault.copied_by_last_backup() == changed  # a clean run copies just that
            (first,) = vault.listed()
            vault.contents[first] = damaged
            notes.append(f"[clean run: {window}; {changed} objects to copy]")
            continue
        delay = window.draw(rng)
        was_killed = killed_during(args, vault.journal.exists, delay, window)
        killed += was_killed
        window = window if was_killed else window.within(delay)
        recorded = journal_writes(vault.journal)

        # (a) every snapshot listed now restores exactly to what it was taken from
        listed = vault.listed()
        published = [i for i in listed if i != first]
        assert listed and len(published) <= 1, (first, listed)
        assert was_killed or published, "a run that finished published nothing"
        for snapshot_id in published:
            vault.contents[snapshot_id] = damaged
        for snapshot_id in listed:
            vault.restores_exactly(snapshot_id)

        # (b) a re-run completes, and (c) copies only what is missing
        rerun = vault.backup(damaged)
        copied = vault.copied_by_last_backup()
        if published:
            assert copied == 0, f"the killed run had published, yet the re-run copied {copied}"
        else:  # what the killed run recorded as copied is not copied again
            assert copied <= changed, f"the re-run copied {copied}, only {changed} changed"
            assert copied == changed - recorded, (copied, changed, recorded)
        vault.restores_exactly(rerun)
        if not was_killed:
            notes.append(f"+{delay}s:done first")
        else:
            state = "published" if published else "unpublished"
            if first not in listed:
                state += ", S1 forgotten"
            notes.append(f"+{delay}s:{state}:re-run copied {copied}/{changed}")
        first = rerun
    row.expected = f"{checks.expected:,} in {checks.restores} restores"
    row.intact = f"{checks.intact:,}"
    row.note(
        "kill delay after the work began:state after the kill:what the re-run copied of "
        "what changed = " + " ".join(notes)
    )
    assert killed >= points, f"only {killed} runs were killed while working: {notes}"


# -- prune --------------------------------------------------------------------------------


def prune_case(stores: Stores, points: int, small: int, tmp_path: Path, table: RowFactory) -> None:
    row = table(
        f"SIGKILL at {points} random points",
        f"prune, {stores.label}",
        done=(
            f"one service over a live bucket of {small + LARGE} objects ({LARGE} of "
            "3 MiB); "
            "before each trial two backups with damage in between (no retention), then "
            "--keep-last 1 and `plan start prune` as a child process SIGKILLed after a "
            f"random delay (seed {SEED + 1}, drawn from the work of a timed clean run) "
            f"until {points} runs were killed; after each kill every listed snapshot is "
            "restored on a second machine and compared; a re-run of prune must complete, "
            "the kept snapshot restore exactly and nothing be left that a whole prune "
            "removes"
        ),
    )
    checks = Checks(tmp_path / "checking-machine")
    seed(stores.live, BUCKET, corpus(small, large=LARGE, large_size=LARGE_SIZE, seed=72))
    rng = random.Random(SEED + 1)
    vault = Vault("pr", stores, checks)
    vault.register()
    vault.backup(snapshot(stores.live, BUCKET))
    notes: list[str] = []
    back: list[str] = []  # kills that left a forgotten snapshot listed again
    window = Window(0.0, 0.0)
    killed = 0
    # bounded: trial 0 is timed, the rest are killed; a run that finishes first narrows
    # the window, and a fast run's work after its journal appears is a few tenths of a
    # second, so up to four attempts a kill are allowed
    for trial in range(4 * points + 1):
        if killed >= points:
            break
        vault.register()  # no retention: the backups below keep every snapshot
        for round_ in range(2):
            damage(stores.live, rng, f"p{trial:02d}-{round_}")
            newest = vault.backup(snapshot(stores.live, BUCKET))
        before = vault.listed()
        vault.register("--keep-last", "1")
        args = vault.plan_args("prune")
        begun = fewer_headers(vault, len(before))
        if trial == 0:
            window = timed(args, begun)
            notes.append(f"[clean run: {window}; {len(before) - 1} snapshots to forget]")
        else:
            delay = window.draw(rng)
            was_killed = killed_during(args, begun, delay, window)
            killed += was_killed
            window = window if was_killed else window.within(delay)
            listed = vault.listed()
            assert newest in listed and set(listed) <= set(before), (listed, before)
            for snapshot_id in listed:
                if vault.resurrected(snapshot_id):  # RESURRECTED_HEADER: its records are gone
                    back.append(f"+{delay}s:{snapshot_id}")
                    continue
                vault.restores_exactly(snapshot_id)
            left = len(vault.leftovers(newest))
            vault.run("prune")  # the re-run
            notes.append(
                f"+{delay}s:{len(listed)} listed, {left} to remove"
                if was_killed
                else f"+{delay}s:done first"
            )
        assert vault.listed() == [newest]
        vault.restores_exactly(newest)
        left_over = vault.leftovers(newest)
        assert not left_over, f"a finished prune left {len(left_over)}: {left_over[:5]}"
    row.expected = f"{checks.expected:,} in {checks.restores} restores"
    row.intact = f"{checks.intact:,}"
    row.note(
        "kill delay after the first header went:snapshots listed after the kill, objects "
        "and versions still to remove = " + " ".join(notes)
    )
    assert killed >= points, f"only {killed} runs were killed while working: {notes}"
    if back:  # everything else was checked: the kill points went on, and so did the re-runs
        row.note("forgotten snapshots listed again after a kill: " + " ".join(back))
    assert not back, f"{RESURRECTED_HEADER} (seen here: {' '.join(back)})"


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["backup", "prune"])
def test_history_sigkill_3_points(
    kind: str, stores: Stores, tmp_path: Path, table: RowFactory
) -> None:
    if kind == "backup":
        backup_case(stores, 3, SMALL[kind][0], tmp_path, table)
    else:
        prune_case(stores, 3, SMALL[kind][0], tmp_path, table)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["backup", "prune"])
def test_history_sigkill_20_points(
    kind: str, stores: Stores, tmp_path: Path, table: RowFactory
) -> None:
    if kind == "backup":
        backup_case(stores, 20, SMALL[kind][1], tmp_path, table)
    else:
        prune_case(stores, 20, SMALL[kind][1], tmp_path, table)


# -- the two kill points between a snapshot's two files -----------------------------------

ORPHANED_RECORDS = (
    "records of a snapshot without a header (a killed prune deleted the header, or a killed "
    "backup never wrote it) must go at the next prune on every store (once left for ever "
    "on stores without versioning)"
)


@pytest.mark.parametrize(
    "stores",
    [
        pytest.param("moto", id="versioned-moto"),
        pytest.param("rclone", id="unversioned-rclone"),
    ],
    indirect=True,
)
def test_prune_rerun_after_kills_between_a_snapshots_two_files(
    stores: Stores, tmp_path: Path, table: RowFactory
) -> None:
    """The two kill points the random delays seldom hit, made exactly: a prune killed
    between deleting a forgotten snapshot's header and its records, and a backup killed
    between writing a snapshot's records and its header. Neither is listed; a prune
    re-run must remove both files, and the kept snapshot restore exactly."""
    row = table(
        "SIGKILL between a snapshot's two files (made exactly)",
        f"prune re-run, {stores.label}",
        done=(
            "two backups of 42 objects with damage between; then the state a prune killed "
            "between a forgotten snapshot's header and records delete leaves (header "
            "deleted), and the state a backup killed between its records and header writes "
            "leaves (records without header); --keep-last 1 and a prune: nothing of either "
            "may be left, the kept snapshot restores exactly"
        ),
    )
    live, backup = stores.live, stores.backup
    vault = Vault("hf", stores, Checks(tmp_path / "checking-machine"))
    vault.register()
    seed(live, BUCKET, corpus(40, large=2, large_size=LARGE_SIZE, seed=73))
    first = vault.backup(snapshot(live, BUCKET))
    damage(live, random.Random(SEED + 2), "hf")
    newest = vault.backup(snapshot(live, BUCKET))
    client = boto_client(backup)
    client.delete_object(Bucket=vault.backup_bucket, Key=f"{SNAPSHOTS}{first}.json")
    records = client.get_object(Bucket=vault.backup_bucket, Key=f"{SNAPSHOTS}{newest}.jsonl.gz")
    unpublished = newest[:-6] + ("000000" if not newest.endswith("000000") else "111111")
    client.put_object(
        Bucket=vault.backup_bucket,
        Key=f"{SNAPSHOTS}{unpublished}.jsonl.gz",
        Body=records["Body"].read(),
    )
    assert vault.listed() == [newest]
    vault.register("--keep-last", "1")
    vault.run("prune")
    assert vault.listed() == [newest]
    vault.restores_exactly(newest)
    row.expected = f"{vault.checks.expected:,}"
    row.intact = f"{vault.checks.intact:,}"
    left = vault.leftovers(newest)
    row.note(f"left after the prune: {left[:3]}" if left else "nothing left")
    assert not left, f"a finished prune left {len(left)}: {left[:5]}"


@pytest.mark.parametrize("stores", [pytest.param("moto", id="versioned-moto")], indirect=True)
def test_prune_killed_between_a_header_delete_marker_and_its_version(
    stores: Stores, tmp_path: Path, table: RowFactory, fault_proxy: FaultProxyFactory
) -> None:
    """The kill point behind RESURRECTED_HEADER, made exactly: the prune reaches the
    backup store through a proxy that lets the first versioned DELETE of a snapshot
    header (the delete marker `forget` left) through and holds its answer; the prune is
    SIGKILLed while it waits. Every snapshot listed afterwards must restore exactly."""
    row = table(
        "SIGKILL between a header's delete marker and its version (made exactly)",
        f"prune, {stores.label}",
        done=(
            "two backups of 42 objects with damage between, --keep-last 1, `plan start "
            "prune` as a child through a proxy holding the answer to the sweep's first "
            "versioned DELETE of a snapshot header; SIGKILL once moto applied it; every "
            "listed snapshot is restored on a second machine"
        ),
    )
    live, backup = stores.live, stores.backup
    vault = Vault("dm", stores, Checks(tmp_path / "checking-machine"))
    vault.register()
    seed(live, BUCKET, corpus(40, large=2, large_size=LARGE_SIZE, seed=74))
    first = vault.backup(snapshot(live, BUCKET))
    damage(live, random.Random(SEED + 3), "dm")
    newest = vault.backup(snapshot(live, BUCKET))
    proxy, _ = fault_proxy(
        backup, Fault.stall(60, method="DELETE", path=r"\.json$", query="versionId", limit=1)
    )
    result = run_cli(
        "service", "add", vault.name, "--endpoint", live.url, "--backup-endpoint", proxy.url,
        "--access-key", live.access_key, "--replace", "--keep-last", "1",
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    client = boto_client(backup)
    header = f"{SNAPSHOTS}{first}.json"

    def visible() -> bool:
        listed = client.list_objects_v2(Bucket=vault.backup_bucket, Prefix=header)
        return bool(listed.get("KeyCount"))

    proc = spawn(*vault.plan_args("prune"))
    try:
        deadline = time.monotonic() + 120
        gone = False
        while time.monotonic() < deadline:  # bounded: forgotten, then held mid-sweep
            gone = gone or not visible()
            if gone and proxy.counters().faults.get("stall"):
                time.sleep(0.5)  # the held DELETE has reached moto: kill before the next
                break
            time.sleep(0.05)
    finally:
        done = finish(proc, timeout=0)  # SIGKILLed now, if still running
    assert done.code == -9, f"the prune was not held: {done.code} {done.stderr[-2000:]}"
    listed = vault.listed()
    row.note(f"listed after the kill: {listed} (forgotten: {first}, kept: {newest})")
    for snapshot_id in listed:
        vault.restores_exactly(snapshot_id)
    row.expected = f"{vault.checks.expected:,}"
    row.intact = f"{vault.checks.intact:,}"
    assert listed == [newest]
