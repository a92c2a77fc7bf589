"""How many snapshots each backup bucket keeps, and the oldest: read from the backup
store after a backup run completes (the backup plan's prune phase has applied the
retention policy by then), with credentials the scheduler already keeps — a backup
schedule's of the service, or `$BUCKETVAULT_BACKUP_ACCESS_KEY_ID` and
`$BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY` in its environment. Without either, these
metrics are absent."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bucketvault.config.secret import Secret
from bucketvault.errors import BucketvaultError

ACCESS_KEY_ID = "ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "SECRET_ACCESS_KEY"


def environment_credentials() -> dict[str, str]:
    key = os.environ.get("BUCKETVAULT_BACKUP_ACCESS_KEY_ID")
    secret = os.environ.get("BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY")
    return {ACCESS_KEY_ID: key, SECRET_ACCESS_KEY: secret} if key and secret else {}


async def snapshot_stats(
    service_name: str, buckets: list[str], params: Mapping[str, str]
) -> dict[str, tuple[int, float | None]]:
    """bucket → (snapshots kept, when the oldest was complete) for the live `buckets`."""
    from bucketvault.config.services import get_service
    from bucketvault.history import catalog
    from bucketvault.store import open_endpoint

    service = get_service(service_name)
    endpoint = open_endpoint(
        service.backup.endpoint(params[ACCESS_KEY_ID], Secret(params[SECRET_ACCESS_KEY]))
    )
    found: dict[str, tuple[int, float | None]] = {}
    try:
        for bucket in buckets:
            try:
                headers = await catalog.headers(endpoint, service.backup_bucket(bucket))
            except BucketvaultError:
                continue
            oldest = min((h.completed.timestamp() for h in headers), default=None)
            found[bucket] = (len(headers), oldest)
    finally:
        await endpoint.close()
    return found
