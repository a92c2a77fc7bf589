"""`serve`: run the scheduler and its HTTP API with uvicorn.

It refuses to listen on anything but a loopback address without a token: the API can
start restores and carries plan state, so it is never open to the network unguarded.
"""

from __future__ import annotations

import ipaddress

from bucketvault.errors import UsageError
from bucketvault.plans.factory import manager_for
from bucketvault.plans.scheduler import Scheduler


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise UsageError(
            f"refusing to listen on {host} without a token: pass --token "
            "(or set BUCKETVAULT_TOKEN), or listen on 127.0.0.1"
        )


def serve(
    host: str,
    port: int,
    token: str | None,
    *,
    default_service: str | None = None,
    scheduler: Scheduler | None = None,
) -> None:
    """Serve until interrupted; plans left running by a killed server continue."""
    check_bind(host, token)
    import uvicorn

    from bucketvault.api.app import create_app
    from bucketvault.schedules import ScheduleTicker

    scheduler = scheduler or Scheduler(factory=manager_for, default=default_service)
    app = create_app(scheduler, token, ticker=ScheduleTicker(scheduler))
    uvicorn.run(app, host=host, port=port, log_level="info")
