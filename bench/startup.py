"""Start-up time: `bucketvault --version`, `--help` and a no-op mirror of 10 objects,
against `rclone version` and rclone's no-op sync of the same bucket.

Both sides are `rclone serve s3` servers on 127.0.0.1 that already hold the same 10
objects of 1 KiB (as in run.py's NOOP workload). Each command runs `--runs` times, the
commands taking turns, and the median wall time (process start to exit) and median CPU
time (user + system, which a busy machine disturbs less) are printed.

    .venv/bin/python bench/startup.py --runs 10
    # two trees of bucketvault taking turns (e.g. `git archive` of two commits):
    .venv/bin/python bench/startup.py --runs 20 --variant a=/tmp/a/src --variant b=/tmp/b/src
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bucketvault.loopback import LoopbackServer
from run import list_sizes, start_server
from tools import Job, bucketvault_steps, rclone_steps, venv_tool
from workloads import noop_workload, write_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=SRC",
        help="time bucketvault imported from SRC (as PYTHONPATH); repeatable, interleaved",
    )
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) or {"": ""}

    workload = noop_workload(args.objects)
    with tempfile.TemporaryDirectory(prefix="bv-startup-") as tmp:
        wdir = Path(tmp)
        src_root, dst_root = wdir / "src", wdir / "dst"
        manifest = write_source(workload, src_root)
        shutil.copytree(src_root, dst_root)
        servers: list[LoopbackServer] = [start_server(src_root), start_server(dst_root)]
        try:
            for server in servers:  # untimed: rclone serve s3 hashes every file once
                if list_sizes(server, workload.bucket) != manifest:
                    raise SystemExit("listing does not match what was written")
            (wdir / "scratch").mkdir()
            job = Job(
                bucket=workload.bucket, src=servers[0], dst=servers[1], scratch=wdir / "scratch"
            )
            (mirror,) = bucketvault_steps(job)
            (sync,) = rclone_steps(
                "--transfers", "32", "--checkers", "32", "--checksum", "--fast-list"
            )(job)
            commands: dict[str, tuple[list[str], dict[str, str]]] = {}
            for label, src in variants.items():
                env = {**mirror.env, "PYTHONPATH": src} if src else mirror.env
                tag = f"[{label}] " if label else ""
                commands |= {
                    f"{tag}bucketvault --version": ([venv_tool("bucketvault"), "--version"], env),
                    f"{tag}bucketvault --help": ([venv_tool("bucketvault"), "--help"], env),
                    f"{tag}bucketvault mirror (no-op, {args.objects})": (mirror.argv, env),
                }
            commands |= {
                "rclone version": ([venv_tool("rclone"), "version"], sync.env),
                f"rclone sync t32+checksum (no-op, {args.objects})": (sync.argv, sync.env),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            cpu: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, (argv, env) in commands.items():
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.perf_counter()
                    done = subprocess.run(argv, env=env, capture_output=True)
                    times[name].append(time.perf_counter() - started)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu[name].append(
                        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                    )
                    if done.returncode != 0:
                        raise SystemExit(f"{name} exited {done.returncode}: {done.stderr.decode()}")
        finally:
            for server in servers:
                server.stop()
    print(f"median of {args.runs} interleaved runs: wall clock (min-max), CPU")
    for name, secs in times.items():
        print(
            f"  {name:50} {statistics.median(secs):6.3f} s  ({min(secs):.3f}-{max(secs):.3f})"
            f"  CPU {statistics.median(cpu[name]):6.3f} s"
        )


if __name__ == "__main__":
    sys.exit(main())
