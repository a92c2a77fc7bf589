"""The store package's public surface is deliberate: this test locks it."""

from __future__ import annotations

import bucketvault.store as store


def test_all_is_sorted_and_complete() -> None:
    assert store.__all__ == sorted(store.__all__, key=lambda n: (not n.isupper(), n))
    assert set(store.__all__) == {
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
    }
    for name in store.__all__:
        assert hasattr(store, name), name
