"""TLS for S3 endpoints: the context each `https://` endpoint's connections use.

The system CA store is loaded only when an `https://` endpoint needs it, once per
process: a command that talks only to `http://` endpoints (loopback) loads none.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system CA store's context (HTTP/1.1 offered by ALPN)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    """TLS without checking the certificate or the host name (`--insecure`)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(("http/1.1",))
    return context


def tls_for(url: str, *, insecure: bool, ca_bundle: str | None) -> ssl.SSLContext | None:
    """The TLS context of an endpoint's connections: None for `http://`; for `https://`,
    certificates checked against `ca_bundle` or the system CA store, or not checked at
    all (`insecure`)."""
    if not url.startswith("https:"):
        return None  # no TLS: nothing is loaded
    if insecure:
        return _unverified_context()
    if ca_bundle:
        context = ssl.create_default_context(cafile=ca_bundle)
        context.set_alpn_protocols(("http/1.1",))
        return context
    return _system_context()
