"""The HTTP API: routes, status codes, bodies, token, no secrets in responses."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bucketvault.api.app import ALREADY, create_app
from bucketvault.api.server import check_bind, is_loopback
from bucketvault.errors import UsageError
from bucketvault.plans.scheduler import Scheduler
from tests.plans.fakes import RESTORE_PARAMS, SECRET, make_manager

with warnings.catch_warnings():  # starlette 1.x would rather use httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

RESTORE = "restore-0:[restore]"


@pytest.fixture
def client() -> Iterator[TestClient]:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, None)) as c:
        yield c


def wait_status(
    client: TestClient, path: str, wanted: str, *, errors: bool = False
) -> httpx.Response:
    for _ in range(500):
        r = client.get(path)
        if r.json()["status"] == wanted and (r.json()["errors"] or not errors):
            return r
        time.sleep(0.01)
    raise AssertionError(f"{path} never became {wanted}: {r.json()}")


def test_list_and_status_before_start(client: TestClient) -> None:
    assert client.get("/v1/plans").json() == ["backup", "restore", "verify"]
    r = client.get("/v1/plans/restore")
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "WAITING"
    assert set(body) == {"phases", "errors", "status", "strategy"}
    assert set(body["phases"][0]) == {"id", "name", "strategy", "status", "steps"}
    assert set(body["phases"][0]["steps"][0]) == {
        "id",
        "name",
        "status",
        "message",
        "progress",
        "exit_code",
    }


def test_unknown_plan_is_404(client: TestClient) -> None:
    r = client.get("/v1/plans/nope")
    assert r.status_code == 404
    assert "plan 'nope' not found" in r.json()["message"]
    assert client.post("/v1/plans/nope/stop").status_code == 404


def test_start_runs_in_the_background_to_200(client: TestClient) -> None:
    r = client.post("/v1/plans/restore/start", json=RESTORE_PARAMS)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Received cmd: start"}
    done = wait_status(client, "/v1/plans/restore", "COMPLETE")
    assert done.status_code == 200
    assert SECRET not in r.text + done.text


def test_error_plan_is_417(client: TestClient) -> None:
    client.post("/v1/plans/restore/start", json={**RESTORE_PARAMS, "KIND": "leak"})
    # (while it retries, rule 13 also shows ERROR: COMPLETE init + DELAYED restore)
    r = wait_status(client, "/v1/plans/restore", "ERROR", errors=True)
    assert r.status_code == 417
    assert r.json()["errors"]
    assert SECRET not in r.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        pytest.param({**RESTORE_PARAMS, "bad-name": "x"}, "'bad-name'", id="bad-name"),
        pytest.param({"ACCESS_KEY_ID": "a", "S3_BUCKET": "b"}, "SECRET_ACCESS_KEY", id="missing"),
        pytest.param({"SECRET_ACCESS_KEY": 12345678}, "JSON object of strings", id="not-string"),
        pytest.param(["SECRET_ACCESS_KEY"], "JSON object of strings", id="not-object"),
    ],
)
def test_bad_start_is_400_without_echo(client: TestClient, body: Any, needle: str) -> None:
    r = client.post("/v1/plans/restore/start", json=body)
    assert r.status_code == 400
    assert needle in r.json()["message"]
    assert "12345678" not in r.text
    assert client.get("/v1/plans/restore").json()["status"] == "WAITING"


def test_commands_and_208(client: TestClient) -> None:
    client.post("/v1/plans/verify/start", json={"KIND": "block"})
    assert client.post("/v1/plans/verify/interrupt").status_code == 200
    r = client.post("/v1/plans/verify/interrupt")
    assert (r.status_code, r.json()["message"]) == (208, ALREADY)
    assert client.post("/v1/plans/verify/continue").status_code == 200
    assert client.post("/v1/plans/verify/continue").status_code == 208
    assert client.post("/v1/plans/verify/interrupt?phase=second").status_code == 200
    assert client.post("/v1/plans/verify/interrupt?phase=second").status_code == 208
    assert client.post("/v1/plans/verify/continue?phase=second").status_code == 200
    for step in ("s1", "s2"):
        r = client.post(f"/v1/plans/verify/forceComplete?phase=first&step={step}")
        assert r.status_code == 200
    assert client.post("/v1/plans/verify/forceComplete?phase=first&step=s1").status_code == 208
    assert client.post("/v1/plans/verify/restart?phase=first&step=s1").status_code == 200
    assert client.post("/v1/plans/verify/stop").status_code == 200
    assert client.post("/v1/plans/verify/restart").status_code == 200
    assert client.post("/v1/plans/verify/stop").status_code == 200
    wait_status(client, "/v1/plans/verify", "WAITING")


@pytest.mark.parametrize(
    ("path", "code", "needle"),
    [
        pytest.param("forceComplete?step=s1", 400, "without its phase", id="step-without-phase"),
        pytest.param("forceComplete", 400, "needs both", id="force-complete-bare"),
        pytest.param("restart?step=s1", 400, "without its phase", id="restart-step-only"),
        pytest.param("interrupt?phase=nope", 404, "phase 'nope' not found", id="unknown-phase"),
        pytest.param("restart?phase=first&step=s9", 404, "step 's9' not found", id="unknown-step"),
    ],
)
def test_bad_elements(client: TestClient, path: str, code: int, needle: str) -> None:
    client.post("/v1/plans/verify/start", json={"KIND": "block"})
    r = client.post(f"/v1/plans/verify/{path}")
    assert r.status_code == code
    assert needle in r.json()["message"]
    client.post("/v1/plans/verify/stop")


def test_conflict_is_409(client: TestClient) -> None:
    params = {**RESTORE_PARAMS, "KIND": "block"}
    assert client.post("/v1/plans/restore/start", json=params).status_code == 200
    wait_status(client, "/v1/plans/restore", "IN_PROGRESS")
    r = client.post("/v1/plans/restore/start", json=params)
    assert r.status_code == 409
    assert "already running" in r.json()["message"]
    client.post("/v1/plans/restore/stop")


def test_service_routes() -> None:
    scheduler = Scheduler({"a": make_manager("a"), "b": make_manager("b")})
    with TestClient(create_app(scheduler, None)) as c:
        assert c.get("/v1/service/a/plans").json() == ["backup", "restore", "verify"]
        assert c.post("/v1/service/b/plans/verify/start", json={}).status_code == 200
        wait_status(c, "/v1/service/b/plans/verify", "COMPLETE")
        assert c.get("/v1/service/a/plans/verify").json()["status"] == "WAITING"
        r = c.get("/v1/plans")
        assert r.status_code == 400
        assert "no default service" in r.json()["message"]
        r = c.get("/v1/service/zzz/plans/verify")
        assert r.status_code == 404
        assert "service 'zzz' not found" in r.json()["message"]


def test_token_required() -> None:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, "t0ken")) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
            r = c.get("/v1/plans", headers=headers)
            assert r.status_code == 401
            assert "token" in r.json()["message"]
        r = c.post("/v1/plans/verify/start", json={})
        assert r.status_code == 401
        assert c.get("/openapi.json").status_code == 401
        ok = {"Authorization": "Bearer t0ken"}
        assert c.get("/v1/plans/verify", headers=ok).json()["status"] == "WAITING"  # unchanged
        assert c.get("/v1/plans", headers=ok).status_code == 200
        assert c.get("/docs", headers=ok).status_code == 200


def test_no_token_means_open() -> None:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, None)) as c:
        assert c.get("/v1/plans", headers={"Authorization": "Bearer x"}).status_code == 200


def test_openapi_lists_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for prefix in ("/v1/plans", "/v1/service/{svc}/plans"):
        assert prefix in paths
        for suffix in (
            "",
            "/start",
            "/stop",
            "/interrupt",
            "/continue",
            "/forceComplete",
            "/restart",
            "/logs",
        ):
            assert f"{prefix}/{{plan}}{suffix}" in paths
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.1.2.3", "[::1]"])
def test_loopback_without_token_is_fine(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_network_address_needs_a_token(host: str) -> None:
    with pytest.raises(UsageError, match=f"refusing to listen on {host} without a token"):
        check_bind(host, None)
    check_bind(host, "t0ken")
