"""`init`: prove both stores are reachable with valid credentials; change nothing."""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.services import ServiceConfig
from bucketvault.errors import NoSuchBucketError
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.result import TaskResult
from bucketvault.tasks.roles import as_store


async def run_init(
    service: ServiceConfig, params: Mapping[str, str], *, backup_buckets: tuple[str, ...] = ()
) -> TaskResult:
    async with service_stores(service, params) as stores:
        with as_store(stores.live_role):
            await stores.live.check()
        with as_store(stores.backup_role):
            await stores.backup.check()
        for name in backup_buckets:
            if not await stores.backup.bucket(name).exists():
                raise NoSuchBucketError(
                    f"backup bucket {name!r} does not exist in {stores.backup.display}: "
                    "check S3_BUCKET (see `plan start backup`)"
                )
    return TaskResult(
        f"reached {service.endpoint.display} and {service.backup.url}; credentials valid"
    )
