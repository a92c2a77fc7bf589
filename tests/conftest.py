"""Shared fixtures: real S3 servers on loopback ports, fresh buckets, a private home."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.loopback import LoopbackServer, loopback_server


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("rclone", tmp_path_factory.mktemp("rclone")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    """SeaweedFS (`weed mini`): not in `s3` (it would add a third run of every test);
    tests/store/conftest.py adds it where it is cheap and tells something."""
    with loopback_server("seaweed", tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture(params=["moto", "rclone"])
def s3(request: pytest.FixtureRequest) -> LoopbackServer:
    """Each test using this runs once against each real loopback S3 server."""
    server: LoopbackServer = request.getfixturevalue(request.param)
    return server


def boto_client(server: LoopbackServer) -> Any:
    """A plain boto3 client, for seeding and inspecting servers independently of bucketvault."""
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 8, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def new_bucket_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def endpoint(s3: LoopbackServer) -> EndpointConfig:
    return s3.endpoint()


@pytest.fixture(autouse=True)
def bucketvault_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config/state home, so nothing leaks between tests."""
    home = tmp_path / "bv-home"
    monkeypatch.setenv("BUCKETVAULT_HOME", str(home))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "BUCKETVAULT_URL"):
        monkeypatch.delenv(var, raising=False)
    return home
