"""Push throughput: how many push jobs per second one node delivers to a local endpoint.

Starts a receiver (uvicorn, answering 200 at once) and a `chronos serve`, creates N push jobs
through the batch endpoint, and times until every one is completed.

    python bench/push_throughput.py [-n 5000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import httpx
import uvicorn
from _server import chronos_server, free_port


async def receiver(scope, receive, send) -> None:  # a minimal ASGI app: 200, empty body
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def run_receiver(port: int) -> None:
    uvicorn.run(receiver, host="127.0.0.1", port=port, log_level="error", lifespan="off")


async def drive(base: str, key: str, target: str, count: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        for offset in range(0, count, 1000):
            jobs = [
                {"delivery": {"type": "push", "http": {"url": target}}}
                for _ in range(min(1000, count - offset))
            ]
            response = await http.post("/v1/jobs/batch", json={"jobs": jobs})
            response.raise_for_status()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and await unfinished(http):
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


async def unfinished(http: httpx.AsyncClient) -> bool:
    for status in ("queued", "running", "pending"):
        page = (await http.get("/v1/jobs", params={"status": status, "limit": 1})).json()
        if page["data"]:
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    port = free_port()
    pid = os.fork()
    if pid == 0:
        run_receiver(port)
        sys.exit(0)
    try:
        time.sleep(1)
        with chronos_server(args.database_url) as (base, key):
            elapsed = asyncio.run(drive(base, key, f"http://127.0.0.1:{port}/hook", args.n))
        print(
            f"push: {args.n} jobs delivered in {elapsed:.2f}s = {args.n / elapsed:.0f} jobs/s "
            "(create + send + record, one node)"
        )
    finally:
        os.kill(pid, 15)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
