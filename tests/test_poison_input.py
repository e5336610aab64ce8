"""Nothing is stored that cannot be read back, and one bad row never breaks a list or a claim.

Each test replays a finding of the attacker review (issue 11): values Python's JSON accepts but
no database round trip survives, bodies larger than the limit that never say so, keys checked
only after the body was read, and a push endpoint answering with a NUL byte.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.responses import Response

from chronos.server.store.tables import jobs
from tests.helpers import api_client, claim_one, create_job, create_schedule, report, run_dispatcher

SCHEDULE = {"name": "s", "handler": "h", "cron": "* * * * *"}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def raw(body: str) -> dict[str, Any]:
    """Request arguments sending ``body`` exactly as written (json= would refuse some)."""
    return {"content": body.encode(), "headers": {"Content-Type": "application/json"}}


async def count_jobs(runtime) -> int:
    async with runtime.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar_one()


# Values a JSON parser accepts that cannot be stored and read back, as raw JSON text.
POISON = {
    "deep nesting": json.dumps(nested(300)),
    "lone surrogate": '"\\ud800"',
    "NUL character": '"a\\u0000b"',
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "a number out of range": "1e400",
}


@pytest.mark.parametrize("value", POISON.values(), ids=POISON.keys())
async def test_poison_payloads_are_refused_and_nothing_is_stored(client, runtime, value):
    bodies = [
        ("/v1/jobs", f'{{"handler": "h", "payload": {value}}}'),
        (
            "/v1/jobs/batch",
            f'{{"jobs": [{{"handler": "h"}}, {{"handler": "h", "payload": {value}}}]}}',
        ),
        (
            "/v1/schedules",
            f'{{"name": "s", "handler": "h", "cron": "* * * * *", "payload": {value}}}',
        ),
    ]
    for path, body in bodies:
        response = await client.post(path, **raw(body))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert await count_jobs(runtime) == 0
    assert (await client.get("/v1/schedules")).json()["data"] == []


@pytest.mark.parametrize("field", ["name", "handler", "idempotency_key"])
async def test_nul_and_lone_surrogates_in_string_fields_are_refused(client, runtime, field):
    for bad in ('"a\\u0000b"', '"\\udfff"'):
        body = f'{{"handler": "h", "{field}": {bad}}}'
        response = await client.post("/v1/jobs", **raw(body))
        assert response.status_code == 422, response.text
        assert field in response.json()["error"]["message"]
    assert await count_jobs(runtime) == 0


async def test_poison_in_a_tag_key_is_refused(client):
    response = await client.post("/v1/jobs", **raw('{"handler": "h", "tags": {"k\\u0000": "v"}}'))
    assert response.status_code == 422
    assert "key" in response.json()["error"]["message"]


async def test_nesting_up_to_the_limit_is_stored_and_read_back(client):
    payload = nested(60)
    job = await create_job(client, handler="h", payload=payload)
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["payload"] == payload


@pytest.mark.parametrize("value", POISON.values(), ids=POISON.keys())
async def test_a_poison_result_is_refused_and_the_execution_can_still_finish(client, value):
    await create_job(client, handler="h")
    job = await claim_one(client, ["h"])
    path = f"/v1/worker/executions/{job['execution_id']}/result"
    for field in ("output", "error"):
        response = await client.post(path, **raw(f'{{"status": "completed", "{field}": {value}}}'))
        assert response.status_code == 422, response.text
    item = f'{{"execution_id": "{job["execution_id"]}", "status": "failed", "error": {value}}}'
    batch = f'{{"results": [{item}]}}'
    assert (await client.post("/v1/worker/results", **raw(batch))).status_code == 422
    await report(client, job["execution_id"], "completed", output={"fine": True})
    done = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert (done["status"], done["result"]) == ("completed", {"fine": True})


@pytest.mark.parametrize(
    "url",
    [
        "/v1/jobs/job_a%00b",
        "/v1/schedules/a%00b",
        "/v1/jobs?handler=a%00b",
        "/v1/jobs?cursor=%00",
        "/v1/schedules?tag.team=%00",
    ],
)
async def test_nul_in_a_url_is_a_400(client, url):
    response = await client.get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


class Chunks:
    """A streamed body that counts how much of it was read."""

    def __init__(self, count: int, size: int = 64 * 1024) -> None:
        self.count, self.size, self.sent = count, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"handler": "h", "payload": "'
        for _ in range(self.count):
            self.sent += 1
            yield b"x" * self.size
        yield b'"}'


async def test_a_streamed_body_is_cut_off_at_the_limit(client, runtime):
    body = Chunks(count=100)  # 6.4 MB, no Content-Length; the test runtime allows 1 MiB
    response = await client.post(
        "/v1/jobs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert body.sent <= 1024 * 1024 // body.size + 1, "the server read past its limit"
    assert await count_jobs(runtime) == 0


async def test_a_wrong_key_is_refused_before_the_body_is_read(client):
    body = Chunks(count=100)
    response = await client.post(
        "/v1/jobs",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer chrns_wrong"},
    )
    assert response.status_code == 401
    assert body.sent == 0


async def test_one_unreadable_row_does_not_break_a_list_or_another_jobs_claim(client, runtime):
    """A row stored before today's checks (written here behind the API's back)."""
    bad = await create_job(client, handler="h", payload={"x": 1})
    good = await create_job(client, handler="h", payload={"ok": True})
    unreadable: Any = nested(300)
    if runtime.db.is_sqlite:  # PostgreSQL itself refuses NaN and lone surrogates in jsonb
        unreadable = {"nan": float("nan"), "text": "\ud800", "deep": nested(300)}
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(jobs).where(jobs.c.id == bad["id"]).values(payload=unreadable))
    listing = await client.get("/v1/jobs")
    assert listing.status_code == 200
    assert {j["id"] for j in listing.json()["data"]} == {bad["id"], good["id"]}
    claimed = await client.post(
        "/v1/worker/jobs/claim", json={"handlers": ["h"], "limit": 10, "wait_seconds": 0}
    )
    assert claimed.status_code == 200
    by_id = {j["id"]: j for j in claimed.json()["jobs"]}
    assert set(by_id) == {bad["id"], good["id"]}
    assert by_id[good["id"]]["payload"] == {"ok": True}


async def test_a_push_answer_holding_nul_bytes_cannot_sink_other_accounts_results(
    client, other_client, runtime, endpoint
):
    async def nul_answer(_: Any) -> Response:
        return Response(b"bad\x00answer \xed\xa0\x80", status_code=500)

    endpoint.route("/nul", nul_answer)
    endpoint.route("/ok", 200)
    mine = await create_job(
        client, handler=None, delivery={"type": "push", "http": {"url": endpoint.url("/nul")}}
    )
    theirs = await create_job(
        other_client, handler=None, delivery={"type": "push", "http": {"url": endpoint.url("/ok")}}
    )
    await run_dispatcher(runtime)
    assert (await other_client.get(f"/v1/jobs/{theirs['id']}")).json()["status"] == "completed"
    mine_now = (await client.get(f"/v1/jobs/{mine['id']}")).json()
    assert mine_now["status"] == "pending"  # a 500 is retried
    [execution] = mine_now["executions"]
    assert execution["http_status"] == 500
    assert "\x00" not in execution["response_excerpt"]
    assert execution["response_excerpt"].startswith("bad\ufffdanswer")


async def test_schedules_with_poison_cannot_be_created_by_put_or_patch(client):
    await create_schedule(client, **SCHEDULE)
    for method, path in [("PUT", "/v1/schedules/t"), ("PATCH", "/v1/schedules/s")]:
        body = '{"name": "t", "handler": "h", "cron": "* * * * *", "description": "\\u0000"}'
        if method == "PATCH":
            body = '{"description": "\\ud800"}'
        response = await client.request(method, path, **raw(body))
        assert response.status_code == 422, (method, response.text)
    assert [s["name"] for s in (await client.get("/v1/schedules")).json()["data"]] == ["s"]
    assert (await client.get("/v1/schedules/s")).status_code == httpx.codes.OK


async def test_a_body_that_stalls_is_refused_with_a_408(runtime, account):
    import dataclasses

    runtime.settings = dataclasses.replace(runtime.settings, body_read_timeout_seconds=0.2)
    never = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        yield b'{"handler": "h", "payload": "'
        await never.wait()  # the client stops sending: slowloris
        yield b'"}'

    async with api_client(runtime, account["key"]) as http:
        response = await http.post(
            "/v1/jobs", content=stalling(), headers={"Content-Type": "application/json"}
        )
    assert (response.status_code, response.json()["error"]["code"]) == (408, "request_timeout")
    assert response.headers["connection"] == "close"
    assert await count_jobs(runtime) == 0
