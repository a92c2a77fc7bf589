"""The API docs page (`/docs`) works offline and with a token: the page and every asset it
loads come from this server (Swagger UI shipped in a package, no CDN), and with a token
the page and its assets are open (they hold no data) while the schema still needs it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from bucketvault.api.app import create_app
from bucketvault.api.docs import DOCS_PATHS
from bucketvault.plans.scheduler import Scheduler
from tests.plans.fakes import make_manager

with warnings.catch_warnings():  # starlette 1.x would rather use httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "docs-t0ken"


class _Links(HTMLParser):
    """Every URL the page loads or links to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "data") and value is not None:
                self.urls.append(value)


def _client(token: str | None) -> Iterator[TestClient]:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with TestClient(create_app(scheduler, token, resume=False)) as client:
        yield client


@pytest.fixture
def open_client() -> Iterator[TestClient]:
    yield from _client(None)


@pytest.fixture
def token_client() -> Iterator[TestClient]:
    yield from _client(TOKEN)


def _page_urls(client: TestClient) -> list[str]:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(page.text)
    assert parser.urls, "the page loads nothing?"
    return parser.urls


def test_page_loads_nothing_from_elsewhere(open_client: TestClient) -> None:
    urls = _page_urls(open_client)
    for url in urls:
        # same origin: a path, not a scheme or a protocol-relative //host
        assert url.startswith("/") and not url.startswith("//"), url
    page = open_client.get("/docs")
    assert "://" not in page.text, "an absolute URL in the page"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # every asset the page names is served here, with the right type
    for url in urls:
        asset = open_client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert {u for u in urls} <= DOCS_PATHS
    script = open_client.get("/docs/assets/start.js").text
    assert "://" not in script and "validatorUrl: null" in script
    assert "SwaggerUIBundle" in open_client.get("/docs/assets/swagger-ui-bundle.js").text
    assert (
        open_client.get("/docs/assets/swagger-ui.css")
        .headers["content-type"]
        .startswith("text/css")
    )
    # FastAPI's CDN pages are gone
    assert open_client.get("/redoc").status_code == 404
    assert open_client.get("/openapi.json").status_code == 200


def test_with_a_token(token_client: TestClient) -> None:
    # the page and its assets hold no data: open, as the web view is
    for url in _page_urls(token_client):
        assert token_client.get(url).status_code == 200, url
    for path in DOCS_PATHS:
        assert token_client.get(path).status_code == 200, path
    # the schema and the API are not
    assert token_client.get("/openapi.json").status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    schema = token_client.get("/openapi.json", headers=good)
    assert schema.status_code == 200 and "/v1/plans" in schema.json()["paths"]
    # the page sends the token it is given with every request, the schema's included
    script = token_client.get("/docs/assets/start.js").text
    assert "requestInterceptor: withToken" in script and '"Bearer "' in script
    assert TOKEN not in token_client.get("/docs").text  # the server never embeds it
