"""Pickup latency: a job is created while a worker waits in a long-poll claim; how long until
the claim returns it? Also the fire lag of a 1-second interval schedule.

    python bench/pickup_latency.py [--database-url postgresql://postgres@127.0.0.1/bench] [-n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime

import httpx
from _server import chronos_server, percentile


async def pickup(base: str, key: str, rounds: int) -> tuple[list[float], list[float]]:
    """(create request sent → claim returned, create answered → claim returned), in ms."""
    headers = {"Authorization": f"Bearer {key}"}
    latencies, after_commit = [], []
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as creator,
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as worker,
    ):
        for _ in range(rounds):
            claim = asyncio.create_task(
                worker.post(
                    "/v1/worker/jobs/claim", json={"handlers": ["bench"], "wait_seconds": 10}
                )
            )
            await asyncio.sleep(0.01)  # let the claim reach the server and start waiting
            started = time.perf_counter()
            await creator.post("/v1/jobs", json={"handler": "bench"})
            committed = time.perf_counter()
            response = await claim
            returned = time.perf_counter()
            latencies.append((returned - started) * 1000)
            after_commit.append(max(0.0, returned - committed) * 1000)
            job = response.json()["jobs"][0]
            await worker.post(
                f"/v1/worker/executions/{job['execution_id']}/result", json={"status": "completed"}
            )
    return latencies, after_commit


async def fire_lag(base: str, key: str, seconds: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        created = await http.post(
            "/v1/schedules",
            json={
                "name": "lag",
                "handler": "lag",
                "interval": {"value": 1, "unit": "second"},
                "concurrency": "allow",
            },
        )
        schedule_id = created.json()["id"]
        await asyncio.sleep(seconds + 1)
        jobs = (
            await http.get("/v1/jobs", params={"schedule_id": schedule_id, "limit": 500})
        ).json()["data"]
    return [
        (
            datetime.fromisoformat(j["created_at"]) - datetime.fromisoformat(j["scheduled_for"])
        ).total_seconds()
        * 1000
        for j in jobs
    ]


def report(name: str, values: list[float]) -> None:
    print(
        f"{name}: n={len(values)} p50={percentile(values, 50):.2f}ms "
        f"p99={percentile(values, 99):.2f}ms max={max(values):.2f}ms "
        f"mean={statistics.mean(values):.2f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--lag-seconds", type=int, default=10)
    args = parser.parse_args()
    with chronos_server(args.database_url) as (base, key):
        whole, after_commit = asyncio.run(pickup(base, key, args.n))
        report("pickup (create sent → waiting claim returns)", whole)
        report("pickup (create answered → waiting claim returns)", after_commit)
        report(
            "fire lag (1 s interval, slot → job created)",
            asyncio.run(fire_lag(base, key, args.lag_seconds)),
        )


if __name__ == "__main__":
    main()
