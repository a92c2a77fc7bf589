"""Webhooks on plan COMPLETE and ERROR, against a receiver on 127.0.0.1: the body says
what ended and carries no secret; failures are retried with backoff; 4xx is final; a
slow receiver never holds up a plan."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from bucketvault.api.app import create_app
from bucketvault.errors import UsageError
from bucketvault.notify import NotifyConfig, load_targets, save_targets
from bucketvault.plans.scheduler import Scheduler
from tests.notify.receiver import Receiver
from tests.plans.fakes import SECRET, make_manager
from tests.security.leaks import leaks

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FAST = NotifyConfig(attempts=4, backoff_initial=0.05, backoff_max=0.2, timeout=1.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def client(receiver: Receiver) -> Iterator[TestClient]:
    save_targets("svc", [receiver.url])
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, None)) as c:
        c.app.state.console.notifier.config = FAST  # type: ignore[attr-defined]
        yield c


def run(client: TestClient, plan: str, params: dict[str, str], limit: float = 20) -> str:
    assert client.post(f"/v1/plans/{plan}/start", json=params).status_code == 200
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = str(client.get(f"/v1/plans/{plan}").json()["status"])
        if status in ("COMPLETE", "ERROR"):
            return status
        time.sleep(0.02)
    raise AssertionError(f"plan {plan} did not end")


def stats(client: TestClient) -> Any:
    return client.app.state.console.notifier.stats  # type: ignore[attr-defined]


def test_complete_and_error_are_posted_without_secrets(
    client: TestClient, receiver: Receiver
) -> None:
    params = {"ACCESS_KEY_ID": "AKIAFAKE", "SECRET_ACCESS_KEY": SECRET, "S3_BUCKET": "svc-p"}
    assert run(client, "restore", {**params, "KIND": "sleep", "SECONDS": "0.05"}) == "COMPLETE"
    [done] = receiver.wait(1)
    assert done["event"] == "plan.complete" and done["status"] == "COMPLETE"
    assert (done["service"], done["plan"]) == ("svc", "restore")
    assert done["duration_seconds"] > 0 and done["objects_copied"] == 5
    assert done["objects_failed"] == 0 and done["first_failed"] == []
    headers, _ = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"

    assert run(client, "verify", {**params, "KIND": "errors", "COUNT": "12"}) == "ERROR"
    failed = receiver.wait(2)[1]
    assert failed["event"] == "plan.error" and failed["status"] == "ERROR"
    assert failed["error_count"] >= 12
    assert failed["first_failed"][:2] == ["s1: key-0: AccessDenied", "s1: key-1: AccessDenied"]
    assert len(failed["first_failed"]) == 10

    assert run(client, "restore", {**params, "KIND": "leak"}) == "ERROR"
    receiver.wait(3)
    for _, raw in receiver.requests:
        assert not leaks([SECRET], raw), raw
    assert stats(client).delivered == 3


def test_failures_are_retried_with_backoff(client: TestClient, receiver: Receiver) -> None:
    receiver.fail_next = 2
    started = time.monotonic()
    assert run(client, "verify", {}) == "COMPLETE"
    bodies = receiver.wait(3)
    assert time.monotonic() - started >= 0.05 + 0.1  # two backoffs
    assert bodies[0] == bodies[2]  # the same body each time
    deadline = time.monotonic() + 10
    while stats(client).delivered < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (stats(client).delivered, stats(client).retries, stats(client).failed) == (1, 2, 0)
    metrics = client.get("/metrics").text
    assert 'bucketvault_notifications_total{result="delivered"} 1.0' in metrics
    assert 'bucketvault_notifications_total{result="retried"} 2.0' in metrics


def test_a_refusal_is_final_and_gives_up_after_the_attempts(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.fail_next, receiver.fail_code = 1, 404
    assert run(client, "verify", {}) == "COMPLETE"
    receiver.wait(1)
    time.sleep(0.5)
    assert len(receiver.requests) == 1 and stats(client).failed == 1
    receiver.fail_next, receiver.fail_code = 100, 503
    assert run(client, "verify", {}) == "COMPLETE"
    receiver.wait(1 + FAST.attempts)
    time.sleep(0.5)
    assert len(receiver.requests) == 1 + FAST.attempts and stats(client).failed == 2


def test_a_stalled_receiver_never_holds_up_a_plan(client: TestClient, receiver: Receiver) -> None:
    receiver.stall = 0.8  # under the timeout: each delivery takes that long
    started = time.monotonic()
    for _ in range(3):
        assert run(client, "verify", {}) == "COMPLETE"
    assert time.monotonic() - started < 0.8 * 3
    receiver.wait(3)


def test_targets_are_checked_and_kept_private(bucketvault_home: Any) -> None:
    save_targets("a", ["https://hooks.example/x", "http://127.0.0.1:9/y"])
    assert load_targets("a") == ["https://hooks.example/x", "http://127.0.0.1:9/y"]
    assert load_targets("b") == []
    assert (bucketvault_home / "notify.json").stat().st_mode & 0o777 == 0o600
    for bad in ("ftp://x/y", "hooks.example/x", "http:///x"):
        with pytest.raises(UsageError, match="not a webhook URL"):
            save_targets("a", [bad])
    save_targets("a", [])
    assert load_targets("a") == []
