"""Fuzz the HTTP API with its own OpenAPI document (schemathesis, in-process ASGI): no
input may make it answer 5xx. The plans behind it are fakes (no network, fast): every
step succeeds at once, whatever the parameters say."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation

from bucketvault.api.app import create_app
from bucketvault.errors import AccessDeniedError, NoSuchBucketError, TransientStoreError
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.spec import PlanSpec
from bucketvault.plans.state import StateStore
from tests.plans.fakes import FAST, FakeBuilder, FakeWork

MAX_EXAMPLES = 20
PLANS = ("backup", "restore", "verify")
# parameters of the fake plans that change what their steps do (sleep, block, SIGINT...)
_BEHAVIOUR = ("KIND", "SECONDS", "FAILS", "COUNT", "MARKER")


class OkBuilder(FakeBuilder):
    """The fake plans, with every step's work forced to `ok` (fuzzed parameters can
    not make a step block, sleep or signal the test process)."""

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        safe = {k: v for k, v in params.items() if k.upper() not in _BEHAVIOUR}
        return await super().build(plan, safe)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    state = StateStore(Path(tmp_path_factory.mktemp("fuzz")) / "state.db")

    def manager(service: str) -> PlanManager:
        return PlanManager(service, OkBuilder(), FakeWork(), state, FAST)

    scheduler = Scheduler(factory=manager, default="minio", state=state)
    app = create_app(scheduler, None, resume=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return schemathesis.openapi.from_asgi("/openapi.json", app)


def _strategy(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode
) -> st.SearchStrategy[Any]:
    """Generated cases, and as many again aimed at the real plans and service (random
    plan names alone would only ever reach the 404 path)."""
    names = {param.name for param in operation.path_parameters}
    aimed = [
        operation.as_strategy(
            mode, path_parameters={"plan": plan, **({"svc": "minio"} if "svc" in names else {})}
        )
        for plan in PLANS
        if "plan" in names
    ]
    return st.one_of(operation.as_strategy(mode), *aimed)


@pytest.mark.parametrize(
    ("mode", "examples"),
    [(GenerationMode.POSITIVE, MAX_EXAMPLES), (GenerationMode.NEGATIVE, MAX_EXAMPLES)],
    ids=["positive", "negative"],
)
def test_api_never_answers_5xx(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode, examples: int
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {op.label for op in operations}
    # the plan routes, with and without /v1/service/{svc}, and the console's routes
    assert len([label for label in labels if "/plans" in label]) >= 16
    console = {"GET /metrics", "GET /v1/overview", "GET /v1/schedules", "GET /v1/runs"}
    assert console <= labels, labels
    seen: Counter[int] = Counter()
    if mode is GenerationMode.NEGATIVE:
        # every parameter is a string, so only a body can be invalid (start)
        operations = [op for op in operations if op.label.endswith("/start")]
    for operation in operations:

        @given(case=_strategy(operation, mode))
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            seen[response.status_code] += 1

        fuzz()
    # the fuzz got past routing and validation: real plans answered
    assert seen[404] < sum(seen.values()), seen
    if mode is GenerationMode.POSITIVE:
        assert seen[200] + seen[202] + seen[208] > 0, seen
    else:
        assert seen[400] + seen[422] > 0, seen


class RefusingBuilder(FakeBuilder):
    """Building a plan reaches the stores: here they refuse."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AccessDeniedError("access denied by http://127.0.0.1:1 for the bucket list"), 502),
        (TransientStoreError("cannot reach http://127.0.0.1:1: connection refused"), 502),
        (NoSuchBucketError("bucket 'x' does not exist at http://127.0.0.1:1"), 404),
    ],
    ids=["denied", "unreachable", "no-bucket"],
)
def test_store_refusals_are_not_500(tmp_path: Path, error: Exception, code: int) -> None:
    """A store refusing while a plan is built is the store's failure, not the API's."""
    state = StateStore(tmp_path / "state.db")
    builder = RefusingBuilder(error)
    scheduler = Scheduler(
        factory=lambda svc: PlanManager(svc, builder, FakeWork(), state, FAST),
        default="minio",
        state=state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(scheduler, None, resume=False)) as client:
        r = client.post("/v1/plans/backup/start", json={"ACCESS_KEY_ID": "a"})
        assert r.status_code == code, r.text
        assert r.json() == {"message": str(error)}
        # a plan that cannot start is shown in ERROR with the reason (issue #9)
        body = client.get("/v1/plans/backup").json()
        assert body["status"] == "ERROR", body
        assert body["errors"] == [f"backup could not start: {error}"]
