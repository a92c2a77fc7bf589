"""The only place in bucketvault that knows backoff.

`retrying(op, policy)` runs `op` until it succeeds, retrying only errors that
`bucketvault.errors.classify` calls transient, with full-jitter exponential backoff.
Permanent and fatal errors (and cancellation) stop it at once. One budget per failure:
an error that has used up the retries of one layer is marked, and no `retrying` above it
(a whole-object copy around its requests) retries it again, so a dead store fails in
seconds instead of the product of every layer's attempts. Inside
`counting_retries(hook)`, every retry made by this task and the tasks it starts (at any
layer: one request, one whole object) calls `hook()`, so a run can report its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from bucketvault.errors import UNREACHABLE, ErrorClass, classify

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all (`unreachable_attempts` when the store cannot be reached
    at all: a store that is down fails in about a second, while one that fails half its
    requests still completes); the n-th retry waits a random time in
    [0, min(max_delay, base_delay * 2**(n-1))]."""

    attempts: int = 16
    base_delay: float = 0.1
    max_delay: float = 5.0
    unreachable_attempts: int = 4

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (1-based)."""
        return float(min(self.max_delay, self.base_delay * (2 ** (retry - 1))))


_HOOKS: ContextVar[tuple[Callable[[], None], ...]] = ContextVar(
    "bucketvault_retry_hooks", default=()
)


@contextlib.contextmanager
def counting_retries(hook: Callable[[], None]) -> Iterator[None]:
    """Call `hook()` on every retry made in this context (tasks started in it included)."""
    token = _HOOKS.set((*_HOOKS.get(), hook))
    try:
        yield
    finally:
        _HOOKS.reset(token)


DEFAULT_POLICY = RetryPolicy()
_SPENT = "bucketvault_retries_spent"


def retries_spent(exc: BaseException) -> bool:
    """Whether a layer below already retried `exc` as often as its policy allows."""
    return bool(getattr(exc, "__dict__", {}).get(_SPENT))


async def retrying(
    op: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await `op()`, retrying transient failures; re-raise the last error.

    `on_retry(n, exc)` is called before the n-th retry (1-based) with the error that
    caused it.
    """
    attempt = 1
    while True:
        try:
            return await op()
        except Exception as exc:
            if retries_spent(exc) or classify(exc) is not ErrorClass.TRANSIENT:
                raise
            limit = policy.attempts
            if getattr(exc, "code", None) == UNREACHABLE:
                limit = min(limit, policy.unreachable_attempts)
            if attempt >= limit:
                with contextlib.suppress(AttributeError):
                    exc.__dict__[_SPENT] = True
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            for hook in _HOOKS.get():
                hook()
            await sleep(random.uniform(0.0, policy.ceiling(attempt)))
            attempt += 1
