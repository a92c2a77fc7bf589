"""The pieces of `s3_wire` that need no server: paths, query strings, error codes."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bucketvault.store.s3_wire import canonical_query, error_code, quote_path


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("a//b", "/bkt/a//b"),
        ("./x", "/bkt/./x"),
        ("a/../b", "/bkt/a/../b"),
        ("/leading", "/bkt//leading"),
        ("trailing/", "/bkt/trailing/"),
        ("sp ace+%?#&=", "/bkt/sp%20ace%2B%25%3F%23%26%3D"),
        ("é~", "/bkt/%C3%A9~"),
    ],
    ids=["double-slash", "dot", "dotdot", "leading", "trailing", "reserved", "unicode"],
)
def test_object_paths_keep_every_character(key: str, path: str) -> None:
    assert quote_path("bkt", key) == path


def test_bucket_path_has_no_key_part() -> None:
    assert quote_path("bkt", None) == "/bkt"


@given(
    bucket=st.text(alphabet="az09.-_~/%é", max_size=8),
    key=st.none() | st.text(max_size=16) | st.text(alphabet="aZ09._~-/ %+é", max_size=16),
)
@example(bucket="bkt", key="dir/obj-1.bin")  # the fast path: nothing to encode
@example(bucket="b/k", key="plain")  # a slash in a bucket name is encoded, not kept
def test_paths_are_percent_encoded_as_quote_does(bucket: str, key: str | None) -> None:
    expected = "/" + quote(bucket, safe="")
    if key is not None:
        expected += "/" + quote(key, safe="/~")
    assert quote_path(bucket, key) == expected


def test_query_is_canonical_sorted_and_encoded() -> None:
    query = {"prefix": "a b/é", "list-type": "2", "continuation-token": "x+y=", "tagging": ""}
    assert canonical_query(query) == (
        "continuation-token=x%2By%3D&list-type=2&prefix=a%20b%2F%C3%A9&tagging"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"<?xml version='1.0'?><Error><Code>NoSuchBucket</Code></Error>", "NoSuchBucket"),
        (
            b'<Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Code>SlowDown</Code></Error>',
            "SlowDown",
        ),
        (b"", ""),
        (b"not xml at all", ""),
        (b"<Error><Code>", ""),
    ],
    ids=["plain", "namespaced", "empty", "text", "truncated"],
)
def test_error_code_from_an_answer(payload: bytes, code: str) -> None:
    assert error_code(payload) == code
