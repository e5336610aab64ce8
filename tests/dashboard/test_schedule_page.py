"""A schedule's page at /schedules/{schedule}: header and actions, configuration (no secrets),
expected vs actual fires, runs with durations, versions with diff and rollback, history; and
bad input (both databases)."""

from __future__ import annotations

import html
import json
import re

import httpx

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import (
    claim_one,
    create_schedule,
    expect,
    get_schedule,
    report,
    run_scheduler,
)

EVERY_MINUTE = {"handler": "report", "cron": "* * * * *", "concurrency": "allow"}
DOWNTIME = (
    "Chronos was not running (or was behind) at the slot and the misfire policy "
    "&#39;run_once&#39; did not fire it"
)
SLOT = re.compile(r'<tr data-slot="([^"]+)" data-outcome="(\w+)">(.*?)</tr>', re.DOTALL)


async def shown(dash: Dashboard, path: str, status: int = 200) -> str:
    response = await dash.get(path)
    assert response.status_code == status, response.text
    return response.text


def region(page: str, region_id: str) -> str:
    """The HTML of one section of the page (up to the next section)."""
    start = page.index(f'id="{region_id}"')
    end = page.find("<section", start)
    return page[start : end if end != -1 else len(page)]


def slots(page: str) -> dict[str, tuple[str, str]]:
    """The ledger's lines: slot time (its newest) → (outcome, row HTML)."""
    return {at: (outcome, body) for at, outcome, body in SLOT.findall(page)}


async def minutely_with_downtime(client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock):
    """A schedule that fired at 12:01, was down across 12:02 and 12:03, and fired at 12:04."""
    schedule = await create_schedule(client, name="minutely", **EVERY_MINUTE)
    clock.advance(minutes=1, seconds=1)
    await run_scheduler(runtime)
    clock.advance(minutes=3, seconds=4)
    await run_scheduler(runtime)
    return schedule


async def test_the_header_shows_name_state_timing_and_actions(dash: Dashboard, client):
    schedule = await create_schedule(
        client,
        name="nightly",
        handler="report",
        cron="0 2 * * *",
        timezone="America/New_York",
        description="The nightly report",
    )
    for ref in (schedule["id"], "nightly"):
        page = await shown(dash, f"/schedules/{ref}")
        header = region(page, "schedule-header")
        assert "<h1" in header and ">nightly</h1>" in header
        assert 'data-state="enabled"' in header
        assert "every day at 02:00 (America/New_York)" in header
        assert "The nightly report" in header
        for action in ("pause", "disable", "trigger"):
            assert f'action="/schedules/{schedule["id"]}/{action}"' in header
        assert 'hx-confirm="Disable nightly?' in header and 'hx-confirm="Run nightly now?' in header
        assert 'maxlength="1000"' in header
        assert "<title>nightly · Chronos</title>" in page


async def test_pause_with_a_note_shows_who_paused_it_and_why(dash: Dashboard, client):
    schedule = await create_schedule(client, name="nightly", handler="report", cron="0 2 * * *")
    response = await dash.act(f"/schedules/{schedule['id']}/pause", {"note": "DB <migration>"})
    assert response.status_code == 200 and "Paused nightly" in response.text
    assert (await get_schedule(client, "nightly"))["state"] == "paused"
    header = region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-header")
    assert 'data-state="paused"' in header
    assert re.search(r"Paused by <strong>dashboard: test \(chrns_[\w-]+…\)</strong>", header)
    assert "<q data-note>DB &lt;migration&gt;</q>" in header
    assert f'action="/schedules/{schedule["id"]}/resume"' in header
    assert f'action="/schedules/{schedule["id"]}/pause"' not in header
    # The history says it too; the next fires are gone while paused.
    page = await shown(dash, f"/schedules/{schedule['id']}")
    assert 'data-event="paused"' in region(page, "schedule-history")
    assert "the schedule is paused" in region(page, "schedule-ledger")

    too_long = await dash.act(f"/schedules/{schedule['id']}/resume")
    assert too_long.status_code == 200
    refused = await dash.act(f"/schedules/{schedule['id']}/pause", {"note": "x" * 1001})
    assert refused.status_code == 422 and "at most 1000 characters" in refused.text
    assert (await get_schedule(client, "nightly"))["state"] == "enabled"


async def test_the_ledger_marks_each_slot_and_explains_the_missed_ones(
    dash: Dashboard, client, runtime, clock
):
    schedule = await minutely_with_downtime(client, runtime, clock)
    clock.advance(minutes=1, seconds=20)  # 12:05:25: the 12:05 slot fires 25 s late
    await run_scheduler(runtime)
    page = await shown(dash, f"/schedules/{schedule['id']}")
    ledger = region(page, "schedule-ledger")
    lines = slots(ledger)
    assert [(at, outcome) for at, (outcome, _) in lines.items()] == [
        ("2026-03-01T12:05:00Z", "late"),
        ("2026-03-01T12:04:00Z", "on_time"),
        ("2026-03-01T12:03:00Z", "missed"),  # 12:02 and 12:03, as one line
        ("2026-03-01T12:01:00Z", "on_time"),
    ]
    missed = lines["2026-03-01T12:03:00Z"][1]
    assert DOWNTIME in missed and "(2 slots)" in missed
    assert "25.0 s" in lines["2026-03-01T12:05:00Z"][1]
    assert 'data-count="missed">2 missed' in ledger and 'data-count="on_time">2 on time' in ledger
    assert ledger.count('class="cell outcome-') == 5
    # The next fires follow.
    assert ledger.count("<li><time") == 10 and ledger.count("data-countdown") == 1

    problems = slots(await shown(dash, f"/schedules/{schedule['id']}?show=problems"))
    assert [o for o, _ in problems.values()] == ["late", "missed"]
    clock.advance(hours=2)
    recent = region(await shown(dash, f"/schedules/{schedule['id']}?window=1h"), "schedule-ledger")
    assert "2026-03-01T12:05:00Z" not in recent and 'aria-current="true">last 1h' in recent


async def test_a_long_ledger_pages_back_and_a_per_second_one_is_truncated(
    dash: Dashboard, client, runtime, clock
):
    schedule = await create_schedule(client, name="fast", handler="report", interval="1s")
    clock.advance(minutes=30)
    await run_scheduler(runtime)  # fires 12:30:00; every earlier slot was missed
    page = await shown(dash, f"/schedules/{schedule['id']}?window=1h")
    lines = slots(page)
    assert len(lines) == 2  # the fired slot and the missed ones before it, grouped
    assert "1000 slots" not in page and "(999 slots)" in page
    assert "only the latest 1,000 are shown" in page
    again = await shown(dash, f"/schedules/{schedule['id']}?window=1h&show=problems")
    assert len(slots(again)) == 1

    minutely = await create_schedule(client, name="many", **EVERY_MINUTE)
    clock.advance(hours=2)
    for _ in range(60):  # the scheduler keeps up for an hour: 60 fired slots, one a line
        clock.advance(minutes=1)
        await run_scheduler(runtime)
    first = await shown(dash, f"/schedules/{minutely['id']}")
    lines = slots(first)
    assert len(lines) == 50
    older = re.search(r'href="\?before=([^"#]+)#ledger-title">Earlier slots', first)
    assert older, region(first, "schedule-ledger")[-2000:]
    second = slots(await shown(dash, f"/schedules/{minutely['id']}?before={older.group(1)}"))
    assert not set(second) & set(lines)
    assert min(lines) > max(second)


async def test_runs_show_status_duration_and_chart_data(dash: Dashboard, client, runtime, clock):
    schedule = await create_schedule(client, name="runs", **EVERY_MINUTE)
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    claimed = await claim_one(client, ["report"], worker_id="box-7")
    clock.advance(seconds=2.5)
    await report(client, claimed["execution_id"])
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    runs = region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-runs")
    assert f'data-job="{claimed["id"]}"' in runs and "2.5 s" in runs and "box-7" in runs
    data = json.loads(
        html.unescape(re.search(r'id="runs-data">(.*?)</script>', runs, re.DOTALL).group(1))
    )
    assert data == {"x": [1772366460.0], "ok": [2.5], "failed": [None]}
    assert "uPlot.iife.min.js" in await shown(dash, f"/schedules/{schedule['id']}")


async def test_configuration_shows_header_names_never_their_values(dash: Dashboard, client):
    schedule = await create_schedule(
        client,
        name="hook",
        cron="*/5 * * * *",
        payload={"report": "daily", "limit": 10},
        delivery={
            "type": "push",
            "http": {
                "url": "https://bot:pa55word@example.com/hook?x=1",
                "headers": {"Authorization": "Bearer s3cr3t-token", "X-Team": "ops-secret"},
                "body": "top-secret-body",
            },
        },
        tags={"team": "ops"},
    )
    page = await shown(dash, f"/schedules/{schedule['id']}")
    config = region(page, "schedule-config")
    assert "Authorization" in config and "X-Team" in config
    assert "https://bot:(hidden)@example.com/hook?x=1" in config
    assert "&#34;report&#34;: &#34;daily&#34;" in config and "team=ops" in config
    for secret in ("s3cr3t-token", "ops-secret", "pa55word", "top-secret-body"):
        assert secret not in page, secret

    # A new version changing one header: the diff says which, not to what.
    headers = {"Authorization": "Bearer n3w-token", "X-Team": "ops-secret"}
    expect(
        await client.patch(
            "/v1/schedules/hook",
            json={
                "delivery": {
                    "type": "push",
                    "http": {"url": "https://example.com/hook", "headers": headers},
                }
            },
        ),
        200,
    )
    diff = region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-versions")
    assert "(hidden, changed)" in diff and "diff-add" in diff and "diff-del" in diff
    for secret in ("s3cr3t-token", "n3w-token", "ops-secret", "pa55word", "top-secret-body"):
        assert secret not in diff, secret


async def test_versions_diff_any_two_and_roll_back(dash: Dashboard, client):
    schedule = await create_schedule(client, name="v", handler="report", cron="0 2 * * *")
    expect(await client.patch("/v1/schedules/v", json={"cron": "0 3 * * *"}), 200)
    expect(await client.patch("/v1/schedules/v", json={"timezone": "Europe/Paris"}), 200)
    url = f"/schedules/{schedule['id']}"

    default = region(await shown(dash, url), "schedule-versions")
    assert "Version 2 → version 3" in default
    assert (
        '<span class="diff-line diff-add">+  &#34;timezone&#34;: &#34;Europe/Paris&#34;' in default
    )
    chosen = region(await shown(dash, f"{url}?a=1&b=3"), "schedule-versions")
    assert "Version 1 → version 3" in chosen
    assert 'diff-del">-  &#34;cron&#34;: &#34;0 2 * * *&#34;' in chosen
    same = region(await shown(dash, f"{url}?a=2&b=2"), "schedule-versions")
    assert "No difference." in same

    rolled = await dash.act(f"/schedules/{schedule['id']}/actions/rollback/1")
    assert rolled.status_code == 200
    assert "Rolled v back to version 1 (now version 4)." in rolled.text
    versions = region(rolled.text, "schedule-versions")
    assert "Version 3 → version 4" in versions and "diff-add" in versions
    after = await get_schedule(client, "v")
    assert (after["version"], after["cron"], after["timezone"]) == (4, "0 2 * * *", "UTC")
    # The page after an action is the page's own: its live regions refresh the page's URL.
    refreshed = re.findall(r'hx-get="([^"]+)"', rolled.text)
    assert refreshed and all(u == f"/schedules/{schedule['id']}?a=3&amp;b=4" for u in refreshed)
    history = region(rolled.text, "schedule-history")
    assert 'data-event="rolled_back"' in history and "rolled back to version 1" in history

    # From a page showing another window, the answer shows that window too.
    headers = {
        "X-CSRF-Token": dash.csrf,
        "HX-Request": "true",
        "HX-Current-URL": f"http://chronos.test{url}?window=7d&show=problems&before=nonsense",
    }
    again = await dash.post(f"{url}/actions/rollback/2", headers=headers)
    assert again.status_code == 200 and "(now version 5)" in again.text
    refreshed = set(re.findall(r'hx-get="([^"]+)"', again.text))
    assert refreshed == {f"{url}?window=7d&amp;show=problems&amp;a=4&amp;b=5"}


async def test_rollback_without_javascript_redirects_back(dash: Dashboard, client):
    schedule = await create_schedule(client, name="plain", handler="report", cron="0 2 * * *")
    expect(await client.patch("/v1/schedules/plain", json={"cron": "0 4 * * *"}), 200)
    response = await dash.post(
        f"/schedules/{schedule['id']}/actions/rollback/1", data={"csrf": dash.csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/schedules/{schedule['id']}#versions-title"
    assert (await get_schedule(client, "plain"))["cron"] == "0 2 * * *"


async def test_rollback_needs_the_csrf_token_and_a_real_version(dash: Dashboard, client):
    schedule = await create_schedule(client, name="guarded", handler="report", cron="0 2 * * *")
    path = f"/schedules/{schedule['id']}/actions/rollback/1"
    refused = await dash.post(path, headers={"HX-Request": "true"})
    assert refused.status_code == 403 and "security token" in refused.text
    missing = await dash.act(f"/schedules/{schedule['id']}/actions/rollback/9")
    assert missing.status_code == 404 and "no version 9" in missing.text
    garbage = await dash.act(f"/schedules/{schedule['id']}/actions/rollback/abc")
    assert garbage.status_code == 400
    same = await dash.act(path)
    assert same.status_code == 200 and "already has" in same.text
    assert (await get_schedule(client, "guarded"))["version"] == 1


async def test_unknown_and_foreign_schedules_are_not_found(
    dash: Dashboard, client, other_client: httpx.AsyncClient
):
    theirs = await create_schedule(other_client, name="theirs", handler="h", cron="0 2 * * *")
    for ref in ("sch_00000000000000000000000000", "nope", theirs["id"], "theirs"):
        page = await shown(dash, f"/schedules/{ref}", status=404)
        assert "Not found" in page and "no schedule" in page
    rollback = await dash.act(f"/schedules/{theirs['id']}/actions/rollback/1")
    assert rollback.status_code == 404


async def test_bad_query_parameters_are_a_400_page(dash: Dashboard, client):
    schedule = await create_schedule(client, name="q", handler="report", cron="0 2 * * *")
    url = f"/schedules/{schedule['id']}"
    for query in (
        "?window=2y",
        "?show=some",
        "?before=yesterday",
        "?before=2026-03-01T12:00:00",  # no offset
        "?a=abc",
        "?a=0",
        "?a=7",
        "?cursor=!!",
    ):
        page = await shown(dash, url + query, status=400)
        assert "Something is not right" in page, query
    assert "no version 7 (it has 1 to 1)" in await shown(dash, url + "?a=7", status=400)


async def test_a_stranger_is_sent_to_sign_in(runtime: Runtime, client):
    from tests.dashboard.test_auth import anonymous

    schedule = await create_schedule(client, name="s", handler="report", cron="0 2 * * *")
    async with anonymous(runtime) as stranger:
        response = await stranger.get(f"/schedules/{schedule['id']}")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        posted = await stranger.post(f"/schedules/{schedule['id']}/actions/rollback/1")
        assert posted.status_code == 303


async def test_a_disabled_schedule_offers_enable_and_its_slots_show_disabled(
    dash: Dashboard, client, runtime, clock
):
    schedule = await create_schedule(client, name="off", **EVERY_MINUTE)
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    assert (await dash.act(f"/schedules/{schedule['id']}/disable")).status_code == 200
    clock.advance(minutes=2, seconds=30)
    await run_scheduler(runtime)
    page = await shown(dash, f"/schedules/{schedule['id']}")
    header = region(page, "schedule-header")
    assert 'data-state="disabled"' in header and 'data-action="enable"' in header
    assert 'hx-confirm="Enable off?' in header
    outcome, line = slots(page)["2026-03-01T12:03:00Z"]
    assert outcome == "disabled" and "(2 slots)" in line
    assert re.search(r"the schedule was disabled by dashboard: test \(chrns_[\w-]+…\)", line)
    assert "None: the schedule is disabled." in region(page, "schedule-ledger")


async def test_a_start_and_end_window_shows_as_times(dash: Dashboard, client):
    schedule = await create_schedule(
        client,
        name="bounded",
        handler="report",
        cron="0 2 * * *",
        start_at="2026-04-01T00:00:00Z",
        end_at="2026-05-01T00:00:00Z",
    )
    config = region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-config")
    assert '<time datetime="2026-04-01T00:00:00Z" data-tz="UTC">' in config
    assert '<time datetime="2026-05-01T00:00:00Z" data-tz="UTC">' in config
