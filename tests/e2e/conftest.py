"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bucketvault.loopback import LoopbackServer
from tests.e2e.helpers import remove_bucket

Own = Callable[[LoopbackServer, str], str]


@pytest.fixture
def owned() -> Iterator[Own]:
    """`owned(server, bucket)` → bucket, removed (with all it holds) when the test ends:
    the session's servers are shared, and a bucket left behind would be backed up by the
    next test that backs up every bucket of that server."""
    made: list[tuple[LoopbackServer, str]] = []

    def own(server: LoopbackServer, bucket: str) -> str:
        made.append((server, bucket))
        return bucket

    yield own
    for server, bucket in reversed(made):
        remove_bucket(server, bucket)
