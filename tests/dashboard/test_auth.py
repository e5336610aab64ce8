"""Signing in and out, the session cookie, CSRF and origin checks, and account isolation."""

from __future__ import annotations

from typing import Any

import httpx

from chronos.server.app import create_app
from chronos.server.clock import FakeClock
from chronos.server.dashboard.auth import COOKIE
from chronos.server.domain.states import KeyScope
from chronos.server.runtime import Runtime
from chronos.server.store import accounts as account_store
from tests.dashboard.conftest import Dashboard, signed_in


def anonymous(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://chronos.test")


async def test_pages_send_a_stranger_to_the_login_page(runtime: Runtime):
    async with anonymous(runtime) as client:
        home = await client.get("/")
        deep = await client.get("/?window=24h")
        htmx = await client.get("/", headers={"HX-Request": "true"})
        stream = await client.get("/events")
    assert (home.status_code, home.headers["location"]) == (303, "/login")
    assert deep.status_code == 303
    assert deep.headers["location"] == "/login?next=%2F%3Fwindow%3D24h"
    assert htmx.headers["HX-Redirect"] == "/login"
    assert stream.status_code == 303


async def test_a_bad_key_is_refused_and_sets_no_cookie(runtime: Runtime, account: dict[str, Any]):
    async with anonymous(runtime) as client:
        for key in ["", "chrns_nope", account["key"] + "x", "x" * 5000]:
            response = await client.post("/login", data={"api_key": key})
            assert response.status_code == 401, key
            assert "not valid" in response.text
            assert COOKIE not in response.headers.get("set-cookie", "")
        assert (await client.get("/")).status_code == 303


async def test_a_worker_key_cannot_signed_in(runtime: Runtime, account: dict[str, Any], clock):
    async with runtime.db.transaction() as conn:
        _, worker_key = await account_store.api_key_create(
            conn, account["id"], "fleet", clock.now(), scope=KeyScope.WORKER
        )
    async with anonymous(runtime) as client:
        response = await client.post("/login", data={"api_key": worker_key})
    assert response.status_code == 401


async def test_the_cookie_is_signed_httponly_and_never_shows_the_key(
    runtime: Runtime, account: dict[str, Any]
):
    async with anonymous(runtime) as client:
        response = await client.post("/login", data={"api_key": account["key"], "next": "/"})
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert account["key"] not in response.headers["location"]
        page = await client.get("/")
    assert page.status_code == 200
    assert account["key"] not in page.text


async def test_a_tampered_or_expired_cookie_is_a_stranger(
    runtime: Runtime, account: dict[str, Any], clock: FakeClock
):
    async with signed_in(runtime, account["key"]) as dash:
        value = dash.cookies[COOKIE]
        payload, _, mac = value.rpartition(".")
        dash.cookies.set(COOKIE, f"{payload}.{'0' * len(mac)}")
        assert (await dash.get("/")).status_code == 303
        dash.cookies.set(COOKIE, value)
        assert (await dash.get("/")).status_code == 200
        clock.advance(hours=12, seconds=1)
        assert (await dash.get("/")).status_code == 303


async def test_a_revoked_key_ends_its_sessions(runtime: Runtime, account: dict[str, Any]):
    async with signed_in(runtime, account["key"]) as dash:
        [key] = await runtime.accounts.list_keys(account["id"])
        await runtime.accounts.delete_key(account["id"], key["id"])
        assert (await dash.get("/")).status_code == 303


async def test_actions_need_the_csrf_token_and_this_origin(dash: Dashboard):
    no_token = await dash.post("/logout", headers={"HX-Request": "true"})
    wrong = await dash.post("/logout", headers={"X-CSRF-Token": "0" * 64, "HX-Request": "true"})
    foreign = await dash.post(
        "/logout", headers={"X-CSRF-Token": dash.csrf, "Origin": "https://evil.example"}
    )
    assert [r.status_code for r in (no_token, wrong, foreign)] == [403, 403, 403]
    assert "security token" in no_token.text
    assert (await dash.get("/")).status_code == 200  # still signed in


async def test_signing_out_clears_the_cookie(dash: Dashboard):
    response = await dash.act("/logout")
    assert response.status_code == 303
    assert f'{COOKIE}=""' in response.headers["set-cookie"]
    assert (await dash.get("/")).status_code == 303


async def test_login_only_redirects_within_the_site(runtime: Runtime, account: dict[str, Any]):
    async with anonymous(runtime) as client:
        for target, expected in [
            ("/jobs?status=failed", "/jobs?status=failed"),
            ("//evil.example/x", "/"),
            ("https://evil.example", "/"),
            ("/\\evil.example", "/"),
        ]:
            client.cookies.clear()
            response = await client.post("/login", data={"api_key": account["key"], "next": target})
            assert response.headers["location"] == expected, target


async def test_each_account_sees_only_its_own_schedules(
    runtime: Runtime, account: dict[str, Any], client: httpx.AsyncClient, clock: FakeClock
):
    body = {"name": "mine-only", "cron": "0 * * * *", "handler": "h"}
    assert (await client.post("/v1/schedules", json=body)).status_code == 201
    async with runtime.db.transaction() as conn:
        other = await account_store.account_create(conn, "other-co", clock.now())
        _, other_key = await account_store.api_key_create(conn, other["id"], "k", clock.now())
    async with signed_in(runtime, account["key"]) as mine, signed_in(runtime, other_key) as theirs:
        assert "mine-only" in (await mine.get("/")).text
        assert "mine-only" not in (await theirs.get("/")).text


async def test_sessions_span_nodes_sharing_a_database(runtime: Runtime, account: dict[str, Any]):
    """The signing secret lives in the database, so another node accepts the same cookie."""
    other_node = Runtime(runtime.settings, clock=runtime.clock, db=runtime.db, run_services=False)
    async with signed_in(runtime, account["key"]) as dash, anonymous(other_node) as client:
        client.cookies.set(COOKIE, dash.cookies[COOKIE])
        assert (await client.get("/")).status_code == 200


async def test_pages_forbid_framing_inline_scripts_and_sniffing(dash: Dashboard, runtime: Runtime):
    async with anonymous(runtime) as stranger:
        answers = [await dash.get("/"), await dash.act("/logout"), await stranger.get("/login")]
    for response in answers:
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_action_after_the_session_ended_returns_to_its_page(runtime: Runtime):
    async with anonymous(runtime) as stranger:
        response = await stranger.post(
            "/schedules/sch_x/pause",
            headers={"Referer": "http://chronos.test/schedules?state=enabled"},
        )
        foreign = await stranger.post(
            "/schedules/sch_x/pause", headers={"Referer": "https://evil.example/x"}
        )
    assert response.headers["location"] == "/login?next=%2Fschedules%3Fstate%3Denabled"
    assert foreign.headers["location"] == "/login"
