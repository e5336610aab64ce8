"""Malformed requests at every endpoint: each gets a 4xx JSON error and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chronos.server.store.tables import metadata
from tests.helpers import (
    claim_one,
    create_api_key,
    create_job,
    create_schedule,
    report,
    run_lease_rescuer,
)

TABLES = [t.name for t in metadata.sorted_tables]


# Bookkeeping that any authenticated request may update (to the minute): not data.
BOOKKEEPING = {("api_keys", "last_used_at")}


async def snapshot(runtime) -> dict[str, Any]:
    """Every row of every table: a request that changes nothing leaves this equal."""
    state = {}
    async with runtime.db.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in BOOKKEEPING]
            query = sa.select(*columns).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(r) for r in await conn.execute(query)]
    return state


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"].replace("_", "").isalpha() and error["code"].islower()
    if code is not None:
        assert error["code"] == code, error


@pytest.fixture
async def objects(client, runtime) -> dict[str, Any]:
    """A schedule, a ready job, a running job with its execution, and an API key."""
    schedule = await create_schedule(client, name="existing", handler="h", cron="0 * * * *")
    running = await create_job(client, handler="run")
    execution_id = (await claim_one(client, handlers=("run",)))["execution_id"]
    ready = await create_job(client, handler="h", idempotency_key="taken")
    key = await create_api_key(client, "spare")
    return {
        "schedule": schedule,
        "ready": ready,
        "running": running,
        "execution_id": execution_id,
        "key": key,
    }


ENDPOINTS = [
    ("GET", "/v1/schedules"),
    ("POST", "/v1/schedules"),
    ("PUT", "/v1/schedules/x"),
    ("GET", "/v1/schedules/x"),
    ("PATCH", "/v1/schedules/x"),
    ("DELETE", "/v1/schedules/x"),
    ("POST", "/v1/schedules/x/pause"),
    ("POST", "/v1/schedules/x/trigger"),
    ("GET", "/v1/schedules/x/upcoming"),
    ("POST", "/v1/jobs"),
    ("POST", "/v1/jobs/batch"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/job_x"),
    ("POST", "/v1/jobs/job_x/cancel"),
    ("POST", "/v1/jobs/job_x/retry"),
    ("GET", "/v1/executions/exe_x"),
    ("POST", "/v1/worker/jobs/claim"),
    ("POST", "/v1/worker/executions/exe_x/result"),
    ("POST", "/v1/worker/executions/exe_x/heartbeat"),
    ("POST", "/v1/worker/results"),
    ("GET", "/v1/api-keys"),
    ("POST", "/v1/api-keys"),
    ("DELETE", "/v1/api-keys/key_x"),
    ("GET", "/v1/signing-secrets"),
    ("POST", "/v1/signing-secrets/rotate"),
]


AUTHORIZATIONS = [None, "", "Bearer", "Bearer chrns_nope", "Basic dXNlcjpwYXNz", "chrns_no_scheme"]


async def test_every_endpoint_needs_a_valid_key(client, runtime):
    before = await snapshot(runtime)
    client_headers = dict(client.headers)
    client_headers.pop("authorization", None)
    async with httpx.AsyncClient(
        transport=client._transport, base_url=client.base_url, headers=client_headers
    ) as anonymous:
        for method, path in ENDPOINTS:
            for authorization in AUTHORIZATIONS:
                headers = {"Authorization": authorization} if authorization is not None else {}
                body = {} if method in ("POST", "PUT", "PATCH") else None
                response = await anonymous.request(method, path, headers=headers, json=body)
                assert_error(response, 401, "unauthorized")
    assert await snapshot(runtime) == before


BODY_ENDPOINTS = [
    ("POST", "/v1/schedules"),
    ("PUT", "/v1/schedules/existing"),
    ("PATCH", "/v1/schedules/existing"),
    ("POST", "/v1/jobs"),
    ("POST", "/v1/jobs/batch"),
    ("POST", "/v1/worker/jobs/claim"),
    ("POST", "/v1/worker/results"),
    ("POST", "/v1/api-keys"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
async def test_malformed_json_is_a_400(client, runtime, objects, method, path):
    before = await snapshot(runtime)
    for raw in [b"{", b'{"name": }', b"nul", b"\xff\xfe", b'{"a": 1}}']:
        response = await client.request(
            method, path, content=raw, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "invalid_json")
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
async def test_a_body_that_is_not_json_is_a_415(client, runtime, objects, method, path):
    before = await snapshot(runtime)
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ]:
        response = await client.request(
            method, path, content=b"name=x", headers={"Content-Type": content_type}
        )
        assert_error(response, 415, "unsupported_media_type")
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
async def test_a_body_that_is_not_an_object_is_a_422(client, runtime, objects, method, path):
    before = await snapshot(runtime)
    # (``null`` is left out: an endpoint whose body is optional may read it as "no body".)
    for body in [[], "schedule", 42, True, [{"handler": "h"}]]:
        response = await client.request(method, path, json=body)
        assert_error(response, 422)
    assert await snapshot(runtime) == before


VALID_SCHEDULE = {"name": "nightly", "handler": "h", "cron": "0 2 * * *"}
BAD_SCHEDULES = [
    ({"name": 123}, "validation_error"),
    ({"name": ""}, "validation_error"),
    ({"name": "x" * 201}, "validation_error"),
    ({"handler": []}, "validation_error"),
    ({"enabled": "yes"}, "validation_error"),
    ({"max_retries": "3"}, "validation_error"),
    ({"max_retries": -1}, "validation_error"),
    ({"timeout": True}, "validation_error"),
    ({"timeout": "forever"}, "validation_error"),
    ({"timeout": 0}, "validation_error"),
    ({"tags": {"a": 1}}, "validation_error"),
    ({"tags": ["a"]}, "validation_error"),
    ({"colour": "red"}, "validation_error"),
    ({"concurrency": "sometimes"}, "validation_error"),
    ({"misfire_policy": "panic"}, "validation_error"),
    ({"cron": None, "interval": {"value": 1, "unit": "fortnight"}}, "invalid_schedule"),
    ({"cron": None, "interval": {"value": 0, "unit": "second"}}, "invalid_schedule"),
    ({"cron": None, "interval": {"value": -5, "unit": "minute"}}, "invalid_schedule"),
    ({"cron": None, "interval": {"value": 1.5, "unit": "hour"}}, "invalid_schedule"),
    ({"cron": None, "interval": {"value": 1, "unit": "hour", "every": 2}}, "invalid_schedule"),
    ({"cron": None, "interval": "soon"}, "invalid_schedule"),
    ({"cron": "* * *"}, "invalid_schedule"),
    ({"cron": "61 * * * *"}, "invalid_schedule"),
    ({"cron": "not a cron"}, "invalid_schedule"),
    ({"cron": "0 0 31 2 *"}, "invalid_schedule"),
    ({"cron": "@fortnightly"}, "invalid_schedule"),
    ({"timezone": "Mars/Olympus_Mons"}, "invalid_schedule"),
    ({"timezone": ""}, "invalid_schedule"),
    ({"interval": {"value": 1, "unit": "hour"}}, "invalid_schedule"),
    ({"cron": None}, "invalid_schedule"),
    ({"schedule": "@every never"}, "invalid_schedule"),
    ({"start_at": "2026-05-01T00:00:00Z", "end_at": "2026-04-01T00:00:00Z"}, "invalid_schedule"),
    ({"start_at": "yesterday"}, "validation_error"),
    ({"retry_policy": {"max_attempts": 0}}, "validation_error"),
    ({"retry_policy": {"multiplier": 0.5}}, "validation_error"),
    ({"retry_policy": {"max_attempts": 3}, "max_retries": 5}, "validation_error"),
    ({"handler": None}, "validation_error"),
    ({"delivery": {"type": "carrier-pigeon"}}, "validation_error"),
    ({"webhook": {"url": "ftp://example.com"}}, "invalid_url"),
]


@pytest.mark.parametrize(("change", "code"), BAD_SCHEDULES)
async def test_bad_schedule_is_rejected_on_create(client, runtime, change, code):
    before = await snapshot(runtime)
    body = {k: v for k, v in {**VALID_SCHEDULE, **change}.items() if v is not None}
    response = await client.post("/v1/schedules", json=body)
    assert_error(response, 422, code)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("change", "code"), BAD_SCHEDULES[:12] + BAD_SCHEDULES[15:28] + BAD_SCHEDULES[29:30]
)
async def test_bad_schedule_is_rejected_on_patch_and_put(client, runtime, objects, change, code):
    before = await snapshot(runtime)
    patch = await client.patch("/v1/schedules/existing", json=change)
    assert_error(patch, 422)
    body = {
        k: v for k, v in {**VALID_SCHEDULE, "name": "existing", **change}.items() if v is not None
    }
    put = await client.put("/v1/schedules/existing", json=body)
    assert put.status_code in (409, 422), put.text
    assert await snapshot(runtime) == before


async def test_oversized_payload_is_a_413(client, runtime):
    before = await snapshot(runtime)
    payload = {"blob": "x" * 70_000}  # the test runtime allows 64 KiB
    for path, body in [
        ("/v1/jobs", {"handler": "h", "payload": payload}),
        ("/v1/schedules", {**VALID_SCHEDULE, "payload": payload}),
        ("/v1/jobs/batch", {"jobs": [{"handler": "h", "payload": payload}]}),
    ]:
        assert_error(await client.post(path, json=body), 413, "payload_too_large")
    huge = b'{"handler": "h", "payload": "' + b"x" * 1_100_000 + b'"}'
    assert_error(
        await client.post("/v1/jobs", content=huge, headers={"Content-Type": "application/json"}),
        413,
        "payload_too_large",
    )
    assert await snapshot(runtime) == before


BAD_JOBS = [
    ({"handler": None}, 422, "validation_error"),
    ({"handler": 5}, 422, "validation_error"),
    ({"payload": {"a": 1}, "idempotency_key": "k" * 256}, 422, "validation_error"),
    ({"idempotency_key": ""}, 422, "validation_error"),
    (
        {"delay": {"value": 1, "unit": "hour"}, "scheduled_for": "2030-01-01T00:00:00Z"},
        422,
        "validation_error",
    ),
    ({"delay": {"value": -1, "unit": "hour"}}, 422, "validation_error"),
    ({"delay": {"value": 1, "unit": "eon"}}, 422, "validation_error"),
    ({"delay": "later"}, 422, "validation_error"),
    ({"scheduled_for": "tomorrow"}, 422, "validation_error"),
    ({"timeout": -3}, 422, "validation_error"),
    ({"max_retries": 1000}, 422, "validation_error"),
    ({"tags": {"team": ["a"]}}, 422, "validation_error"),
    ({"unknown_field": 1}, 422, "validation_error"),
    ({"delivery": {"type": "push"}}, 422, "validation_error"),
]


@pytest.mark.parametrize(("change", "status", "code"), BAD_JOBS)
async def test_bad_job_is_rejected(client, runtime, change, status, code):
    before = await snapshot(runtime)
    body = {k: v for k, v in {"handler": "h", **change}.items() if v is not None}
    assert_error(await client.post("/v1/jobs", json=body), status, code)
    assert await snapshot(runtime) == before


async def test_reused_idempotency_key_is_a_409_and_creates_nothing(client, runtime, objects):
    before = await snapshot(runtime)
    response = await client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "taken"})
    assert_error(response, 409, "idempotency_key_conflict")
    assert await snapshot(runtime) == before


async def test_duplicate_schedule_name_is_a_409(client, runtime, objects):
    before = await snapshot(runtime)
    response = await client.post("/v1/schedules", json={**VALID_SCHEDULE, "name": "existing"})
    assert_error(response, 409, "name_conflict")
    assert await snapshot(runtime) == before


async def test_a_batch_with_one_bad_job_creates_none_and_names_its_index(client, runtime):
    before = await snapshot(runtime)
    jobs = [{"handler": "h"} for _ in range(5)]
    jobs[3] = {"handler": "h", "delay": "whenever"}
    response = await client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert_error(response, 422)
    assert "3" in response.text
    too_many = await client.post("/v1/jobs/batch", json={"jobs": [{"handler": "h"}] * 1001})
    assert_error(too_many, 422)
    empty = await client.post("/v1/jobs/batch", json={"jobs": []})
    assert_error(empty, 422)
    taken = [
        {"handler": "h", "idempotency_key": "same"},
        {"handler": "h", "idempotency_key": "same"},
    ]
    assert_error(await client.post("/v1/jobs/batch", json={"jobs": taken}), 422)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "abc"},
        {"status": "bogus"},
        {"cursor": "!!!"},
        {"cursor": "bm9wZQ"},
        {"tag.bad key": "x"},
    ],
)
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/schedules"])
async def test_bad_list_parameters(client, params, path):
    if path == "/v1/schedules" and "status" in params:
        params = {"state": "bogus"}
    response = await client.get(path, params=params)
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code)


@pytest.mark.parametrize("count", [0, -1, 1001, "many"])
async def test_upcoming_count_must_be_1_to_1000(client, objects, count):
    response = await client.get("/v1/schedules/existing/upcoming", params={"count": count})
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"handlers": []},
        {"handlers": "h"},
        {"handlers": [""]},
        {"handlers": ["h"], "wait_seconds": 21},
        {"handlers": ["h"], "wait_seconds": -1},
        {"handlers": ["h"], "limit": 0},
        {"handlers": ["h"], "limit": 101},
        {"handlers": ["h"], "limit": "1"},
        {},
        {"handlers": ["h"], "extra": True},
    ],
)
async def test_bad_claims_are_rejected_and_claim_nothing(client, runtime, objects, body):
    before = await snapshot(runtime)
    assert_error(await client.post("/v1/worker/jobs/claim", json=body), 422, "validation_error")
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    "body",
    [
        {"status": "bogus"},
        {},
        {"status": "completed", "retryable": "no"},
        {"status": "completed", "surprise": 1},
    ],
)
async def test_bad_results_are_rejected(client, runtime, objects, body):
    before = await snapshot(runtime)
    response = await client.post(
        f"/v1/worker/executions/{objects['execution_id']}/result", json=body
    )
    assert_error(response, 422, "validation_error")
    bad_batch = await client.post("/v1/worker/results", json={"results": [body]})
    assert_error(bad_batch, 422, "validation_error")
    assert await snapshot(runtime) == before


async def test_unknown_ids_are_404(client, runtime):
    before = await snapshot(runtime)
    for method, path in [
        ("GET", "/v1/schedules/nope"),
        ("PATCH", "/v1/schedules/nope"),
        ("DELETE", "/v1/schedules/nope"),
        ("POST", "/v1/schedules/nope/pause"),
        ("POST", "/v1/schedules/nope/resume"),
        ("POST", "/v1/schedules/nope/trigger"),
        ("GET", "/v1/schedules/nope/upcoming"),
        ("GET", "/v1/jobs/job_nope"),
        ("POST", "/v1/jobs/job_nope/cancel"),
        ("POST", "/v1/jobs/job_nope/retry"),
        ("GET", "/v1/jobs/job_nope/executions"),
        ("GET", "/v1/executions/exe_nope"),
        ("POST", "/v1/worker/executions/exe_nope/result"),
        ("POST", "/v1/worker/executions/exe_nope/heartbeat"),
        ("DELETE", "/v1/api-keys/key_nope"),
        ("GET", "/v1/nothing-here"),
        ("GET", "/nope"),
    ]:
        body = (
            {"status": "completed"}
            if path.endswith("/result")
            else ({"description": "x"} if method == "PATCH" else None)
        )
        response = await client.request(method, path, json=body)
        assert_error(response, 404, "not_found")
    assert await snapshot(runtime) == before


async def test_another_accounts_objects_are_404(client, other_client, runtime, objects):
    before = await snapshot(runtime)
    schedule, job = objects["schedule"], objects["ready"]
    execution_id, key_id = objects["execution_id"], objects["key"]["id"]
    for method, path, body in [
        ("GET", f"/v1/schedules/{schedule['id']}", None),
        ("GET", "/v1/schedules/existing", None),
        ("PATCH", "/v1/schedules/existing", {"description": "mine now"}),
        ("DELETE", f"/v1/schedules/{schedule['id']}", None),
        ("POST", "/v1/schedules/existing/pause", None),
        ("POST", "/v1/schedules/existing/trigger", None),
        ("GET", f"/v1/jobs/{job['id']}", None),
        ("POST", f"/v1/jobs/{job['id']}/cancel", None),
        ("GET", f"/v1/executions/{execution_id}", None),
        ("POST", f"/v1/worker/executions/{execution_id}/result", {"status": "completed"}),
        ("POST", f"/v1/worker/executions/{execution_id}/heartbeat", None),
        ("DELETE", f"/v1/api-keys/{key_id}", None),
    ]:
        assert_error(await other_client.request(method, path, json=body), 404, "not_found")
    claim = await other_client.post(
        "/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0}
    )
    assert claim.json() == {"jobs": []}
    assert await snapshot(runtime) == before


async def test_wrong_method_is_a_405(client):
    for method, path in [
        ("DELETE", "/v1/jobs"),
        ("PUT", "/v1/jobs/job_x"),
        ("GET", "/v1/worker/jobs/claim"),
        ("PATCH", "/v1/api-keys"),
    ]:
        assert_error(await client.request(method, path), 405, "method_not_allowed")


async def test_invalid_state_changes_are_409(client, runtime, objects):
    ready = objects["ready"]
    assert_error(await client.post(f"/v1/jobs/{ready['id']}/retry"), 409, "invalid_state")
    execution_id = objects["execution_id"]
    await report(client, execution_id, status="completed")
    before = await snapshot(runtime)
    running = objects["running"]
    assert_error(await client.post(f"/v1/jobs/{running['id']}/cancel"), 409, "invalid_state")
    assert_error(
        await client.post(
            f"/v1/worker/executions/{execution_id}/result", json={"status": "failed"}
        ),
        409,
        "execution_not_running",
    )
    assert await snapshot(runtime) == before


async def test_late_result_after_timeout_is_refused(client, runtime, objects):
    runtime.clock.advance(seconds=31)
    await run_lease_rescuer(runtime)
    before = await snapshot(runtime)
    execution_id = objects["execution_id"]
    response = await client.post(
        f"/v1/worker/executions/{execution_id}/result", json={"status": "completed"}
    )
    assert_error(response, 409, "execution_not_running")
    assert_error(
        await client.post(f"/v1/worker/executions/{execution_id}/heartbeat"),
        409,
        "execution_not_running",
    )
    assert await snapshot(runtime) == before


async def test_put_with_a_different_name_in_the_body_is_rejected(client, runtime, objects):
    before = await snapshot(runtime)
    response = await client.put("/v1/schedules/existing", json={**VALID_SCHEDULE, "name": "other"})
    assert_error(response, 422)
    assert await snapshot(runtime) == before
