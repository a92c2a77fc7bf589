"""The web view in a real browser (headless Chromium driven by Playwright) against a
real server (uvicorn) with fake plans: a token is asked for and required; the page shows
a plan running with its steps' progress and completing; a pause from the page reaches
the plan and a resume from the page continues it; no request leaves 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bucketvault.api.app import create_app
from bucketvault.plans.scheduler import Scheduler
from bucketvault.schedules import ScheduleStore
from tests.plans.fakes import make_manager
from tests.support.browser import app_server, browser_page

TOKEN = "web-token-" + "w" * 22
# BUCKETVAULT_SCREENSHOTS=docs writes the screenshots into docs/ (as committed)
SHOTS = os.environ.get("BUCKETVAULT_SCREENSHOTS")


@pytest.fixture
def server() -> Iterator[tuple[str, Scheduler]]:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    ScheduleStore(scheduler.state).add(
        service="svc", plan="verify", params={"ACCESS_KEY_ID": "AK"}, every_s=6 * 3600
    )
    with app_server(create_app(scheduler, TOKEN)) as url:
        yield url, scheduler


def shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)


def api_status(url: str, plan: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body: dict[str, Any] = httpx.get(f"{url}/v1/plans/{plan}", headers=headers).json()
    return body


def test_the_page_steers_a_plan(server: tuple[str, Scheduler], tmp_path: Path) -> None:
    url, _ = server
    marker = tmp_path / "marker"
    marker.mkdir()
    hold = marker / "hold"
    hold.touch()  # the `gate` steps run until this file is removed
    requests: list[str] = []
    with browser_page() as page:
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url + "/")
        # a token is required: nothing but the form until it is given
        page.wait_for_selector("#login:not([hidden])", timeout=10_000)
        assert page.is_hidden("#services-section")
        page.fill("#token", "wrong-token")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error:not([hidden])", timeout=10_000)
        assert page.is_hidden("#services-section")
        page.fill("#token", TOKEN)
        page.click("#login-form button[type=submit]")
        plan = page.locator('[data-plan="svc/restore"]')
        plan.wait_for(timeout=10_000)
        assert plan.locator('[data-role="plan-status"]').inner_text() == "WAITING"
        assert page.locator('[data-schedule="svc/verify-1"]').is_visible()

        # start from the page, with its parameters (the secret in a password field)
        plan.locator('[data-action="start"]').click()
        page.fill("#start-key", "AKIAFAKE")
        page.fill("#start-secret", "s3cr3t-from-the-page")
        page.fill("#start-params", f"S3_BUCKET=svc-photos\nKIND=gate\nMARKER={marker}")
        page.click("#start-form button[type=submit]")
        step = plan.locator('[data-step="restore-0:[restore]"]')
        page.wait_for_function(
            """() => {
                const s = document.querySelector('[data-plan="svc/restore"] '
                  + '[data-step="restore-0:[restore]"] [data-role="step-status"]');
                return s && s.textContent === 'STARTED';
            }""",
            timeout=15_000,
        )
        assert "objects" in step.inner_text()  # progress of the running step
        assert plan.locator('[data-role="plan-status"]').inner_text() == "IN_PROGRESS"
        shot(page, tmp_path, "running")

        # pause from the page: the plan is interrupted (seen through the API too)
        plan.locator('[data-action="pause"]').click()
        page.wait_for_function(
            """() => document.querySelector('[data-plan="svc/restore"] '
                + '[data-role="plan-status"]').textContent === 'WAITING'""",
            timeout=15_000,
        )
        assert api_status(url, "restore")["status"] == "WAITING"
        assert "Received cmd: interrupt" in page.inner_text("#notice")

        # resume from the page; then let the step finish
        plan.locator('[data-action="resume"]').click()
        page.wait_for_function(
            """() => document.querySelector('[data-plan="svc/restore"] '
                + '[data-role="plan-status"]').textContent === 'IN_PROGRESS'""",
            timeout=15_000,
        )
        hold.unlink()
        page.wait_for_function(
            """() => document.querySelector('[data-plan="svc/restore"] '
                + '[data-role="plan-status"]').textContent === 'COMPLETE'""",
            timeout=20_000,
        )
        run = page.locator('[data-run="svc/restore"]').first
        run.wait_for(timeout=10_000)
        assert "COMPLETE" in run.inner_text()
        shot(page, tmp_path, "complete")

        # failures show with their keys
        plan = page.locator('[data-plan="svc/verify"]')
        plan.locator('[data-action="start"]').click()
        page.fill("#start-params", "KIND=errors\nCOUNT=3")
        page.click("#start-form button[type=submit]")
        errors = plan.locator('[data-role="plan-errors"]')
        errors.wait_for(timeout=15_000)
        assert "key-0: AccessDenied" in errors.inner_text()
        page.locator('[data-run="svc/verify"]').first.wait_for(timeout=10_000)
        shot(page, tmp_path, "failed")

        # forgetting the token hides everything again
        page.click("#forget")
        page.wait_for_selector("#login:not([hidden])", timeout=10_000)
        assert page.is_hidden("#services-section")
        page_text = page.content()
    assert requests and all(r.startswith(url + "/") for r in requests), {
        r for r in requests if not r.startswith(url)
    }
    assert "s3cr3t-from-the-page" not in page_text


def test_without_a_token_configured_the_page_needs_none(tmp_path: Path) -> None:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    with app_server(create_app(scheduler, None)) as url, browser_page() as page:
        page.goto(url + "/")
        page.locator('[data-plan="svc/backup"]').wait_for(timeout=10_000)
        assert page.is_hidden("#login")
        started = time.monotonic()
        assert page.title() == "bucketvault" and time.monotonic() - started < 5
