"""Hostile input against the dashboard: stored markup, bad forms, and the live stream's
listeners and sessions."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import httpx

from chronos.server.app import create_app
from chronos.server.dashboard.auth import COOKIE
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard, signed_in

MARKUP = '"><svg onload=alert(1)>'
SCRIPT = "</script><script>alert(2)</script>"


async def test_stored_markup_is_shown_as_text_on_every_page(
    dash: Dashboard, client: httpx.AsyncClient
):
    created = await client.post(
        "/v1/schedules",
        json={
            "name": MARKUP,
            "handler": "h",
            "cron": "* * * * *",
            "description": SCRIPT,
            "tags": {"team": MARKUP},
            "payload": {"x": SCRIPT},
        },
    )
    assert created.status_code == 201, created.text
    schedule = created.json()["id"]
    assert (await client.post(f"/v1/schedules/{schedule}/pause", json={"note": SCRIPT})).is_success
    job = (await client.post(f"/v1/schedules/{schedule}/trigger")).json()["id"]
    for path in ["/", "/schedules", "/jobs", f"/schedules/{schedule}", f"/jobs/{job}"]:
        page = await dash.get(path)
        assert page.status_code == 200, path
        assert "<svg onload" not in page.text, path
        assert "<script>alert" not in page.text, path
        # The confirm texts carry the name inside their attribute, escaped.
        for confirm in re.findall(r'hx-confirm="([^"]*)"', page.text):
            assert "<" not in confirm, (path, confirm)
        # The chart's JSON block cannot be closed early by anything stored.
        for block in re.findall(r'type="application/json"[^>]*>(.*?)</script>', page.text, re.S):
            assert "<" not in block, path


async def test_an_unreadable_form_is_a_bad_request_and_changes_nothing(
    dash: Dashboard, client: httpx.AsyncClient
):
    schedule = (
        await client.post("/v1/schedules", json={"name": "s", "handler": "h", "cron": "* * * * *"})
    ).json()["id"]
    headers = {"content-type": "application/x-www-form-urlencoded", "X-CSRF-Token": dash.csrf}
    too_many = "action=disable&" + "&".join([f"ids={schedule}"] * 5_000)
    for body in [too_many.encode(), b"action=disable&ids=\xff"]:
        response = await dash.post("/schedules/bulk", content=body, headers=headers)
        assert response.status_code == 400, response.text[:200]
        assert "could not be read" in response.text
    assert (await client.get(f"/v1/schedules/{schedule}")).json()["enabled"] is True


async def _open_events(runtime: Runtime, cookie: str, send: Any, receive: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/events",
        "raw_path": b"/events",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"chronos.test"), (b"cookie", f"{COOKIE}={cookie}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("chronos.test", 80),
    }
    await create_app(runtime)(scope, receive, send)


async def test_an_events_client_gone_before_the_first_byte_leaves_no_listener(
    runtime: Runtime, dash: Dashboard
):
    listeners = runtime.notifier._change_listeners
    before = len(listeners)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("the client is gone")

    for _ in range(20):
        with contextlib.suppress(Exception):  # the server's ClientDisconnect: expected
            await _open_events(runtime, dash.cookies[COOKIE], send, receive)
    assert len(listeners) == before


async def test_an_events_stream_ends_when_its_key_is_deleted(
    runtime: Runtime, account: dict[str, Any]
):
    async with signed_in(runtime, account["key"]) as dash:
        chunks: list[bytes] = []
        started = asyncio.Event()
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                started.set()
                if not message.get("more_body"):
                    finished.set()

        stream = asyncio.create_task(_open_events(runtime, dash.cookies[COOKIE], send, receive))
        await asyncio.wait_for(started.wait(), 5)
        assert b"event: hello" in chunks[0]
        [key] = await runtime.accounts.list_keys(account["id"])
        await runtime.accounts.delete_key(account["id"], key["id"])
        runtime.notifier.changed(account["id"], "jobs")
        runtime.notifier.flush_changes()
        await asyncio.wait_for(stream, 5)
    assert finished.is_set()
    assert not any(b"event: jobs" in chunk for chunk in chunks)


async def test_the_editor_refuses_what_the_api_refuses_in_a_json_body(
    dash: Dashboard, client: httpx.AsyncClient
):
    """A form never passes through the API's JSON guard: the editor makes its checks itself
    (NUL characters PostgreSQL cannot store, nesting too deep, NaN) and never answers 500."""
    base = {"kind": "cron", "name": "ok", "handler": "h", "cron": "* * * * *"}
    cases = [
        ({"name": "nul\x00name"}, "NUL"),
        ({"description": "d\x00"}, "NUL"),
        ({"tags": "team=a\x00b"}, "NUL"),
        ({"payload": '{"a": "\\u0000"}'}, "NUL"),
        ({"payload": "[" * 100 + "]" * 100}, "nested deeper"),
        ({"payload": "[" * 100_000 + "]" * 100_000}, "nested deeper"),
        ({"payload": '{"a": NaN}'}, "not allowed"),
    ]
    for change, message in cases:
        fields = {**base, **change}
        raw_nul = any("\x00" in value for value in change.values())
        created = await dash.act("/schedules/new", fields)
        # A NUL in the form itself is refused as the form is read (400, in the flash area).
        assert created.status_code == (400 if raw_nul else 422), (change, created.status_code)
        assert message in created.text, change
        preview = await dash.act("/schedules/preview", fields)
        assert preview.status_code == (400 if raw_nul else 200), change
        assert message in preview.text, change
    listed = (await client.get("/v1/schedules")).json()["data"]
    assert listed == []


async def test_nul_and_junk_in_ids_never_reach_the_database(dash: Dashboard):
    for path in ["/schedules/%00", "/schedules/a%00b/edit", "/jobs/job_%00", "/schedules/%ff%fe"]:
        response = await dash.get(path)
        # (NUL in a URL is refused by the app's guard, before any route, as JSON.)
        assert response.status_code in (400, 404), (path, response.status_code)
    for path, data in [
        ("/schedules/%00/disable", {}),
        ("/schedules/a%00b/pause", {"note": "x"}),
        ("/schedules/bulk", {"action": "pause", "ids": ["\x00", "sch_\x00"]}),
        ("/jobs/bulk-retry", {"ids": ["\x00", "job_\x00"]}),
        ("/jobs/job_%00/cancel", {}),
        ("/schedules/%00/actions/rollback/1", {}),
    ]:
        response = await dash.act(path, data)
        assert response.status_code < 500, (path, response.status_code, response.text[:200])
