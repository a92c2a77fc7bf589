"""A Ray cluster for the scale-out tests: one head node on 127.0.0.1, started once per
session with `ray start --head` and stopped at its end.

Everything about it is private to the session, so tests never touch another Ray cluster
running on this machine (nor the user's `~/.ray`): its own `--temp-dir`, its own Ray
auth token file, its own bucketvault cluster key (`$BUCKETVAULT_CLUSTER_KEY_FILE`, in the
environment of `ray start`, so every worker reads it). It is stopped by killing exactly
the processes it started (found by its temp dir), not with `ray stop`, which would stop
every Ray process of this user on the machine.

Ray makes a node reachable from other machines by default: given `127.0.0.1` it picks the
machine's outside address instead. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (Ray's switch for
single-machine use) keeps the head, its workers and the driver on loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bucketvault.loopback import LOOPBACK, free_port
from bucketvault.scaleout.sealing import CLUSTER_KEY_ENV, KEY_BYTES

RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class RayCluster:
    address: str
    temp_dir: Path
    key_file: Path
    env: dict[str, str]  # what a driver of this cluster needs in its environment

    def processes(self) -> list[psutil.Process]:
        """The cluster's own processes (head services, raylet, its workers)."""
        return cluster_processes(self.temp_dir)

    def workers_running(self, marker: str = "ray::_ray_perform") -> list[psutil.Process]:
        """Worker processes of this cluster busy with a bucketvault range."""
        found = []
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(proc.cmdline()):
                    found.append(proc)
        return found


def cluster_processes(temp_dir: Path) -> list[psutil.Process]:
    """Ray processes whose command line names `temp_dir`, and all their descendants
    (workers rename themselves `ray::...`, so they are found as the raylet's children)."""
    roots = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.pid == os.getpid() or not any("site-packages/ray" in a for a in cmdline):
            continue
        if any(str(temp_dir) in a for a in cmdline):
            roots.append(proc)
    found = {p.pid: p for p in roots}
    for proc in roots:
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                found[child.pid] = child
    return list(found.values())


def _stop(temp_dir: Path) -> None:
    procs = cluster_processes(temp_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=1)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    # Ray's socket paths must fit in 107 bytes: a short directory, not pytest's tmp_path
    temp_dir = Path(tempfile.mkdtemp(prefix="bvray-", dir="/tmp"))
    key_file = temp_dir / "cluster.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(secrets.token_bytes(KEY_BYTES))
    token_file = temp_dir / "ray-token"
    token_file.touch(mode=0o600)
    token_file.write_text(secrets.token_hex(32))
    port = free_port()
    env = {
        CLUSTER_KEY_ENV: str(key_file),
        "RAY_ADDRESS": f"{LOOPBACK}:{port}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    head_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    head_env.update({k: v for k, v in env.items() if k != "RAY_ADDRESS"})
    head_env["BUCKETVAULT_HOME"] = str(temp_dir / "home")
    command = [
        RAY, "start", "--head",
        f"--node-ip-address={LOOPBACK}", f"--port={port}",
        "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
        f"--temp-dir={temp_dir / 'r'}",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            env=head_env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        print(f"ray head started in {time.monotonic() - started:.1f} s at {env['RAY_ADDRESS']}")
        yield RayCluster(env["RAY_ADDRESS"], temp_dir / "r", key_file, env)
    finally:
        _stop(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def on_ray(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> RayCluster:
    """This test drives `ray_cluster`: its address, auth and cluster key in the env."""
    for name, value in ray_cluster.env.items():
        monkeypatch.setenv(name, value)
    return ray_cluster
