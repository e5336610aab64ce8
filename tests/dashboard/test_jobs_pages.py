"""The jobs list and its filters, a job's page (executions, cancel, retry) and the dead letter."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from chronos.server import ids
from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import (
    claim_one,
    create_job,
    create_schedule,
    expect,
    get_job,
    report,
    run_admission,
    trigger_schedule,
)

ROW = re.compile(r'<tr data-job="(job_[0-9a-z]+)"')


@pytest.fixture
def ids_follow_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """Job ids carry the test clock's time (they carry the wall clock's in production), so
    that creation-time filters, an id range, see the times the test sets."""

    def made_at_clock(prefix: str) -> str:
        return ids.new_id(prefix, at_ms=int(clock.now().timestamp() * 1000))

    monkeypatch.setattr("chronos.server.domain.jobs.new_id", made_at_clock)


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return ROW.findall(page.text)


async def fail_for_good(client: httpx.AsyncClient, handler: str = "h", **fields: Any) -> str:
    """A job whose only attempt failed: it is in the dead letter."""
    job = await create_job(client, handler=handler, max_retries=0, **fields)
    claimed = await claim_one(client, [handler])
    await report(client, claimed["execution_id"], "failed", error={"message": "boom"})
    assert (await get_job(client, job["id"]))["status"] == "failed"
    return job["id"]


# --- the list and its filters -----------------------------------------------------------------


async def test_jobs_are_listed_newest_first_with_their_columns(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock, ids_follow_clock: None
):
    first = await create_job(client, name="first", handler="send-email", max_retries=2)
    clock.advance(seconds=1)
    second = await create_job(client, name="second", handler="send-email")
    page = await dash.get("/jobs")
    assert listed(page) == [second["id"], first["id"]]
    assert f'href="/jobs/{first["id"]}"' in page.text
    assert "send-email" in page.text and "first" in page.text
    assert 'class="badge status-ready"' in page.text
    assert "0/3" in page.text  # attempt of at most max_retries + 1
    assert 'id="jobs-list"' in page.text and "live:jobs" in page.text


async def test_an_empty_account_is_taught_how_to_start(dash: Dashboard):
    page = await dash.get("/jobs")
    assert "No jobs yet" in page.text
    assert "/v1/schedules" in page.text  # the first-steps snippet


async def test_filters_by_status_handler_and_trigger(dash: Dashboard, client: httpx.AsyncClient):
    email = await create_job(client, handler="send-email")
    report_job = await create_job(client, handler="report")
    await claim_one(client, ["report"])
    schedule = await create_schedule(client, name="nightly", cron="0 2 * * *", handler="report")
    manual = await trigger_schedule(client, schedule["id"])

    assert listed(await dash.get("/jobs?handler=send-email")) == [email["id"]]
    assert listed(await dash.get("/jobs?status=running")) == [report_job["id"]]
    assert listed(await dash.get("/jobs?trigger=manual")) == [manual["id"]]
    assert set(listed(await dash.get("/jobs?trigger=api&status=&handler="))) == {
        email["id"],
        report_job["id"],
    }
    nothing = await dash.get("/jobs?handler=nobody")
    assert listed(nothing) == [] and "No jobs match these filters" in nothing.text


async def test_filters_by_schedule_id_or_name(dash: Dashboard, client: httpx.AsyncClient):
    nightly = await create_schedule(client, name="nightly", cron="0 2 * * *", handler="h")
    hourly = await create_schedule(client, name="hourly", cron="0 * * * *", handler="h")
    fired = await trigger_schedule(client, nightly["id"])
    await trigger_schedule(client, hourly["id"])
    await create_job(client, handler="h")

    by_name = await dash.get("/jobs?schedule=nightly")
    assert listed(by_name) == [fired["id"]]
    assert f'href="/schedules/{nightly["id"]}"' in by_name.text
    assert listed(await dash.get(f"/jobs?schedule={nightly['id']}")) == [fired["id"]]
    unknown = await dash.get("/jobs?schedule=nope")
    assert listed(unknown) == []
    assert "No schedule has the id or name &#39;nope&#39;" in unknown.text


async def test_filters_by_tag_and_the_tag_box_becomes_a_tag_parameter(
    dash: Dashboard, client: httpx.AsyncClient
):
    ops = await create_job(client, handler="h", tags={"team": "ops", "env": "prod"})
    await create_job(client, handler="h", tags={"team": "web"})

    assert listed(await dash.get("/jobs?tag.team=ops")) == [ops["id"]]
    assert listed(await dash.get("/jobs?tag.team=ops&tag.env=dev")) == []
    typed = await dash.get("/jobs?handler=h&tag=team%3Dops&cursor=abc")
    assert typed.status_code == 303
    assert typed.headers["location"] == "/jobs?handler=h&tag.team=ops"
    page = await dash.get(typed.headers["location"])
    assert listed(page) == [ops["id"]]
    assert '<input type="hidden" name="tag.team" value="ops">' in page.text  # kept on re-filter
    assert 'aria-label="Remove the tag filter team=ops"' in page.text

    bad = await dash.get("/jobs?tag=no-equals-sign")
    assert bad.status_code == 400 and "KEY=VALUE" in bad.text
    bad_key = await dash.get("/jobs?tag.b%20d=x")
    assert bad_key.status_code == 400


async def test_filters_by_creation_time_as_datetime_local_utc_or_rfc3339(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock, ids_follow_clock: None
):
    early = await create_job(client, handler="h")  # 12:00 UTC
    clock.advance(hours=1)
    middle = await create_job(client, handler="h")  # 13:00
    clock.advance(hours=1)
    late = await create_job(client, handler="h")  # 14:00

    assert listed(await dash.get("/jobs?from=2026-03-01T12:30&to=2026-03-01T13:30")) == [
        middle["id"]
    ]
    assert listed(await dash.get("/jobs?from=2026-03-01T12:30")) == [late["id"], middle["id"]]
    assert listed(await dash.get("/jobs?to=2026-03-01T13:00:00")) == [early["id"]]
    offset = await dash.get("/jobs", params={"from": "2026-03-01T15:30:00+02:00"})  # 13:30Z
    assert listed(offset) == [late["id"]]
    assert 'value="2026-03-01T13:30"' in offset.text  # shown back in UTC


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01T00:00",
        "from=2026-03-01T14:00&to=2026-03-01T13:00",
        "from=0001-01-01T00:00",
        "status=sleeping",
        "trigger=cron",
        "cursor=%%%",
    ],
)
async def test_bad_filters_are_a_400_page(dash: Dashboard, query: str):
    page = await dash.get(f"/jobs?{query}")
    assert page.status_code == 400, page.text
    assert "<html" in page.text and "Something is not right" in page.text


async def test_pages_through_many_jobs_fifty_at_a_time(dash: Dashboard, client: httpx.AsyncClient):
    batch = {"jobs": [{"handler": "h", "name": f"job {n}"} for n in range(55)]}
    created = {
        job["id"] for job in expect(await client.post("/v1/jobs/batch", json=batch), 201)["data"]
    }
    first = await dash.get("/jobs?handler=h")
    first_ids = listed(first)
    assert len(first_ids) == 50
    cursor = re.search(r'href="\?([^"]*cursor=[^"]+)"', first.text)
    assert cursor, "no next page link"
    second = await dash.get("/jobs?" + cursor.group(1).replace("&amp;", "&"))
    assert "handler=h" in cursor.group(1)
    second_ids = listed(second)
    assert len(second_ids) == 5
    assert set(first_ids) | set(second_ids) == created
    assert "First page" in second.text


async def test_another_accounts_jobs_are_not_listed(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    mine = await create_job(client, handler="h")
    await create_job(other_client, handler="h")
    assert listed(await dash.get("/jobs")) == [mine["id"]]


# --- a job's page -----------------------------------------------------------------------------


TRACEBACK = 'Traceback (most recent call last):\n  File "tasks.py", line 3\nValueError: bad <input>'


async def test_job_page_shows_each_execution_with_its_error_and_traceback(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    job = await create_job(
        client, name="import", handler="import", payload={"file": "a.csv"}, max_retries=1
    )
    first = await claim_one(client, ["import"], worker_id="host-1:42")
    clock.advance(seconds=2)
    error = {"type": "ValueError", "message": "bad <input>", "traceback": TRACEBACK, "line": 3}
    await report(client, first["execution_id"], "failed", error=error)

    waiting = await dash.get(f"/jobs/{job['id']}")
    assert waiting.status_code == 200
    assert "Next attempt" in waiting.text
    assert 'class="badge status-pending"' in waiting.text

    clock.advance(minutes=5)
    await run_admission(runtime)
    second = await claim_one(client, ["import"], worker_id="host-2:7")
    clock.advance(seconds=1)
    await report(client, second["execution_id"], "completed", output={"rows": 12})

    page = await dash.get(f"/jobs/{job['id']}")
    text = page.text
    assert page.status_code == 200
    assert text.count('class="attempt"') == 2
    assert 'data-attempt="1" data-execution-status="failed"' in text
    assert 'data-attempt="2" data-execution-status="completed"' in text
    assert "<strong>ValueError</strong>: bad &lt;input&gt;" in text
    assert "ValueError: bad &lt;input&gt;</pre>" in text  # the traceback, escaped, in a <pre>
    assert "&#34;line&#34;: 3" in text or '"line": 3' in text  # the error's other fields
    assert "host-1:42" in text and "host-2:7" in text
    assert "2.0 s" in text  # the first attempt's duration
    for step in ("created", "scheduled for", "ready", "claimed", "finished"):
        assert f'data-step="{step}"' in text
    assert "&#34;file&#34;: &#34;a.csv&#34;" in text or '"file": "a.csv"' in text
    assert "&#34;rows&#34;: 12" in text or '"rows": 12' in text  # the result
    assert 'id="job-detail"' in text
    assert "Cancel job" not in text and "Retry job" not in text  # completed: neither


async def test_push_job_page_shows_the_url_and_header_names_but_never_header_values(
    dash: Dashboard, client: httpx.AsyncClient
):
    job = await create_job(
        client,
        name="hook",
        delivery={
            "type": "push",
            "http": {
                "url": "https://user:pa55@hooks.example.com/in?x=1",
                "headers": {"Authorization": "Bearer s3cret-token", "X-Team": "ops-value"},
            },
        },
    )
    page = await dash.get(f"/jobs/{job['id']}")
    assert page.status_code == 200
    assert "https://***@hooks.example.com/in?x=1" in page.text
    assert "<code>Authorization</code>" in page.text and "<code>X-Team</code>" in page.text
    for secret in ("s3cret-token", "ops-value", "pa55"):
        assert secret not in page.text


async def test_cancel_and_retry_from_the_job_page_change_its_status(
    dash: Dashboard, client: httpx.AsyncClient
):
    job = await create_job(client, handler="h")
    page = await dash.get(f"/jobs/{job['id']}")
    assert "Cancel job" in page.text and "hx-confirm" in page.text

    canceled = await dash.act(f"/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200
    assert "Canceled" in canceled.text and 'class="flash ok"' in canceled.text
    assert (await get_job(client, job["id"]))["status"] == "canceled"
    assert "Retry job" in (await dash.get(f"/jobs/{job['id']}")).text

    retried = await dash.act(f"/jobs/{job['id']}/retry")
    assert retried.status_code == 200 and "Retrying" in retried.text
    assert (await get_job(client, job["id"]))["status"] == "ready"

    again = await dash.act(f"/jobs/{job['id']}/retry")  # ready: nothing to retry
    assert again.status_code == 409
    assert "only failed or canceled jobs can be retried" in again.text
    assert again.headers["HX-Retarget"] == "#flash"


async def test_cancel_a_running_job(dash: Dashboard, client: httpx.AsyncClient):
    job = await create_job(client, handler="h")
    await claim_one(client, ["h"])
    assert (await dash.act(f"/jobs/{job['id']}/cancel")).status_code == 200
    done = await get_job(client, job["id"])
    assert done["status"] == "canceled" and done["executions"][0]["status"] == "canceled"


async def test_a_plain_form_post_works_without_javascript(
    dash: Dashboard, client: httpx.AsyncClient
):
    job = await create_job(client, handler="h")
    response = await dash.post(
        f"/jobs/{job['id']}/cancel",
        data={"csrf": dash.csrf},
        headers={"Referer": f"http://chronos.test/jobs/{job['id']}?from=x"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/jobs/{job['id']}?from=x"
    assert (await get_job(client, job["id"]))["status"] == "canceled"
    elsewhere = await dash.post(
        f"/jobs/{job['id']}/retry",
        data={"csrf": dash.csrf},
        headers={"Referer": "https://evil.example/phish"},
    )
    assert elsewhere.headers["location"] == f"/jobs/{job['id']}"


async def test_actions_without_the_csrf_token_are_refused(
    dash: Dashboard, client: httpx.AsyncClient
):
    job = await create_job(client, handler="h")
    refused = await dash.post(f"/jobs/{job['id']}/cancel", headers={"HX-Request": "true"})
    assert refused.status_code == 403 and "security token" in refused.text
    wrong = await dash.post(f"/jobs/{job['id']}/cancel", data={"csrf": "0" * 64})
    assert wrong.status_code == 403
    bulk = await dash.post("/jobs/bulk-retry", data={"ids": job["id"]})
    assert bulk.status_code == 403
    assert (await get_job(client, job["id"]))["status"] == "ready"


async def test_unknown_or_foreign_jobs_are_404(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    theirs = await create_job(other_client, handler="h")
    for path in (
        f"/jobs/{theirs['id']}",
        "/jobs/job_nope",
        "/jobs/" + "x" * 300,
        "/jobs/%E2%9C%93",
    ):
        page = await dash.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text
    refused = await dash.act(f"/jobs/{theirs['id']}/cancel")
    assert refused.status_code == 404
    assert (await get_job(other_client, theirs["id"]))["status"] == "ready"


# --- the dead letter --------------------------------------------------------------------------


async def test_dead_letter_lists_failed_jobs_only_and_filters_them(
    dash: Dashboard, client: httpx.AsyncClient
):
    empty = await dash.get("/dead-letter")
    assert empty.status_code == 200 and "No failed jobs" in empty.text
    emails = await fail_for_good(client, "send-email")
    reports = await fail_for_good(client, "report")
    await create_job(client, handler="send-email")  # ready, not failed

    page = await dash.get("/dead-letter")
    assert set(listed(page)) == {emails, reports}
    assert f'name="ids" value="{emails}" data-select' in page.text
    assert "boom" in page.text
    assert listed(await dash.get("/dead-letter?handler=report")) == [reports]
    assert listed(await dash.get("/dead-letter?handler=nobody")) == []


async def test_bulk_retry_retries_the_selected_and_reports_what_it_could_not(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    first = await fail_for_good(client)
    second = await fail_for_good(client)
    ready = await create_job(client, handler="other")
    theirs = await create_job(other_client, handler="h", max_retries=0)

    response = await dash.act(
        "/jobs/bulk-retry", {"ids": [first, second, theirs["id"], ready["id"], first]}
    )
    assert response.status_code == 200
    text = response.text
    assert "Retried 2 jobs; 2 failed:" in text
    assert f"{theirs['id']}: no job" in text
    assert f"{ready['id']}: only failed or canceled jobs can be retried" in text
    assert 'class="flash error"' in text
    for job_id in (first, second):
        assert (await get_job(client, job_id))["status"] == "ready"
    assert (await get_job(other_client, theirs["id"]))["status"] == "ready"  # untouched
    assert "No failed jobs" in (await dash.get("/dead-letter")).text


async def test_bulk_retry_needs_a_selection_and_has_a_cap(dash: Dashboard):
    none = await dash.act("/jobs/bulk-retry", {"ids": ""})
    assert none.status_code == 400 and "select at least one job" in none.text
    many = await dash.act("/jobs/bulk-retry", {"ids": [f"job_{n}" for n in range(501)]})
    assert many.status_code == 400 and "at most 500" in many.text


async def test_retry_one_from_the_dead_letter(dash: Dashboard, client: httpx.AsyncClient):
    job_id = await fail_for_good(client)
    page = await dash.get("/dead-letter")
    assert f'formaction="/jobs/{job_id}/retry"' in page.text
    response = await dash.act(f"/jobs/{job_id}/retry", {"ids": job_id})
    assert response.status_code == 200 and 'class="flash ok"' in response.text
    assert (await get_job(client, job_id))["status"] == "ready"
