"""`bucketvault mirror --executor processes|ray` against real loopback S3 servers: targets
identical to `--executor inline`, a worker killed mid-run, `--remove` with a failing
range, and store credentials that never show in plain text (Ray logs, command lines).

The CLI runs as a child process (as a user runs it), so its worker processes can be
found and killed, and the Ray driver lives outside pytest. The Ray cluster is the
session's (`conftest.ray_cluster`); the S3 servers are rclone (files: fast to fill with
thousands of objects) and moto (any key, tags) on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LOOPBACK, LoopbackServer, free_port
from bucketvault.scaleout.sealing import CLUSTER_KEY_ENV, KEY_BYTES
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.helpers import put
from tests.e2e.test_mirror_cli import MOTO_ONLY_KEYS, PORTABLE_KEYS, fill
from tests.reliability.support import (
    Finished,
    MiB,
    Obj,
    corpus,
    finish,
    list_keys,
    seed,
    seed_files,
    snapshot,
    spawn,
)
from tests.scaleout.conftest import RayCluster
from tests.support.faultproxy import Fault, FaultProxy

BULK = 3000  # small objects: three or more key ranges (a range stops after 1,000-4,000 keys)
META = corpus(30, large=1, large_size=9 * MiB, seed=111, prefix="meta/")  # headers, metadata
RM_KEYS = 1500  # the --remove scenario: more keys than the first range's budget
RM_STALE = 20
RM_MISSING = (10, 400, 900, 1200, 1400)  # copied by the run, in different ranges
RM_FAILING = 1400  # ... and the one the source refuses to give
RUN_TIMEOUT_S = 150.0

Summary = dict[str, Any]
HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
)
RAY_RUNS: list[str] = []  # targets of the Ray runs that succeeded, for the log check


@dataclass
class Run:
    done: Finished
    summary: Summary | None

    def ok(self) -> Summary:
        assert self.done.code == 0, (self.done.code, self.done.stderr[-3000:])
        assert "Traceback" not in self.done.stderr, self.done.stderr[-3000:]
        assert self.summary is not None, self.done.stdout[-2000:]
        return self.summary


def alias(server: LoopbackServer, port: int | None = None) -> str:
    return f"http://{server.access_key}:{server.secret_key}@{LOOPBACK}:{port or server.port}"


def mirror(
    env: dict[str, str],
    source: str,
    target: str,
    executor: str,
    *extra: str,
    while_running: Callable[[psutil.Popen | Any], None] | None = None,
) -> Run:
    """`bucketvault mirror SOURCE TARGET --executor EXECUTOR --json` as a child process."""
    args = ["mirror", source, target, "--executor", executor, "--json", *extra]
    if executor != "inline":
        args += ["--executor-workers", "2"]
    proc = spawn(*args, env=env)
    if while_running is not None:
        try:
            while_running(proc)
        except BaseException:
            finish(proc, 1)
            raise
    done = finish(proc, RUN_TIMEOUT_S)
    if executor == "ray" and done.code == 0:
        RAY_RUNS.append(target)
    summaries = [
        record
        for record in (json.loads(line) for line in done.stdout.splitlines() if line[:1] == "{")
        if record.get("type") == "summary"
    ]
    return Run(done, summaries[-1] if summaries else None)


def target_count(server: LoopbackServer, bucket: str) -> int:
    client = boto_client(server)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sum(page.get("KeyCount", 0) for page in pages)
    except client.exceptions.NoSuchBucket:
        return 0


def metadata_view(server: LoopbackServer, bucket: str, prefix: str) -> dict[str, Any]:
    """Content digest, headers and user metadata of the objects under `prefix`."""
    client = boto_client(server)
    view = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            obj = client.get_object(Bucket=bucket, Key=item["Key"])
            view[item["Key"]] = {
                "md5": hashlib.md5(obj["Body"].read()).hexdigest(),
                "etag": obj["ETag"],
                "metadata": obj.get("Metadata", {}),
                **{h: obj.get(h) for h in HEADERS},
            }
    return view


# -- the servers and their data -----------------------------------------------------------


@dataclass
class Bulk:
    server: LoopbackServer
    env: dict[str, str]
    inline: dict[str, tuple[int, str]]  # key -> (size, ETag) of the inline run's target
    inline_meta: dict[str, Any]  # the metadata-carrying objects of that target, read back


def bulk_objects() -> list[Obj]:
    rng = random.Random(7)
    return [Obj(f"b/{i % 10}/{i:05d}.dat", rng.randint(1, 512), 9000 + i) for i in range(BULK)]


def rm_objects() -> list[Obj]:
    return [Obj(f"rm/{i:05d}.bin", 64 + i % 100, 5000 + i) for i in range(RM_KEYS)]


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bulk]:
    """An rclone server of this module's own, with a secret no other test uses (so finding
    it anywhere means it leaked): the bulk source (3,000 small files plus objects with
    headers and metadata), the --remove scenario's buckets, and the inline run's target."""
    root = tmp_path_factory.mktemp("bulk") / "rclone-data"
    root.mkdir()
    server = LoopbackServer(
        kind="rclone", port=free_port(), root=root, secret_key=f"bv-{secrets.token_hex(12)}"
    )
    # written as files before the server lists anything (rclone caches directories)
    seed_files(server, "bulk", bulk_objects())
    seed_files(server, "rm-src", rm_objects())
    kept = [o for i, o in enumerate(rm_objects()) if i not in RM_MISSING]
    stale = [Obj(f"rm/stale-{j:03d}", 10, 77 + j) for j in range(RM_STALE)]
    for executor in ("processes", "ray"):
        seed_files(server, f"rm-dst-{executor}", kept + stale)
    server.start()
    try:
        seed(server, "bulk", META, create=False)
        for key in PORTABLE_KEYS[:6]:
            put(server, "bulk", f"odd/{key}", key.encode(), ContentType="text/x-odd")
        env = {
            "BUCKETVAULT_ALIAS_B": alias(server),
            "BUCKETVAULT_HOME": str(tmp_path_factory.mktemp("bulk-home")),
        }
        started = time.monotonic()
        run = mirror(env, "b/bulk", "b/bulk-inline", "inline").ok()
        assert run["copied"] == BULK + len(META) + 6, run
        print(f"inline: {BULK + len(META) + 6} objects in {time.monotonic() - started:.1f} s")
        yield Bulk(
            server,
            env,
            list_keys(server, "bulk-inline"),
            metadata_view(server, "bulk-inline", "meta/"),
        )
    finally:
        server.stop()


@dataclass
class Fidelity:
    env: dict[str, str]
    source: str
    inline: dict[str, Any]  # snapshot (tags too) of the inline run's target
    etags: dict[str, tuple[int, str]]


@pytest.fixture(scope="module")
def fidelity(moto: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> Fidelity:
    """The mirror e2e tests' corpus on moto (odd keys, content headers, user metadata,
    tags) mirrored inline once: what every executor must give."""
    source = new_bucket_name("fid")
    fill(moto, source, PORTABLE_KEYS + MOTO_ONLY_KEYS)
    client = boto_client(moto)
    tagging = {"TagSet": [{"Key": "tier", "Value": "gold"}]}
    client.put_object_tagging(Bucket=source, Key="plain.txt", Tagging=tagging)
    env = {
        "BUCKETVAULT_ALIAS_M": alias(moto),
        "BUCKETVAULT_HOME": str(tmp_path_factory.mktemp("fid-home")),
    }
    target = new_bucket_name("fid-inline")
    run = mirror(env, f"m/{source}", f"m/{target}", "inline").ok()
    assert run["copied"] == len(PORTABLE_KEYS + MOTO_ONLY_KEYS)
    return Fidelity(env, source, snapshot(moto, target, tags=True), list_keys(moto, target))


# -- killing a worker mid-run -------------------------------------------------------------


def kill_when(
    server: LoopbackServer,
    target: str,
    copied_at_least: int,
    workers: Callable[[], list[psutil.Process]],
    seen_cmdlines: list[str],
) -> Callable[[Any], None]:
    """Once `target` holds `copied_at_least` objects (the run is in its parallel part),
    SIGKILL one worker busy with a range. Bounded in time; fails if the run ended first."""

    def watch(proc: Any) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S / 2
        cli = psutil.Process(proc.pid)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before a worker could be killed"
            for p in [cli, *cli.children(recursive=True), *workers()]:
                with contextlib.suppress(psutil.Error):
                    seen_cmdlines.append(" ".join(p.cmdline()))
            if target_count(server, target) >= copied_at_least:
                busy = workers()
                if busy:
                    os.kill(busy[0].pid, signal.SIGKILL)
                    return
            time.sleep(0.1)
        raise AssertionError("no worker was found to kill in time")

    return watch


def pool_workers(proc: Any) -> Callable[[], list[psutil.Process]]:
    """The CLI's worker processes (spawned by multiprocessing; not its resource tracker)."""

    def find() -> list[psutil.Process]:
        found = []
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    return find


def listed_or_read(server: LoopbackServer, bucket: str) -> dict[str, tuple[int, str]]:
    """Keys, sizes and ETags as listed. `rclone serve s3` has now and then listed an
    object with an empty ETag after a worker was killed in the middle of writing it
    (once in about ten runs); such an object is read, and its size and MD5 stand in."""
    found = list_keys(server, bucket)
    for key, (_, etag) in found.items():
        if etag == "":
            body = boto_client(server).get_object(Bucket=bucket, Key=key)["Body"].read()
            found[key] = (len(body), hashlib.md5(body).hexdigest())
    return found


def check_complete(bulk: Bulk, target: str, summary: Summary) -> None:
    total = len(bulk.inline)
    print(f"  copied {summary['copied']}, skipped {summary['skipped']} (found already copied)")
    assert listed_or_read(bulk.server, target) == bulk.inline  # keys, sizes, ETags
    assert metadata_view(bulk.server, target, "meta/") == bulk.inline_meta
    # nothing counted twice: every source object listed once, and either copied by a
    # range that came back or found already copied (by the lost worker) when redone
    assert summary["listed_source"] == total
    assert summary["copied"] + summary["skipped"] == total
    assert summary["failed"] == 0 and summary["conflicts"] == 0
    assert summary["copied_bytes"] <= sum(size for size, _ in bulk.inline.values())


def rerun_is_a_noop(bulk: Bulk, target: str, executor: str) -> None:
    again = mirror(bulk.env, "b/bulk", f"b/{target}", executor).ok()
    assert (again["copied"], again["skipped"], again["transferred_bytes"]) == (
        0,
        len(bulk.inline),
        0,
    )
    assert again["listed_source"] == again["listed_target"] == len(bulk.inline)


def test_processes_worker_killed_mid_run(bulk: Bulk) -> None:
    target = "bulk-processes"
    seen: list[str] = []

    def watch(proc: Any) -> None:
        kill_when(bulk.server, target, 1300, pool_workers(proc), seen)(proc)

    started = time.monotonic()
    summary = mirror(bulk.env, "b/bulk", f"b/{target}", "processes", while_running=watch).ok()
    print(f"processes (one killed): {time.monotonic() - started:.1f} s")
    check_complete(bulk, target, summary)
    assert bulk.server.secret_key not in "\n".join(seen)
    rerun_is_a_noop(bulk, target, "processes")  # over several ranges, after the kill


def test_ray_worker_killed_mid_run(bulk: Bulk, on_ray: RayCluster) -> None:
    target = "bulk-ray"
    seen: list[str] = []
    env = {**bulk.env, **on_ray.env}
    watch = kill_when(bulk.server, target, 1300, on_ray.workers_running, seen)
    started = time.monotonic()
    summary = mirror(env, "b/bulk", f"b/{target}", "ray", while_running=watch).ok()
    print(f"ray (one killed): {time.monotonic() - started:.1f} s")
    check_complete(bulk, target, summary)
    assert any("ray::" in line for line in seen)  # the cluster's workers were looked at
    assert bulk.server.secret_key not in "\n".join(seen)
    # (a re-run through Ray is checked on the fidelity corpus: cheaper, same path)


# -- the fidelity corpus ------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_fidelity_corpus_is_the_same_as_inline(
    executor: str, fidelity: Fidelity, moto: LoopbackServer, request: pytest.FixtureRequest
) -> None:
    env = dict(fidelity.env)
    if executor == "ray":
        env.update(request.getfixturevalue("on_ray").env)
    target = new_bucket_name(f"fid-{executor[:4]}")
    run = mirror(env, f"m/{fidelity.source}", f"m/{target}", executor).ok()
    assert (run["copied"], run["failed"]) == (len(fidelity.inline), 0)
    assert snapshot(moto, target, tags=True) == fidelity.inline
    assert list_keys(moto, target) == fidelity.etags
    if executor == "ray":  # (a re-run through processes is checked on the bulk objects)
        again = mirror(env, f"m/{fidelity.source}", f"m/{target}", executor).ok()
        assert (again["copied"], again["skipped"]) == (0, len(fidelity.inline))
        assert again["listed_source"] == again["listed_target"] == len(fidelity.inline)


# -- --remove with one range failing ------------------------------------------------------


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_remove_with_a_failing_range_deletes_nothing(
    executor: str, bulk: Bulk, request: pytest.FixtureRequest
) -> None:
    """One object of the source cannot be read (403 through a fault proxy); it lies in a
    later range than the first. The other ranges copy what they must; nothing is deleted."""
    env = dict(bulk.env)
    if executor == "ray":
        env.update(request.getfixturevalue("on_ray").env)
    failing = rm_objects()[RM_FAILING].key
    target = f"rm-dst-{executor}"
    with FaultProxy(bulk.server) as proxy:
        proxy.set_faults(
            Fault.error(403, "AccessDenied", method="GET", path=f"^/rm-src/{failing}$")
        )
        env["BUCKETVAULT_ALIAS_P"] = alias(bulk.server, proxy.port)
        run = mirror(env, "p/rm-src", f"b/{target}", executor, "--remove")
        assert proxy.counters().total_faults >= 1
    assert run.done.code == ExitCode.PARTIAL, run.done.stderr[-2000:]
    summary = run.summary
    assert summary is not None
    assert summary["failed"] == 1
    assert [f["key"] for f in summary["failed_objects"]] == [failing]
    assert summary["deleted"] == 0 and summary["kept_extra"] == RM_STALE
    assert "deleting nothing" in summary["delete_skipped_reason"]
    after = list_keys(bulk.server, target)
    assert sum(k.startswith("rm/stale-") for k in after) == RM_STALE  # all still there
    copied = {rm_objects()[i].key for i in RM_MISSING} - {failing}
    assert copied <= set(after) and failing not in after  # the other ranges did their work
    assert summary["copied"] == len(copied) and summary["listed_source"] == RM_KEYS


# -- credentials --------------------------------------------------------------------------


def test_secret_never_in_ray_logs_nor_command_lines(bulk: Bulk, on_ray: RayCluster) -> None:
    """After this session's Ray runs (those above, or one made here when none ran), the
    secret key is nowhere under the cluster's temp dir (session logs, spilled objects),
    and no process of the cluster has it in its command line or environment."""
    if not RAY_RUNS:
        env = {**bulk.env, **on_ray.env}
        summary = mirror(env, "b/bulk/meta/", f"b/{new_bucket_name('cred')}", "ray").ok()
        assert summary["copied"] == len(META)
    secret = bulk.server.secret_key.encode()
    key = on_ray.key_file.read_bytes()
    files = [p for p in on_ray.temp_dir.rglob("*") if p.is_file() and not p.is_socket()]
    assert any("logs" in p.parts for p in files)
    leaked = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if secret in data or key in data or key.hex().encode() in data:
            leaked.append(str(path))
    assert leaked == []
    for proc in on_ray.processes():
        try:
            cmdline, environ = " ".join(proc.cmdline()), proc.environ()
        except psutil.Error:
            continue
        assert bulk.server.secret_key not in cmdline
        assert all(bulk.server.secret_key not in v for v in environ.values()), proc


def test_a_worker_with_another_cluster_key_fails_with_one_clear_line(
    bulk: Bulk, on_ray: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver seals with its key file; the cluster's workers hold another one."""
    other = tmp_path / "other.key"
    other.touch(mode=0o600)
    other.write_bytes(os.urandom(KEY_BYTES))
    env = {**bulk.env, **on_ray.env, CLUSTER_KEY_ENV: str(other)}
    target = new_bucket_name("wrongkey")
    run = mirror(env, "b/bulk/meta/", f"b/{target}", "ray")
    assert run.done.code != 0
    lines = [line for line in run.done.stderr.splitlines() if line.strip()]
    wanted = "this worker cannot read the run's store credentials: its cluster key differs"
    assert any(wanted in line for line in lines), run.done.stderr[-2000:]
    assert "Traceback" not in run.done.stderr
    assert target_count(bulk.server, target) == 0  # nothing was copied
