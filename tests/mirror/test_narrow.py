"""The path rule (`mirror.narrow`), as a table on the in-memory store: which keys a path
names, and where listing resumes. The same rule is tested through `mirror` and restore's
PREFIX= against real servers in tests/e2e/test_paths.py."""

from __future__ import annotations

import pytest

from bucketvault.mirror.narrow import Narrowed, as_folder, narrow, split_object
from bucketvault.store.memory import MemoryEndpoint
from bucketvault.store.model import ObjectAttributes

KEYS = ("a/b", "a/b-old/x", "a/b/c", "a/b/d", "a/bc", "b")


async def _bucket() -> MemoryEndpoint:
    endpoint = MemoryEndpoint()
    bucket = endpoint.bucket("bkt")
    await bucket.create()
    for key in KEYS:

        async def body(data: bytes = key.encode()):  # type: ignore[no-untyped-def]
            yield data

        await bucket.write(key, body(), size=len(key), attributes=ObjectAttributes(tags={}))
    return endpoint


@pytest.mark.parametrize(
    ("path", "listed"),
    [
        pytest.param("", list(KEYS), id="whole-bucket"),
        pytest.param("a/b", ["a/b"], id="object-not-its-folder-nor-a-bc"),
        pytest.param("a/b/", ["a/b/c", "a/b/d"], id="folder-with-slash"),
        pytest.param("a/b-old", ["a/b-old/x"], id="no-object-so-folder"),
        pytest.param("a/nothing", [], id="neither"),
        pytest.param("a/", ["a/b", "a/b-old/x", "a/b/c", "a/b/d", "a/bc"], id="top-folder"),
    ],
)
async def test_what_a_path_names(path: str, listed: list[str]) -> None:
    endpoint = await _bucket()
    chosen = await narrow(endpoint.bucket("bkt"), path)
    assert [info.key async for info in chosen.list()] == listed


async def test_listing_resumes_after_a_key() -> None:
    endpoint = await _bucket()
    folder = Narrowed(endpoint.bucket("bkt"), folder="a/b/")
    assert [i.key async for i in folder.list(start_after="a/b/c")] == ["a/b/d"]
    one = Narrowed(endpoint.bucket("bkt"), key="a/b")
    assert [i.key async for i in one.list(start_after="a/b")] == []
    assert [i.key async for i in one.list(start_after="a/")] == ["a/b"]


def test_helpers() -> None:
    assert as_folder("") == "" and as_folder("a") == "a/" and as_folder("a/") == "a/"
    assert split_object("a/b/c") == ("a/b/", "c") and split_object("c") == ("", "c")
    with pytest.raises(ValueError):
        Narrowed(MemoryEndpoint().bucket("x"))
