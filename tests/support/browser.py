"""Headless Chromium (Debian's `chromium` package) driven by Playwright, for the tests of
the web view. No browser is downloaded: Playwright is pointed at the system binary."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bucketvault.loopback import LOOPBACK, free_port

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The system Chromium; under CI its absence fails the test (the Makefile installs
    it), elsewhere it skips with what to install."""
    for name in (os.environ.get("BUCKETVAULT_CHROMIUM"), *CANDIDATES):
        found = shutil.which(name) if name else None
        if found:
            return found
    message = "no chromium binary: `apt-get install chromium` (or make setup)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


@contextlib.contextmanager
def app_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # ~10 s
            if server.started:
                break
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
