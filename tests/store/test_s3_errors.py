"""s3_errors: one table from S3 codes and statuses to bucketvault errors."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest

from bucketvault.errors import (
    AccessDeniedError,
    ErrorClass,
    NoSuchBucketError,
    NoSuchKeyError,
    PermanentStoreError,
    TransientStoreError,
    classify,
)
from bucketvault.store.http1 import BadAnswer, ConnectionClosed, ConnectTimeout
from bucketvault.store.s3_errors import Where, from_response, translate

EP = "http://127.0.0.1:9000"
ON_KEY = Where(EP, "bkt", "dir/key")
ON_BUCKET = Where(EP, "bkt")


@pytest.mark.parametrize(
    ("code", "status", "where", "expected"),
    [
        ("NoSuchBucket", 404, ON_KEY, NoSuchBucketError),
        ("NoSuchKey", 404, ON_KEY, NoSuchKeyError),
        ("404", 404, ON_KEY, NoSuchKeyError),
        ("404", 404, ON_BUCKET, NoSuchBucketError),
        ("AccessDenied", 403, ON_KEY, AccessDeniedError),
        ("InvalidAccessKeyId", 403, ON_BUCKET, AccessDeniedError),
        ("SignatureDoesNotMatch", 403, ON_BUCKET, AccessDeniedError),
        ("403", 403, ON_KEY, AccessDeniedError),
        ("SlowDown", 503, ON_KEY, TransientStoreError),
        ("InternalError", 500, ON_KEY, TransientStoreError),
        ("502", 502, ON_KEY, TransientStoreError),
        ("504", 504, ON_KEY, TransientStoreError),
        ("RequestTimeout", 400, ON_KEY, TransientStoreError),
        ("InvalidArgument", 400, ON_KEY, PermanentStoreError),
        ("InvalidRange", 416, ON_KEY, PermanentStoreError),
    ],
)
def test_error_answers(code: str, status: int, where: Where, expected: type) -> None:
    error = from_response(code, status, where)
    assert type(error) is expected
    assert error is not None and EP in str(error) and "\n" not in str(error)


def test_access_denied_message_says_what_to_do() -> None:
    error = from_response("AccessDenied", 403, ON_BUCKET)
    assert str(error) == (
        f"access denied by {EP} for bucket 'bkt': check the credentials and their permissions"
    )
    error = from_response("SignatureDoesNotMatch", 403, ON_BUCKET)
    assert (
        str(error) == f"access denied by {EP} for bucket 'bkt': check the access key and secret key"
    )


@pytest.mark.parametrize(
    "exc",
    [
        ConnectTimeout("no connection"),
        ConnectionClosed("the server closed the connection"),
        BadAnswer("not HTTP/1.1"),
        ConnectionResetError(),
        ConnectionRefusedError(),
        BrokenPipeError(),
        OSError(errno.EHOSTUNREACH, "no route to host"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_errors_are_transient(exc: Exception) -> None:
    error = translate(exc, ON_KEY)
    assert isinstance(error, TransientStoreError)
    assert classify(error) is ErrorClass.TRANSIENT


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (ConnectionRefusedError(), "cannot reach http://127.0.0.1:9000: connection refused"),
        (ConnectTimeout("slow"), "cannot reach http://127.0.0.1:9000: connection timed out"),
        (ConnectionClosed("closed"), "failed: connection reset or closed"),
        (TimeoutError(), "failed: timed out waiting for the server"),
    ],
    ids=lambda e: type(e).__name__ if isinstance(e, BaseException) else "",
)
def test_transport_errors_say_what_happened(exc: Exception, said: str) -> None:
    assert said in str(translate(exc, ON_KEY))


def test_tls_failures_are_permanent_and_name_the_fix() -> None:
    untrusted = translate(ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED"), ON_KEY)
    assert isinstance(untrusted, PermanentStoreError) and "--ca-bundle" in str(untrusted)
    assert untrusted.code == "CertificateNotTrusted"
    other = translate(ssl.SSLError("WRONG_VERSION_NUMBER"), ON_KEY)
    assert isinstance(other, PermanentStoreError) and other.code == "TLSFailed"


def test_unknown_exceptions_are_not_swallowed() -> None:
    assert translate(KeyError("bug"), ON_KEY) is None


def test_control_characters_in_keys_stay_on_one_line() -> None:
    error = from_response("NoSuchKey", 404, Where(EP, "bkt", "a\nb\tc"))
    assert "\n" not in str(error) and "'a\\nb\\tc'" in str(error)
