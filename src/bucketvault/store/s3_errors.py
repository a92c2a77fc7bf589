"""The one boundary where S3 error answers and transport failures become bucketvault errors.

Every S3 request the store makes runs inside `translating(where)`. An S3 error code or
HTTP status is classified once, here:

    NoSuchBucket                                   -> NoSuchBucketError
    NoSuchKey, NoSuchVersion, 404 on an object     -> NoSuchKeyError
    NotImplemented, 501                            -> UnsupportedError
    AccessDenied, InvalidAccessKeyId,
    SignatureDoesNotMatch, 401, 403                -> AccessDeniedError
    SlowDown, RequestTimeout, InternalError, 429,
    500, 502, 503, 504, resets, timeouts,
    refused connections, truncated bodies          -> TransientStoreError
    any other 4xx (and anything else refused)      -> PermanentStoreError

Messages are one line naming the endpoint, bucket and key and what to do. They are built
from the parsed code and status only, never from the library's text, which can carry
request URLs and headers.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from bucketvault.errors import (
    UNREACHABLE,
    AccessDeniedError,
    BucketvaultError,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
    UnsupportedError,
)
from bucketvault.store.http1 import ConnectTimeout

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "OperationAborted",
        "RequestTimeTooSkewed",
    }
)
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"})
MISSING_KEY_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})
# rclone serve s3 answers versioning, version and Object Lock calls with 501 NotImplemented
UNSUPPORTED_CODES = frozenset({"NotImplemented"})

_KEY_SHOWN = 120


@dataclass(frozen=True, slots=True)
class Where:
    """What a request was about, for the error message: endpoint URL, bucket, key."""

    endpoint: str
    bucket: str | None = None
    key: str | None = None

    def what(self) -> str:
        if self.key is not None:
            return f"object {quote_key(self.key)} in bucket {self.bucket!r}"
        if self.bucket is not None:
            return f"bucket {self.bucket!r}"
        return "the bucket list"


def quote_key(key: str) -> str:
    """A key as shown in messages: quoted, control characters escaped, long keys cut."""
    shown = key if len(key) <= _KEY_SHOWN else key[:_KEY_SHOWN] + "…"
    return repr(shown)


def translating(where: Where) -> _Translating:
    """Run a request, turning any client-library exception into a bucketvault error."""
    return _Translating(where)


class _Translating:
    """`translating`'s context manager: a class, not a generator, because every request
    enters one (a generator-based one cost a few microseconds more each time)."""

    __slots__ = ("_where",)

    def __init__(self, where: Where) -> None:
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is None or isinstance(exc, BucketvaultError) or not isinstance(exc, Exception):
            return False  # CancelledError is not an Exception: it passes as itself
        translated = translate(exc, self._where)
        if translated is None:
            return False
        raise translated from exc


def translate(exc: BaseException, where: Where) -> StoreError | None:
    """The bucketvault error for a transport exception, or None if it is not one (a bug,
    which should surface as itself)."""
    if isinstance(exc, StoreError):
        return exc
    return _from_transport(exc, where)


def from_response(code: str, status: int | None, where: Where) -> StoreError:
    """Classify one S3 error answer (code from the XML body or the HTTP status)."""
    ep = where.endpoint
    if code == "NoSuchBucket" or (
        where.key is None and (code in ("404", "NotFound") or status == 404)
    ):
        return NoSuchBucketError(
            f"bucket {where.bucket!r} does not exist at {ep}: create it or check the name",
            code=code,
            status=status,
        )
    if code in MISSING_KEY_CODES or code in ("404", "NotFound"):
        return NoSuchKeyError(
            f"{where.what()} not found at {ep}: it was deleted or never written",
            code=code,
            status=status,
        )
    if code in UNSUPPORTED_CODES or status == 501:
        return UnsupportedError(
            f"{ep} does not implement the request for {where.what()} "
            f"({_answer(code, status)}): this server lacks the feature; use a store that has it",
            code=code,
            status=status,
        )
    if code in DENIED_CODES or status in (401, 403):
        # the store cannot tell whose credentials these are (the live store's, saved by
        # `service add`, or the plan's ACCESS_KEY_ID for the backup store): callers that
        # know add that (tasks/roles.py)
        hint = (
            "check the access key and secret key"
            if code in CREDENTIAL_CODES or code in ("403", "401", "")
            else "check the credentials and their permissions"
        )
        return AccessDeniedError(
            f"access denied by {ep} for {where.what()}: {hint}", code=code, status=status
        )
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
        return TransientStoreError(
            f"{ep} answered {_answer(code, status)} for {where.what()}: "
            "the server is busy or failing; retrying may help",
            code=code,
            status=status,
        )
    return PermanentStoreError(
        f"{ep} refused the request for {where.what()} with {_answer(code, status)}: "
        "retrying will not help; check the bucket, key and server support",
        code=code,
        status=status,
    )


def _answer(code: str, status: int | None) -> str:
    if status is None:
        return code or "an error"
    if code and code != str(status):
        return f"{status} {code}"
    return str(status)


def _from_transport(exc: BaseException, where: Where) -> StoreError | None:
    if isinstance(exc, ssl.SSLError):
        return _tls_failed(where, untrusted=_certificate_refused(exc))
    if isinstance(exc, ConnectTimeout):
        return _unreachable(where, "connection timed out")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return _cut_off(where, "timed out waiting for the server")
    if isinstance(exc, OSError):  # ConnectionError included: refused, reset, closed
        if isinstance(exc, ConnectionRefusedError) or exc.errno in _UNREACHABLE_ERRNOS:
            return _unreachable(where, _refused_or_failed(exc))
        if isinstance(exc, ConnectionError) or exc.errno in _CUT_OFF_ERRNOS:
            return _cut_off(where, "connection reset or closed")
        return _unreachable(where, _refused_or_failed(exc))  # socket.gaierror and the like
    return None


_UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)
_CUT_OFF_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ETIMEDOUT})


def _certificate_refused(exc: BaseException) -> bool:
    """Whether a TLS failure is the server's certificate not being trusted."""
    return any(
        isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen)
        for seen in _chain(exc)
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during (at most 10)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _tls_failed(where: Where, *, untrusted: bool) -> PermanentStoreError:
    """A TLS failure: permanent (retrying cannot make a certificate trusted)."""
    if untrusted:
        return PermanentStoreError(
            f"the TLS certificate of {where.endpoint} is not trusted: pass --ca-bundle "
            "with the PEM file of the CA that signed it (or --insecure to skip "
            "verification, only for a test server)",
            code="CertificateNotTrusted",
        )
    return PermanentStoreError(
        f"TLS with {where.endpoint} failed: check the URL (https:// to a TLS port), "
        "--ca-bundle for this endpoint (or --insecure, only for a test server)",
        code="TLSFailed",
    )


def _refused_or_failed(exc: BaseException) -> str:
    for seen in _chain(exc):
        if isinstance(seen, ConnectionRefusedError) or (
            isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
    return "connection failed"


def _unreachable(where: Where, why: str) -> TransientStoreError:
    hint = "is the server running?" if "refused" in why else "check the URL and the network"
    return TransientStoreError(f"cannot reach {where.endpoint}: {why} — {hint}", code=UNREACHABLE)


def _cut_off(where: Where, why: str) -> TransientStoreError:
    return TransientStoreError(
        f"request for {where.what()} at {where.endpoint} failed: {why}; retrying may help"
    )
