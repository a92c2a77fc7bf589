"""TLS: HTTPS endpoints with a private CA work when the CA bundle is given, are refused
(one clear line) when it is not, and work with an explicit --insecure — for plain keys
and for keys some servers rename (which bucketvault checks with an extra listing)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from botocore.config import Config

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.errors import ExitCode, PermanentStoreError, StoreError
from bucketvault.history.layout import storage_key
from bucketvault.store import ObjectAttributes, open_endpoint
from bucketvault.store.s3 import S3Endpoint
from tests.e2e.helpers import Result, run_cli
from tests.security.conftest import TlsServer, tls_moto_server

# plain keys and keys some servers rename
KEYS = {"plain.txt": b"plain", "dir/obj.bin": b"x" * 3000, "a//b": b"double", "/lead": b"lead"}
# in a backup bucket, keys some servers rewrite are stored under `.bucketvault/keys/`
BACKED_UP = {storage_key(key): body for key, body in KEYS.items()}


def tls_boto(tls: TlsServer) -> Any:
    return _boto(tls.url, tls.server.access_key, tls.server.secret_key, str(tls.ca_bundle))


@functools.cache
def _boto(url: str, access_key: str, secret_key: str, ca_bundle: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        verify=ca_bundle,
        config=Config(s3={"addressing_style": "path"}),
    )


def seeded_bucket(tls: TlsServer) -> str:
    client = tls_boto(tls)
    bucket = f"tls-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    for key, body in KEYS.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def read_bucket(tls: TlsServer, bucket: str) -> dict[str, bytes]:
    """Every object's bytes (a backup bucket's snapshot records left out)."""
    client = tls_boto(tls)
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith(".bucketvault/snapshots/"):
                continue
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def set_alias(name: str, tls: TlsServer, *extra: str) -> None:
    result = run_cli(
        "alias",
        "set",
        name,
        tls.url,
        "--access-key",
        tls.server.access_key,
        "--secret-stdin",
        *extra,
        input=tls.server.secret_key + "\n",
    )
    assert result.exit_code == 0, result.stderr


def assert_untrusted(result: Result) -> None:
    """Non-zero, and one line on stderr that says why and what to do."""
    assert result.exit_code == ExitCode.STORE, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0].lower()
    assert line.startswith("error: ")
    assert "certificate" in line and "not trusted" in line, line
    assert "--ca-bundle" in line and "--insecure" in line, line
    assert "traceback" not in result.stdout.lower() + line


def test_mirror_alias_with_ca_bundle(tls_moto: TlsServer) -> None:
    bucket = seeded_bucket(tls_moto)
    set_alias("tls", tls_moto, "--ca-bundle", str(tls_moto.ca_bundle))
    # HTTPS → HTTPS: reads and writes on both data paths
    tls_boto(tls_moto).create_bucket(Bucket=f"{bucket}-copy")
    result = run_cli("mirror", f"tls/{bucket}", f"tls/{bucket}-copy")
    assert result.exit_code == 0, result.stderr
    assert read_bucket(tls_moto, f"{bucket}-copy") == KEYS


def test_mirror_alias_without_ca_bundle_is_refused(tls_moto: TlsServer, tmp_path: Path) -> None:
    bucket = seeded_bucket(tls_moto)
    # `alias set` tests the endpoint first and refuses to save an untrusted one
    refused = run_cli(
        "alias", "set", "tls", tls_moto.url, "--access-key", "k", "--secret-stdin", input="s\n"
    )
    assert_untrusted(refused)
    assert "not saved" in refused.stderr and "--no-check" in refused.stderr
    set_alias("tls", tls_moto, "--no-check")
    (tmp_path / "copy").mkdir()
    assert_untrusted(run_cli("mirror", f"tls/{bucket}", f"file://{tmp_path}/copy"))
    assert not any((tmp_path / "copy").iterdir())
    # as a target too: a local source mirrored to the untrusted endpoint
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_bytes(b"local")
    assert_untrusted(run_cli("mirror", f"file://{tmp_path}/src", f"tls/{bucket}"))
    assert "f.txt" not in read_bucket(tls_moto, bucket)


def test_mirror_alias_insecure(tls_moto: TlsServer, tmp_path: Path) -> None:
    bucket = seeded_bucket(tls_moto)
    set_alias("tls", tls_moto, "--insecure")
    tls_boto(tls_moto).create_bucket(Bucket=f"{bucket}-copy")
    result = run_cli("mirror", f"tls/{bucket}", f"tls/{bucket}-copy")
    assert result.exit_code == 0, result.stderr
    assert read_bucket(tls_moto, f"{bucket}-copy") == KEYS


def _endpoint(tls: TlsServer, **tls_options: Any) -> EndpointConfig:
    return EndpointConfig(
        url=tls.url,
        access_key_id=tls.server.access_key,
        secret_access_key=Secret(tls.server.secret_key),
        **tls_options,
    )


async def _chunks(body: bytes) -> Any:
    yield body


async def _round_trip(cfg: EndpointConfig, bucket: str, key: str) -> bytes:
    """A write and a read through the store bucketvault builds for `cfg`."""
    endpoint = open_endpoint(cfg)
    try:
        target = endpoint.bucket(bucket)
        await target.write(key, _chunks(b"data"), size=4, attributes=ObjectAttributes(tags={}))
        async with target.open(key) as reader:
            return b"".join([chunk async for chunk in reader.chunks()])
    finally:
        await endpoint.close()


@pytest.mark.parametrize("how", ["ca_bundle", "insecure"])
async def test_store_honours_tls_settings(
    tls_moto: TlsServer, shared_bucket: str, how: str
) -> None:
    options: dict[str, Any] = (
        {"ca_bundle": str(tls_moto.ca_bundle)} if how == "ca_bundle" else {"insecure": True}
    )
    cfg = _endpoint(tls_moto, **options)
    assert await _round_trip(cfg, shared_bucket, f"store-{how}.txt") == b"data"


@pytest.fixture(scope="module")
def shared_bucket(tls_moto: TlsServer) -> str:
    """One seeded bucket for the store-level tests (each writes its own new key)."""
    return seeded_bucket(tls_moto)


# a plain key, and one whose write is confirmed by a listing
PATH_KEYS = [pytest.param("plain.txt", id="plain"), pytest.param("a//b", id="odd")]


@pytest.mark.parametrize("key", PATH_KEYS)
async def test_store_read_and_write_untrusted_is_one_clear_error(
    tls_moto: TlsServer, shared_bucket: str, key: str
) -> None:
    """Each kind of key on its own, read and write, without the CA:
    refused at once (permanent, not retried), in one line that says what to do."""
    bucket = shared_bucket
    endpoint = open_endpoint(_endpoint(tls_moto))
    assert isinstance(endpoint, S3Endpoint)
    try:
        target = endpoint.bucket(bucket)
        with pytest.raises(StoreError) as read_error:
            async with target.open(key) as reader:
                async for _ in reader.chunks():
                    pass
        with pytest.raises(StoreError) as write_error:
            await target.write(
                key + ".new", _chunks(b"new"), size=3, attributes=ObjectAttributes(tags={})
            )
    finally:
        await endpoint.close()
    for error in (read_error.value, write_error.value):
        message = str(error)
        assert isinstance(error, PermanentStoreError), (type(error), message)
        assert "\n" not in message
        assert "not trusted" in message and "--ca-bundle" in message, message
    assert key + ".new" not in read_bucket(tls_moto, bucket)
    assert read_error.value.code == "CertificateNotTrusted"


# -- a service whose live and backup stores both speak HTTPS with the private CA ---------


@pytest.fixture(scope="module")
def tls_backup(
    tmp_path_factory: pytest.TempPathFactory, test_ca: tuple[trustme.CA, Path]
) -> Iterator[TlsServer]:
    with tls_moto_server(tmp_path_factory.mktemp("tls-backup"), *test_ca) as server:
        yield server


@pytest.fixture(scope="module")
def tls_live(
    tmp_path_factory: pytest.TempPathFactory, test_ca: tuple[trustme.CA, Path]
) -> Iterator[TlsServer]:
    with tls_moto_server(tmp_path_factory.mktemp("tls-live"), *test_ca) as server:
        client = tls_boto(server)
        client.create_bucket(Bucket="photos")
        for key, body in KEYS.items():
            client.put_object(Bucket="photos", Key=key, Body=body)
        yield server


def add_service(live: TlsServer, backup: TlsServer, *tls_options: str) -> None:
    result = run_cli(
        "service",
        "add",
        "minio",
        "--replace",
        "--endpoint",
        live.url,
        "--backup-endpoint",
        backup.url,
        "--access-key",
        live.server.access_key,
        "--secret-stdin",
        *tls_options,
        input=live.server.secret_key + "\n",
    )
    assert result.exit_code == 0, result.stderr


def backup_plan(backup: TlsServer) -> Result:
    return run_cli(
        "--name=minio",
        "plan",
        "start",
        "backup",
        "-p",
        f"ACCESS_KEY_ID={backup.server.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={backup.server.secret_key}",
    )


def test_service_with_ca_bundles(tls_live: TlsServer, tls_backup: TlsServer) -> None:
    ca = str(tls_live.ca_bundle)
    add_service(tls_live, tls_backup, "--ca-bundle", ca, "--backup-ca-bundle", ca)
    result = backup_plan(tls_backup)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert read_bucket(tls_backup, "minio-photos") == BACKED_UP


@pytest.mark.parametrize(
    "options",
    [
        pytest.param((), id="no-bundle"),
        pytest.param(("--ca-bundle", "LIVE"), id="live-bundle-only"),
    ],
)
def test_service_without_ca_bundle_is_refused(
    tls_live: TlsServer, tls_backup: TlsServer, options: tuple[str, ...]
) -> None:
    ca = str(tls_live.ca_bundle)
    chosen = [ca if o == "LIVE" else o for o in options]
    # `service add` tests both stores first and refuses to save an untrusted one
    refused = run_cli(
        "service", "add", "minio", "--endpoint", tls_live.url, "--backup-endpoint",
        tls_backup.url, "--access-key", "k", "--secret-stdin", *chosen, input="s\n",
    )  # fmt: skip
    assert_untrusted(refused)
    assert run_cli("service", "show", "minio").exit_code == ExitCode.NOT_FOUND
    add_service(tls_live, tls_backup, "--no-check", *chosen)
    result = backup_plan(tls_backup)
    assert_untrusted(result)
    # nothing was backed up: the plan did not start (live store untrusted: its buckets
    # cannot be listed) or stopped in `init` (backup store untrusted)
    status = run_cli("--name=minio", "plan", "status", "backup").stdout.splitlines()
    assert status[0].endswith(("(WAITING)", "(ERROR)")), status


def test_service_insecure(tls_live: TlsServer, tls_backup: TlsServer) -> None:
    add_service(tls_live, tls_backup, "--insecure")
    result = backup_plan(tls_backup)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert read_bucket(tls_backup, "minio-photos") == BACKED_UP
