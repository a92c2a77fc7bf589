"""The HTTP API (REFERENCE.md §2): the DC/OS SDK plan endpoints over a `Scheduler`.

Routes exist twice: under `/v1/plans` (the scheduler's default service) and under
`/v1/service/{svc}/plans`. Status codes: GET status 200 COMPLETE / 202 not yet /
417 ERROR; commands 200, 208 when already done; 400 bad input, 401 bad token,
404 unknown plan/phase/step/service/bucket, 409 conflict, 502 an object store refused
(e.g. wrong credentials when a plan is built). Every error body is
`{"message": "..."}`. Responses never contain parameter values, so no secret.
"""

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from bucketvault import __version__
from bucketvault.api.docs import DOCS_PATHS, docs_router
from bucketvault.api.web import PUBLIC_PATHS, web_router
from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    ExitCode,
    NotFoundError,
    PlanInputError,
    StoreError,
    UsageError,
)
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.scheduler import Scheduler
from bucketvault.plans.status import Status

if TYPE_CHECKING:
    from bucketvault.schedules import ScheduleTicker

ALREADY = "Cannot execute command. Command has already been issued or the plan has completed"

PhaseQ = Annotated[str | None, Query(description="phase name")]
StepQ = Annotated[str | None, Query(description="step name (needs phase)")]
Params = Annotated[
    dict[str, str] | None,
    Body(description="plan parameters; names match [A-Za-z_][A-Za-z0-9_]*"),
]


def _code_for(exc: BucketvaultError) -> int:
    """The HTTP status of a failure, by the same classes as the CLI's exit codes: an
    object store that refused or failed (wrong credentials, unreachable) is 502, the
    store behind the scheduler failing, not the scheduler."""
    if isinstance(exc, UsageError):  # includes PlanInputError, ConfigError
        return 400
    if isinstance(exc, NotFoundError) or exc.exit_code is ExitCode.NOT_FOUND:
        return 404  # (NoSuchBucketError is a StoreError)
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, StoreError):
        return 502
    return 500


def _message(text: str, code: int = 200) -> JSONResponse:
    return JSONResponse({"message": text}, status_code=code)


def _done(changed: bool, command: str) -> JSONResponse:
    return _message(f"Received cmd: {command}") if changed else _message(ALREADY, 208)


def _service_from_path(svc: Annotated[str, Path(description="service name")]) -> str:
    return svc


def _router(scheduler: Scheduler, prefix: str, with_service: bool) -> APIRouter:
    deps = [Depends(_service_from_path)] if with_service else []
    router = APIRouter(prefix=prefix, dependencies=deps, tags=["plans"])

    def manager(request: Request) -> PlanManager:
        return scheduler.manager(request.path_params.get("svc"))

    Manager = Annotated[PlanManager, Depends(manager)]

    @router.get("", summary="Plan names")
    async def list_plans(m: Manager) -> list[str]:
        return m.plan_names()

    @router.get(
        "/{plan}",
        summary="Plan status",
        responses={202: {"description": "not complete yet"}, 417: {"description": "ERROR"}},
    )
    async def plan_status(plan: str, m: Manager) -> JSONResponse:
        body = m.status(plan)
        status = Status(body["status"])
        code = 200 if status is Status.COMPLETE else 417 if status is Status.ERROR else 202
        return JSONResponse(body, status_code=code)

    @router.get("/{plan}/logs", summary="Plan history (step status changes, commands)")
    async def plan_logs(plan: str, m: Manager, step: StepQ = None) -> list[dict[str, Any]]:
        return [event.as_dict() for event in m.logs(plan, step)]

    @router.post("/{plan}/start", summary="Set parameters and start (restart if complete)")
    async def start(plan: str, m: Manager, params: Params = None) -> JSONResponse:
        await m.start(plan, params or {})
        scheduler.launch(m.service, plan)
        return _message("Received cmd: start")

    @router.post("/{plan}/stop", summary="Interrupt and reset every step to PENDING")
    async def stop(plan: str, m: Manager) -> JSONResponse:
        m.stop(plan)
        return _message("Received cmd: stop")

    @router.post("/{plan}/interrupt", summary="Pause", responses={208: {"description": "already"}})
    async def interrupt(plan: str, m: Manager, phase: PhaseQ = None) -> JSONResponse:
        return _done(m.interrupt(plan, phase), "interrupt")

    @router.post("/{plan}/continue", summary="Resume", responses={208: {"description": "already"}})
    async def proceed(
        plan: str, m: Manager, phase: PhaseQ = None, params: Params = None
    ) -> JSONResponse:
        changed = m.proceed(plan, phase, params)  # params: credentials given again
        if changed:
            scheduler.launch(m.service, plan)
        return _done(changed, "continue")

    @router.post(
        "/{plan}/forceComplete",
        summary="Mark a step COMPLETE",
        responses={208: {"description": "already"}},
    )
    async def force_complete(
        plan: str, m: Manager, phase: PhaseQ = None, step: StepQ = None
    ) -> JSONResponse:
        changed = m.force_complete(plan, phase, step)
        if changed:
            scheduler.launch(m.service, plan)
        return _done(changed, "forceComplete")

    @router.post(
        "/{plan}/restart",
        summary="Reset to PENDING and un-interrupt",
        responses={208: {"description": "already"}},
    )
    async def restart(
        plan: str, m: Manager, phase: PhaseQ = None, step: StepQ = None, params: Params = None
    ) -> JSONResponse:
        changed = m.restart(plan, phase, step, params)  # params: credentials given again
        if changed:
            scheduler.launch(m.service, plan)
        return _done(changed, "restart")

    return router


def create_app(
    scheduler: Scheduler,
    token: str | None,
    *,
    resume: bool = True,
    ticker: "ScheduleTicker | None" = None,
) -> FastAPI:
    """The API over `scheduler`; with `token`, every request needs `Bearer <token>`.
    With `resume`, plans left running by a dead process continue on startup; with
    `ticker`, due schedules start their plans while the server runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if resume:
            scheduler.resume_all()
        if ticker is not None:
            ticker.start()
        try:
            yield
        finally:
            if ticker is not None:
                await ticker.aclose()
            await scheduler.aclose()
            await app.state.console.aclose()  # webhooks still in flight: a moment, then cancel

    app = FastAPI(
        title="bucketvault",
        version=__version__,
        description="Plans (backup, restore, verify) of bucketvault services.",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI / ReDoc from a CDN: api/docs serves its own
        docs_url=None,
        redoc_url=None,
    )
    expected = f"Bearer {token}".encode() if token else None

    @app.middleware("http")
    async def authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # the web page and its assets hold no data: the page asks for the token and sends
        # it with every request it makes (api/web)
        path = request.url.path
        public = request.method in ("GET", "HEAD") and (path in PUBLIC_PATHS or path in DOCS_PATHS)
        if expected is not None and not public:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    {"message": "missing or wrong token: send 'Authorization: Bearer <token>'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    @app.exception_handler(BucketvaultError)
    async def bucketvault_error(_: Request, exc: BucketvaultError) -> JSONResponse:
        return _message(str(exc), _code_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input: a malformed body may hold a secret.
        where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        text = f"invalid request ({', '.join(where)}): the body must be a JSON object of strings"
        return _message(str(PlanInputError(text)), 400)

    app.include_router(_router(scheduler, "/v1/plans", with_service=False))
    app.include_router(_router(scheduler, "/v1/service/{svc}/plans", with_service=True))
    from bucketvault.api.console import Console, console_router

    app.state.console = Console(scheduler, ticker)
    app.include_router(console_router(app.state.console))
    app.include_router(web_router())
    app.include_router(docs_router())
    return app


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every API route, for tests and docs."""
    rows: list[tuple[str, str]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            # FastAPI >= 0.16x keeps an included router as one entry wrapping it
            inner = getattr(route, "original_router", None)
            if inner is not None:
                context = getattr(route, "include_context", None)
                walk(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
                continue
            methods: Any = getattr(route, "methods", None) or ()
            rows.extend((method, prefix + getattr(route, "path", "")) for method in sorted(methods))

    walk(app.routes, "")
    return rows
