"""Opening a service's two stores from its configuration and the plan's parameters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from bucketvault.config.secret import Secret
from bucketvault.config.services import ServiceConfig
from bucketvault.errors import PlanInputError
from bucketvault.store import open_endpoint
from bucketvault.store.base import Endpoint

ACCESS_KEY_ID = "ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "SECRET_ACCESS_KEY"


@dataclass(frozen=True, slots=True)
class ServiceStores:
    live: Endpoint
    backup: Endpoint


def require(params: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise PlanInputError(
            "missing parameter(s) "
            + ", ".join(missing)
            + ": pass them as -p NAME=VALUE (the backup store's credentials also from "
            "$BUCKETVAULT_BACKUP_ACCESS_KEY_ID, $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY or "
            "--secret-file)"
        )


@contextlib.asynccontextmanager
async def service_stores(
    service: ServiceConfig, params: Mapping[str, str]
) -> AsyncIterator[ServiceStores]:
    require(params, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    backup_config = service.backup.endpoint(
        params[ACCESS_KEY_ID], Secret(params[SECRET_ACCESS_KEY])
    )
    live = open_endpoint(service.endpoint)
    try:
        backup = open_endpoint(backup_config)
        try:
            yield ServiceStores(live=live, backup=backup)
        finally:
            await backup.close()
    finally:
        await live.close()
