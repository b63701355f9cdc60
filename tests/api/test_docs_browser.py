"""Swagger UI and ReDoc render the API's operations in a real headless browser with no network beyond the server:
their scripts and styles come from the installation (drf-spectacular-sidecar), never a CDN.

Chromium is Debian's package (`scripts/services.sh` installs it for `make test`), driven by Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(django_db_setup, django_db_blocker) -> Iterator[Browser]:
    """Playwright's sync API keeps an event loop set on this thread, which Django's async-safety check takes
    for async code: the documented way out (for test code only) is DJANGO_ALLOW_ASYNC_UNSAFE."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/services.sh)"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield browser
            browser.close()


@pytest.fixture
def offline_page(browser: Browser, live_server) -> Iterator[tuple[Page, list[str]]]:
    """A page that may reach the test server only; every other request is aborted and recorded."""
    server = urlsplit(live_server.url).netloc
    refused: list[str] = []
    context = browser.new_context()

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == server:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    yield page, refused
    context.close()


def test_swagger_ui_renders_the_operations_offline(offline_page, live_server):
    page, refused = offline_page
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = {text.strip() for text in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/v1/principles/", "/api/v1/jobs/{job_id}/", "/api/v1/chat/completions"} <= paths
    assert not refused, f"the page asked for outside resources: {refused}"


def test_redoc_renders_the_operations_offline(offline_page, live_server):
    page, refused = offline_page
    page.goto(f"{live_server.url}/api/redoc/")
    page.wait_for_selector("text=Principled API", timeout=30_000)
    page.wait_for_selector("text=/api/v1/jobs/{job_id}/", timeout=30_000, state="attached")
    assert page.locator("[data-section-id^='tag/']").count() > 0
    assert not refused, f"the page asked for outside resources: {refused}"
