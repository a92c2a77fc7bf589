"""HTTP API access control, beyond tests/api: every route refuses a missing or wrong
token with 401 and changes nothing; `bucketvault serve` listens on loopback by default
and refuses a network address without a token (through the CLI, before binding)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from bucketvault.api.app import create_app, route_table
from bucketvault.api.docs import DOCS_PATHS
from bucketvault.api.web import PUBLIC_PATHS
from bucketvault.errors import ExitCode
from bucketvault.plans.scheduler import Scheduler
from tests.e2e.helpers import run_cli
from tests.plans.fakes import make_manager

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "t0ken-" + "x" * 26
GOOD = {"Authorization": f"Bearer {TOKEN}"}
BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}, Bearer {TOKEN}"},
    {"X-Token": TOKEN},
]


@pytest.fixture
def client() -> Iterator[TestClient]:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, TOKEN)) as c:
        yield c


def _concrete(path: str) -> str:
    return path.replace("{svc}", "svc").replace("{plan}", "verify")


def _snapshot(client: TestClient) -> dict[str, Any]:
    return {
        plan: client.get(f"/v1/plans/{plan}", headers=GOOD).json()
        for plan in ("backup", "restore", "verify")
    }


def test_every_route_needs_the_token_and_changes_nothing(client: TestClient) -> None:
    # a completed plan, so stop/restart/interrupt would change something
    assert client.post("/v1/plans/verify/start", json={}, headers=GOOD).is_success
    for _ in range(500):
        if client.get("/v1/plans/verify", headers=GOOD).json()["status"] == "COMPLETE":
            break
        time.sleep(0.01)
    before = _snapshot(client)
    routes = route_table(client.app)
    paths = {path for _, path in routes}
    assert len([path for path in paths if path.startswith(("/v1/plans", "/v1/service/"))]) >= 16
    assert {"/v1/overview", "/v1/schedules", "/v1/runs", "/metrics"} <= paths  # the console
    assert ("GET", "/docs") in routes and ("GET", "/openapi.json") in routes
    # the web page and its assets are the only routes open without a token: they are
    # the same bytes whatever the state (no data), and ask for the token themselves
    # (and so are the API docs page and its assets, api/docs)
    public = {(m, p) for m, p in routes if p in PUBLIC_PATHS | DOCS_PATHS}
    assert {p for _, p in public} == {"/", "/ui/app.js", "/ui/style.css", *DOCS_PATHS}
    shell = {path: client.get(path).content for _, path in public}
    for headers in BAD_HEADERS:
        for path, content in shell.items():
            r = client.get(path, headers=headers)
            assert r.status_code == 200 and r.content == content
            assert "default-src 'none'" in r.headers["content-security-policy"]
        for method, path in sorted(set(routes) - public):
            query = "?phase=first&step=s1" if path.endswith(("forceComplete", "restart")) else ""
            r = client.request(method, _concrete(path) + query, headers=headers, json={})
            assert r.status_code == 401, (headers, method, path, r.status_code)
            if method != "HEAD":
                assert r.json() == {
                    "message": "missing or wrong token: send 'Authorization: Bearer <token>'"
                }
            assert r.headers["www-authenticate"] == "Bearer"
        for path in ("/v1/plans/restore/start", "/v1/service/other/plans/backup/start"):
            assert client.post(path, json={"KIND": "ok"}, headers=headers).status_code == 401
    # nothing moved: same steps, same statuses; no other service was created
    after = _snapshot(client)
    for plan in before:
        assert _statuses(after[plan]) == _statuses(before[plan]), plan
    assert after["verify"]["status"] == "COMPLETE"
    assert client.get("/v1/service/other/plans/backup", headers=GOOD).json()["status"] == "WAITING"


def _statuses(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(step["name"], step["status"]) for phase in body["phases"] for step in phase["steps"]]


@pytest.fixture
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what `serve` would bind instead of binding it."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def test_serve_binds_loopback_by_default(fake_uvicorn: list[dict[str, Any]]) -> None:
    result = run_cli("serve")
    assert result.exit_code == 0, result.stderr
    assert [call["host"] for call in fake_uvicorn] == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com", "0", "[::]"])
def test_serve_refuses_network_address_without_token(
    fake_uvicorn: list[dict[str, Any]], host: str
) -> None:
    result = run_cli("serve", "--host", host, "--port", "1")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0] and "--token" in lines[0]
    assert fake_uvicorn == []  # never got as far as binding


@pytest.mark.parametrize("how", ["option", "env", "global-option"])
def test_serve_network_address_with_token(fake_uvicorn: list[dict[str, Any]], how: str) -> None:
    args = {
        "option": ["serve", "--host", "0.0.0.0", "--token", TOKEN],
        "env": ["serve", "--host", "0.0.0.0"],
        "global-option": ["--token", TOKEN, "serve", "--host", "0.0.0.0"],
    }[how]
    env = {"BUCKETVAULT_TOKEN": TOKEN} if how == "env" else None
    result = run_cli(*args, env=env)
    assert result.exit_code == 0, result.stderr
    assert [call["host"] for call in fake_uvicorn] == ["0.0.0.0"]


def test_empty_token_is_no_token(fake_uvicorn: list[dict[str, Any]]) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--token", "")
    assert result.exit_code == ExitCode.USAGE
    assert fake_uvicorn == []
