"""The schedules list at /schedules: search and filters in the URL, the run history strip,
actions one by one and in bulk, empty states and bad input."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode

import httpx

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import (
    claim_one,
    create_schedule,
    get_schedule,
    list_jobs,
    report,
    run_scheduler,
)

TABLE = "schedules-table"
ROW = re.compile(r'<tr data-schedule="([^"]+)" data-name="([^"]*)">(.*?)</tr>', re.DOTALL)


def rows(page: str) -> dict[str, str]:
    """Each listed schedule's name and the HTML of its row, in the order shown."""
    return {html.unescape(name): body for _, name, body in ROW.findall(page)}


def names(page: str) -> list[str]:
    return list(rows(page))


def state_of(page: str, name: str) -> str:
    found = re.search(r'data-state="(\w+)"', rows(page)[name])
    assert found, rows(page)[name]
    return found.group(1)


async def schedule(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    body = {"handler": "report", **fields}
    if "interval" not in body:
        body.setdefault("cron", "0 2 * * *")
    return await create_schedule(client, name=name, **body)


async def listed(dash: Dashboard, query: str = "") -> str:
    response = await dash.get(f"/schedules{query}")
    assert response.status_code == 200, response.text
    return response.text


async def act_in_table(
    dash: Dashboard, path: str, data: dict[str, Any] | list[tuple[str, str]], shown: str = ""
) -> httpx.Response:
    """An action posted from the list page (htmx targets the table; the page's URL is sent)."""
    headers = {
        "X-CSRF-Token": dash.csrf,
        "HX-Request": "true",
        "HX-Target": TABLE,
        "HX-Current-URL": f"http://chronos.test/schedules{shown}",
        "Origin": "http://chronos.test",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    items = list(data.items()) if isinstance(data, dict) else data
    return await dash.post(path, content=urlencode(items), headers=headers)


# --- listing, search, filters ----------------------------------------------------------------


async def test_lists_each_schedule_with_its_timing_in_words_and_nothing_of_another_account(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    nightly = await schedule(
        client, "nightly", cron="0 2 * * *", timezone="America/New_York", tags={"team": "ops"}
    )
    await schedule(client, "poll", handler="poller", interval={"value": 5, "unit": "minute"})
    await schedule(other_client, "theirs")
    page = await listed(dash)
    assert names(page) == ["poll", "nightly"]  # newest first
    row = rows(page)["nightly"]
    assert f'href="/schedules/{nightly["id"]}"' in row
    assert "every day at 02:00 (America/New_York)" in row
    assert '<time datetime="2026-03-02T07:00:00Z" data-tz="America/New_York">' in row
    assert "data-countdown" in row
    assert 'href="/schedules?tag.team=ops"' in row and 'href="/schedules?handler=report"' in row
    assert state_of(page, "nightly") == "enabled"
    assert "every 5 minutes" in rows(page)["poll"]
    assert "theirs" not in page
    assert 'hx-trigger="live:schedules from:body, live:jobs from:body, poll from:body"' in page


async def test_search_finds_a_case_insensitive_substring_of_the_name(
    dash: Dashboard, client: httpx.AsyncClient
):
    for name in ["Nightly report", "nightly-backup", "hourly", "50%_off"]:
        await schedule(client, name)
    assert names(await listed(dash, "?search=NIGHTLY")) == ["nightly-backup", "Nightly report"]
    assert names(await listed(dash, "?search=%25_")) == ["50%_off"]
    page = await listed(dash, "?search=ly+r")
    assert names(page) == ["Nightly report"]
    assert 'value="ly r"' in page  # the form shows the filter in force


async def test_filters_by_state_handler_and_tags(dash: Dashboard, client: httpx.AsyncClient):
    await schedule(client, "a", handler="h1", tags={"team": "backend", "env": "prod"})
    await schedule(client, "b", handler="h1", tags={"team": "backend", "env": "dev"})
    await schedule(client, "c", handler="h2", enabled=False)
    await schedule(client, "d", handler="h2")
    await client.post("/v1/schedules/d/pause")
    assert names(await listed(dash, "?state=disabled")) == ["c"]
    assert names(await listed(dash, "?state=paused")) == ["d"]
    assert names(await listed(dash, "?handler=h1")) == ["b", "a"]
    assert names(await listed(dash, "?tag.team=backend")) == ["b", "a"]
    assert names(await listed(dash, "?tag.env=prod&tag.team=backend")) == ["a"]
    assert names(await listed(dash, "?handler=h2&state=enabled")) == []
    selected = await listed(dash, "?state=paused")
    assert '<option value="paused" selected>' in selected


async def test_the_tag_field_and_empty_fields_redirect_to_the_canonical_url(
    dash: Dashboard, client: httpx.AsyncClient
):
    await schedule(client, "a", tags={"team": "backend", "env": "prod"})
    response = await dash.get("/schedules?search=&state=&handler=&tag=team%3Dbackend,env=prod")
    assert response.status_code == 303
    assert response.headers["location"] == "/schedules?tag.env=prod&tag.team=backend"
    page = await listed(dash, "?tag.env=prod&tag.team=backend")
    assert names(page) == ["a"]
    assert 'value="env=prod team=backend"' in page  # the field shows the tag filters
    assert (await dash.get("/schedules?search=&state=")).headers["location"] == "/schedules"


async def test_the_filter_form_gets_the_table_alone_and_pushes_the_canonical_url(
    dash: Dashboard, client: httpx.AsyncClient
):
    await schedule(client, "nightly")
    await schedule(client, "hourly")
    response = await dash.get(
        "/schedules?search=night&state=&handler=&tag=",
        headers={"HX-Request": "true", "HX-Target": TABLE, "HX-Trigger": "schedule-filters"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/schedules?search=night"
    assert response.text.lstrip().startswith(f'<div id="{TABLE}"')
    assert "<html" not in response.text and names(response.text) == ["nightly"]
    # The region refreshes itself from the canonical URL.
    assert 'hx-get="/schedules?search=night"' in response.text
    live = await dash.get(
        "/schedules?search=night", headers={"HX-Request": "true", "HX-Target": TABLE}
    )
    assert "HX-Push-Url" not in live.headers and names(live.text) == ["nightly"]


async def test_pages_of_50_keep_the_filters(dash: Dashboard, client: httpx.AsyncClient):
    for n in range(55):
        await schedule(client, f"s{n:02d}", handler="many")
    await schedule(client, "other", handler="few")
    first = await listed(dash, "?handler=many")
    assert names(first) == [f"s{n:02d}" for n in range(54, 4, -1)]
    found = re.search(r'href="(\?handler=many&amp;cursor=[^"]+)"[^>]*>Next page', first)
    assert found, first
    second = await listed(dash, html.unescape(found.group(1)))
    assert names(second) == ["s04", "s03", "s02", "s01", "s00"]
    assert "Next page" not in second and "First page" in second


async def test_the_strip_shows_each_run_as_it_ended_and_the_success_rate(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    await create_schedule(
        client,
        name="rate",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
        max_retries=0,
    )
    for _ in range(3):
        clock.advance(seconds=1)
        await run_scheduler(runtime)
    for outcome in ["completed", "failed"]:
        job = await claim_one(client)  # the oldest slot first
        await report(client, job["execution_id"], status=outcome)
    jobs = sorted(await list_jobs(client), key=lambda j: j["scheduled_for"])
    row = rows(await listed(dash))["rate"]
    cells = re.findall(r'<a href="/jobs/([^"]+)" class="cell status-(\w+)"', row)
    assert cells == [
        (jobs[0]["id"], "completed"),
        (jobs[1]["id"], "failed"),
        (jobs[2]["id"], "ready"),
    ]
    assert re.search(r"data-success>50%<", row)
    assert 'class="badge status-failed"' in row  # the last status


async def test_the_strip_holds_the_last_30_runs(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    await create_schedule(client, name="busy", handler="h", interval={"value": 1, "unit": "second"})
    for _ in range(32):
        clock.advance(seconds=1)
        await run_scheduler(runtime)
    row = rows(await listed(dash))["busy"]
    assert len(re.findall(r'class="cell status-', row)) == 30
    assert 'aria-label="last 30 runs"' in row


# --- actions ---------------------------------------------------------------------------------


async def test_each_row_action_changes_the_schedule(dash: Dashboard, client: httpx.AsyncClient):
    nightly = await schedule(client, "nightly")
    sid = nightly["id"]
    for action, expected in [
        ("pause", "paused"),
        ("resume", "enabled"),
        ("disable", "disabled"),
        ("enable", "enabled"),
    ]:
        response = await act_in_table(dash, f"/schedules/{sid}/{action}", {})
        assert response.status_code == 200, response.text
        assert (await get_schedule(client, sid))["state"] == expected
        assert state_of(response.text, "nightly") == expected  # the table as it now is
        assert 'hx-swap-oob="innerHTML"' in response.text
        assert f"{action.capitalize()}d nightly." in response.text
    triggered = await act_in_table(dash, f"/schedules/{sid}/trigger", {})
    [job] = await list_jobs(client, schedule_id=sid)
    assert (job["trigger"], job["status"]) == ("manual", "ready")
    assert f"Triggered nightly (job {job['id']})." in triggered.text
    events = (await client.get(f"/v1/schedules/{sid}/events")).json()["data"]
    assert events[0]["actor"].startswith("dashboard: ")


async def test_an_action_answers_with_the_table_the_page_shows(
    dash: Dashboard, client: httpx.AsyncClient
):
    await schedule(client, "nightly", handler="a")
    other = await schedule(client, "hourly", handler="b")
    response = await act_in_table(dash, f"/schedules/{other['id']}/pause", {}, "?handler=b")
    assert names(response.text) == ["hourly"]
    assert 'hx-get="/schedules?handler=b"' in response.text


async def test_an_action_from_another_page_answers_with_a_message(
    dash: Dashboard, client: httpx.AsyncClient
):
    nightly = await schedule(client, "nightly")
    response = await dash.act(f"/schedules/{nightly['id']}/pause", {"note": "migrating"})
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#flash"
    assert "Paused nightly." in response.text
    assert (await get_schedule(client, "nightly"))["paused"]["note"] == "migrating"


async def test_a_plain_form_action_redirects_back(dash: Dashboard, client: httpx.AsyncClient):
    nightly = await schedule(client, "nightly")
    response = await dash.post(
        f"/schedules/{nightly['id']}/disable",
        data={"csrf": dash.csrf},
        headers={"Referer": "http://chronos.test/schedules?state=enabled"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/schedules?state=enabled"
    assert (await get_schedule(client, "nightly"))["state"] == "disabled"
    elsewhere = await dash.post(
        f"/schedules/{nightly['id']}/enable",
        data={"csrf": dash.csrf},
        headers={"Referer": "https://evil.example/schedules"},
    )
    assert elsewhere.headers["location"] == "/schedules"


async def test_bulk_acts_on_each_checked_schedule_and_never_on_another_accounts(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    mine = [await schedule(client, f"s{n}") for n in range(3)]
    theirs = await schedule(other_client, "theirs")
    ids = [mine[0]["id"], mine[1]["id"], theirs["id"], mine[0]["id"]]
    data = [("action", "pause"), *[("ids", i) for i in ids]]
    response = await act_in_table(dash, "/schedules/bulk", data)
    assert response.status_code == 200
    assert f"Paused 2; 1 failed: {theirs['id']} (not found)." in response.text
    assert 'class="flash error"' in response.text
    states = {s["name"]: s["state"] for s in (await client.get("/v1/schedules")).json()["data"]}
    assert states == {"s0": "paused", "s1": "paused", "s2": "enabled"}
    assert (await get_schedule(other_client, theirs["id"]))["state"] == "enabled"
    page = response.text
    assert (state_of(page, "s0"), state_of(page, "s2")) == ("paused", "enabled")

    trigger = [("action", "trigger"), ("ids", mine[2]["id"]), ("ids", mine[1]["id"])]
    response = await act_in_table(dash, "/schedules/bulk", trigger)
    assert "Triggered 2." in response.text and 'class="flash ok"' in response.text
    assert len(await list_jobs(client)) == 2


async def test_bulk_refuses_an_unknown_action_no_ids_and_too_many(
    dash: Dashboard, client: httpx.AsyncClient
):
    nightly = await schedule(client, "nightly")
    cases = [
        ([("action", "delete"), ("ids", nightly["id"])], "unknown action 'delete'"),
        ([("ids", nightly["id"])], "no action: use one of pause, resume"),
        ([("action", "pause")], "check at least one schedule"),
        ([("action", "pause"), *[("ids", f"sch_{n}") for n in range(501)]], "at most 500"),
    ]
    for data, message in cases:
        response = await act_in_table(dash, "/schedules/bulk", data)
        assert response.status_code == 400, data
        assert message in html.unescape(response.text)
    assert (await get_schedule(client, "nightly"))["state"] == "enabled"


async def test_actions_without_the_csrf_token_are_refused(
    dash: Dashboard, client: httpx.AsyncClient
):
    nightly = await schedule(client, "nightly")
    headers = {"HX-Request": "true", "HX-Target": TABLE}
    one = await dash.post(f"/schedules/{nightly['id']}/pause", headers=headers)
    bulk = await dash.post(
        "/schedules/bulk", data={"action": "pause", "ids": nightly["id"]}, headers=headers
    )
    plain = await dash.post(f"/schedules/{nightly['id']}/disable", data={"csrf": "0" * 64})
    assert [r.status_code for r in (one, bulk, plain)] == [403, 403, 403]
    assert "security token" in one.text
    assert (await get_schedule(client, "nightly"))["state"] == "enabled"


async def test_another_accounts_schedule_cannot_be_acted_on(
    dash: Dashboard, other_client: httpx.AsyncClient
):
    theirs = await schedule(other_client, "theirs")
    for action in ["pause", "disable", "trigger"]:
        response = await dash.act(f"/schedules/{theirs['id']}/{action}")
        assert response.status_code == 404, action
        assert "no schedule" in response.text
    plain = await dash.post(f"/schedules/{theirs['id']}/pause", data={"csrf": dash.csrf})
    assert plain.status_code == 404 and "<html" in plain.text
    assert (await get_schedule(other_client, theirs["id"]))["state"] == "enabled"
    assert await list_jobs(other_client) == []


# --- empty states and bad input ----------------------------------------------------------------


async def test_no_schedules_teaches_the_first_one(dash: Dashboard):
    page = await listed(dash)
    assert "No schedules yet" in page
    assert "curl -X POST http://chronos.test/v1/schedules" in page
    assert "bulk-form" not in page


async def test_filters_matching_nothing_offer_to_clear_them(
    dash: Dashboard, client: httpx.AsyncClient
):
    await schedule(client, "nightly")
    page = await listed(dash, "?search=nothing-like-it")
    assert "No schedule matches" in page
    assert '<a href="/schedules">Clear the filters</a>' in page
    assert "curl" not in page


async def test_bad_filters_are_a_400_page(dash: Dashboard):
    for query, message in [
        ("?state=sleeping", "state: &#39;sleeping&#39; is not one of enabled, disabled, paused"),
        ("?cursor=%21%21", "invalid cursor"),
        ("?tag=team", "tag: write key=value"),
        ("?tag.bad%20key=x", "not a valid tag key"),
        ("?search=" + "x" * 201, "at most 200 characters"),
    ]:
        response = await dash.get(f"/schedules{query}")
        assert response.status_code == 400, query
        assert message in response.text, (query, response.text)
        assert "<html" in response.text
