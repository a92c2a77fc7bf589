"""TLS for S3 endpoints, and aiohttp imported without loading the system CA store.

Importing aiohttp builds its two default TLS contexts, each loading the system CA store:
~60 ms of a command's start-up, spent even when every endpoint is `http://` (loopback).
bucketvault never uses those contexts: every `https://` endpoint gets the context
`tls_for` gives it, built when the endpoint is (the system CA store loaded then, once per
process). So aiohttp is imported here, once, with CA loading skipped, and the store
modules take it from here (`from bucketvault.store.tls import aiohttp`).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def _without_default_certs() -> Iterator[None]:
    """While aiohttp builds its unused default contexts, they load no CA store."""
    if "aiohttp" in sys.modules:  # already imported (by someone else): nothing to skip
        yield
        return
    load, paths = ssl.SSLContext.load_default_certs, ssl.SSLContext.set_default_verify_paths
    ssl.SSLContext.load_default_certs = lambda self, purpose=None: None  # type: ignore[method-assign]
    ssl.SSLContext.set_default_verify_paths = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        ssl.SSLContext.load_default_certs = load  # type: ignore[method-assign]
        ssl.SSLContext.set_default_verify_paths = paths  # type: ignore[method-assign]


with _without_default_certs():
    import aiohttp as aiohttp


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system CA store's context, as aiohttp's default one is made."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


def tls_for(url: str, *, insecure: bool, ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What aiohttp's `ssl=` gets for an endpoint: nothing to load for `http://`; for
    `https://`, certificates checked against `ca_bundle` or the system CA store, or not
    checked at all (`insecure`)."""
    if insecure:
        return False
    if not url.startswith("https:"):
        return True  # no TLS: nothing is loaded
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return _system_context()
