"""Small pieces shared by the pipelines built from task groups (mirror, compare)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bucketvault.store.model import ObjectInfo


async def nothing() -> AsyncIterator[ObjectInfo]:
    """The listing of a bucket that does not exist."""
    return
    yield  # pragma: no cover


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped a task group, unwrapped so callers see bucketvault's tree."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if not isinstance(leaf, asyncio.CancelledError):
            return leaf
    return leaves[0] if leaves else group
