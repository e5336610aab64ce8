"""/docs in a real browser with no network but Chronos: Swagger UI renders the API from the
package's own files, under the dashboard's Content-Security-Policy, with no console errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


def test_docs_render_offline_under_the_csp(browser: Any, server: ChronosServer):
    context = browser.new_context(base_url=server.url)
    elsewhere: list[str] = []
    own = urlsplit(server.url).netloc

    def offline(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:  # as behind a firewall: every other host is unreachable
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto("/docs")
    expect(tab.locator(".swagger-ui .info .title")).to_contain_text("Chronos")
    expect(tab.locator(".opblock-summary-path", has_text="/v1/schedules").first).to_be_visible()
    assert elsewhere == []
    assert problems == []
    context.close()
