"""Scale-out benchmark (#11): `bucketvault mirror --executor inline|processes|ray`.

All on `rclone serve s3` servers on 127.0.0.1 (bench/run.py's helpers):

    python bench/scaleout.py workers --repeat 3         # 20,000 x 4 KiB and W3, 7 executors
    python bench/scaleout.py serve --counts 100000,1000000 --data DIR --attach pairs.json &
    python bench/scaleout.py big --counts 1000000 --attach pairs.json  # listing, no-op, RSS
    python bench/scaleout.py requests --counts 20000 --data DIR       # LISTs per executor
    python bench/scaleout.py report --input bench/results/scaleout-<part>-<stamp>.json

`workers`: for every workload a source bucket is written and hashed once; then, for each
repeat and each executor in turn (interleaved), a fresh destination server gets a full copy
and the same command again (the no-op). `big`: a source and an identical destination
bucket (files copied, mtimes kept) of N objects of 1 KiB; one lister against N range
listers (`listing_probe.py`), and no-op mirrors: bucketvault inline / processes against
`rclone sync --fast-list --checksum --transfers 32 --checkers 32`. `serve` starts and
hashes those pairs once and keeps them for `big --attach` (hashing a million files takes
minutes). `requests`: the S3 requests of one no-op per executor, counted at the servers.

Every command runs under `rusage_wrapper.py` (exact CPU of the command and every process it
reaped: the coordinator and its worker processes); a 100 ms psutil poll of the process tree
gives each process's peak RSS and CPU (coordinator, each worker). `--executor ray` runs on
a local cluster this script starts (`ray start --head` on 127.0.0.1, its own temp dir,
ports and auth token, `--num-cpus 4`). Ray's workers are children of its raylet, not of
the command: the poll adds their CPU (all but each one's last 100 ms) and peak RSS, and
the CPU the cluster's own processes (GCS, raylet, agents) spent during the run is added.
Results go to bench/results/scaleout-<part>-<stamp>.json (+ .md); see bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bucketvault.loopback import LoopbackServer, free_port
from measure import WRAPPER
from run import list_sizes, machine, s3_client, server_cpu, start_server, verify
from tools import Job, _alias, _base_env, rclone_steps, venv_tool
from workloads import WORKLOADS, KiB, Workload, noop_workload, total_bytes, write_source

BENCH = Path(__file__).resolve().parent
POLL_SECONDS = 0.1
SMALL = Workload("S20K", "20,000 objects of 4 KiB", 20000, 4 * KiB, 4 * KiB, 11)
EXECUTORS = ["inline", "processes:1", "processes:2", "processes:4", "ray:1", "ray:2", "ray:4"]
RAY_CPUS = 4  # a task takes one CPU: four slots for --executor-workers 4, on 2 cores


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# a local Ray cluster, ours only ---------------------------------------------------------


class RayCluster:
    """`ray start --head` on 127.0.0.1 with its own temp dir and ports. Stopped by killing
    the processes of that temp dir (and their children) by pid: `ray stop` would stop every
    Ray cluster on the machine, other people's too."""

    def __init__(self, workdir: Path, key_file: Path) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="bvray-", dir="/tmp"))  # sockets: short path
        self.key_file = key_file
        self.port = free_port()
        # Ray 2.5x+ asks for a token when one is about: ours, not any in ~/.ray
        home = self.temp / "home"
        self.token = home / ".ray" / "auth_token"
        self.token.parent.mkdir(parents=True)
        self.token.write_text(secrets.token_hex(32))
        self.token.chmod(0o600)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token),
            "RAY_USAGE_STATS_ENABLED": "0",
            "BUCKETVAULT_CLUSTER_KEY_FILE": str(key_file),
        }
        self.workdir = workdir

    def start(self) -> None:
        ports = [free_port() for _ in range(4)]
        argv = [
            venv_tool("ray"),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            f"--num-cpus={RAY_CPUS}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={self.temp}",
            f"--dashboard-agent-listen-port={ports[0]}",
            f"--dashboard-agent-grpc-port={ports[1]}",
            f"--metrics-export-port={ports[2]}",
            f"--runtime-env-agent-port={ports[3]}",
        ]
        started = time.perf_counter()
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SystemExit(f"ray start failed:\n{out.stdout}\n{out.stderr}")
        log(f"ray: local cluster on 127.0.0.1:{self.port} in {time.perf_counter() - started:.1f} s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def roots(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(str(self.temp) in part for part in proc.info["cmdline"] or []):
                    found.append(proc)
        return found

    def processes(self) -> list[psutil.Process]:
        seen: dict[int, psutil.Process] = {}
        for root in self.roots():
            seen[root.pid] = root
            with contextlib.suppress(psutil.Error):
                for child in root.children(recursive=True):
                    seen[child.pid] = child
        return list(seen.values())

    def system_cpu(self) -> float:
        """CPU of the cluster's own processes so far (GCS, raylet, agents, monitors), not
        its workers: those come and go with each job and are polled instead."""
        total = 0.0
        workers = {p.pid for p in self.workers()}
        for proc in self.processes():
            if proc.pid in workers:
                continue
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def workers(self) -> list[psutil.Process]:
        found = []
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                title = " ".join(proc.cmdline())
                if title.startswith("ray::") and "Agent" not in title:
                    found.append(proc)
        return found

    def stop(self) -> None:
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(self.temp, ignore_errors=True)


# one measured command --------------------------------------------------------------------


@dataclass
class Seen:
    role: str
    peak_rss: int = 0
    cpu_first: float = 0.0
    cpu_last: float = 0.0


def _role(proc: psutil.Process, top: int) -> str:
    if proc.pid == top:
        return "coordinator"
    title = " ".join(proc.cmdline())
    if "resource_tracker" in title:
        return "resource-tracker"
    if "multiprocessing" in title:
        return "worker"
    if title.startswith("ray::"):
        return "ray-worker"
    return proc.name()


def measure(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    timeout: float,
    ray: RayCluster | None = None,
    servers: tuple[LoopbackServer, ...] = (),
) -> dict[str, Any]:
    report = log_path.with_name(log_path.name + ".rusage")
    report.unlink(missing_ok=True)
    ray_before = ray.system_cpu() if ray is not None else 0.0
    ray_old = {p.pid for p in ray.workers()} if ray is not None else set()
    srv_before = server_cpu(*servers) if servers else 0.0
    load = os.getloadavg()[0]
    with open(log_path, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, str(WRAPPER), str(report), *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    seen: dict[int, Seen] = {}
    done = threading.Event()

    def look(p: psutil.Process, top: int, baseline: bool) -> None:
        with contextlib.suppress(psutil.Error):
            with p.oneshot():
                rss = p.memory_info().rss
                t = p.cpu_times()
                cpu = t.user + t.system
            entry = seen.get(p.pid)
            if entry is None:
                first = cpu if baseline else 0.0
                entry = seen[p.pid] = Seen(_role(p, top), cpu_first=first)
            entry.peak_rss = max(entry.peak_rss, rss)
            entry.cpu_last = cpu

    def poll() -> None:
        try:
            wrapper = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.wait(POLL_SECONDS):
            with contextlib.suppress(psutil.Error):
                children = wrapper.children(recursive=True)
                top = min((c.pid for c in children if c.ppid() == proc.pid), default=-1)
                for child in children:
                    look(child, top, False)
            if ray is not None:
                for worker in ray.workers():
                    look(worker, -1, worker.pid in ray_old)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        done.set()
        poller.join(timeout=5)
    srv = server_cpu(*servers) - srv_before if servers else 0.0
    ray_system = ray.system_cpu() - ray_before if ray is not None else 0.0
    try:
        usage = json.loads(report.read_text())
    except (OSError, ValueError):
        usage = {"returncode": -9, "wall_s": timeout, "maxrss_kib": 0, "cpu_s": 0.0}
    report.unlink(missing_ok=True)
    procs = [
        {"role": s.role, "peak_rss": s.peak_rss, "cpu_s": s.cpu_last - s.cpu_first}
        for s in seen.values()
    ]
    tree_cpu = float(usage["cpu_s"])
    workers_cpu = sum(p["cpu_s"] for p in procs if p["role"] in ("worker", "ray-worker"))
    ray_workers = sum(p["cpu_s"] for p in procs if p["role"] == "ray-worker")
    ray_cpu = ray_system + ray_workers
    return {
        "returncode": -9 if timed_out else int(usage["returncode"]),
        "wall_s": float(usage["wall_s"]),
        "tree_cpu_s": tree_cpu,  # the command and all it reaped (rusage, exact)
        "ray_cpu_s": ray_cpu,  # Ray's workers (polled) and its own processes
        "ray_system_cpu_s": ray_system,
        "client_cpu_s": tree_cpu + ray_cpu,
        "workers_cpu_s": workers_cpu,  # polled: misses each process's last <=100 ms
        "server_cpu_s": srv,
        "loadavg_1m_before": load,
        "processes": procs,
        "coordinator_peak_rss": max(
            (p["peak_rss"] for p in procs if p["role"] == "coordinator"), default=0
        ),
        "worker_peak_rss": sorted(
            (p["peak_rss"] for p in procs if p["role"] in ("worker", "ray-worker")), reverse=True
        ),
        "maxrss_bytes": int(usage["maxrss_kib"]) * 1024,
    }


def last_json(log_path: Path) -> dict[str, Any] | None:
    for line in reversed(log_path.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc: dict[str, Any] = json.loads(line)
                return doc
    return None


# commands ---------------------------------------------------------------------------------


def bucketvault_argv(executor: str, bucket: str) -> list[str]:
    argv = [venv_tool("bucketvault"), "mirror", f"src/{bucket}", f"dst/{bucket}", "--json"]
    name, _, workers = executor.partition(":")
    if name != "inline":
        argv += ["--executor", name]
    if workers:
        argv += ["--executor-workers", workers]
    return argv


def bucketvault_env(job: Job, ray: RayCluster | None) -> dict[str, str]:
    env = _base_env(job)
    env["BUCKETVAULT_ALIAS_SRC"] = _alias(job.src)
    env["BUCKETVAULT_ALIAS_DST"] = _alias(job.dst)
    env["BUCKETVAULT_HOME"] = str(job.scratch / "bvhome")
    if ray is not None:
        env["RAY_ADDRESS"] = ray.address
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN_PATH"] = str(ray.token)
        env["BUCKETVAULT_CLUSTER_KEY_FILE"] = str(ray.key_file)
    return env


RCLONE_FLAGS = ("--transfers", "32", "--checkers", "32", "--checksum", "--fast-list")


# part 1: workers ------------------------------------------------------------------------


@dataclass
class Ctx:
    timeout: float
    logs: Path
    ray: RayCluster | None
    runs: list[dict[str, Any]] = field(default_factory=list)


def one_executor(
    executor: str,
    workload: Workload,
    src: LoopbackServer,
    manifest: dict[str, int],
    workdir: Path,
    ctx: Ctx,
    rep: int,
) -> None:
    safe = executor.replace(":", "-")
    tdir = workdir / f"{safe}-{rep}"
    scratch = tdir / "scratch"
    scratch.mkdir(parents=True)
    dst = start_server(tdir / "dst" / "rclone-data")
    ray = ctx.ray if executor.startswith("ray") else None
    try:
        s3_client(dst).create_bucket(Bucket=workload.bucket)
        job = Job(bucket=workload.bucket, src=src, dst=dst, scratch=scratch)
        log_path = ctx.logs / f"{workload.name}-{safe}-{rep}.log"
        for phase in ("copy", "noop"):
            record = measure(
                bucketvault_argv(executor, workload.bucket),
                bucketvault_env(job, ray),
                scratch,
                log_path,
                ctx.timeout,
                ray=ray,
                servers=(src, dst),
            )
            summary = last_json(log_path) or {}
            check = verify(dst, workload.bucket, manifest)
            ok = record["returncode"] == 0 and check["ok"]
            if phase == "noop" and summary.get("copied", 0) != 0:
                ok = False
            record.update(
                part="workers",
                workload=workload.name,
                executor=executor,
                phase=phase,
                rep=rep,
                objects=len(manifest),
                bytes=total_bytes(manifest),
                status="ok" if ok else "failed",
                verify=check,
                summary={k: summary.get(k) for k in ("copied", "skipped", "failed", "retries")},
            )
            ctx.runs.append(record)
            log(
                f"  {executor:12} {phase:5} {record['wall_s']:7.2f} s  client CPU "
                f"{record['client_cpu_s']:6.2f} s (ray {record['ray_cpu_s']:5.2f})  server CPU "
                f"{record['server_cpu_s']:6.2f} s  coord RSS "
                f"{record['coordinator_peak_rss'] / 1e6:5.0f} MB  "
                f"load {record['loadavg_1m_before']:.1f}"
                f"  {record['status']}"
            )
            if not ok:
                break
    finally:
        dst.stop()
        shutil.rmtree(tdir, ignore_errors=True)


def part_workers(args: argparse.Namespace, workdir: Path, ctx: Ctx) -> list[dict[str, Any]]:
    workloads = []
    for name in args.workloads:
        wl = (SMALL if name == "S20K" else WORKLOADS[name]).scaled(args.scale)
        wdir = workdir / wl.name
        src_root = wdir / "src" / "rclone-data"
        started = time.perf_counter()
        manifest = write_source(wl, src_root)
        src = start_server(src_root)
        try:
            if list_sizes(src, wl.bucket) != manifest:
                raise SystemExit(f"{wl.name}: source listing does not match")
            ready = time.perf_counter() - started
            log(f"{wl.name}: {wl.title}: {len(manifest):,} objects, ready in {ready:.1f} s")
            for rep in range(args.repeat):
                for executor in args.executors:
                    one_executor(executor, wl, src, manifest, wdir, ctx, rep)
        finally:
            src.stop()
            shutil.rmtree(wdir, ignore_errors=True)
        workloads.append(
            {
                "name": wl.name,
                "title": wl.title,
                "objects": len(manifest),
                "bytes": total_bytes(manifest),
            }
        )
    return workloads


# part 2: big buckets -----------------------------------------------------------------------


def seeded_pair(count: int, data: Path) -> tuple[Workload, Path, Path, dict[str, Any]]:
    """Source and destination folders of `count` 1 KiB objects, written once and kept."""
    wl = noop_workload(count)
    base = data / wl.name
    marker = base / "seeded"
    src_root, dst_root = base / "src" / "rclone-data", base / "dst" / "rclone-data"
    info: dict[str, Any] = {}
    if marker.exists():
        info["seeded"] = marker.read_text().strip()
    else:
        shutil.rmtree(base, ignore_errors=True)
        started = time.perf_counter()
        write_source(wl, src_root)
        written = time.perf_counter() - started
        shutil.copytree(src_root, dst_root)
        copied = time.perf_counter() - started - written
        marker.write_text(f"{count} written {written:.1f} s, copied {copied:.1f} s\n")
        info["seeded"] = marker.read_text().strip()
    return wl, src_root, dst_root, info


def count_listing(server: LoopbackServer, bucket: str) -> int:
    pages = s3_client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


class _Attached:
    """A server another `scaleout.py serve` started: only its pid is needed here."""

    def __init__(self, pid: int) -> None:
        self.pid = pid


def attach(entry: dict[str, Any]) -> LoopbackServer:
    server = LoopbackServer(kind="rclone", port=entry["port"], root=Path(entry["root"]))
    server.process = _Attached(entry["pid"])  # type: ignore[assignment]
    return server


def open_pair(
    count: int, args: argparse.Namespace
) -> tuple[Workload, LoopbackServer, LoopbackServer, dict[str, Any], bool]:
    """The seeded pair of `count` objects on two hashed servers: started here, or the
    ones a `serve` run keeps (`--attach`), so hashing a million files is paid once."""
    if args.attach is not None:
        entry = json.loads(args.attach.read_text())[str(count)]
        wl = noop_workload(count)
        return wl, attach(entry["source"]), attach(entry["destination"]), entry["info"], False
    wl, src_root, dst_root, info = seeded_pair(count, args.data)
    src, dst = start_server(src_root), start_server(dst_root)
    try:
        for label, server in (("source", src), ("destination", dst)):
            started = time.perf_counter()
            before = server_cpu(server)
            listed = count_listing(server, wl.bucket)  # untimed: rclone hashes every file
            if listed != count:
                raise SystemExit(f"{wl.name}: {label} lists {listed} keys, not {count}")
            info[f"{label}_hashed_s"] = time.perf_counter() - started
            info[f"{label}_hash_server_cpu_s"] = server_cpu(server) - before
            log(f"{wl.name}: {label} ready in {info[f'{label}_hashed_s']:.1f} s")
    except BaseException:
        src.stop()
        dst.stop()
        raise
    return wl, src, dst, info, True


def part_serve(args: argparse.Namespace) -> None:
    """Start and hash the big pairs, write where they listen to `--attach`, and keep them
    until interrupted (SIGINT/SIGTERM)."""
    pairs: dict[str, Any] = {}
    servers: list[LoopbackServer] = []
    try:
        for count in args.counts:
            _, src, dst, info, _ = open_pair(
                count, argparse.Namespace(**{**vars(args), "attach": None})
            )
            servers += [src, dst]
            pairs[str(count)] = {
                "info": info,
                **{
                    side: {"port": s.port, "pid": s.process.pid, "root": str(s.root)}  # type: ignore[union-attr]
                    for side, s in (("source", src), ("destination", dst))
                },
            }
        args.attach.write_text(json.dumps(pairs, indent=2))
        log(f"serving: {args.attach}")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(3600)
    finally:
        for server in servers:
            server.stop()


def part_big(args: argparse.Namespace, workdir: Path, ctx: Ctx) -> list[dict[str, Any]]:
    workloads = []
    for count in args.counts:
        wl, src, dst, info, owned = open_pair(count, args)
        try:
            scratch = workdir / f"{wl.name}-scratch"
            scratch.mkdir(parents=True, exist_ok=True)
            job = Job(bucket=wl.bucket, src=src, dst=dst, scratch=scratch)
            contenders: list[tuple[str, list[str], dict[str, str], tuple[LoopbackServer, ...]]] = []
            if count in args.listing_counts:
                probe = [sys.executable, str(BENCH / "listing_probe.py"), "--url", src.url]
                probe += ["--bucket", wl.bucket, "--folders", str(-(-count // 1000))]
                penv = _base_env(job) | {
                    "PROBE_ACCESS_KEY": src.access_key,
                    "PROBE_SECRET_KEY": src.secret_key,
                }
                contenders.append(("list:single", [*probe, "--mode", "single"], penv, (src,)))
                for mode, counts in (("ranges", args.listers), ("static", args.static_listers)):
                    for n in counts:
                        argv = [*probe, "--mode", mode, "--listers", str(n)]
                        contenders.append((f"list:{mode}:{n}", argv, penv, (src,)))
            rclone = rclone_steps(*RCLONE_FLAGS)(job)[0]
            contenders.append(("noop:rclone[t32+checksum]", rclone.argv, rclone.env, (src, dst)))
            for executor in args.big_executors:
                argv = bucketvault_argv(executor, wl.bucket)
                contenders.append(
                    (f"noop:bucketvault {executor}", argv, bucketvault_env(job, None), (src, dst))
                )
            for rep in range(args.repeat):
                for label, argv, env, servers in contenders:
                    log_path = (
                        ctx.logs
                        / f"{wl.name}-{label.replace(':', '-').replace(' ', '_')}-{rep}.log"
                    )
                    record = measure(argv, env, scratch, log_path, ctx.timeout, servers=servers)
                    doc = last_json(log_path) or {}
                    ok = record["returncode"] == 0
                    if label.startswith("list:"):
                        ok = ok and doc.get("keys") == count
                    elif "bucketvault" in label:
                        ok = ok and doc.get("copied") == 0 and doc.get("skipped") == count
                    record.update(
                        part="big",
                        workload=wl.name,
                        objects=count,
                        contender=label,
                        rep=rep,
                        status="ok" if ok else "failed",
                        output={
                            k: doc.get(k)
                            for k in (
                                "keys",
                                "ranges",
                                "copied",
                                "skipped",
                                "listed_source",
                                "listed_target",
                            )
                        },
                    )
                    ctx.runs.append(record)
                    workers = record["worker_peak_rss"]
                    log(
                        f"  {label:34} {record['wall_s']:7.2f} s  "
                        f"client CPU {record['client_cpu_s']:6.2f}  "
                        f"server CPU {record['server_cpu_s']:6.2f}  RSS coord "
                        f"{record['coordinator_peak_rss'] / 1e6:5.0f} MB workers "
                        f"{'/'.join(f'{w / 1e6:.0f}' for w in workers) or '-'} MB  "
                        f"load {record['loadavg_1m_before']:.1f}  "
                        f"{record['status']} {record['output']}"
                    )
        finally:
            if owned:
                src.stop()
                dst.stop()
        workloads.append({"name": wl.name, "objects": count, **info})
    return workloads


# part 3: S3 requests of a no-op, per executor ------------------------------------------


def part_requests(args: argparse.Namespace, workdir: Path, ctx: Ctx) -> list[dict[str, Any]]:
    """Both servers at debug level (`count_requests.LoggingServer`): the LIST (and other)
    requests each executor's no-op sends, per side. Untimed: debug logging slows servers."""
    import collections

    from count_requests import OPERATION, LoggingServer

    count = args.counts[0]
    wl = noop_workload(count)
    _, src_root, dst_root, info = seeded_pair(count, args.data)
    servers = []
    for root in (src_root, dst_root):
        server = LoggingServer(kind="rclone", port=free_port(), root=root)
        server.start()
        servers.append(server)
    src, dst = servers
    try:
        for server in servers:
            count_listing(server, wl.bucket)
        scratch = workdir / "requests-scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        job = Job(bucket=wl.bucket, src=src, dst=dst, scratch=scratch)
        rclone = rclone_steps(*RCLONE_FLAGS)(job)[0]
        contenders = [("rclone[t32+checksum]", rclone.argv, rclone.env)]
        for executor in args.executors:
            ray = None
            if executor.startswith("ray"):
                continue  # same ranges as processes; no cluster started for this part
            contenders.append(
                (executor, bucketvault_argv(executor, wl.bucket), bucketvault_env(job, ray))
            )
        for label, argv, env in contenders:
            seen = {s.port: len(s.log.read_bytes()) for s in servers}
            log_path = ctx.logs / f"requests-{label.replace(':', '-')}.log"
            record = measure(argv, env, scratch, log_path, ctx.timeout)
            counts = {}
            for side, server in (("source", src), ("target", dst)):
                text = server.log.read_bytes()[seen[server.port] :].decode(errors="replace")
                counts[side] = dict(collections.Counter(OPERATION.findall(text)))
            record.update(
                part="requests",
                workload=wl.name,
                objects=count,
                contender=label,
                rep=0,
                status="ok" if record["returncode"] == 0 else "failed",
                requests=counts,
            )
            ctx.runs.append(record)
            log(f"  {label:22} {counts}")
    finally:
        for server in servers:
            server.stop()
    return [{"name": wl.name, "objects": count, **info}]


# report ----------------------------------------------------------------------------------


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def every(runs: list[dict[str, Any]], key: str, digits: int = 2) -> str:
    return " / ".join(f"{r[key]:.{digits}f}" for r in runs)


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median_low([r[key] for r in runs])


def report(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    runs = [r for r in doc["runs"] if r["status"] == "ok"]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in runs:
        if r["part"] == "workers":
            k = ("workers", r["workload"], r["phase"], r["executor"])
        elif r["part"] == "requests":
            k = ("requests", r["workload"], r["contender"])
        else:
            k = ("big", r["workload"], r["contender"])
        groups.setdefault(k, []).append(r)
    lines.append(
        "| workload | phase | executor | runs | seconds (median) | every run s | objects/s | "
        "client CPU s | of it Ray cluster s | client CPU us/object | server CPU s | "
        "server CPU us/object | coordinator RSS MB | worker RSS MB | load 1m |"
    )
    lines.append("|" + "---|" * 15)
    for k, rs in groups.items():
        if k[0] != "workers":
            continue
        m = median_run(rs)
        n = m["objects"]
        lines.append(
            f"| {k[1]} | {k[2]} | {k[3]} | {len(rs)} | {m['wall_s']:.2f} | "
            f"{every(rs, 'wall_s')} | {n / m['wall_s']:,.0f} | "
            f"{med(rs, 'client_cpu_s'):.2f} | {med(rs, 'ray_cpu_s'):.2f} | "
            f"{med(rs, 'client_cpu_s') / n * 1e6:,.0f} | {med(rs, 'server_cpu_s'):.2f} | "
            f"{med(rs, 'server_cpu_s') / n * 1e6:,.0f} | {m['coordinator_peak_rss'] / 1e6:.0f} | "
            f"{'/'.join(f'{w / 1e6:.0f}' for w in m['worker_peak_rss']) or '-'} | "
            f"{every(rs, 'loadavg_1m_before', 1)} |"
        )
    lines.append("")
    lines.append(
        "| objects | contender | runs | seconds (median) | every run s | keys/s | client CPU s | "
        "client CPU us/key | server CPU s | coordinator RSS MB | worker RSS MB | load 1m |"
    )
    lines.append("|" + "---|" * 12)
    for k, rs in groups.items():
        if k[0] != "big":
            continue
        m = median_run(rs)
        n = m["objects"]
        lines.append(
            f"| {n:,} | {k[2]} | {len(rs)} | {m['wall_s']:.2f} | "
            f"{every(rs, 'wall_s')} | {n / m['wall_s']:,.0f} | "
            f"{med(rs, 'client_cpu_s'):.2f} | {med(rs, 'client_cpu_s') / n * 1e6:,.1f} | "
            f"{med(rs, 'server_cpu_s'):.2f} | "
            f"{max(r['coordinator_peak_rss'] for r in rs) / 1e6:.0f} | "
            f"{'/'.join(f'{w / 1e6:.0f}' for w in m['worker_peak_rss']) or '-'} | "
            f"{every(rs, 'loadavg_1m_before', 1)} |"
        )
    requests = [(k, rs[0]) for k, rs in groups.items() if k[0] == "requests"]
    if requests:
        lines.append("")
        lines.append("| objects | contender | LIST source | LIST target | other requests |")
        lines.append("|---|---|---|---|---|")
        for k, r in requests:
            src, dst = r["requests"]["source"], r["requests"]["target"]
            other = sum(v for side in (src, dst) for op, v in side.items() if op != "LIST BUCKET")
            lines.append(
                f"| {r['objects']:,} | {k[2]} | {src.get('LIST BUCKET', 0)} | "
                f"{dst.get('LIST BUCKET', 0)} | {other} |"
            )
    failed = [r for r in doc["runs"] if r["status"] != "ok"]
    if failed:
        lines.append("")
        lines.append(f"{len(failed)} failed run(s): see the JSON.")
    return "\n".join(lines) + "\n"


# command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("workers", "big", "serve", "requests", "report"))
    parser.add_argument("--workloads", default="S20K,W3")
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--counts", default="100000,1000000", help="big: objects per bucket")
    parser.add_argument("--listing-counts", default="1000000", help="big: where to run listers")
    parser.add_argument("--listers", default="2,4", help="big: parallel range listers")
    parser.add_argument("--static-listers", default="4", help="big: listers on fixed ranges")
    parser.add_argument("--big-executors", default="inline,processes:2,processes:4")
    parser.add_argument(
        "--data", type=Path, default=None, help="big: where seeded buckets are kept"
    )
    parser.add_argument(
        "--attach", type=Path, default=None, help="big: servers kept by `serve` (a JSON file)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--input", type=Path, default=None, help="report: a results JSON")
    args = parser.parse_args(argv)
    if args.part == "report":
        assert args.input is not None
        print(report(json.loads(args.input.read_text())))
        return 0
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.executors = [e for e in args.executors.split(",") if e]
    args.counts = [int(c) for c in args.counts.split(",") if c]
    args.listing_counts = [int(c) for c in args.listing_counts.split(",") if c]
    args.listers = [int(c) for c in args.listers.split(",") if c]
    args.static_listers = [int(c) for c in args.static_listers.split(",") if c]
    args.big_executors = [e for e in args.big_executors.split(",") if e]
    if args.part == "serve":
        if args.data is None or args.attach is None:
            parser.error("serve needs --data and --attach")
        part_serve(args)
        return 0
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or BENCH / "results" / f"scaleout-{args.part}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.with_suffix(".logs")
    logs.mkdir(parents=True, exist_ok=True)
    command = "python bench/scaleout.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="bv-scaleout-") as tmp:
        workdir = Path(tmp)
        if args.data is None:
            args.data = workdir / "data"
        ray = None
        if args.part == "workers" and any(e.startswith("ray") for e in args.executors):
            key = workdir / "cluster.key"
            key.write_bytes(os.urandom(32))
            key.chmod(0o600)
            ray = RayCluster(workdir, key)
            ray.start()
        ctx = Ctx(timeout=args.timeout, logs=logs, ray=ray)
        workloads: list[dict[str, Any]] = []
        try:
            if args.part == "workers":
                if ray is not None:
                    idle = ray.system_cpu()
                    time.sleep(10)
                    rate = (ray.system_cpu() - idle) / 10
                    log(f"ray: idle cluster CPU {rate:.3f} s per second")
                workloads = part_workers(args, workdir, ctx)
            elif args.part == "big":
                workloads = part_big(args, workdir, ctx)
            else:
                workloads = part_requests(args, workdir, ctx)
        finally:
            if ray is not None:
                ray.stop()
            doc = {
                "command": command,
                "started": stamp,
                "machine": machine(),
                "workloads": workloads,
                "runs": ctx.runs,
            }
            out.write_text(json.dumps(doc, indent=2))
    table = report(doc)
    out.with_suffix(".md").write_text(f"`{command}`\n\n{table}")
    print(table)
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
