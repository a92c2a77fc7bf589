"""bucketvault's SigV4 signer against botocore's, the reference, at fixed instants."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from bucketvault.store.s3_wire import canonical_query, quote_path
from bucketvault.store.sigv4 import SigV4, _trimmed

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
HOST = "127.0.0.1:9000"


def botocore_signed(
    method: str, target: str, headers: dict[str, str], region: str, when: datetime
) -> dict[str, str]:
    request = AWSRequest(method, f"http://{HOST}{target}", headers=dict(headers))
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    auth = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", region)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=when),
        mock.patch.object(S3SigV4Auth, "payload", return_value="UNSIGNED-PAYLOAD"),
    ):
        auth.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def ours_signed(
    method: str, target: str, headers: dict[str, str], region: str, when: datetime
) -> dict[str, str]:
    signer = SigV4(ACCESS_KEY, SECRET_KEY, region)
    signed = signer.sign(method, target, headers, now=calendar.timegm(when.timetuple()))
    return {name.lower(): value for name, value in signed.items()}


def target_of(bucket: str | None, key: str | None, query: dict[str, str] | None) -> str:
    target = "/" if bucket is None else quote_path(bucket, key)
    return target + ("?" + canonical_query(query) if query else "")


CASES = [
    ("GET", None, None, None, {}),
    ("HEAD", "photos", None, None, {}),
    ("GET", "photos", None, {"list-type": "2", "prefix": "d0/", "delimiter": "/"}, {}),
    ("POST", "photos", "a//b/../c d", {"uploads": ""}, {"Content-Type": "image/png"}),
    ("PUT", "photos", "k", {"partNumber": "3", "uploadId": "x+y/z=="}, {"Content-MD5": "a=="}),
    ("GET", "photos", "k", {"tagging": ""}, {}),
    ("PUT", "photos", "é/日本/~*'()!", None, {"x-amz-meta-note": "  two   spaces  "}),
    ("DELETE", "photos", "k", {"versionId": "null"}, {"x-amz-bypass-governance-retention": "true"}),
]


@pytest.mark.parametrize(("method", "bucket", "key", "query", "headers"), CASES)
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
def test_signature_is_botocores(
    method: str,
    bucket: str | None,
    key: str | None,
    query: dict[str, str] | None,
    headers: dict[str, str],
    region: str,
) -> None:
    target = target_of(bucket, key, query)
    sent = {"Host": HOST, **headers}
    when = datetime(2026, 12, 2, 4, 59, 7, tzinfo=UTC)
    ours = ours_signed(method, target, sent, region, when)
    assert ours == botocore_signed(method, target, sent, region, when)
    assert ours["x-amz-date"] == "20261202T045907Z"


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    key=_text,
    query=st.dictionaries(st.text("abcdefgh-", min_size=1, max_size=6), _text, max_size=3),
    metadata=st.dictionaries(st.text("abcxyz-", min_size=1, max_size=6), _header_value, max_size=3),
    seconds=st.integers(0, 4_000_000_000),
)
def test_any_request_signs_as_botocore_does(
    key: str, query: dict[str, str], metadata: dict[str, str], seconds: int
) -> None:
    target = target_of("bucket", key, query)
    sent = {"Host": HOST, **{f"x-amz-meta-{name}": value for name, value in metadata.items()}}
    when = datetime.fromtimestamp(seconds, UTC)
    assert ours_signed("PUT", target, sent, "us-east-1", when) == botocore_signed(
        "PUT", target, sent, "us-east-1", when
    )


def test_the_signing_key_follows_the_day() -> None:
    """The day's key is cached: a signer used across midnight signs as a fresh one."""
    signer = SigV4(ACCESS_KEY, SECRET_KEY, "us-east-1")
    before = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)
    headers = {"Host": HOST}
    signer.sign("GET", "/", headers, now=calendar.timegm(before.timetuple()))
    late = signer.sign("GET", "/", headers, now=calendar.timegm(after.timetuple()))
    assert {k.lower(): v for k, v in late.items()} == botocore_signed(
        "GET", "/", headers, "us-east-1", after
    )


def test_the_secret_is_not_in_its_repr() -> None:
    assert SECRET_KEY not in repr(SigV4(ACCESS_KEY, SECRET_KEY, "us-east-1"))


@given(st.text(alphabet=" \t\x0b\x0c\r\n\x1c\x85\xa0\u2000\u2028\u3000ab", max_size=12))
def test_header_values_are_trimmed_as_botocore_trims_them(value: str) -> None:
    # botocore canonicalises a value as " ".join(value.split()); the signer skips that
    # split for values it can tell have nothing to change
    assert _trimmed(value) == " ".join(value.split())
