"""Store fixtures: a fresh bucket on each real loopback S3 server and on a local root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bucketvault.loopback import LoopbackServer
from bucketvault.store import (
    Bucket,
    LocalEndpoint,
    ObjectAttributes,
    RetryPolicy,
    S3Endpoint,
    WriteResult,
)
from tests.conftest import new_bucket_name

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.02, max_delay=0.2)

# SeaweedFS is not in the general `s3` parametrization (a third run of every test);
# tests that are cheap and tell something about a server take this mark instead
WITH_SEAWEED = pytest.mark.parametrize("s3", ["moto", "rclone", "seaweed"], indirect=True)

# every attribute an object carries, with values that test quoting and encoding
ATTRIBUTES = ObjectAttributes(
    content_type="text/x-bucketvault; charset=utf-8",
    content_encoding="gzip",
    content_disposition='attachment; filename="a b.txt"',
    content_language="de-CH",
    cache_control="max-age=60, private",
    metadata={"owner": "alice", "bucketvault-md5": "0" * 32},
    tags={"team": "storage ops", "tier": "gold+1"},
)


@dataclass
class StoreUnderTest:
    kind: str  # "moto", "rclone", "seaweed" or "local"
    endpoint: S3Endpoint | LocalEndpoint
    bucket: Bucket


@pytest_asyncio.fixture(loop_scope="function")
async def s3_endpoint(s3: LoopbackServer) -> AsyncIterator[S3Endpoint]:
    endpoint = S3Endpoint(s3.endpoint(), retry_policy=FAST_RETRY)
    try:
        yield endpoint
    finally:
        await endpoint.close()


@pytest_asyncio.fixture(loop_scope="function")
async def s3_bucket(s3_endpoint: S3Endpoint) -> Bucket:
    bucket = s3_endpoint.bucket(new_bucket_name())
    await bucket.create()
    return bucket


@pytest.fixture
def local_endpoint(tmp_path: Path) -> LocalEndpoint:
    root = tmp_path / "root"
    root.mkdir()
    return LocalEndpoint(root)


@pytest_asyncio.fixture(loop_scope="function", params=["moto", "rclone", "seaweed", "local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    """Each test using this runs against moto, rclone, SeaweedFS and a local directory."""
    kind: str = request.param
    endpoint: S3Endpoint | LocalEndpoint
    if kind == "local":
        root = tmp_path / "root"
        root.mkdir()
        endpoint = LocalEndpoint(root)
    else:
        server: LoopbackServer = request.getfixturevalue(kind)
        endpoint = S3Endpoint(server.endpoint(), retry_policy=FAST_RETRY)
    try:
        bucket = endpoint.bucket(new_bucket_name())
        await bucket.create()
        yield StoreUnderTest(kind, endpoint, bucket)
    finally:
        await endpoint.close()


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(bucket: Bucket, key: str) -> bytes:
    async with bucket.open(key) as reader:
        return b"".join([chunk async for chunk in reader.chunks()])


async def list_keys(bucket: Bucket, start_after: str | None = None) -> list[str]:
    return [info.key async for info in bucket.list(start_after=start_after)]


async def put(
    bucket: Bucket, key: str, data: bytes, attributes: ObjectAttributes | None = None
) -> WriteResult:
    return await bucket.write(
        key, chunks_of(data), size=len(data), attributes=attributes or ObjectAttributes()
    )
