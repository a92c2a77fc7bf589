"""Helpers for the reliability scenarios: a deterministic corpus, seeding and reading
servers with boto3 (independently of bucketvault), comparing source and target, and
driving the CLI in-process or as a child process (for SIGKILL and peak RSS)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from bucketvault.plans import factory
from bucketvault.plans.definitions import ServicePlans
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.runner import EngineConfig
from bucketvault.plans.state import StateStore
from tests.conftest import boto_client
from tests.e2e.helpers import Result, run_cli

MiB = 1024 * 1024
BOOKKEEPING = ("bucketvault-source-etag", "bucketvault-md5")
BUCKETVAULT = str(Path(sys.executable).parent / "bucketvault")
ROOT = Path(__file__).resolve().parents[2]


# -- the corpus ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Obj:
    key: str
    size: int
    seed: int
    multipart: bool = False  # uploaded as a multipart upload (8 MiB parts) at the source
    headers: tuple[tuple[str, str], ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    def body(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)


def corpus(
    small: int, *, large: int = 0, large_size: int = 17 * MiB, seed: int = 1, prefix: str = ""
) -> list[Obj]:
    """`small` objects of 0-4 KiB with content headers and user metadata, and `large`
    multipart-sized ones (every other one uploaded as a real multipart upload)."""
    rng = random.Random(seed)
    objs = []
    for i in range(small):
        key = f"{prefix}dir-{i % 7}/obj-{i:06d}{'.txt' if i % 3 else ' ü+%.bin'}"
        headers = (("ContentType", "text/plain" if i % 3 else "application/octet-stream"),)
        if i % 5 == 0:
            headers += (("CacheControl", "max-age=600"), ("ContentLanguage", "de"))
        objs.append(
            Obj(
                key,
                0 if i == 0 else rng.randint(1, 4096),
                seed * 1_000_003 + i,
                headers=headers,
                metadata=(("index", str(i)), ("owner", "reliability")),
            )
        )
    for j in range(large):
        objs.append(
            Obj(
                f"{prefix}large/blob-{j:03d}.bin",
                large_size + j * 12_345,
                seed * 7_000_003 + j,
                multipart=j % 2 == 0,
                headers=(("ContentType", "application/x-blob"),),
                metadata=(("kind", "large"),),
            )
        )
    return objs


def seed(server: LoopbackServer, bucket: str, objs: list[Obj], *, create: bool = True) -> None:
    client = boto_client(server)
    if create:
        client.create_bucket(Bucket=bucket)
    multipart = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)

    def put(obj: Obj) -> None:
        extra: dict[str, Any] = dict(obj.headers)
        extra["Metadata"] = dict(obj.metadata)
        if obj.multipart:
            client.upload_fileobj(
                io.BytesIO(obj.body()), bucket, obj.key, ExtraArgs=extra, Config=multipart
            )
        else:
            client.put_object(Bucket=bucket, Key=obj.key, Body=obj.body(), **extra)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, objs))


def seed_files(server: LoopbackServer, bucket: str, objs: list[Obj]) -> None:
    """Write objects straight into an rclone server's directory (no metadata): fast for
    load tests. Must happen before the server first lists the bucket."""
    assert server.kind == "rclone"
    for obj in objs:
        path = server.root / bucket / obj.key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            rng = random.Random(obj.seed)
            left = obj.size
            while left:
                n = min(left, 8 * MiB)
                handle.write(rng.randbytes(n))
                left -= n


# -- reading back -------------------------------------------------------------------------


def list_keys(server: LoopbackServer, bucket: str) -> dict[str, tuple[int, str]]:
    """key -> (size, etag), from a plain boto3 listing."""
    client = boto_client(server)
    out: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = (int(item["Size"]), item["ETag"].strip('"'))
    return out


def bucket_names(server: LoopbackServer) -> list[str]:
    return sorted(b["Name"] for b in boto_client(server).list_buckets()["Buckets"])


def snapshot(
    server: LoopbackServer, bucket: str, *, tags: bool = False, strip: bool = False
) -> dict[str, dict[str, Any]]:
    """Every object's sha256, size, content headers, user metadata (and tags), read with
    boto3 straight from the server. `strip` drops bucketvault's bookkeeping metadata and
    the backup bucket's `.bucketvault/` folder."""
    client = boto_client(server)
    keys = list(list_keys(server, bucket))
    if strip:  # a backup bucket: its own snapshots and history are not the user's objects
        keys = [key for key in keys if not key.startswith(".bucketvault/")]

    def read(key: str) -> tuple[str, dict[str, Any]]:
        obj = client.get_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: obj["Body"].read(4 * MiB), b""):
            digest.update(chunk)
            size += len(chunk)
        meta = {k.lower(): v for k, v in obj.get("Metadata", {}).items()}
        if strip:
            meta = {k: v for k, v in meta.items() if k not in BOOKKEEPING}
        record: dict[str, Any] = {
            "sha256": digest.hexdigest(),
            "size": size,
            "content_type": obj.get("ContentType"),
            "content_encoding": obj.get("ContentEncoding"),
            "content_disposition": obj.get("ContentDisposition"),
            "content_language": obj.get("ContentLanguage"),
            "cache_control": obj.get("CacheControl"),
            "metadata": meta,
        }
        if tags:
            tag_set = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            record["tags"] = {t["Key"]: t["Value"] for t in tag_set}
        return key, record

    with ThreadPoolExecutor(16) as pool:
        return dict(pool.map(read, keys))


@dataclass
class Comparison:
    expected: int
    intact: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.missing or self.extra or self.differing)

    def __str__(self) -> str:
        return (
            f"{self.intact}/{self.expected} intact; missing {self.missing[:5]}, "
            f"extra {self.extra[:5]}, differing {self.differing[:5]}"
        )


def compare(source: Mapping[str, Any], target: Mapping[str, Any]) -> Comparison:
    result = Comparison(expected=len(source), intact=0)
    for key, record in source.items():
        if key not in target:
            result.missing.append(key)
        elif target[key] != record:
            result.differing.append(key)
        else:
            result.intact += 1
    result.extra = [k for k in target if k not in source]
    return result


def pending_uploads(server: LoopbackServer, bucket: str) -> dict[str, int]:
    """Multipart uploads left open in `bucket`: key -> number of parts they hold."""
    client = boto_client(server)
    try:
        response = client.list_multipart_uploads(Bucket=bucket)
    except client.exceptions.NoSuchUpload:
        return {}  # rclone's answer for a bucket in which no multipart upload ever began
    return {
        u["Key"]: len(
            client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])
        )
        for u in response.get("Uploads", [])
    }


# -- the command line ---------------------------------------------------------------------


def creds(server: LoopbackServer) -> list[str]:
    return [
        "-p",
        f"ACCESS_KEY_ID={server.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={server.secret_key}",
    ]


def add_service(name: str, live_url: str, backup_url: str, live: LoopbackServer) -> None:
    # --no-check: these services may point at a dead port or at a fault proxy that fails
    # a share of requests on purpose; the check itself is tested in tests/e2e
    result = run_cli(
        "service", "add", name, "--endpoint", live_url, "--backup-endpoint", backup_url,
        "--access-key", live.access_key, "--no-check",
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def plan(service: str, *args: str) -> Result:
    return run_cli(f"--name={service}", "plan", *args)


def plan_status(service: str, name: str) -> dict[str, Any]:
    result = plan(service, "status", name, "--json")
    assert result.exit_code in (0, 7), result.stderr  # 7: the plan is in ERROR
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def step_messages(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """step name -> (status, message)."""
    return {
        step["name"]: (step["status"], step["message"])
        for phase in status["phases"]
        for step in phase["steps"]
    }


def alias_url(server: LoopbackServer, url: str | None = None) -> str:
    host = (url or server.url).removeprefix("http://")
    return f"http://{server.access_key}:{server.secret_key}@{host}"


def summary_of(result: Result) -> dict[str, Any]:
    records = [r for r in result.json_lines() if r.get("type") == "summary"]
    assert records, (result.stdout[-2000:], result.stderr[-2000:])
    return records[-1]


@contextlib.contextmanager
def engine(config: EngineConfig) -> Iterator[None]:
    """Plans run in-process with `config` (shorter step backoff), through the factory hook
    that `bucketvault.plans.factory` offers to tests and embedders."""

    def make(service: str) -> PlanManager:
        from bucketvault.config.services import get_service

        svc = get_service(service)
        plans = ServicePlans(svc)
        return PlanManager(svc.name, plans, plans, StateStore.default(), config)

    factory.set_manager_factory(make)
    try:
        yield
    finally:
        factory.set_manager_factory(None)


QUICK_ENGINE = EngineConfig(max_attempts=3, backoff_initial=0.2, backoff_max=1.0, poll_interval=0.1)


# -- child processes ----------------------------------------------------------------------


RUSAGE_WRAPPER = Path(__file__).resolve().parents[2] / "bench" / "rusage_wrapper.py"


def spawn(
    *args: str, env: Mapping[str, str] | None = None, rusage_report: Path | None = None
) -> subprocess.Popen[bytes]:
    """`bucketvault ARGS...` as a child process (its own process group).

    With `rusage_report`, the command runs under a small wrapper that writes its exact
    peak RSS there: a process forked from pytest itself would inherit pytest's own RSS
    high-water mark (hundreds of MB late in a full run) in its ru_maxrss."""
    wrapper = [sys.executable, str(RUSAGE_WRAPPER), str(rusage_report)] if rusage_report else []
    return subprocess.Popen(
        [*wrapper, BUCKETVAULT, *args],
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, from the kernel's accounting of this child (wait4)
    seconds: float


def finish(
    proc: subprocess.Popen[bytes], timeout: float, rusage_report: Path | None = None
) -> Finished:
    """Wait (bounded) for a child; its peak RSS comes from wait4(), or exactly from the
    wrapper's report when it was spawned with one."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    scale = 1024 if sys.platform.startswith("linux") else 1
    peak = usage.ru_maxrss * scale
    if rusage_report is not None and rusage_report.exists():
        peak = int(json.loads(rusage_report.read_text())["maxrss_kib"]) * 1024
    return Finished(proc.returncode, out, err, peak, time.monotonic() - started)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    os.waitpid(proc.pid, 0)
    proc.returncode = -9
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"


__all__ = [
    "QUICK_ENGINE",
    "Comparison",
    "ExitCode",
    "Obj",
    "add_service",
    "alias_url",
    "compare",
    "corpus",
    "creds",
    "engine",
    "finish",
    "kill9",
    "plan",
    "plan_status",
    "resource",
    "seed",
    "snapshot",
    "spawn",
    "step_messages",
    "summary_of",
]
