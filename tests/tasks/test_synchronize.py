"""synchronize-buckets keeps an orphaned backup bucket for the retention period."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bucketvault.config.services import BackupStore, ServiceConfig, save_service
from bucketvault.loopback import LoopbackServer, loopback_server
from bucketvault.tasks.backup import run_backup
from bucketvault.tasks.synchronize import orphan_marks, run_synchronize
from tests.conftest import boto_client


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with (
        loopback_server("moto", tmp_path_factory.mktemp("live")) as live,
        loopback_server("moto", tmp_path_factory.mktemp("backup")) as backup,
    ):
        yield live, backup


def test_orphaned_backup_kept_for_retention_then_removed(
    stores: tuple[LoopbackServer, LoopbackServer],
) -> None:
    live, backup = stores
    service = ServiceConfig(
        name="svc", endpoint=live.endpoint(), backup=BackupStore(url=backup.url), retention_days=7
    )
    save_service(service)
    params = {"ACCESS_KEY_ID": backup.access_key, "SECRET_ACCESS_KEY": backup.secret_key}
    client = boto_client(live)
    for bucket in ("keep", "gone"):
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="k", Body=b"v")
        result = asyncio.run(run_backup(service, params, bucket))
        assert not result.errors
    client.delete_object(Bucket="gone", Key="k")
    client.delete_bucket(Bucket="gone")

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    first = asyncio.run(run_synchronize(service, params, now=t0))
    assert "kept" in first.message and "svc-gone" in first.message
    assert set(orphan_marks("svc")) == {"svc-gone"}
    backups = {b["Name"] for b in boto_client(backup).list_buckets()["Buckets"]}
    assert backups == {"svc-keep", "svc-gone"}

    asyncio.run(run_synchronize(service, params, now=t0 + timedelta(days=6)))
    assert "svc-gone" in {b["Name"] for b in boto_client(backup).list_buckets()["Buckets"]}

    last = asyncio.run(run_synchronize(service, params, now=t0 + timedelta(days=7, hours=1)))
    assert "removed after retention: svc-gone" in last.message
    assert {b["Name"] for b in boto_client(backup).list_buckets()["Buckets"]} == {"svc-keep"}
    assert orphan_marks("svc") == {}


def test_bucket_that_reappears_loses_its_mark(
    stores: tuple[LoopbackServer, LoopbackServer],
) -> None:
    live, backup = stores
    service = ServiceConfig(
        name="other", endpoint=live.endpoint(), backup=BackupStore(url=backup.url)
    )
    save_service(service)
    params = {"ACCESS_KEY_ID": backup.access_key, "SECRET_ACCESS_KEY": backup.secret_key}
    client = boto_client(live)
    client.create_bucket(Bucket="flaky")
    asyncio.run(run_backup(service, params, "flaky"))
    client.delete_bucket(Bucket="flaky")
    asyncio.run(run_synchronize(service, params))
    assert set(orphan_marks("other")) == {"other-flaky"}
    client.create_bucket(Bucket="flaky")
    asyncio.run(run_synchronize(service, params))
    assert orphan_marks("other") == {}
