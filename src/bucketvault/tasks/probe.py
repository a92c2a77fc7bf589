"""Checking a store before its settings are saved, as `mc alias set` does.

With credentials, the check lists the buckets: the endpoint answers and accepts the key
and secret. Without credentials (a backup store, whose credentials are plan parameters,
or an anonymous alias) only the endpoint is proven: any S3 answer, even "access
denied", shows it is there; no answer, or a failed TLS handshake, does not.
"""

from __future__ import annotations

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import AccessDeniedError, PermanentStoreError, StoreError
from bucketvault.store import open_endpoint
from bucketvault.tasks.roles import StoreRole, as_store

# failures that come before any S3 answer, though classified as permanent (store/s3_errors)
_NO_ANSWER = frozenset({"CertificateNotTrusted", "TLSFailed"})


async def probe(config: EndpointConfig, role: StoreRole) -> None:
    """Prove `config` works (see the module docstring); errors name `role`."""
    endpoint = open_endpoint(config)
    try:
        with as_store(role):
            try:
                await endpoint.check()
            except (AccessDeniedError, PermanentStoreError) as exc:
                anonymous = config.access_key_id is None and not config.is_local
                if not anonymous or not _answered(exc):
                    raise
    finally:
        await endpoint.close()


def _answered(exc: StoreError) -> bool:
    return exc.code not in _NO_ANSWER
