"""API keys (shown once, stored hashed, revocable) and the operations endpoints."""

from __future__ import annotations

import time

import httpx
import sqlalchemy as sa

from chronos.server.store.tables import api_keys
from tests.helpers import bearer, create_api_key, create_schedule


async def test_created_key_is_shown_once_and_listed_by_prefix_only(client):
    response = await client.post("/v1/api-keys", json={"name": "ci"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("key_")
    assert created["key"].startswith("chrns_")
    assert (created["name"], created["created_at"]) == ("ci", "2026-03-01T12:00:00Z")
    assert created["key"].startswith(created["prefix"])
    assert len(created["prefix"]) < len(created["key"])
    listing = (await client.get("/v1/api-keys")).json()
    assert listing["next_cursor"] is None
    [listed] = [k for k in listing["data"] if k["id"] == created["id"]]
    assert listed == {k: v for k, v in created.items() if k != "key"}
    assert created["key"] not in (await client.get("/v1/api-keys")).text


async def test_keys_are_stored_hashed(client, runtime):
    created = await create_api_key(client, "ci")
    async with runtime.db.read() as conn:
        rows = (await conn.execute(sa.select(api_keys))).mappings().all()
    assert all(created["key"] not in [str(v) for v in row.values()] for row in rows)


async def test_key_without_a_body_gets_a_default_name(client):
    response = await client.post("/v1/api-keys")
    assert response.status_code == 201, response.text
    assert response.json()["name"]


async def test_each_key_is_different(client):
    keys = {(await create_api_key(client, "k"))["key"] for _ in range(3)}
    assert len(keys) == 3


async def test_new_key_authenticates_as_the_same_account(client):
    schedule = await create_schedule(client, name="mine", handler="h", cron="0 * * * *")
    key = (await create_api_key(client, "second"))["key"]
    seen = await client.get("/v1/schedules/mine", headers=bearer(key))
    assert (seen.status_code, seen.json()["id"]) == (200, schedule["id"])


async def test_revoked_key_is_refused_and_others_keep_working(client):
    created = await create_api_key(client, "temp")
    assert (await client.get("/v1/jobs", headers=bearer(created["key"]))).status_code == 200
    assert (await client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
    refused = await client.get("/v1/jobs", headers=bearer(created["key"]))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert (await client.get("/v1/jobs")).status_code == 200
    listed = (await client.get("/v1/api-keys")).json()["data"]
    assert created["id"] not in [k["id"] for k in listed]
    again = await client.delete(f"/v1/api-keys/{created['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")


async def test_another_accounts_key_cannot_be_seen_or_revoked(client, other_client):
    created = await create_api_key(client, "mine")
    listed = (await other_client.get("/v1/api-keys")).json()["data"]
    assert created["id"] not in [k["id"] for k in listed]
    response = await other_client.delete(f"/v1/api-keys/{created['id']}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert (await client.get("/v1/jobs", headers=bearer(created["key"]))).status_code == 200


async def test_an_unknown_key_is_401(client):
    response = await client.get("/v1/schedules", headers=bearer("chrns_not-a-real-key"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


# --- operations ---------------------------------------------------------------------------------


async def test_health_needs_no_key(client):
    async with httpx.AsyncClient(
        transport=client._transport, base_url=client.base_url
    ) as anonymous:
        response = await anonymous.get("/health")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert (await anonymous.get("/v1/schedules")).status_code == 401


async def test_ready_reports_the_database(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_openapi_and_docs_are_served(client):
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/v1/schedules",
        "/v1/schedules/{schedule}/trigger",
        "/v1/jobs",
        "/v1/jobs/batch",
        "/v1/worker/jobs/claim",
        "/v1/worker/results",
        "/v1/api-keys",
    ):
        assert path in paths, path
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")


async def test_metrics_are_prometheus_text(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "chronos_jobs_created_total" in response.text


# --- scopes and use -------------------------------------------------------------------------


async def test_a_worker_key_speaks_the_worker_protocol_only(client, runtime):
    created = await client.post("/v1/api-keys", json={"name": "w", "scope": "worker"})
    assert (created.status_code, created.json()["scope"]) == (201, "worker")
    worker = bearer(created.json()["key"])
    job = (await client.post("/v1/jobs", json={"handler": "h"})).json()
    claim = await client.post(
        "/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0}, headers=worker
    )
    [claimed] = claim.json()["jobs"]
    execution = f"/v1/worker/executions/{claimed['execution_id']}"
    assert (await client.post(f"{execution}/heartbeat", headers=worker)).status_code == 200
    done = await client.post(f"{execution}/result", json={"status": "completed"}, headers=worker)
    assert done.status_code == 200
    refused = [
        await client.get("/v1/jobs", headers=worker),
        await client.get(f"/v1/jobs/{job['id']}", headers=worker),
        await client.post("/v1/jobs", json={"handler": "h"}, headers=worker),
        await client.post("/v1/api-keys", json={"name": "escalate"}, headers=worker),
        await client.get("/v1/signing-secrets", headers=worker),
        await client.put(
            "/v1/schedules/s", json={"handler": "h", "cron": "* * * * *"}, headers=worker
        ),
    ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [(403, "forbidden")] * 6
    assert len((await client.get("/v1/jobs")).json()["data"]) == 1
    assert (await client.get("/v1/api-keys")).json()["data"][-1]["scope"] == "worker"


async def test_an_unknown_scope_is_refused(client):
    response = await client.post("/v1/api-keys", json={"name": "x", "scope": "root"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")


async def test_last_used_at_is_recorded_at_most_once_a_minute(client, runtime, clock):
    created = await create_api_key(client, "used")
    assert created["last_used_at"] is None
    runtime.accounts.key_cache._entries.clear()

    async def last_used() -> str | None:
        keys = (await client.get("/v1/api-keys")).json()["data"]
        return next(k["last_used_at"] for k in keys if k["id"] == created["id"])

    await client.get("/v1/jobs", headers=bearer(created["key"]))
    first = await last_used()
    assert first == "2026-03-01T12:00:00Z"
    clock.advance(seconds=30)
    runtime.accounts.key_cache._entries.clear()
    await client.get("/v1/jobs", headers=bearer(created["key"]))
    assert await last_used() == first  # within the minute: no write
    clock.advance(seconds=31)
    runtime.accounts.key_cache._entries.clear()
    await client.get("/v1/jobs", headers=bearer(created["key"]))
    assert await last_used() == "2026-03-01T12:01:01Z"


async def test_a_key_deleted_through_another_node_stops_working_within_a_second(client, runtime):
    """The cache that spares a lookup per request lives one second: a key revoked on another
    node (here: deleted behind this node's back) is refused once its entry has expired."""
    created = await create_api_key(client, "elsewhere")
    key = bearer(created["key"])
    assert (await client.get("/v1/jobs", headers=key)).status_code == 200
    assert runtime.accounts.key_cache.ttl_seconds <= 1.0
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.delete(api_keys).where(api_keys.c.id == created["id"]))
    for _, expires_at in runtime.accounts.key_cache._entries.values():
        assert expires_at - time.monotonic() <= 1.0
    runtime.accounts.key_cache._entries.clear()  # what one second does
    assert (await client.get("/v1/jobs", headers=key)).status_code == 401
