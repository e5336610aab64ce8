"""Several ``chronos serve`` nodes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.proxy import TcpProxy
from tests.e2e.server import ChronosServer
from tests.e2e.test_crash_recovery import query
from tests.endpoint import free_port

pytestmark = pytest.mark.e2e


def make_servers(database_url: str, tmp_path, servers: list, count: int, **kwargs: Any) -> list:
    key = "chrns_cluster_" + str(random.randrange(10**9))
    nodes = [ChronosServer(database_url, tmp_path, api_key=key, **kwargs) for _ in range(count)]
    servers.extend(nodes)
    return nodes


def test_nodes_starting_together_on_an_empty_database_migrate_once(pg_database, servers, tmp_path):
    nodes = make_servers(pg_database, tmp_path, servers, 3)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda node: node.start(timeout=60), nodes))
    assert len(query(pg_database, "SELECT version_num FROM alembic_version")) == 1
    assert [r["name"] for r in query(pg_database, "SELECT name FROM accounts")] == ["default"]
    for node in nodes:
        with node.client() as http:
            assert http.get("/v1/jobs").status_code == 200


def test_a_claim_waiting_on_one_node_wakes_for_a_job_created_on_another(
    pg_database, servers, tmp_path
):
    api_only, full = make_servers(pg_database, tmp_path, servers, 2)
    api_only.roles = "api"
    full.start()
    api_only.start()
    with api_only.client() as waiting, full.client() as creating:
        latencies = []
        for round_number in range(5):
            result: dict[str, Any] = {}

            def claim(result: dict[str, Any] = result) -> None:
                response = waiting.post(
                    "/v1/worker/jobs/claim", json={"handlers": ["cross"], "wait_seconds": 10}
                )
                result["at"] = time.monotonic()
                result["jobs"] = response.json()["jobs"]

            thread = threading.Thread(target=claim)
            thread.start()
            time.sleep(0.3)  # let the claim reach node A and start waiting
            created_at = time.monotonic()
            job = creating.post(
                "/v1/jobs", json={"handler": "cross", "payload": {"n": round_number}}
            ).json()
            thread.join(15)
            assert [j["id"] for j in result["jobs"]] == [job["id"]]
            latencies.append(result["at"] - created_at)
    # Without NOTIFY the claim would only notice at its 5 s fallback poll.
    print("cross-node pickup latencies (s):", [round(x, 4) for x in latencies])
    assert max(latencies) < 1.0, latencies


def test_work_spreads_over_dispatcher_nodes_without_double_work(pg_database, servers, tmp_path):
    nodes = make_servers(pg_database, tmp_path, servers, 2)
    for node in nodes:
        node.start()
    received: list[str] = []
    lock = threading.Lock()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        with lock:
            received.append(dict(scope["headers"])[b"x-chronos-job-id"].decode())
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        with nodes[0].client() as http:
            jobs = [
                {"delivery": {"type": "push", "http": {"url": f"http://127.0.0.1:{port}/"}}}
                for _ in range(300)
            ]
            created = http.post("/v1/jobs/batch", json={"jobs": jobs}).json()["data"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = query(pg_database, "SELECT count(*) AS n FROM jobs WHERE status = 'completed'")
            if done[0]["n"] == len(created):
                break
            time.sleep(0.1)
    finally:
        server.should_exit = True
        thread.join(10)
    assert len(received) == len(created) == len(set(received))
    workers = query(pg_database, "SELECT DISTINCT worker_id FROM executions")
    assert len(workers) == 2, "both dispatcher nodes delivered"


def test_a_node_rides_out_a_database_outage(pg_database, servers, tmp_path):
    proxy_port = free_port()
    proxy = TcpProxy(proxy_port)
    proxy.start()
    through_proxy = make_url(pg_database).set(host="127.0.0.1", port=proxy_port)
    [node] = make_servers(through_proxy.render_as_string(hide_password=False), tmp_path, servers, 1)
    try:
        node.start()
        with node.client() as http:
            schedule = http.post(
                "/v1/schedules",
                json={
                    "name": "beat",
                    "handler": "beat",
                    "interval": {"value": 1, "unit": "second"},
                    "concurrency": "allow",
                },
            ).json()
            before = http.post("/v1/jobs", json={"handler": "survivor"}).json()
            proxy.cut()
            outage_started = datetime.now(UTC)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if http.get("/ready").status_code == 503:
                    break
                time.sleep(0.1)
            ready = http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "not_ready"
            during = http.post("/v1/jobs", json={"handler": "survivor"})
            assert during.status_code == 503
            assert during.json()["error"]["code"] == "database_unavailable"
            time.sleep(2)  # the outage lasts a while: that is the scenario under test
            proxy.start()
            outage_ended = datetime.now(UTC)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if http.get("/ready").status_code == 200:
                    break
                time.sleep(0.1)
            recovered_after = (datetime.now(UTC) - outage_ended).total_seconds()
            assert http.get("/ready").status_code == 200
            claimed = http.post(
                "/v1/worker/jobs/claim", json={"handlers": ["survivor"], "wait_seconds": 5}
            ).json()["jobs"]
            assert [j["id"] for j in claimed] == [before["id"]]
            # The scheduler fires again after the outage, without a restart.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                latest = query(
                    pg_database,
                    "SELECT max(scheduled_for) AS at FROM jobs WHERE schedule_id = $1",
                    schedule["id"],
                )[0]["at"]
                if latest is not None and latest > outage_ended:
                    break
                time.sleep(0.1)
            assert latest > outage_ended
        print(f"recovered {recovered_after:.2f}s after the outage ({outage_started})")
    finally:
        proxy.close()


# How long the chaos test kills nodes; CHRONOS_CHAOS_SECONDS=600 for a longer soak.
CHAOS_SECONDS = float(os.environ.get("CHRONOS_CHAOS_SECONDS", "60"))


def test_chaos_kill_random_nodes_and_nothing_is_lost_or_doubled(pg_database, servers, tmp_path):
    nodes = make_servers(pg_database, tmp_path, servers, 3)
    for node in nodes:
        node.start()
    with nodes[0].client() as http:
        for index in range(5):
            http.post(
                "/v1/schedules",
                json={
                    "name": f"chaos-{index}",
                    "handler": "chaos",
                    "concurrency": "allow",
                    # run_all: a slot late because its node died is caught up, never dropped.
                    "misfire_policy": "run_all",
                    "interval": {"value": 1, "unit": "second"},
                    "timeout": 3,
                    "max_retries": 10,
                    "retry_policy": {"initial_interval": "1s", "max_interval": "2s"},
                },
            )
    stop = threading.Event()
    created: list[str] = []
    kills: list[tuple[datetime, datetime]] = []

    def live_client() -> httpx.Client:
        node = random.choice([n for n in nodes if n.process and n.process.poll() is None])
        return node.client()

    def producer() -> None:
        while not stop.is_set():
            try:
                with live_client() as http:
                    job = http.post(
                        "/v1/jobs",
                        json={"handler": "chaos", "timeout": 3, "max_retries": 10},
                        timeout=2,
                    )
                    if job.status_code == 201:
                        created.append(job.json()["id"])
            except (httpx.HTTPError, IndexError):
                pass
            stop.wait(0.1)

    def worker() -> None:
        while not stop.is_set():
            try:
                with live_client() as http:
                    jobs = http.post(
                        "/v1/worker/jobs/claim",
                        json={"handlers": ["chaos"], "wait_seconds": 1, "limit": 20},
                        timeout=5,
                    ).json()["jobs"]
                    if jobs:
                        http.post(
                            "/v1/worker/results",
                            json={
                                "results": [
                                    {"execution_id": j["execution_id"], "status": "completed"}
                                    for j in jobs
                                ]
                            },
                            timeout=5,
                        )
            except (httpx.HTTPError, IndexError, KeyError, ValueError):
                pass

    threads = [
        threading.Thread(target=producer),
        threading.Thread(target=worker),
        threading.Thread(target=worker),
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < CHAOS_SECONDS:
            time.sleep(random.uniform(2, 4))
            victim = random.choice(nodes)
            down_at = datetime.now(UTC)
            victim.kill()
            time.sleep(random.uniform(0.5, 2))
            victim.start(timeout=30)
            kills.append((down_at, datetime.now(UTC)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    # Let the cluster settle: every job must reach a final state (leases are 3 s).
    with nodes[0].client() as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            open_jobs = query(
                pg_database,
                """SELECT j.id, j.status FROM jobs j
                WHERE j.schedule_id IS NULL AND j.status NOT IN ('completed', 'failed')""",
            )
            if not open_jobs:
                break
            claimed = http.post(
                "/v1/worker/jobs/claim",
                json={"handlers": ["chaos"], "wait_seconds": 1, "limit": 100},
            ).json()["jobs"]
            if claimed:
                http.post(
                    "/v1/worker/results",
                    json={
                        "results": [
                            {"execution_id": j["execution_id"], "status": "completed"}
                            for j in claimed
                        ]
                    },
                )
    assert open_jobs == [], f"{len(open_jobs)} one-off jobs never finished"
    ids = {r["id"] for r in query(pg_database, "SELECT id FROM jobs WHERE schedule_id IS NULL")}
    assert set(created) <= ids, "an acknowledged job was lost"

    duplicates = query(
        pg_database,
        """SELECT schedule_id, scheduled_for FROM jobs
        WHERE trigger = 'schedule' GROUP BY 1, 2 HAVING count(*) > 1""",
    )
    assert duplicates == []

    # Under run_all no slot may be missed at all, whichever node died.
    for row in query(
        pg_database,
        """SELECT schedule_id, array_agg(scheduled_for
                                      ORDER BY scheduled_for) AS slots
                                      FROM jobs WHERE trigger = 'schedule' GROUP BY 1""",
    ):
        slots = row["slots"]
        gaps = [(a, b) for a, b in itertools.pairwise(slots) if b - a != timedelta(seconds=1)]
        assert gaps == [], f"missed slots in {row['schedule_id']}: {gaps[:3]}"
    stuck = query(
        pg_database,
        """SELECT id FROM executions WHERE status = 'running'
                                  AND lease_expires_at < now() - interval '2 seconds'""",
    )
    assert stuck == []
    assert len(kills) >= CHAOS_SECONDS // 10, "the test killed too few nodes to mean much"
