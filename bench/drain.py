"""Drain throughput: N ready jobs, W workers claiming ``limit`` at a time and reporting with
``POST /v1/worker/results``; jobs per second from the first claim to the last result.

    python bench/drain.py [-n 20000] [-w 4] [--limit 100] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from _server import chronos_server


async def fill(http: httpx.AsyncClient, count: int) -> None:
    for offset in range(0, count, 1000):
        jobs = [{"handler": "drain"} for _ in range(min(1000, count - offset))]
        (await http.post("/v1/jobs/batch", json={"jobs": jobs})).raise_for_status()


async def work(http: httpx.AsyncClient, limit: int, done: list[int], total: int) -> None:
    while sum(done) < total:
        response = await http.post("/v1/worker/jobs/claim", json={
            "handlers": ["drain"], "limit": limit, "wait_seconds": 0})
        jobs = response.json()["jobs"]
        if not jobs:
            if sum(done) >= total:
                return
            await asyncio.sleep(0.01)
            continue
        await http.post("/v1/worker/results", json={"results": [
            {"execution_id": j["execution_id"], "status": "completed"} for j in jobs]})
        done.append(len(jobs))


async def drive(base: str, key: str, count: int, workers: int, limit: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        await fill(http, count)
        done: list[int] = []
        started = time.perf_counter()
        await asyncio.gather(*(work(http, limit, done, count) for _ in range(workers)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("-w", type=int, default=4)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with chronos_server(args.database_url) as (base, key):
        elapsed = asyncio.run(drive(base, key, args.n, args.w, args.limit))
    print(f"drain: {args.n} jobs in {elapsed:.2f}s = {args.n / elapsed:.0f} jobs/s "
          f"({args.w} workers, claim limit {args.limit}, batched results)")


if __name__ == "__main__":
    main()
