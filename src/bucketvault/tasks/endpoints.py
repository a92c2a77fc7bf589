"""Opening a service's two stores from its configuration and the plan's parameters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.config.services import ServiceConfig
from bucketvault.errors import PlanInputError
from bucketvault.store import open_endpoint
from bucketvault.store.base import Endpoint
from bucketvault.tasks.roles import StoreRole, as_stores, backup_role, live_role

ACCESS_KEY_ID = "ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "SECRET_ACCESS_KEY"


@dataclass(frozen=True, slots=True)
class ServiceStores:
    live: Endpoint
    backup: Endpoint
    live_role: StoreRole
    backup_role: StoreRole
    # how to reach each store, for executor workers that open them themselves
    live_config: EndpointConfig
    backup_config: EndpointConfig


def service_roles(service: ServiceConfig) -> tuple[StoreRole, StoreRole]:
    """The live and the backup store of `service`, as its errors name them."""
    return (
        live_role(service.name, service.endpoint.url),
        backup_role(service.name, service.backup.url),
    )


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
    live_named, backup_named = service_roles(service)
    live = open_endpoint(service.endpoint)
    try:
        backup = open_endpoint(backup_config)
        try:
            # an error from either store says which one it is and where its credentials
            # come from (the store's own hint cannot know)
            with as_stores((live_named, backup_named)):
                yield ServiceStores(
                    live, backup, live_named, backup_named, service.endpoint, backup_config
                )
        finally:
            await backup.close()
    finally:
        await live.close()
