"""A real browser (Debian's chromium, driven by Playwright) against the live stack:
daphne serving the app, a worker running background jobs, the scripted model, and the
suite's own MCP server (tests/toolbox/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import ROOT
from tests.toolbox.conftest import mcp_http_url

__all__ = ["mcp_http_url"]

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "e2e-screenshots"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium for one test. Playwright's sync API runs an event loop in this thread
    while it lives, and Django refuses database calls there: so fixtures that touch the
    database (`person`, `worker`) must come before `page` in a test's arguments, and the
    test body talks to the app only through the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot is saved when the test fails."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}.png"
        tab.screenshot(path=str(path), full_page=True)
        print(f"screenshot saved: {path}")
    context.close()


@pytest.fixture
def person(live_server_url: str, django_db_blocker: Any) -> tuple[str, str]:
    """A committed user (the live server sees it) and their password."""
    from django.contrib.auth import get_user_model

    username, password = f"ada-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with django_db_blocker.unblock():
        get_user_model().objects.create_user(username=username, password=password)
    return username, password
