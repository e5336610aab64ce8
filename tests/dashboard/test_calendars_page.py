"""The calendars pages (HTML level, both databases): the list with each calendar's days in
words and its schedules, a calendar's next 60 days marked, and create/edit/delete with CSRF —
a delete while schedules name it shows the API's 409 message."""

from __future__ import annotations

import html
import re

import httpx

from tests.dashboard.conftest import Dashboard
from tests.helpers import create_schedule, expect

# The clock starts on Sunday 2026-03-01.


def marked(page: str) -> dict[str, str]:
    return dict(re.findall(r'<li data-date="([0-9-]+)" data-in="(yes|no)"', page))


async def test_the_list_and_a_calendars_next_days(dash: Dashboard, client: httpx.AsyncClient):
    empty = await dash.get("/calendars")
    assert empty.status_code == 200 and "No calendars yet" in empty.text
    assert 'href="/calendars" aria-current="page"' in empty.text  # the nav link
    body = {
        "name": "holidays",
        "description": "Company <holidays>",
        "dates": ["2026-03-03"],
        "ranges": [{"from": "2026-03-10", "to": "2026-03-11"}],
        "rules": ["weekends", {"kind": "nth_weekday", "weekday": "thu", "n": 4, "month": 11}],
    }
    calendar = expect(await client.post("/v1/calendars", json=body), 201)
    await create_schedule(
        client, name="daily", handler="h", cron="0 9 * * *", exclude_calendars=["holidays"]
    )
    listing = await dash.get("/calendars")
    text = html.unescape(listing.text)
    assert '<tr data-calendar="holidays">' in listing.text
    assert "Company &lt;holidays&gt;" in listing.text  # escaped
    assert "1 date: 2026-03-03; 2026-03-10 to 2026-03-11; weekends;" in text
    assert "the 4th Thursday of November" in text
    assert '<a href="/schedules/daily">daily</a>' in listing.text

    page = await dash.get(f"/calendars/{calendar['id']}")
    assert page.status_code == 200
    days = marked(page.text)
    api = expect(
        await client.get("/v1/calendars/holidays/dates?from=2026-03-01&to=2026-04-29"), 200
    )
    assert len(days) == 60 and min(days) == "2026-03-01" and max(days) == "2026-04-29"
    assert sorted(d for d, m in days.items() if m == "yes") == api["data"]
    assert days["2026-03-01"] == "yes" and days["2026-03-02"] == "no"  # Sunday, Monday
    assert days["2026-03-03"] == days["2026-03-11"] == "yes"
    by_name = await dash.get("/calendars/holidays")
    assert marked(by_name.text) == days
    assert (await dash.get("/calendars/nope")).status_code == 404


async def test_create_edit_and_delete_from_the_dashboard(
    dash: Dashboard, client: httpx.AsyncClient
):
    form = {
        "name": "closures",
        "description": "",
        "dates": "2026-03-05\n2026-03-20..2026-03-22\n",
        "rules": 'last_business_day\n{"kind": "yearly", "month": 12, "day": 25}',
        "csrf": dash.csrf,
    }
    assert (await dash.post("/calendars", data={**form, "csrf": "stale"})).status_code == 403
    bad = await dash.post("/calendars", data={**form, "dates": "2026-02-30"})
    assert bad.status_code == 422 and "2026-02-30" in bad.text  # typed text kept, message shown
    assert 'id="calendar-error"' in bad.text
    bad_rule = await dash.post("/calendars", data={**form, "rules": "{not json"})
    assert bad_rule.status_code == 422 and "rules, line 1" in bad_rule.text
    assert expect(await client.get("/v1/calendars"), 200)["data"] == []

    made = await dash.post("/calendars", data=form)
    assert made.status_code == 303
    calendar_id = made.headers["location"].rsplit("/", 1)[1]
    created = expect(await client.get("/v1/calendars/closures"), 200)
    assert created["id"] == calendar_id
    assert created["dates"] == ["2026-03-05"]
    assert created["ranges"] == [{"from": "2026-03-20", "to": "2026-03-22"}]
    assert created["rules"] == [
        {"kind": "last_business_day"},
        {"kind": "yearly", "month": 12, "day": 25},
    ]
    audit = expect(await client.get(f"/v1/audit?resource_id={calendar_id}"), 200)["data"]
    assert audit[0]["action"] == "calendar.created"
    assert audit[0]["actor"]["name"].startswith("dashboard: ")

    # The edit form shows the calendar as the create form had it; saving it as shown is a no-op.
    page = (await dash.get(f"/calendars/{calendar_id}")).text
    assert "2026-03-20..2026-03-22" in page and "last_business_day" in page
    same = re.search(r'<textarea name="rules"[^>]*>(.*?)</textarea>', page, re.S)
    assert same
    edit = f"/calendars/{calendar_id}/edit"
    shown = {**form, "rules": html.unescape(same.group(1))}
    assert (await dash.post(edit, data=shown)).status_code == 303
    assert expect(await client.get("/v1/calendars/closures"), 200)["version"] == 1
    changed = await dash.post(edit, data={**shown, "dates": "2026-03-06", "description": "x"})
    assert changed.status_code == 303
    after = expect(await client.get("/v1/calendars/closures"), 200)
    assert (after["dates"], after["ranges"], after["description"]) == (["2026-03-06"], [], "x")
    refused = await dash.post(edit, data={**shown, "rules": "fortnightly"})
    assert refused.status_code == 422 and 'id="calendar-error"' in refused.text

    # In use: the delete is refused with the API's 409 message, nothing is deleted.
    await create_schedule(
        client, name="daily", handler="h", cron="0 9 * * *", only_calendar="closures"
    )
    delete = f"/calendars/{calendar_id}/delete"
    assert (await dash.post(delete, data={"csrf": "stale"})).status_code == 403
    in_use = await dash.post(delete, data={"csrf": dash.csrf})
    assert in_use.status_code == 409
    assert "cannot be deleted: schedules name it (&#39;daily&#39;)" in in_use.text
    assert 'id="delete-error"' in in_use.text
    expect(await client.get("/v1/calendars/closures"), 200)
    assert (await client.delete("/v1/schedules/daily")).status_code == 204
    gone = await dash.post(delete, data={"csrf": dash.csrf})
    assert gone.status_code == 303 and gone.headers["location"] == "/calendars"
    assert (await client.get("/v1/calendars/closures")).status_code == 404


async def test_another_accounts_calendar_is_not_found(
    dash: Dashboard, other_client: httpx.AsyncClient, client: httpx.AsyncClient
):
    theirs = expect(await other_client.post("/v1/calendars", json={"name": "theirs"}), 201)
    assert (await dash.get(f"/calendars/{theirs['id']}")).status_code == 404
    assert (await dash.get("/calendars/theirs")).status_code == 404
    for action in ("edit", "delete"):
        data = {"csrf": dash.csrf, "name": "mine"}
        response = await dash.post(f"/calendars/{theirs['id']}/{action}", data=data)
        assert response.status_code == 404
    assert "theirs" not in (await dash.get("/calendars")).text
    assert "theirs" not in (await dash.get("/schedules/new")).text
    assert expect(await other_client.get("/v1/calendars/theirs"), 200)["version"] == 1
