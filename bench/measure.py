"""Run one command and measure it: wall clock, peak RSS, CPU time.

The command runs under a small, fresh Python child (`rusage_wrapper.py`), which waits
for it and reports `getrusage(RUSAGE_CHILDREN)`. The indirection matters: on Linux a
child inherits its parent's RSS high-water mark through fork+exec, so `ru_maxrss` of a
command forked straight from the benchmark (which holds workload data in memory) would
report the benchmark's own size. Forked from the small wrapper, it reports its own.

Peak RSS is taken two ways and the larger one is reported:
- `ru_maxrss` (above): the largest resident set of the command or any descendant it
  waited for (the kernel's number, no sampling gaps);
- a psutil poll every 200 ms of the *sum* of RSS over the command's live process tree,
  which catches tools that run several large processes at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.2
WRAPPER = Path(__file__).with_name("rusage_wrapper.py")


@dataclass(frozen=True)
class Measurement:
    argv: list[str]
    returncode: int
    wall_s: float
    maxrss_bytes: int  # ru_maxrss of the command (and the descendants it reaped)
    tree_rss_bytes: int  # peak of the polled sum over the live process tree
    cpu_s: float  # user + system time of the command and its reaped descendants
    timed_out: bool

    @property
    def peak_rss_bytes(self) -> int:
        return max(self.maxrss_bytes, self.tree_rss_bytes)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "peak_rss_bytes": self.peak_rss_bytes}


def _tree_rss(wrapper: psutil.Process) -> int:
    """Summed RSS of everything below the wrapper (the wrapper itself is not counted)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for proc in wrapper.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    timeout: float,
) -> Measurement:
    """Run `argv` to completion (or kill it after `timeout` seconds) and measure it."""
    report = log.with_name(log.name + ".rusage")
    report.unlink(missing_ok=True)
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, str(WRAPPER), str(report), *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the wrapper and the command share one process group
        )
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            wrapper = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.wait(POLL_SECONDS):
            peak = max(peak, _tree_rss(wrapper))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    timed_out = False
    started = time.perf_counter()
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
    outer_wall = time.perf_counter() - started
    try:
        usage = json.loads(report.read_text())
    except (OSError, ValueError):  # killed before it could write its report
        usage = {"returncode": proc.returncode, "wall_s": outer_wall, "maxrss_kib": 0, "cpu_s": 0}
    report.unlink(missing_ok=True)
    return Measurement(
        argv=argv,
        returncode=-9 if timed_out else int(usage["returncode"]),
        wall_s=float(usage["wall_s"]),
        maxrss_bytes=int(usage["maxrss_kib"]) * 1024,  # Linux reports KiB
        tree_rss_bytes=peak,
        cpu_s=float(usage["cpu_s"]),
        timed_out=timed_out,
    )
