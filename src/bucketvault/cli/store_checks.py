"""The test `service add` and `alias set` run before saving, as `mc alias set` does:
the store answers and takes the credentials (`tasks.probe`). A failure is one line that
names the store (`tasks.roles`), says nothing was saved, and keeps the error's class,
so its exit code."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bucketvault import event_loop
from bucketvault.errors import BucketvaultError, NotFoundError, StoreError

if TYPE_CHECKING:
    from bucketvault.config.endpoint import EndpointConfig
    from bucketvault.config.services import ServiceConfig


def check_service(service: ServiceConfig) -> None:
    """The live store with its credentials; the backup store answering (with its
    credentials too when $BUCKETVAULT_BACKUP_ACCESS_KEY_ID/_SECRET_ACCESS_KEY are set:
    a service keeps none for it, the plans take them as parameters)."""
    from bucketvault.cli.credentials import BACKUP_KEY_ENV, BACKUP_SECRET_ENV
    from bucketvault.config.secret import Secret
    from bucketvault.tasks.endpoints import service_roles
    from bucketvault.tasks.probe import probe

    key, secret = os.environ.get(BACKUP_KEY_ENV), os.environ.get(BACKUP_SECRET_ENV)
    backup = (
        service.backup.endpoint(key, Secret(secret))
        if key and secret
        else service.backup.endpoint(None, None)
    )
    live_named, backup_named = service_roles(service)

    async def both() -> None:
        await probe(service.endpoint, live_named)
        await probe(backup, backup_named)

    try:
        event_loop.run(both())
    except (StoreError, NotFoundError) as exc:
        not_saved(exc, f"service {service.name!r}")
        raise


def check_alias(name: str, config: EndpointConfig) -> None:
    from bucketvault.tasks.probe import probe
    from bucketvault.tasks.roles import alias_role

    try:
        event_loop.run(probe(config, alias_role(name, config.url)))
    except (StoreError, NotFoundError) as exc:
        not_saved(exc, f"alias {name!r}")
        raise


def not_saved(exc: StoreError | NotFoundError, what: str) -> BucketvaultError:
    """`exc` itself (same class, so the same exit code), now saying nothing was saved."""
    exc.args = (f"{exc}; {what} was not saved (fix that, or pass --no-check to save it untested)",)
    return exc
