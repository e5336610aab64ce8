"""Dashboard fixtures: a signed-in in-process client for HTML-level tests (both databases),
and a real ``chronos serve`` driven by Debian's Chromium through Playwright for browser tests.

Browser tests are plain (sync) functions: Playwright's sync API runs its own loop. Set
``CHRONOS_SCREENSHOTS=docs/screenshots`` to have them save the README's screenshots.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chronos.server.app import create_app
from chronos.server.runtime import Runtime
from tests.conftest import IN_CI
from tests.e2e.server import ChronosServer

CHROMIUM = os.environ.get("CHRONOS_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("CHRONOS_SCREENSHOTS")
CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')


class Dashboard(httpx.AsyncClient):
    """A signed-in browser stand-in: the session cookie, and the CSRF token pages carry."""

    csrf: str = ""

    async def act(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        """POST an action the way htmx does (CSRF header, ``HX-Request``, same origin)."""
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true", "Origin": str(self.base_url)}
        return await self.post(path, data=data or {}, headers=headers, **kw)


@asynccontextmanager
async def signed_in(runtime: Runtime, key: str) -> AsyncIterator[Dashboard]:
    """A dashboard client of a fresh app for ``runtime``, signed in with ``key``."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with Dashboard(transport=transport, base_url="http://chronos.test") as client:
        response = await client.post("/login", data={"api_key": key, "next": "/"})
        assert response.status_code == 303, response.text
        page = await client.get("/")
        found = CSRF.search(page.text)
        assert found, page.text
        client.csrf = found.group(1)
        yield client


@pytest.fixture
async def dash(runtime: Runtime, account: dict[str, Any]) -> AsyncIterator[Dashboard]:
    """Signed in to the dashboard as ``account`` (in-process, SQLite and PostgreSQL)."""
    async with signed_in(runtime, account["key"]) as client:
        yield client


# --- real browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true: {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChronosServer]:
    """A real ``chronos serve`` on SQLite with its services running."""
    node = ChronosServer(f"sqlite:///{tmp_path / 'chronos.db'}", tmp_path)
    node.start()
    yield node
    node.kill()


@pytest.fixture
def page(browser: Any, server: ChronosServer) -> Iterator[Any]:
    """A browser tab on ``server``, signed in with its bootstrap key."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in(tab, server.api_key)
    yield tab
    context.close()
    # Every browser test also proves the pages ran without a script error or a CSP refusal.
    assert problems == []


def log_in(tab: Any, key: str) -> None:
    tab.goto("/login")
    tab.fill("#api_key", key)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/")


def screenshot(tab: Any, name: str) -> None:
    """Save ``docs/screenshots/<name>.png`` when ``CHRONOS_SCREENSHOTS`` names the folder."""
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
