"""The API reference at `/docs`: Swagger UI served by this server, never from a CDN.

FastAPI's own `/docs` page loads Swagger UI from a CDN, so it is blank offline or behind
a firewall. Here the page, a small start-up script and Swagger UI's files (from the
`swagger-ui-bundle` package) all come from this server, and a Content-Security-Policy
keeps the page from reaching any other origin.

The page and its assets hold no data (they are the same bytes whatever the server
holds), so, like the web view, they are served without the token; `/openapi.json` and
every API call still need it. When the server has a token the page asks for it once
(kept in the tab's sessionStorage, under the web view's key) and sends it with every
request it makes, the schema's included.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

PAGE = "/docs"
# name under /docs/assets/ → media type: Swagger UI's files, then this package's own
_SWAGGER = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_OWN = {"start.js": "text/javascript; charset=utf-8"}
ASSETS = {**_SWAGGER, **_OWN}
DOCS_PATHS = frozenset({PAGE, *(f"{PAGE}/assets/{name}" for name in ASSETS)})

# Swagger UI sets inline styles and shows data: images; nothing may leave this origin
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _swagger_file(name: str) -> bytes:
    from swagger_ui_bundle import swagger_ui_path

    return bytes((swagger_ui_path / name).read_bytes())


def _own_file(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def docs_router() -> APIRouter:
    """`/docs` and its assets, read once when the server starts."""
    router = APIRouter(include_in_schema=False)
    page = _own_file("index.html")
    bodies = {name: _swagger_file(name) for name in _SWAGGER}
    bodies.update({name: _own_file(name) for name in _OWN})

    @router.get(PAGE)
    async def docs() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    def serve(name: str) -> None:
        body, media = bodies[name], ASSETS[name]

        async def asset() -> Response:
            return Response(body, media_type=media, headers=HEADERS)

        router.add_api_route(f"{PAGE}/assets/{name}", asset, methods=["GET"])

    for name in ASSETS:
        serve(name)
    return router
