"""store: object-store access behind one small interface (`base.Endpoint`, `base.Bucket`).

This package owns everything that talks to a store: the one S3 request path
(`s3_wire`: every request signed (`sigv4`) and sent over `http1`, its errors
translated and its retries made in one place), the local-directory store
(`file://`), the translation of client-library errors into `bucketvault.errors`
(`s3_errors.py`, `local.py`), and the one retry loop with backoff (`retry.py`). Keys are
opaque strings: a store returns exactly the key it was given or refuses it with
`UnrepresentableKeyError`; listings come in UTF-8 byte order (`keys.sort_key`).

The S3 store retries each request that can be replayed; callers retry only whole
operations it cannot (a write whose source stream failed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.store.base import Bucket, Endpoint, ObjectReader
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectAttributes, ObjectInfo, WriteResult
from bucketvault.store.retry import DEFAULT_POLICY, RetryPolicy, retrying

if TYPE_CHECKING:
    from bucketvault.store.local import LocalBucket, LocalEndpoint, local_unrepresentable
    from bucketvault.store.s3 import S3Endpoint
    from bucketvault.store.s3_bucket import S3Bucket

# The S3 client takes a few tens of milliseconds to import, the local store a
# few milliseconds: each loads on first use, so commands and modules that only need the
# records (or only one kind of store) stay quick.
_LAZY = {
    "S3Bucket": "s3_bucket",
    "S3Endpoint": "s3",
    "LocalBucket": "local",
    "LocalEndpoint": "local",
    "local_unrepresentable": "local",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def open_endpoint(cfg: EndpointConfig, *, retry_policy: RetryPolicy = DEFAULT_POLICY) -> Endpoint:
    """The store for `cfg`: S3 for http(s):// URLs, a local directory for file://."""
    if cfg.is_local:
        from bucketvault.store.local import LocalEndpoint

        return LocalEndpoint.from_config(cfg)
    from bucketvault.store.s3 import S3Endpoint

    return S3Endpoint(cfg, retry_policy=retry_policy)


__all__ = [
    "DEFAULT_POLICY",
    "Bucket",
    "Endpoint",
    "LocalBucket",
    "LocalEndpoint",
    "ObjectAttributes",
    "ObjectInfo",
    "ObjectReader",
    "RetryPolicy",
    "S3Bucket",
    "S3Endpoint",
    "WriteResult",
    "local_unrepresentable",
    "open_endpoint",
    "retrying",
    "sort_key",
]
