"""Fixtures for the security suite: an HTTPS S3 server on loopback with a private CA."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from bucketvault.loopback import LOOPBACK, LoopbackServer, _tool, free_port


@dataclass
class TlsServer:
    """moto_server speaking HTTPS with a certificate for 127.0.0.1 signed by a test CA."""

    server: LoopbackServer
    ca_bundle: Path

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.server.port}"


def _wait_https(url: str, cafile: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    for _ in range(600):  # ~30 s
        if process.poll() is not None:
            raise RuntimeError(f"moto_server (TLS) exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "/", timeout=1, context=context).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto_server (TLS) did not answer on {url}")


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A private CA and its PEM file (nothing trusts it unless told to)."""
    ca = trustme.CA()
    ca_pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    return ca, ca_pem


@contextlib.contextmanager
def tls_moto_server(workdir: Path, ca: trustme.CA, ca_pem: Path) -> Iterator[TlsServer]:
    """moto_server on a free loopback port, HTTPS with a certificate for 127.0.0.1."""
    cert = ca.issue_cert(LOOPBACK)
    key_pem = workdir / "server-key.pem"
    chain_pem = workdir / "server-chain.pem"
    cert.private_key_pem.write_to_path(str(key_pem))
    chain_pem.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    root = workdir / "moto-data"
    root.mkdir()
    server = LoopbackServer(kind="moto", port=free_port(), root=root)
    log = open(workdir / "moto-tls.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            _tool("moto_server"),
            "-H",
            LOOPBACK,
            "-p",
            str(server.port),
            "--ssl-cert",
            str(chain_pem),
            "--ssl-key",
            str(key_pem),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        start_new_session=True,
    )
    log.close()
    server.process = process
    tls = TlsServer(server=server, ca_bundle=ca_pem)
    try:
        _wait_https(tls.url, ca_pem, process)
        yield tls
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def tls_moto(
    tmp_path_factory: pytest.TempPathFactory, test_ca: tuple[trustme.CA, Path]
) -> Iterator[TlsServer]:
    with tls_moto_server(tmp_path_factory.mktemp("tls"), *test_ca) as server:
        yield server
