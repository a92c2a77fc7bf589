"""retry.py: only transient errors are retried, with bounded full-jitter backoff."""

from __future__ import annotations

import pytest

from bucketvault.errors import (
    UNREACHABLE,
    AccessDeniedError,
    NoSuchKeyError,
    TransientStoreError,
    UnrepresentableKeyError,
)
from bucketvault.store.retry import RetryPolicy, retrying


class Flaky:
    def __init__(self, failures: list[BaseException], result: str = "ok") -> None:
        self.failures = list(failures)
        self.calls = 0
        self.result = result

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


async def no_sleep(_: float) -> None:
    return None


async def test_transient_errors_are_retried_until_success() -> None:
    op = Flaky([TransientStoreError("busy"), ConnectionResetError(), TimeoutError()])
    seen: list[tuple[int, str]] = []
    result = await retrying(
        op,
        RetryPolicy(attempts=6),
        on_retry=lambda n, exc: seen.append((n, type(exc).__name__)),
        sleep=no_sleep,
    )
    assert result == "ok"
    assert op.calls == 4
    assert seen == [
        (1, "TransientStoreError"),
        (2, "ConnectionResetError"),
        (3, "TimeoutError"),
    ]


@pytest.mark.parametrize(
    "error",
    [
        AccessDeniedError("denied"),
        NoSuchKeyError("gone"),
        UnrepresentableKeyError("bad key"),
        ValueError("a bug"),
    ],
    ids=["access-denied", "no-such-key", "unrepresentable", "bug"],
)
async def test_permanent_and_fatal_errors_stop_at_once(error: Exception) -> None:
    op = Flaky([error])
    with pytest.raises(type(error)):
        await retrying(op, RetryPolicy(attempts=6), sleep=no_sleep)
    assert op.calls == 1


async def test_the_last_error_is_raised_after_the_last_attempt() -> None:
    errors = [TransientStoreError(f"busy {n}") for n in range(3)]
    op = Flaky(errors[:])
    with pytest.raises(TransientStoreError, match="busy 2"):
        await retrying(op, RetryPolicy(attempts=3), sleep=no_sleep)
    assert op.calls == 3


async def test_waits_are_full_jitter_and_capped() -> None:
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=2.0)
    op = Flaky([TransientStoreError("busy")] * 7)
    await retrying(op, policy, sleep=record)
    assert len(waits) == 7
    for n, wait in enumerate(waits, start=1):
        assert 0.0 <= wait <= policy.ceiling(n) <= 2.0
    assert [policy.ceiling(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.0]


def test_policy_defaults_and_validation() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.base_delay, policy.max_delay) == (16, 0.1, 5.0)
    assert policy.unreachable_attempts == 4
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


async def test_one_budget_per_failure_and_a_short_one_for_a_store_that_is_down() -> None:
    """An error whose retries a lower layer spent is not retried again above it; a store
    that cannot be reached at all gets `unreachable_attempts` tries, not `attempts`."""
    calls = {"inner": 0, "down": 0}
    policy = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0, unreachable_attempts=2)

    async def flaky() -> None:
        calls["inner"] += 1
        raise TransientStoreError("busy")

    async def inner() -> None:
        await retrying(flaky, policy)

    with pytest.raises(TransientStoreError):
        await retrying(inner, policy)
    assert calls["inner"] == 5  # not 5 x 5

    async def down() -> None:
        calls["down"] += 1
        raise TransientStoreError("cannot reach", code=UNREACHABLE)

    with pytest.raises(TransientStoreError):
        await retrying(down, policy)
    assert calls["down"] == 2
