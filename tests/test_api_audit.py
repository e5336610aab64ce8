"""GET /v1/audit: every change to schedules, keys and the signing secret is recorded with who
made it (key id and name), what changed (before → after), and why — never a secret's value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chronos.server.store.tables import api_keys, signing_secrets
from tests.helpers import create_api_key, create_schedule, expect

REASON = "X-Chronos-Reason"


async def _audit(client: Any, **params: Any) -> list[dict[str, Any]]:
    return expect(await client.get("/v1/audit", params=params), 200)["data"]


async def test_every_schedule_change_is_audited_with_actor_reason_and_diff(client, account):
    schedule = await create_schedule(
        client, name="nightly", handler="report", cron="0 2 * * *", timezone="UTC"
    )
    sid = schedule["id"]
    body = {"handler": "report", "cron": "0 3 * * *"}
    expect(await client.put("/v1/schedules/nightly", json=body, headers={REASON: "later"}), 200)
    expect(await client.patch(f"/v1/schedules/{sid}", json={"tags": {"team": "data"}}), 200)
    expect(await client.post(f"/v1/schedules/{sid}/pause", json={"note": "db migration"}), 200)
    expect(await client.post(f"/v1/schedules/{sid}/resume", json={"reason": "migrated"}), 200)
    noisy = {REASON: "noisy ☕".encode()}  # UTF-8 on the wire
    expect(await client.post(f"/v1/schedules/{sid}/disable", headers=noisy), 200)
    expect(await client.post(f"/v1/schedules/{sid}/enable"), 200)
    expect(await client.post(f"/v1/schedules/{sid}/rollback/1"), 200)
    job = expect(await client.post(f"/v1/schedules/{sid}/trigger"), 201)
    response = await client.delete("/v1/schedules/nightly", headers={REASON: "replaced"})
    assert response.status_code == 204

    records = list(reversed(await _audit(client, resource_id="nightly")))
    assert [r["action"] for r in records] == [
        "schedule.created",
        "schedule.updated",
        "schedule.updated",
        "schedule.paused",
        "schedule.resumed",
        "schedule.disabled",
        "schedule.enabled",
        "schedule.rolled_back",
        "schedule.triggered",
        "schedule.deleted",
    ]
    assert [r["reason"] for r in records] == [
        None, "later", None, "db migration", "migrated", "noisy ☕", None, None, None, "replaced"
    ]  # fmt: skip
    key_id = (await _keys(client))[0]["id"]
    for record in records:
        assert record["actor"]["key_id"] == key_id
        assert record["actor"]["name"].startswith("test (chrns_")
        assert record["resource"] == {"type": "schedule", "id": sid, "name": "nightly"}
    created, put, patch, paused, resumed, disabled, enabled, rolled, triggered, deleted = records
    assert created["changes"]["cron"] == [None, "0 2 * * *"]
    assert put["changes"]["cron"] == ["0 2 * * *", "0 3 * * *"]
    assert put["changes"]["version"] == [1, 2]
    assert patch["changes"] == {"tags.team": [None, "data"], "version": [2, 3]}
    assert paused["changes"] == {"state": ["enabled", "paused"]}
    assert resumed["changes"] == {"state": ["paused", "enabled"]}
    assert disabled["changes"] == {"enabled": [True, False], "state": ["enabled", "disabled"],
                                   "version": [3, 4]}  # fmt: skip
    assert enabled["changes"]["state"] == ["disabled", "enabled"]
    assert rolled["changes"]["cron"] == ["0 3 * * *", "0 2 * * *"]
    assert triggered["changes"] == {"job_id": [None, job["id"]]}
    assert deleted["changes"]["cron"] == ["0 2 * * *", None]
    # The schedule's own event history still names the actor as it did before the audit log.
    assert records[0]["actor"]["name"] == records[-1]["actor"]["name"]


async def _keys(client: Any) -> list[dict[str, Any]]:
    return expect(await client.get("/v1/api-keys"), 200)["data"]


async def test_keys_and_signing_secret_rotation_are_audited_without_secrets(client, runtime):
    key = await create_api_key(client, "ci")
    response = await client.delete(f"/v1/api-keys/{key['id']}", headers={REASON: "leaked"})
    assert response.status_code == 204
    expect(await client.post("/v1/signing-secrets/rotate", headers={REASON: "yearly"}), 200)

    records = list(reversed(await _audit(client)))
    assert [r["action"] for r in records] == [
        "key.created",
        "key.deleted",
        "signing_secret.rotated",
    ]
    created, deleted, rotated = records
    assert created["resource"] == {"type": "key", "id": key["id"], "name": "ci"}
    assert created["changes"]["scope"] == [None, "admin"]
    assert deleted["reason"] == "leaked"
    assert rotated["reason"] == "yearly"
    assert set(rotated["changes"]) == {"current_id", "previous_id"}
    async with runtime.db.read() as conn:
        hashes = [r.key_hash for r in await conn.execute(api_keys.select())]
        secrets = [r.secret for r in await conn.execute(signing_secrets.select())]
    text = str(records)
    for secret in [key["key"], *hashes, *secrets]:
        assert secret not in text


async def test_push_header_values_and_url_passwords_are_redacted(client):
    delivery = {
        "type": "push",
        "http": {
            "url": "https://robot:hunter2@hooks.example.com/run",
            "headers": {"Authorization": "Bearer s3cr3t-token"},
        },
    }
    schedule = await create_schedule(client, name="hook", cron="0 * * * *", delivery=delivery)
    delivery["http"]["headers"] = {"Authorization": "Bearer n3w-t0ken"}
    patched = {"delivery": delivery}
    expect(await client.patch(f"/v1/schedules/{schedule['id']}", json=patched), 200)

    created, updated = reversed(await _audit(client, resource_type="schedule"))
    text = str([created, updated])
    for secret in ("hunter2", "s3cr3t-token", "n3w-t0ken"):
        assert secret not in text
    http = created["changes"]["delivery"][1]["http"]
    assert http["url"] == "https://robot:[redacted]@hooks.example.com/run"
    assert http["headers"] == {"Authorization": "[redacted]"}
    assert updated["changes"] == {
        "delivery.http.headers": [{"Authorization": "[redacted]"}, {"Authorization": "[redacted]"}],
        "version": [1, 2],
    }


async def test_filters_and_pagination(client, runtime, clock):
    for name in ("a", "b", "c"):
        await create_schedule(client, name=name, cron="0 * * * *", handler="h")
        clock.advance(minutes=1)
    expect(await client.post("/v1/schedules/b/pause"), 200)
    other = await create_api_key(client, "other")

    assert [r["resource"]["name"] for r in await _audit(client, action="schedule.created")] == [
        "c",
        "b",
        "a",
    ]
    assert [r["action"] for r in await _audit(client, resource_id="b")] == [
        "schedule.paused",
        "schedule.created",
    ]
    assert [r["action"] for r in await _audit(client, resource_type="key")] == ["key.created"]
    assert [r["resource"]["id"] for r in await _audit(client, resource_id=other["id"])] == [
        other["id"]
    ]
    mine = (await _keys(client))[0]["id"]
    assert len(await _audit(client, actor_key_id=mine)) == 5
    assert await _audit(client, actor_key_id=other["id"]) == []
    # [since, until): the schedule created at 12:01 only.
    window = {"since": "2026-03-01T12:01:00Z", "until": "2026-03-01T12:02:00Z"}
    assert [r["resource"]["name"] for r in await _audit(client, **window)] == ["b"]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = expect(await client.get("/v1/audit", params=params), 200)
        assert len(page["data"]) <= 2
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in await _audit(client)] and len(seen) == 5
    assert seen == sorted(seen, reverse=True)


async def test_another_account_sees_none_of_it(client, other_client):
    schedule = await create_schedule(client, name="mine", cron="0 * * * *", handler="h")
    assert await _audit(other_client) == []
    assert await _audit(other_client, resource_id=schedule["id"]) == []
    assert await _audit(other_client, resource_id="mine") == []


async def test_bad_input_is_a_clear_4xx(client):
    cases = [
        ({"since": "yesterday"}, 422),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, 400),
        ({"limit": 501}, 422),
        ({"limit": 0}, 422),
        ({"cursor": "!!"}, 400),
        ({"resource_id": "a\x00b"}, 400),
        ({"resource_id": "a\x01b"}, 422),
        ({"resource_id": "x" * 201}, 422),
        ({"action": "schedule created"}, 422),
        ({"resource_type": "x" * 21}, 422),
    ]
    for params, status in cases:
        response = await client.get("/v1/audit", params=params)
        assert response.status_code == status, (params, response.text)
        assert "error" in response.json()
    # A reason must be printable and short; nothing is changed when it is not.
    await create_schedule(client, name="s", cron="0 * * * *", handler="h")
    for headers in ({REASON: "x" * 501}, {REASON: "a\x7fb"}):
        response = await client.post("/v1/schedules/s/pause", headers=headers)
        assert response.status_code == 400, response.text
    response = await client.post("/v1/schedules/s/resume", json={"reason": 5})
    assert response.status_code == 422
    response = await client.post("/v1/schedules/s/disable", json={"reason": "ok", "extra": 1})
    assert response.status_code == 422
    assert [r["action"] for r in await _audit(client)] == ["schedule.created"]
    assert expect(await client.get("/v1/schedules/s"), 200)["state"] == "enabled"


async def test_pruner_deletes_records_past_the_audit_retention_in_batches(client, runtime, clock):
    from chronos.server.engine.maintenance.pruner import Pruner

    for name in ("old1", "old2", "old3"):
        await create_schedule(client, name=name, cron="0 * * * *", handler="h")
    clock.advance(days=10)
    await create_schedule(client, name="new", cron="0 * * * *", handler="h")
    pruner = Pruner(
        runtime.db,
        clock,
        runtime.notifier,
        retention=timedelta(days=7),
        audit_retention=timedelta(days=5),
        batch_size=2,
    )
    first = await pruner.run_once()
    assert first.audit_deleted == 2 and pruner.has_more(first)
    second = await pruner.run_once()
    assert second.audit_deleted == 1 and not pruner.has_more(second)
    assert [r["resource"]["name"] for r in await _audit(client)] == ["new"]
