"""Issue 14's headline: a killed node's missed slot raises exactly one alert, delivered as a
signed webhook, and the alert resolves when firing resumes. A real ``chronos serve`` on
PostgreSQL is killed with SIGKILL while a 1 s schedule fires, and restarted."""

from __future__ import annotations

import json
import time

import pytest

from chronos.webhooks import verify
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


def test_a_killed_nodes_missed_slots_raise_one_alert_that_resolves(
    pg_database, servers, endpoint, tmp_path
):
    endpoint.route("/alerts", 200)
    server = ChronosServer(pg_database, tmp_path, env={"CHRONOS_ALERT_INTERVAL": "0.3s"})
    servers.append(server)
    server.start()
    with server.client() as http:
        created = http.post(
            "/v1/schedules",
            json={"name": "tick", "handler": "tick", "interval": "1s", "concurrency": "allow"},
        )
        assert created.status_code == 201, created.text
        rule = http.post(
            "/v1/alert-rules",
            json={
                "name": "missed ticks",
                "condition": "missed",
                "grace": "1s",
                "cooldown": "1s",
                "webhook": {"url": endpoint.url("/alerts")},
            },
        )
        assert rule.status_code == 201, rule.text
        secret = http.get("/v1/signing-secrets").json()["data"][0]["secret"]
        time.sleep(1.5)  # firing normally: nothing to say
        assert http.get("/v1/alerts").json()["data"] == []

    server.kill()
    time.sleep(3)  # the outage: the slots of these seconds are missed
    server.start()

    with server.client() as http:
        deadline = time.monotonic() + 15
        events: list[str] = []
        while time.monotonic() < deadline:
            events = [r.headers.get("x-chronos-event", "") for r in endpoint.received]
            if "resolved" in events:
                break
            time.sleep(0.1)
        found = http.get("/v1/alerts").json()["data"]
        assert len(found) == 1, found
        [alert] = found
        assert alert["status"] == "resolved", alert
        assert alert["subject"]["name"] == "tick" and alert["details"]["missed_slots"] >= 1
        detail = http.get(f"/v1/alerts/{alert['id']}").json()
    server.stop()

    assert events == ["firing", "resolved"], server.log()
    for received in endpoint.received:
        verify(received.body, received.headers, secret)
        assert json.loads(received.body)["alert"]["id"] == alert["id"]
    assert [(n["event"], n["status"]) for n in detail["notifications"]] == [
        ("firing", "sent"),
        ("resolved", "sent"),
    ]
