"""POST /v1/schedules/preview: an unsaved schedule's next fires, in words, with DST warnings.

The clock starts at 2026-03-01T12:00Z. America/New_York springs forward on 2026-03-08
(02:00 EST → 03:00 EDT) and falls back on 2026-11-01 (02:00 EDT → 01:00 EST); Europe/Berlin on
2026-03-29 (02:00 CET → 03:00 CEST) and 2026-10-25 (03:00 CEST → 02:00 CET).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.helpers import create_schedule, expect, list_jobs, run_scheduler

NY, BERLIN = "America/New_York", "Europe/Berlin"


async def preview(client: httpx.AsyncClient, count: int | None = None, **body: Any) -> Any:
    params = {} if count is None else {"count": count}
    return expect(await client.post("/v1/schedules/preview", json=body, params=params), 200)


async def upcoming(client: httpx.AsyncClient, schedule_id: str, count: int) -> list[str]:
    response = await client.get(f"/v1/schedules/{schedule_id}/upcoming", params={"count": count})
    return expect(response, 200)["data"]


@pytest.mark.parametrize(
    "body",
    [
        {"cron": "30 2 * * *", "timezone": NY},
        {"cron": "0 */6 * * *", "timezone": BERLIN},
        {"interval": {"value": 90, "unit": "minute"}},
        {"schedule": "@every 45s"},
        {
            "cron": "0 * * * *",
            "timezone": NY,
            "start_at": "2026-03-05T00:00:00Z",
            "end_at": "2026-03-05T05:00:00Z",
        },
        {"interval": {"value": 2, "unit": "hour"}, "start_at": "2026-03-02T00:30:00Z"},
    ],
)
async def test_preview_is_what_the_created_schedule_reports_as_upcoming(client, body):
    body = {"name": "nightly", "handler": "h", **body}
    previewed = await preview(client, 40, **body)
    created = await create_schedule(client, **body)
    assert previewed["data"] == await upcoming(client, created["id"], 40)
    assert previewed["timezone"] == created["timezone"]
    if "end_at" in body:
        assert len(previewed["data"]) == 6  # 00:00 … 05:00 UTC


async def test_preview_lists_fires_in_utc_and_in_the_schedules_timezone(client):
    body = {"name": "backup", "handler": "b", "cron": "30 2 * * *", "timezone": NY}
    previewed = await preview(client, 8, **body)
    assert previewed["data"][:2] == ["2026-03-02T07:30:00Z", "2026-03-03T07:30:00Z"]
    assert previewed["local"][:2] == ["2026-03-02T02:30:00-05:00", "2026-03-03T02:30:00-05:00"]
    # 02:30 does not exist on 2026-03-08: the job runs at 03:00 EDT, then 02:30 EDT again.
    assert previewed["data"][6:] == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
    assert previewed["local"][6:] == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]
    assert previewed["timezone"] == NY
    assert previewed["description"] == "every day at 02:30 (America/New_York)"
    for utc, local in zip(previewed["data"], previewed["local"], strict=True):
        instant = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        assert datetime.fromisoformat(local) == instant


async def test_default_count_is_10_and_count_is_bounded(client):
    body = {"name": "n", "handler": "h", "cron": "* * * * *"}
    assert len((await preview(client, **body))["data"]) == 10
    assert len((await preview(client, 100, **body))["data"]) == 100
    assert len((await preview(client, 1, **body))["data"]) == 1
    for count in (0, 101, -1):
        response = await client.post("/v1/schedules/preview", params={"count": count}, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"
        assert "count" in response.json()["error"]["message"]


async def test_nothing_is_stored(client):
    await preview(client, name="n", handler="h", cron="* * * * *")
    await preview(client, name="n", handler="h", interval={"value": 1, "unit": "second"})
    assert expect(await client.get("/v1/schedules"), 200)["data"] == []
    assert await list_jobs(client) == []
    # the name is still free
    await create_schedule(client, name="n", handler="h", cron="* * * * *")


async def test_preview_needs_an_api_key(client):
    response = await client.post(
        "/v1/schedules/preview",
        json={"name": "n", "handler": "h", "cron": "* * * * *"},
        headers={"Authorization": ""},
    )
    assert response.status_code == 401


# --- DST ------------------------------------------------------------------------------------


async def test_new_york_gap_at_0230(client):
    previewed = await preview(client, name="n", handler="h", cron="30 2 * * *", timezone=NY)
    assert previewed["warnings"] == [
        {
            "code": "dst_gap",
            "message": "02:30 does not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job runs at 03:00",
            "local_date": "2026-03-08",
        }
    ]


async def test_new_york_overlap_at_0130(client):
    previewed = await preview(client, name="n", handler="h", cron="30 1 * * *", timezone=NY)
    assert previewed["warnings"] == [
        {
            "code": "dst_overlap",
            "message": "01:30 occurs twice on 2026-11-01 in America/New_York; "
            "the job runs once, at the first (EDT)",
            "local_date": "2026-11-01",
        }
    ]


async def test_berlin_0230_falls_in_both_the_gap_and_the_overlap(client):
    previewed = await preview(client, name="n", handler="h", cron="30 2 * * *", timezone=BERLIN)
    assert previewed["warnings"] == [
        {
            "code": "dst_gap",
            "message": "02:30 does not exist on 2026-03-29 in Europe/Berlin "
            "(clocks jump 02:00 → 03:00); the job runs at 03:00",
            "local_date": "2026-03-29",
        },
        {
            "code": "dst_overlap",
            "message": "02:30 occurs twice on 2026-10-25 in Europe/Berlin; "
            "the job runs once, at the first (CEST)",
            "local_date": "2026-10-25",
        },
    ]


async def test_berlin_0130_is_untouched(client):
    previewed = await preview(client, name="n", handler="h", cron="30 1 * * *", timezone=BERLIN)
    assert previewed["warnings"] == []


@pytest.mark.parametrize(
    ("cron", "gap", "overlap"),
    [
        # Several fixed times in the gap collapse into one run at its end.
        (
            "0,30 2 * * *",
            "02:00 and 02:30 do not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job runs once, at 03:00",
            None,
        ),
        # Minute starting with "*": real time is followed, skipped times do not run.
        (
            "*/15 2 * * *",
            "4 times from 02:00 to 02:45 do not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job skips them; its next run is at 02:00 on "
            "2026-03-09",
            None,
        ),
        # Hourly: real time again, so the repeated 01:30 runs at both occurrences.
        (
            "30 * * * *",
            "02:30 does not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job skips it; its next run is at 03:30",
            "01:30 occurs twice on 2026-11-01 in America/New_York; "
            "the job runs twice, at both (EDT and EST)",
        ),
        (
            "* * * * *",
            "60 times from 02:00 to 02:59 do not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job skips them; its next run is at 03:00",
            "60 times from 01:00 to 01:59 occur twice on 2026-11-01 in America/New_York; "
            "the job runs at both occurrences (EDT and EST)",
        ),
        # A 6-field cron never gets cron's DST adjustment: a skipped 02:30 does not run.
        (
            "0 30 2 * * *",
            "02:30 does not exist on 2026-03-08 in America/New_York "
            "(clocks jump 02:00 → 03:00); the job skips it; its next run is at 02:30 on "
            "2026-03-09",
            None,
        ),
    ],
)
async def test_warnings_say_what_the_trigger_does(client, cron, gap, overlap):
    previewed = await preview(client, name="n", handler="h", cron=cron, timezone=NY)
    expected = [("dst_gap", gap)] + ([("dst_overlap", overlap)] if overlap else [])
    assert [(w["code"], w["message"]) for w in previewed["warnings"]] == expected


@pytest.mark.parametrize(
    "body",
    [
        {"cron": "30 2 * * *"},  # UTC has no DST
        {"cron": "30 2 * * *", "timezone": "Asia/Tokyo"},  # nor has Japan
        {"cron": "0 12 * * *", "timezone": NY},  # avoids the transition hours
        {"cron": "30 2 * * 1", "timezone": NY},  # Mondays only; DST changes on Sundays
        {"interval": {"value": 30, "unit": "minute"}, "timezone": NY},
        {"schedule": "@every 1h", "timezone": BERLIN},
        # the window ends before the first transition
        {"cron": "30 2 * * *", "timezone": NY, "end_at": "2026-03-07T00:00:00Z"},
    ],
)
async def test_no_warnings(client, body):
    previewed = await preview(client, name="n", handler="h", **body)
    assert previewed["warnings"] == []


async def test_warnings_look_366_days_ahead_from_the_clock(client, clock):
    body = {"name": "n", "handler": "h", "cron": "30 2 * * *", "timezone": NY}
    clock.set(datetime(2026, 3, 9, tzinfo=UTC))  # 2027's spring change is 370 days away
    assert (await preview(client, **body))["warnings"] == []
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))  # now it is 359 days away
    previewed = await preview(client, **body)
    assert [(w["code"], w["local_date"]) for w in previewed["warnings"]] == [
        ("dst_gap", "2027-03-14")
    ]
    assert "02:30 does not exist on 2027-03-14" in previewed["warnings"][0]["message"]


async def test_the_scheduler_does_what_the_warnings_say(client, runtime, clock):
    """The gap's 02:30 runs at 03:00 EDT; the repeated 01:30 runs once, at 01:30 EDT."""
    clock.set(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))  # 01:00 EST
    gap = await create_schedule(client, name="gap", handler="h", cron="30 2 * * *", timezone=NY)
    clock.set(datetime(2026, 3, 8, 7, 0, 1, tzinfo=UTC))  # 03:00:01 EDT
    await run_scheduler(runtime)
    jobs = await list_jobs(client, schedule_id=gap["id"])
    assert [j["scheduled_for"] for j in jobs] == ["2026-03-08T07:00:00Z"]

    clock.set(datetime(2026, 11, 1, 4, 0, tzinfo=UTC))  # 00:00 EDT
    overlap = await create_schedule(
        client, name="overlap", handler="h", cron="30 1 * * *", timezone=NY
    )
    for hour in (5, 6, 7):  # 01:30:01 EDT, 01:30:01 EST, 02:30:01 EST
        clock.set(datetime(2026, 11, 1, hour, 30, 1, tzinfo=UTC))
        await run_scheduler(runtime)
    jobs = await list_jobs(client, schedule_id=overlap["id"])
    assert [j["scheduled_for"] for j in jobs] == ["2026-11-01T05:30:00Z"]


async def test_a_disabled_schedule_has_no_fires_and_says_why(client):
    body = {"name": "off", "handler": "h", "cron": "0 12 * * *", "enabled": False}
    previewed = await preview(client, **body)
    assert previewed["data"] == previewed["local"] == []
    assert [w["code"] for w in previewed["warnings"]] == ["disabled"]
    created = await create_schedule(client, **body)
    assert await upcoming(client, created["id"], 10) == []


# --- the same errors as a create --------------------------------------------------------------


BAD_BODIES: list[Any] = [
    {"name": "n", "handler": "h", "cron": "61 * * * *"},  # bad cron
    {"name": "n", "handler": "h", "cron": "* * *"},  # wrong number of fields
    {"name": "n", "handler": "h", "cron": "@often"},  # unknown alias
    {"name": "n", "handler": "h", "cron": "0 0 31 2 *"},  # never fires
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "timezone": "Mars/Olympus"},
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "timezone": "America"},
    {"name": "n", "cron": "0 2 * * *"},  # no handler for pull delivery
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "delivery": {"type": "push"}},
    {"handler": "h", "cron": "0 2 * * *"},  # no name
    {"name": "n", "handler": "h"},  # no timing
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "interval": {"value": 1, "unit": "h"}},
    {"name": "n", "handler": "h", "interval": {"value": 0, "unit": "minute"}},
    {"name": "n", "handler": "h", "interval": {"value": 1, "unit": "fortnight"}},
    {"name": 5, "handler": "h", "cron": "0 2 * * *"},  # wrong types
    {"name": "n", "handler": ["h"], "cron": 17, "enabled": "yes", "timeout": "soon"},
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "surprise": True},  # unknown field
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "start_at": "yesterday"},
    {
        "name": "n",
        "handler": "h",
        "cron": "0 2 * * *",
        "start_at": "2026-04-01T00:00:00Z",
        "end_at": "2026-03-01T00:00:00Z",
    },
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "max_retries": 3, "retry_policy": 1},
    {"name": "n", "handler": "h", "cron": "0 2 * * *", "payload": "x" * 70_000},  # 413
    {"name": "sch_" + "0" * 26, "handler": "h", "cron": "0 2 * * *"},
    {"name": "n", "webhook": {"url": "ftp://example.com"}, "cron": "0 2 * * *"},
    ["not", "an", "object"],
    "just a string",
    None,
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_a_bad_body_gets_the_very_same_error_as_a_create(client, body):
    created = await client.post("/v1/schedules", json=body)
    previewed = await client.post("/v1/schedules/preview", json=body)
    assert created.status_code in (413, 422), created.text
    assert previewed.status_code == created.status_code
    assert previewed.content == created.content
    error = previewed.json()["error"]
    codes = ("validation_error", "invalid_schedule", "invalid_url", "payload_too_large")
    assert error["code"] in codes
    assert error["message"]


async def test_invalid_json_gets_the_same_error_as_a_create(client):
    headers = {"Content-Type": "application/json"}
    created = await client.post("/v1/schedules", content=b"{nope", headers=headers)
    previewed = await client.post("/v1/schedules/preview", content=b"{nope", headers=headers)
    assert (previewed.status_code, previewed.content) == (created.status_code, created.content)
    assert created.status_code == 400
