"""Benchmark: bucketvault mirror against rclone, s5cmd and aws-cli on loopback S3 servers.

For each workload a source bucket is written on one `rclone serve s3` server; every tool
then mirrors it into a fresh, empty bucket on a second, fresh `rclone serve s3` server,
runs again (the no-op re-run), and the destination is checked for every key at the right
size. A tool that fails or leaves the destination incomplete gets no ratio.

    python bench/run.py                                   # everything (takes a while)
    python bench/run.py --scale 0.05 --workloads W1,W2,W3  # smoke run
    python bench/run.py --tools bucketvault,rclone --workloads RSS --rss-counts 10000,100000

See bench/README.md for the workloads, the targets and the measured table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from bucketvault.loopback import LoopbackServer, free_port
from measure import run_measured
from report import evaluate, markdown, print_tables
from tools import FAMILIES, TOOLS, Job, Tool, s5cmd_binary, venv_tool
from workloads import (
    WORKLOADS,
    Workload,
    noop_workload,
    rss_workload,
    total_bytes,
    write_source,
)

BENCH = Path(__file__).resolve().parent
RSS_TOOLS = {"bucketvault", "rclone[t32]"}  # the memory workload times only these
RAM_DISK = "/dev/shm"
RAM_DISK_MIN_FREE = 8 * 2**30  # W2's and the 100,000-object no-op's trees, twice over


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# servers and buckets -------------------------------------------------------------------


def start_server(root: Path) -> LoopbackServer:
    root.mkdir(parents=True, exist_ok=True)
    server = LoopbackServer(kind="rclone", port=free_port(), root=root)
    server.start()
    return server


def s3_client(server: LoopbackServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 10, "mode": "standard"},
        ),
    )


def list_sizes(server: LoopbackServer, bucket: str) -> dict[str, int]:
    pages = s3_client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"]: obj["Size"] for page in pages for obj in page.get("Contents", [])}


def verify(server: LoopbackServer, bucket: str, manifest: dict[str, int]) -> dict[str, Any]:
    found = list_sizes(server, bucket)
    missing = [k for k in manifest if k not in found]
    wrong = [k for k in manifest if k in found and found[k] != manifest[k]]
    extra = [k for k in found if k not in manifest]
    return {
        "ok": not (missing or wrong or extra),
        "objects": len(found),
        "missing": len(missing),
        "wrong_size": len(wrong),
        "extra": len(extra),
        "examples": (missing + wrong + extra)[:5],
    }


def server_cpu(*servers: LoopbackServer) -> float:
    total = 0.0
    for server in servers:
        assert server.process is not None
        times = psutil.Process(server.process.pid).cpu_times()
        total += times.user + times.system
    return total


# one tool on one workload --------------------------------------------------------------


@dataclass
class Context:
    timeout: float
    logs: Path
    repeat: int
    profile: bool
    results: list[dict[str, Any]] = field(default_factory=list)


def run_phase(
    tool: Tool, job: Job, phase: str, manifest: dict[str, int], ctx: Context, log_path: Path
) -> dict[str, Any]:
    if ctx.profile and tool.family == "bucketvault":
        job = replace(job, profile_to=log_path.with_name(f"{log_path.stem}-{phase}.prof"))
    steps = tool.steps(job)
    load = os.getloadavg()[0]  # other work on the machine skews a timing: keep a note
    before = server_cpu(job.src, job.dst)
    measured = []
    for step in steps:
        m = run_measured(
            step.argv, env=step.env, cwd=job.scratch, log=log_path, timeout=ctx.timeout
        )
        measured.append(m)
        if m.returncode != 0:
            break
    record: dict[str, Any] = {
        "phase": phase,
        "wall_s": sum(m.wall_s for m in measured),
        "peak_rss_bytes": max(m.peak_rss_bytes for m in measured),
        "client_cpu_s": sum(m.cpu_s for m in measured),
        "server_cpu_s": server_cpu(job.src, job.dst) - before,
        "loadavg_1m_before": load,
        "steps": [m.as_dict() for m in measured],
    }
    failed = [m for m in measured if m.returncode != 0]
    record["verify"] = verify(job.dst, job.bucket, manifest)
    if failed:
        what = "timed out" if failed[0].timed_out else f"exit code {failed[0].returncode}"
        record["status"] = f"failed: {Path(failed[0].argv[0]).name} {what}"
    elif not record["verify"]["ok"]:
        v = record["verify"]
        record["status"] = (
            f"failed: destination missing {v['missing']}, wrong size {v['wrong_size']}, "
            f"extra {v['extra']}"
        )
    else:
        record["status"] = "ok"
    if record["status"] != "ok":
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        record["log_tail"] = tail
    return record


def keep(
    record: dict[str, Any],
    ctx: Context,
    workload: Workload,
    tool: Tool,
    rep: int,
    manifest: dict[str, int],
) -> None:
    """Label one measured run and add it to the results."""
    record.update(
        workload=workload.name,
        tool=tool.label,
        family=tool.family,
        in_spec=tool.in_spec,
        rep=rep,
        objects=len(manifest),
        bytes=total_bytes(manifest),
    )
    ctx.results.append(record)


def summary(workload: Workload, manifest: dict[str, int], ready_s: float) -> dict[str, Any]:
    """What the results say of a workload."""
    return {
        "name": workload.name,
        "title": workload.title,
        "objects": len(manifest),
        "bytes": total_bytes(manifest),
        "source_ready_s": ready_s,
    }


def run_tool(
    tool: Tool,
    workload: Workload,
    src: LoopbackServer,
    manifest: dict[str, int],
    workdir: Path,
    ctx: Context,
    *,
    noop: bool,
    rep: int,
) -> None:
    safe = re.sub(r"[^A-Za-z0-9]+", "-", tool.label).strip("-")
    tdir = workdir / f"{safe}-{rep}"
    scratch = tdir / "scratch"
    scratch.mkdir(parents=True)
    logs = ctx.logs / workload.name
    logs.mkdir(parents=True, exist_ok=True)
    dst = start_server(tdir / "dst" / "rclone-data")
    try:
        s3_client(dst).create_bucket(Bucket=workload.bucket)
        job = Job(bucket=workload.bucket, src=src, dst=dst, scratch=scratch)
        phases = ["copy", "noop"] if noop else ["copy"]
        for phase in phases:
            record = run_phase(tool, job, phase, manifest, ctx, logs / f"{safe}-{rep}.log")
            keep(record, ctx, workload, tool, rep, manifest)
            log(
                f"  {tool.label:22} {phase:5} {record['wall_s']:8.2f} s  "
                f"rss {record['peak_rss_bytes'] / 1e6:7.1f} MB  {record['status']}"
            )
            if record["status"] != "ok":
                break
    finally:
        dst.stop()
        shutil.rmtree(tdir, ignore_errors=True)


def run_workload(
    workload: Workload, tools: list[Tool], workdir: Path, ctx: Context, *, noop: bool
) -> dict[str, Any]:
    wdir = workdir / workload.name
    src_root = wdir / "src" / "rclone-data"
    started = time.perf_counter()
    manifest = write_source(workload, src_root)
    src = start_server(src_root)
    try:
        # The first listing makes rclone serve s3 hash every file for its ETags: do it
        # now, untimed, and check the source is what the workload says it is.
        listed = list_sizes(src, workload.bucket)
        if listed != manifest:
            raise SystemExit(f"{workload.name}: source listing does not match what was written")
        fill_s = time.perf_counter() - started
        log(
            f"{workload.name}: {workload.title}: {len(manifest):,} objects, "
            f"{total_bytes(manifest) / 1e6:,.1f} MB (source ready in {fill_s:.1f} s)"
        )
        # the memory workload (no no-op re-run) is not a race: one run each is enough
        for rep in range(ctx.repeat if noop else 1):
            for tool in tools:  # interleaved, so a slow spell on the machine hits every tool
                run_tool(tool, workload, src, manifest, wdir, ctx, noop=noop, rep=rep)
    finally:
        src.stop()
        shutil.rmtree(wdir, ignore_errors=True)
    return summary(workload, manifest, fill_s)


def run_noop_workload(
    workload: Workload, tools: list[Tool], workdir: Path, ctx: Context
) -> dict[str, Any]:
    """Only the no-op: source and destination already hold the same objects (the
    destination's files are copies of the source's, mtimes kept), so every tool lists
    both sides and finds nothing to do; each tool runs `ctx.repeat` times, interleaved."""
    wdir = workdir / workload.name
    src_root, dst_root = wdir / "src" / "rclone-data", wdir / "dst" / "rclone-data"
    started = time.perf_counter()
    manifest = write_source(workload, src_root)
    shutil.copytree(src_root, dst_root)
    src, dst = start_server(src_root), start_server(dst_root)
    try:
        for server in (src, dst):  # untimed: rclone serve s3 hashes every file once
            if list_sizes(server, workload.bucket) != manifest:
                raise SystemExit(f"{workload.name}: listing does not match what was written")
        fill_s = time.perf_counter() - started
        log(f"{workload.name}: {workload.title} (both sides ready in {fill_s:.1f} s)")
        logs = ctx.logs / workload.name
        logs.mkdir(parents=True, exist_ok=True)
        for rep in range(ctx.repeat):
            for tool in tools:
                safe = re.sub(r"[^A-Za-z0-9]+", "-", tool.label).strip("-")
                scratch = wdir / f"{safe}-{rep}"
                scratch.mkdir(parents=True)
                job = Job(bucket=workload.bucket, src=src, dst=dst, scratch=scratch)
                record = run_phase(tool, job, "noop", manifest, ctx, logs / f"{safe}-{rep}.log")
                keep(record, ctx, workload, tool, rep, manifest)
                log(
                    f"  {tool.label:22} noop  {record['wall_s']:8.2f} s  client CPU "
                    f"{record['client_cpu_s']:6.2f} s  server CPU {record['server_cpu_s']:6.2f} s"
                    f"  {record['status']}"
                )
    finally:
        src.stop()
        dst.stop()
        shutil.rmtree(wdir, ignore_errors=True)
    return summary(workload, manifest, fill_s)


# machine and versions ------------------------------------------------------------------


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    git = _version(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(BENCH.parent), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    if dirty:  # the benchmark measures the working tree, not only the commit
        git += f" + {len(dirty.splitlines())} uncommitted paths in src/"
    return {
        "nproc": psutil.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": git,
        "versions": {
            "rclone": _version([venv_tool("rclone"), "version"]),
            "s5cmd": _version([s5cmd_binary(), "version"]),
            "aws": _version([venv_tool("aws"), "--version"]),
        },
    }


def default_workdir() -> Path | None:
    """RAM (tmpfs) when there is room, else the system's temporary directory.

    On disk, the servers' CPU is dominated by the file system rather than by the
    requests: `perf record` of the target `rclone serve s3` during W1 on this machine's
    ext4 put a quarter of its samples in `ext4_create` -> `recently_deleted` (the inode
    allocator stepping over inodes freed moments earlier, which a benchmark that deletes
    its trees keeps producing), and that share grew from run to run. The same for every
    tool, it still adds time that moves with the disk's history, not with the tool."""
    ram = Path(RAM_DISK)
    if (
        ram.is_dir()
        and os.access(ram, os.W_OK)
        and shutil.disk_usage(ram).free >= RAM_DISK_MIN_FREE
    ):
        return ram
    return None


def describe_workdir(workdir: Path | None) -> str:
    folder = Path(workdir or tempfile.gettempdir()).resolve()
    fs_type = "unknown file system"
    best = -1
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, kind, *_ = line.split()
        if (folder == Path(mount) or Path(mount) in folder.parents) and len(mount) > best:
            fs_type, best = kind, len(mount)
    return f"{folder} ({fs_type})"


# command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workloads",
        default="W1,W2,W3,RSS,NOOP",
        help="comma-separated: W1,W2,W3,RSS,NOOP (default: all)",
    )
    parser.add_argument(
        "--noop-counts",
        default="10,100000",
        help="object counts of the no-op-only workload (default: 10,100000)",
    )
    parser.add_argument(
        "--rss-counts",
        default="10000,100000",
        help="object counts for the RSS workload (default: 10000,100000)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every object count by this (e.g. 0.05 for a smoke run)",
    )
    parser.add_argument(
        "--tools",
        default=",".join(FAMILIES),
        help=f"comma-separated subset of {','.join(FAMILIES)}",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per tool on W1-W3 (interleaved); the median run is reported",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds before one command is killed (default: 1800)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/<timestamp>.json)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run bucketvault under cProfile (slower; .prof files beside the logs)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="print the tables of an earlier results JSON again (runs nothing)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help=(
            "where servers keep their data (default: a temporary directory in RAM, "
            f"{RAM_DISK}, when it has {RAM_DISK_MIN_FREE // 2**30} GiB free; give a folder "
            "on disk, such as /tmp, to put the servers' file system back in the run)"
        ),
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in args.workloads:
        if w not in {*WORKLOADS, "RSS", "NOOP"}:
            parser.error(f"unknown workload {w!r}: choose from W1, W2, W3, RSS, NOOP")
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in args.tools:
        if t not in FAMILIES:
            parser.error(f"unknown tool {t!r}: choose from {', '.join(FAMILIES)}")
    args.rss_counts = [int(c) for c in args.rss_counts.split(",") if c.strip()]
    args.noop_counts = [int(c) for c in args.noop_counts.split(",") if c.strip()]
    if not 0 < args.scale <= 1000 or args.repeat < 1 or args.timeout <= 0:
        parser.error("--scale, --repeat and --timeout must be positive")
    return args


def heading(doc: dict[str, Any]) -> str:
    where = doc["machine"].get("server_data", "a temporary directory")
    return f"`{doc['command']}`\n\nServers' data: {where}.\n\n"


def reprint(path: Path) -> int:
    doc = json.loads(path.read_text())
    doc["targets"] = evaluate(doc["workloads"], doc["runs"])
    print_tables(doc)
    path.with_suffix(".md").write_text(heading(doc) + markdown(doc))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        return reprint(args.report)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or BENCH / "results" / f"{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        timeout=args.timeout,
        logs=out.with_suffix(".logs"),
        repeat=args.repeat,
        profile=args.profile,
    )
    tools = [t for t in TOOLS if t.family in args.tools]
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    log(
        f"machine: {info['nproc']} CPUs, {info['ram_bytes'] / 2**30:.1f} GiB RAM; "
        f"logs in {ctx.logs}"
    )

    workdir = args.workdir or default_workdir()
    info["server_data"] = describe_workdir(workdir)
    log(f"servers keep their data in {info['server_data']}")
    workloads: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bv-bench-", dir=workdir) as tmp:
        for name in args.workloads:
            if name == "NOOP":
                for count in args.noop_counts:
                    wl = noop_workload(count).scaled(args.scale)
                    workloads.append(run_noop_workload(wl, tools, Path(tmp), ctx))
            elif name == "RSS":
                rss_tools = [t for t in tools if t.label in RSS_TOOLS]
                for count in args.rss_counts:
                    wl = rss_workload(count).scaled(args.scale)
                    workloads.append(run_workload(wl, rss_tools, Path(tmp), ctx, noop=False))
            else:
                wl = WORKLOADS[name].scaled(args.scale)
                workloads.append(run_workload(wl, tools, Path(tmp), ctx, noop=True))

    targets = evaluate(workloads, ctx.results)
    doc = {
        "command": command,
        "started": stamp,
        "scale": args.scale,
        "machine": info,
        "tools": {t.label: t.note for t in tools},
        "workloads": workloads,
        "runs": ctx.results,
        "targets": targets,
    }
    out.write_text(json.dumps(doc, indent=2))
    out.with_suffix(".md").write_text(heading(doc) + markdown(doc))
    print_tables(doc)
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
