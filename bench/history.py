"""The cost of history: an incremental `backup` plan (snapshots) against a plain mirror.

    python bench/history.py                        # 100,000 objects of 1 KiB, 3 repeats
    python bench/history.py --objects 5000 --repeat 3
    python bench/history.py --objects 20000 --profile   # + one backup under py-spy

Two `rclone serve s3` servers on 127.0.0.1: a *live* server holding the bucket `live`
(N objects of 1 KiB, written straight into its data directory before it starts), and a
*backup* server holding the three copies that the three contenders keep up to date:

- history: `bucketvault --name=bench plan start backup -p ACCESS_KEY_ID=.. -p
  SECRET_ACCESS_KEY=..` into `bench-live` (service `bench` added into a temporary
  BUCKETVAULT_HOME);
- mirror: `bucketvault mirror live/live dst/mirror-live --overwrite --remove --json`;
- rclone: `rclone sync live:live dst:rclone-live --transfers 32 --checkers 32 --fast-list
  --checksum`.

Each contender first makes its full copy (timed too), then every repeat changes the live
bucket (1% of the objects get new bytes, 0.1% are deleted, 0.1% are added; untimed, over
S3), runs the three contenders on that change in turn (the order rotates each repeat),
and then runs each of them again with nothing changed (the no-op run). After every run
the target is listed and must hold exactly the live keys with the live ETags (for
`bench-live`, outside `.bucketvault/`).

Measured per run, as `bench/run.py` does: wall time (process start to exit), peak RSS
(`rusage_wrapper.py` + a psutil poll of the process tree), client CPU, CPU of both
servers, the 1-minute load average before it. S3 requests are counted in one extra,
untimed round after the timed ones: both servers are restarted on the same data and
ports at debug level (`count_requests.LoggingServer`) and their log lines counted,
since debug logging would slow the timed runs.

Reported: the median of the repeats for each contender and run kind, the ratios
history/mirror and history/rclone, and the snapshot record bytes per object (size of
`.bucketvault/snapshots/<id>.jsonl.gz` in the backup bucket over the objects it records).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import gzip
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bucketvault.loopback import LoopbackServer, free_port
from count_requests import OPERATION, LoggingServer
from measure import run_measured
from run import machine, s3_client, server_cpu
from tools import venv_tool

BENCH = Path(__file__).resolve().parent
KiB = 1024
PER_DIR = 1000
SERVICE = "bench"
LIVE = "live"
BACKUP = f"{SERVICE}-{LIVE}"  # the service's backup bucket for `live`
MIRROR = f"mirror-{LIVE}"
RCLONE = f"rclone-{LIVE}"
META = ".bucketvault/"
CONTENDERS = ("history", "mirror", "rclone")
TARGETS = {"history": BACKUP, "mirror": MIRROR, "rclone": RCLONE}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# servers, buckets, listings --------------------------------------------------------------


def start_server(root: Path, *, port: int | None = None, logging: bool = False) -> LoopbackServer:
    root.mkdir(parents=True, exist_ok=True)
    cls = LoggingServer if logging else LoopbackServer
    server = cls(kind="rclone", port=port or free_port(), root=root)
    server.start()
    return server


def list_etags(server: LoopbackServer, bucket: str, *, skip_meta: bool = False) -> dict[str, str]:
    pages = s3_client(server).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    out = {}
    for page in pages:
        for obj in page.get("Contents", []):
            if skip_meta and obj["Key"].startswith(META):
                continue
            out[obj["Key"]] = obj["ETag"].strip('"')
    return out


def list_meta(server: LoopbackServer, bucket: str, prefix: str) -> dict[str, int]:
    pages = s3_client(server).get_paginator("list_objects_v2")
    found: dict[str, int] = {}
    for page in pages.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj["Size"]
    return found


def seed(root: Path, count: int, size: int) -> None:
    """`count` distinct objects of `size` bytes as files of the bucket `live`."""
    pool = random.Random(7).randbytes(size + 8 * KiB)
    made: set[Path] = set()
    bucket = root / LIVE
    for i in range(count):
        path = bucket / f"d{i // PER_DIR:04d}" / f"obj-{i:07d}.bin"
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        head = hashlib.sha256(path.name.encode()).digest()[: min(32, size)]
        offset = (i * 4099) % (8 * KiB)
        path.write_bytes(head + pool[offset : offset + size - len(head)])


@dataclass
class Change:
    changed: int
    deleted: int
    added: int


def change_live(live: LoopbackServer, rep: int, size: int, fraction: float) -> Change:
    """Give 1% of the live objects new bytes, delete 0.1%, add 0.1% (over S3)."""
    keys = sorted(list_etags(live, LIVE))
    rng = random.Random(1000 + rep)
    n_changed = max(1, round(len(keys) * fraction))
    n_few = max(1, round(len(keys) * fraction / 10))
    picked = rng.sample(keys, n_changed + n_few)
    changed, deleted = picked[:n_changed], picked[n_changed:]
    added = [
        f"d{rng.randrange(max(1, len(keys) // PER_DIR)):04d}/new-r{rep:02d}-{i:05d}.bin"
        for i in range(n_few)
    ]
    client = s3_client(live)

    def put(key: str) -> None:
        client.put_object(Bucket=LIVE, Key=key, Body=os.urandom(size))

    def delete(key: str) -> None:
        client.delete_object(Bucket=LIVE, Key=key)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        jobs = [pool.submit(put, k) for k in changed + added]
        jobs += [pool.submit(delete, k) for k in deleted]
        for job in jobs:
            job.result()
    return Change(len(changed), len(deleted), len(added))


# the three contenders --------------------------------------------------------------------


@dataclass
class Bench:
    live: LoopbackServer
    backup: LoopbackServer
    home: Path  # BUCKETVAULT_HOME
    scratch: Path
    logs: Path
    timeout: float

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
        env.update(
            {
                "HOME": str(self.scratch),
                "BUCKETVAULT_HOME": str(self.home),
                "NO_COLOR": "1",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        return env

    def add_service(self, name: str = SERVICE) -> None:
        env = self.base_env()
        env["BUCKETVAULT_SECRET_ACCESS_KEY"] = self.live.secret_key
        argv = [venv_tool("bucketvault"), "service", "add", name, "--endpoint", self.live.url]
        argv += ["--backup-endpoint", self.backup.url, "--access-key", self.live.access_key]
        argv += ["--replace"]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SystemExit(f"service add failed: {out.stderr}")

    def argv(self, contender: str, service: str = SERVICE) -> tuple[list[str], dict[str, str]]:
        env = self.base_env()
        if contender == "history":
            argv = [venv_tool("bucketvault"), f"--name={service}", "plan", "start", "backup"]
            argv += ["-p", f"ACCESS_KEY_ID={self.backup.access_key}"]
            argv += ["-p", f"SECRET_ACCESS_KEY={self.backup.secret_key}"]
            return argv, env
        if contender == "mirror":
            env["BUCKETVAULT_ALIAS_LIVE"] = _alias(self.live)
            env["BUCKETVAULT_ALIAS_DST"] = _alias(self.backup)
            argv = [venv_tool("bucketvault"), "mirror", f"live/{LIVE}", f"dst/{MIRROR}"]
            return [*argv, "--overwrite", "--remove", "--json"], env
        config = self.scratch / "rclone.conf"
        lines = []
        for name, server in (("live", self.live), ("dst", self.backup)):
            lines += [f"[{name}]", "type = s3", "provider = Other", f"endpoint = {server.url}"]
            lines += [f"access_key_id = {server.access_key}"]
            lines += [f"secret_access_key = {server.secret_key}", "region = us-east-1", ""]
        config.write_text("\n".join(lines))
        argv = [venv_tool("rclone"), "sync", f"live:{LIVE}", f"dst:{RCLONE}", "--config"]
        argv += [str(config), "-q", "--transfers", "32", "--checkers", "32"]
        return [*argv, "--fast-list", "--checksum"], env

    def run(
        self,
        contender: str,
        phase: str,
        rep: int,
        *,
        wrap: Callable[[list[str]], list[str]] | None = None,
        after: Callable[[], dict[str, Any]] | None = None,
        service: str = SERVICE,
    ) -> dict[str, Any]:
        """Run one contender, measured; `after` is called as soon as the command exits,
        before the target is checked (the check's own listings are not the contender's),
        and what it returns is added to the record."""
        argv, env = self.argv(contender, service)
        if wrap is not None:
            argv = wrap(argv)
        load = os.getloadavg()[0]
        src = src_digest()
        before = server_cpu(self.live, self.backup)
        m = run_measured(
            argv,
            env=env,
            cwd=self.scratch,
            log=self.logs / f"{contender}.log",
            timeout=self.timeout,
        )
        record: dict[str, Any] = {
            "contender": contender,
            "phase": phase,
            "rep": rep,
            "wall_s": m.wall_s,
            "peak_rss_bytes": m.peak_rss_bytes,
            "client_cpu_s": m.cpu_s,
            "server_cpu_s": server_cpu(self.live, self.backup) - before,
            "loadavg_1m_before": load,
            "src": src,
            "returncode": m.returncode,
        }
        if after is not None:
            record.update(after())
        record["status"] = (
            self.check(contender, f"{service}-{LIVE}")
            if m.returncode == 0
            else ("timed out" if m.timed_out else f"exit code {m.returncode}")
        )
        log(
            f"  {contender:8} {phase:9} rep {rep}: {m.wall_s:7.2f} s  rss "
            f"{m.peak_rss_bytes / 1e6:6.1f} MB  cpu {m.cpu_s:6.2f} s  server cpu "
            f"{record['server_cpu_s']:6.2f} s  load {load:.2f}  {record['status']}"
        )
        return record

    def check(self, contender: str, backup_bucket: str = BACKUP) -> str:
        """The target holds exactly the live keys, with the live ETags."""
        want = list_etags(self.live, LIVE)
        target = backup_bucket if contender == "history" else TARGETS[contender]
        found = list_etags(self.backup, target, skip_meta=contender == "history")
        missing = sum(1 for k in want if k not in found)
        wrong = sum(1 for k in want if k in found and found[k] != want[k])
        extra = sum(1 for k in found if k not in want)
        if missing or wrong or extra:
            return f"WRONG target: {missing} missing, {wrong} differ, {extra} extra"
        return "ok"


def src_digest() -> str:
    """A digest of the source being measured: other work may edit src/ during a run."""
    digest = hashlib.sha256()
    for path in sorted((BENCH.parent / "src").rglob("*.py")):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _alias(server: LoopbackServer) -> str:
    return f"http://{server.access_key}:{server.secret_key}@127.0.0.1:{server.port}"


def latest_snapshot(server: LoopbackServer, *, download: bool = False) -> dict[str, Any]:
    """The newest snapshot in the backup bucket: its record bytes and object count."""
    snaps = list_meta(server, BACKUP, META + "snapshots/")
    ids = sorted(k[: -len(".json")] for k in snaps if k.endswith(".json"))
    if not ids:
        return {}
    newest = ids[-1]
    client = s3_client(server)
    header = json.loads(client.get_object(Bucket=BACKUP, Key=newest + ".json")["Body"].read())
    records = snaps[newest + ".jsonl.gz"]
    out = {
        "id": newest.rsplit("/", 1)[-1],
        "snapshots": len(ids),
        "objects": header.get("objects"),
        "records_gz_bytes": records,
        "header_bytes": snaps[newest + ".json"],
        "gz_bytes_per_object": records / max(1, header.get("objects") or 1),
    }
    if download:
        body = client.get_object(Bucket=BACKUP, Key=newest + ".jsonl.gz")["Body"].read()
        raw = gzip.decompress(body)
        lines = raw.splitlines()
        out["records_raw_bytes"] = len(raw)
        out["raw_bytes_per_object"] = len(raw) / max(1, header.get("objects") or 1)
        out["example_record"] = lines[1].decode() if len(lines) > 1 else ""
    archived = list_meta(server, BACKUP, META + "archive/")
    out["archived_objects"] = len(archived)
    out["archived_bytes"] = sum(archived.values())
    return out


# request counting -------------------------------------------------------------------------


def count_round(bench: Bench, rep: int, size: int, fraction: float) -> dict[str, Any]:
    """Restart both servers at debug level on the same data and ports, make one more
    change, and count what each contender asks of each server (change, then no-op)."""
    roots = (bench.live.root, bench.backup.root)
    ports = (bench.live.port, bench.backup.port)
    bench.live.stop()
    bench.backup.stop()
    bench.live = start_server(roots[0], port=ports[0], logging=True)
    bench.backup = start_server(roots[1], port=ports[1], logging=True)
    # hash every file again (a restarted server has lost its ETag cache), untimed
    list_etags(bench.live, LIVE)
    for bucket in TARGETS.values():
        list_etags(bench.backup, bucket)
    change = change_live(bench.live, rep, size, fraction)
    counts: dict[str, Any] = {"change": change.__dict__}
    for phase in ("change", "no-op"):
        for contender in CONTENDERS:
            assert isinstance(bench.live, LoggingServer) and isinstance(bench.backup, LoggingServer)
            sides = {"live": bench.live, "backup": bench.backup}
            seen = {side: server.log.stat().st_size for side, server in sides.items()}

            def requests(
                sides: dict[str, LoggingServer] = sides, seen: dict[str, int] = seen
            ) -> dict[str, Any]:
                time.sleep(0.2)  # let the servers finish their last log lines
                per_side = {}
                for side, server in sides.items():
                    with open(server.log, "rb") as f:
                        f.seek(seen[side])
                        text = f.read().decode(errors="replace")
                    found = collections.Counter(OPERATION.findall(text))
                    per_side[side] = dict(sorted(found.items()))
                total = sum(sum(c.values()) for c in per_side.values())
                return {"requests": per_side, "requests_total": total}

            record = bench.run(contender, phase, rep, after=requests)
            counts[f"{contender}/{phase}"] = record
            log(f"    requests: {record['requests']}")
    return counts


# report -------------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], contender: str, phase: str, field: str) -> float | None:
    values = [
        r[field]
        for r in runs
        if r["contender"] == contender and r["phase"] == phase and r["status"] == "ok"
    ]
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "MB":
        return f"{value / 1e6:,.0f}"
    if unit == "n":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def markdown(doc: dict[str, Any]) -> str:
    runs = doc["runs"]
    counts = doc.get("requests", {})
    lines = [
        "| run | contender | seconds (median) | every run s | peak RSS MB | client CPU s "
        "| server CPU s | S3 requests | seconds vs mirror | seconds vs rclone |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase, title in (("full", "first full copy"), ("change", "1% changed"), ("no-op", "no-op")):
        base = {c: median_of(runs, c, phase, "wall_s") for c in CONTENDERS}
        for contender in CONTENDERS:
            every = [  # a run that failed is shown, marked, and left out of the medians
                f"{r['wall_s']:.2f}" + ("" if r["status"] == "ok" else f" ({r['status']})")
                for r in runs
                if r["contender"] == contender and r["phase"] == phase
            ]
            req = counts.get(f"{contender}/{phase}", {}).get("requests_total")
            lines.append(
                f"| {title} | {contender} | {fmt(base[contender])} | {' / '.join(every)} | "
                f"{fmt(median_of(runs, contender, phase, 'peak_rss_bytes'), 'MB')} | "
                f"{fmt(median_of(runs, contender, phase, 'client_cpu_s'))} | "
                f"{fmt(median_of(runs, contender, phase, 'server_cpu_s'))} | "
                f"{fmt(req, 'n') if req is not None else '—'} | "
                f"{ratio(base[contender], base['mirror'])} | "
                f"{ratio(base[contender], base['rclone'])} |"
            )
    out = "\n".join(lines) + "\n"
    if counts:
        out += "\nS3 requests by operation (the counting round; live server / backup server):\n\n"
        out += "| run | contender | live | backup |\n|---|---|---|---|\n"
        for phase in ("change", "no-op"):
            for contender in CONTENDERS:
                rec = counts.get(f"{contender}/{phase}")
                if rec is None:
                    continue
                sides = [
                    ", ".join(f"{op} {n:,}" for op, n in rec["requests"][s].items()) or "—"
                    for s in ("live", "backup")
                ]
                out += f"| {phase} | {contender} | {sides[0]} | {sides[1]} |\n"
    loads = [r["loadavg_1m_before"] for r in runs]
    if loads:
        out += (
            f"\n1-minute load average before the runs: {min(loads):.1f}-{max(loads):.1f} "
            f"(median {statistics.median(loads):.1f}) on {doc['machine']['nproc']} CPUs.\n"
        )
    sources = sorted({r.get("src") for r in runs} - {None})
    if len(sources) > 1:
        out += (
            f"\n**src/ changed during the benchmark** ({len(sources)} versions: "
            f"{', '.join(sources)}): runs measured different code.\n"
        )
    snap = doc.get("snapshot", {})
    if snap:
        out += (
            f"\nSnapshot records: {snap['records_gz_bytes']:,} bytes gzip for "
            f"{snap['objects']:,} objects = **{snap['gz_bytes_per_object']:.1f} bytes/object** "
            f"({snap.get('raw_bytes_per_object', 0):.0f} bytes/object uncompressed); header "
            f"{snap['header_bytes']:,} bytes; {snap['snapshots']} snapshots in the bucket; "
            f"{snap['archived_objects']:,} archived copies ({snap['archived_bytes']:,} bytes).\n"
        )
    return out


def print_summary(doc: dict[str, Any]) -> None:
    runs = doc["runs"]
    print()
    print(markdown(doc))
    for phase in ("change", "no-op"):
        h = {
            f: median_of(runs, "history", phase, f)
            for f in ("wall_s", "peak_rss_bytes", "client_cpu_s", "server_cpu_s")
        }
        m = {f: median_of(runs, "mirror", phase, f) for f in h}
        print(
            f"{phase:7} history/mirror: time {ratio(h['wall_s'], m['wall_s'])}, "
            f"RSS {ratio(h['peak_rss_bytes'], m['peak_rss_bytes'])}, "
            f"client CPU {ratio(h['client_cpu_s'], m['client_cpu_s'])}, "
            f"server CPU {ratio(h['server_cpu_s'], m['server_cpu_s'])}"
        )


# main ----------------------------------------------------------------------------------------


def pyspy_wrap(out: Path) -> Callable[[list[str]], list[str]]:
    def wrap(argv: list[str]) -> list[str]:
        spy = venv_tool("py-spy")
        return [spy, "record", "--format", "raw", "--rate", "200", "-o", str(out), "--", *argv]

    return wrap


# Where a backup's samples go: the first phase (in this order) whose frame is on the stack.
PHASES = (
    ("imports (start-up, and modules imported on first use)", ("_find_and_load (",)),
    ("archive the replaced copy (HEAD, HEAD, GET, PUT)", ("BackupTarget._preserve (",)),
    ("read the parent snapshot into the journal", ("fill_journal (",)),
    ("count the new snapshot (journal.merged)", ("_header (bucketvault/tasks/backup.py",)),
    ("write the new snapshot (journal.merged, gzip, PUT)", ("catalog.py", "_lines (")),
    ("copy changed objects (GET, PUT, journal)", ("copy_object (",)),
    ("delete removed objects", ("BackupTarget.delete (",)),
    ("list live + compare with the journal", ("list_and_decide (", "merge (", "s3_listing.py")),
    ("plan: list the live buckets", ("ServicePlans._live_buckets (",)),
    ("synchronize-buckets step", ("run_synchronize (",)),
    ("init step", ("run_init (",)),
    ("plan state (SQLite)", ("StateStore.",)),
    ("S3 request paths made", ("S3Wire.",)),
    ("thread pool (waiting or in C)", ("_worker (concurrent/futures/thread.py",)),
    ("other (event loop, aiohttp, unknown frames)", ("",)),
)


def summarize_profile(path: Path, top: int = 40) -> str:
    """Where a py-spy `--format raw` profile spends its samples: by phase of the backup,
    and bucketvault's functions (lines merged) by inclusive share."""
    inclusive: collections.Counter[str] = collections.Counter()
    phases: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
        for frame in set(frames):
            if "bucketvault/" in frame:
                inclusive[frame] += n
        phases[
            next(label for label, marks in PHASES if any(m in f for f in frames for m in marks))
        ] += n
    out = [f"{total:,} samples (all threads, busy only)", "", "by phase:"]
    out += [f"  {n / total:6.1%}  {label}" for label, n in phases.most_common()]
    out += ["", "bucketvault functions, inclusive:"]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000, help="default 100,000")
    parser.add_argument("--size", type=int, default=KiB, help="bytes per object (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--fraction", type=float, default=0.01, help="share changed per repeat")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per command")
    parser.add_argument("--no-count", action="store_true", help="skip the request-counting round")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="end with one more change, backed up under py-spy, then a no-op backup under it",
    )
    parser.add_argument(
        "--profile-full",
        action="store_true",
        help="end with a first full backup (service `prof`, bucket prof-live) under py-spy",
    )
    parser.add_argument(
        "--summarize",
        type=Path,
        default=None,
        help="print a py-spy raw profile's summary (runs nothing)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="print an earlier results JSON's tables again"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default bench/results/history-<UTC time>.json"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the servers keep their data"
    )
    args = parser.parse_args(argv)
    if args.summarize is not None:
        print(summarize_profile(args.summarize))
        return 0
    if args.report is not None:
        print_summary(json.loads(args.report.read_text()))
        return 0
    if args.objects < 10 or args.repeat < 1 or args.size < 64:
        parser.error("--objects >= 10, --repeat >= 1, --size >= 64")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or BENCH / "results" / f"history-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.with_suffix(".logs")
    logs.mkdir(parents=True, exist_ok=True)
    command = "python bench/history.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    info["loadavg_at_start"] = os.getloadavg()
    log(
        f"{command}\nmachine: {info['nproc']} CPUs, git {info['git']}, "
        f"load {info['loadavg_at_start']}"
    )
    runs: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"command": command, "started": stamp, "machine": info, "runs": runs}

    with tempfile.TemporaryDirectory(prefix="bv-history-", dir=args.workdir) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        seed(work / "live" / "rclone-data", args.objects, args.size)
        live = start_server(work / "live" / "rclone-data")
        backup = start_server(work / "backup" / "rclone-data")
        scratch = work / "scratch"
        scratch.mkdir()
        bench = Bench(live, backup, work / "home", scratch, logs, args.timeout)
        try:
            s3 = s3_client(backup)
            for bucket in (MIRROR, RCLONE):
                s3.create_bucket(Bucket=bucket)
            if len(list_etags(live, LIVE)) != args.objects:  # hashes every file, untimed
                raise SystemExit("the live bucket does not hold what was written")
            log(
                f"live bucket ready: {args.objects:,} x {args.size} B "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            bench.add_service()

            for contender in CONTENDERS:
                runs.append(bench.run(contender, "full", 0))
            doc["first_snapshot"] = latest_snapshot(bench.backup)
            log(f"  first snapshot: {doc['first_snapshot']}")

            for rep in range(1, args.repeat + 1):
                change = change_live(bench.live, rep, args.size, args.fraction)
                log(f"repeat {rep}: {change}")
                order = CONTENDERS[rep % 3 :] + CONTENDERS[: rep % 3]
                for contender in order:
                    runs.append(bench.run(contender, "change", rep))
                for contender in order:
                    runs.append(bench.run(contender, "no-op", rep))
                doc["snapshot"] = latest_snapshot(bench.backup, download=rep == args.repeat)
                log(
                    "  snapshot: "
                    + str({k: v for k, v in doc["snapshot"].items() if k != "example_record"})
                )
            doc["change"] = change.__dict__

            if not args.no_count:
                log("counting round (servers at debug level; not timed for the table)")
                doc["requests"] = count_round(bench, args.repeat + 1, args.size, args.fraction)

            if args.profile:
                prof = logs / "history-backup.pyspy.txt"
                change_live(bench.live, args.repeat + 2, args.size, args.fraction)
                log(f"profile: one more backup under py-spy -> {prof}")
                doc["profile_run"] = bench.run(
                    "history", "profiled", args.repeat + 2, wrap=pyspy_wrap(prof)
                )
                doc["profile_file"] = str(prof)
                prof.with_suffix(".summary.txt").write_text(summarize_profile(prof))
                prof = logs / "history-noop-backup.pyspy.txt"
                log(f"profile: a no-op backup under py-spy -> {prof}")
                doc["profile_noop_run"] = bench.run(
                    "history", "profiled-noop", args.repeat + 2, wrap=pyspy_wrap(prof)
                )
                doc["profile_noop_file"] = str(prof)
                prof.with_suffix(".summary.txt").write_text(summarize_profile(prof))

            if args.profile_full:
                prof = logs / "history-full-backup.pyspy.txt"
                bench.add_service("prof")
                log(f"profile: a full backup into prof-live under py-spy -> {prof}")
                doc["profile_full_run"] = bench.run(
                    "history", "profiled-full", 0, wrap=pyspy_wrap(prof), service="prof"
                )
                doc["profile_full_file"] = str(prof)
                prof.with_suffix(".summary.txt").write_text(summarize_profile(prof))
        finally:
            bench.live.stop()
            bench.backup.stop()
            doc["loadavg_at_end"] = os.getloadavg()

    out.write_text(json.dumps(doc, indent=2, default=str))
    md = f"`{command}`\n\n" + markdown(doc)
    out.with_suffix(".md").write_text(md)
    print_summary(doc)
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
