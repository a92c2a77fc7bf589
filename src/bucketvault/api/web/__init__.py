"""The web view at `/`: one page (HTML, CSS and JavaScript shipped in this package, no
build step, nothing loaded from anywhere but this server) that polls `/v1/overview`
and drives the plans with the same API routes as the CLI.

The page and its two assets hold no data, so they are served without the token; every
request the page makes for data or to change something carries the token the operator
typed (kept in the tab's sessionStorage only) and is refused without it. A strict
Content-Security-Policy keeps the page from reaching any other origin.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
PUBLIC_PATHS = frozenset({"/", *(f"/ui/{name}" for name in ASSETS)})

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = _read("index.html")
    assets = {name: _read(name) for name in ASSETS}

    @router.get("/")
    async def index() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    def serve(name: str) -> None:
        body = assets[name]
        media = f"{ASSETS[name]}; charset=utf-8"

        async def asset() -> Response:
            return Response(body, media_type=media, headers=HEADERS)

        router.add_api_route(f"/ui/{name}", asset, methods=["GET"])

    for name in ASSETS:
        serve(name)
    return router
