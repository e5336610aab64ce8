"""W2 — idle pickup latency: how long from "create a job" until a waiting worker has it.

A worker runs in its own process (multiprocessing, spawn) with its own HTTP connection and
holds a long-poll claim (``wait_seconds`` 10) on handler ``bench``. The producer, in the main
process, takes ``t0`` just before sending ``POST /v1/jobs``; the worker takes the time as soon
as its claim returns the job and sends it to the producer over a pipe (CLOCK_MONOTONIC is
system-wide on Linux, so the two processes' clocks agree), then reports the job completed and
claims again. Latency = claim returned - t0 (it includes the create call, as the peers' figures
include their enqueue call); also create answered → claim returned (this can be negative: the
claim may return before the producer has read its 201) and the create call alone. After each job the
producer pauses a random 20-60 ms. 5 warm-up jobs, then 200 measured (quick: 2 + 10).
Percentiles by linear interpolation; with ``--runs`` the median (min-max) of the runs.

The floor, measured in the same invocation: as many requests, with the same client (httpx)
and the same pauses, to an empty ASGI app under uvicorn in its own process. A pickup holds one
such round trip (the create) and half of another (the claim's answer), whatever the server
does; on a virtual machine that idles between requests it is not the back-to-back figure.

    python bench/w2_pickup.py                    # SQLite and PostgreSQL, 5 + 200 jobs each
    python bench/w2_pickup.py --backend sqlite --runs 3
    python bench/w2_pickup.py --quick            # 2 + 10 jobs per backend (smoke test)

JSON: params, machine, backends.<sqlite|postgresql>: runs[] (per run: pickup_ms,
after_create_ms and create_ms, each {n,p50,p95,p99,max,mean}), and the same three keys holding
per percentile (p50, p95, p99, max) {median,min,max} over the runs; http_floor_ms: runs[] and
per percentile {median,min,max}.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from multiprocessing.connection import Connection
from typing import Any

import httpx
from common import (
    Server,
    api_client,
    bench_parser,
    chronos_server,
    empty_http_server,
    latency_summary,
    log,
    machine_info,
    spread,
    write_result,
)

HANDLER = "bench"
PERCENTILES = ("p50", "p95", "p99", "max")
SERIES = ("pickup_ms", "after_create_ms", "create_ms")


# --- the worker process ---------------------------------------------------------------------


async def _worker_loop(base_url: str, api_key: str, pipe: Connection) -> None:
    claim = {"handlers": [HANDLER], "limit": 1, "wait_seconds": 10}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        pipe.send("ready")
        while True:
            response = await http.post("/v1/worker/jobs/claim", json=claim)
            returned = time.monotonic()
            response.raise_for_status()
            for job in response.json()["jobs"]:
                pipe.send((job["id"], returned))
                result = {"execution_id": job["execution_id"], "status": "completed"}
                await http.post("/v1/worker/results", json={"results": [result]})


def worker_main(base_url: str, api_key: str, pipe: Connection) -> None:
    """Entry point of the worker process; it runs until it is terminated."""
    asyncio.run(_worker_loop(base_url, api_key, pipe))


# --- the producer ---------------------------------------------------------------------------


def _wait_for(pipe: Connection, job_id: str, timeout: float) -> float:
    """The monotonic time at which the worker's claim returned ``job_id``."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if not pipe.poll(remaining):
            break
        message = pipe.recv()
        if isinstance(message, tuple) and message[0] == job_id:
            return float(message[1])
    raise TimeoutError(f"the worker did not receive job {job_id} within {timeout} s")


async def produce(
    server: Server, pipe: Connection, warmup: int, measured: int
) -> dict[str, list[float]]:
    """For the measured jobs, in ms: t0 → claim returned (pickup), create answered → claim
    returned (after_create) and the create call itself (create)."""
    pickup, after_create, create = [], [], []
    loop = asyncio.get_running_loop()
    async with api_client(server) as http:
        for index in range(warmup + measured):
            started = time.monotonic()
            response = await http.post("/v1/jobs", json={"handler": HANDLER})
            answered = time.monotonic()
            response.raise_for_status()
            job_id = response.json()["id"]
            returned = await loop.run_in_executor(None, _wait_for, pipe, job_id, 15.0)
            if index >= warmup:
                pickup.append((returned - started) * 1000)
                after_create.append((returned - answered) * 1000)
                create.append((answered - started) * 1000)
            await asyncio.sleep(random.uniform(0.020, 0.060))
    return {"pickup_ms": pickup, "after_create_ms": after_create, "create_ms": create}


def measure(server: Server, warmup: int, measured: int) -> dict[str, Any]:
    """One run: start the worker process, wait until it polls, produce, stop the worker."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    worker = ctx.Process(
        target=worker_main, args=(server.base_url, server.api_key, theirs), daemon=True
    )
    worker.start()
    try:
        if not ours.poll(30) or ours.recv() != "ready":
            raise RuntimeError("the worker process did not start")
        samples = asyncio.run(produce(server, ours, warmup, measured))
    finally:
        worker.terminate()
        worker.join(10)
    return {key: latency_summary(values) for key, values in samples.items()}


async def _round_trips(url: str, warmup: int, measured: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for index in range(warmup + measured):
            started = time.monotonic()
            (await http.get("/")).raise_for_status()
            if index >= warmup:
                samples.append((time.monotonic() - started) * 1000)
            await asyncio.sleep(random.uniform(0.020, 0.060))
    return samples


def measure_floor(warmup: int, measured: int) -> dict[str, Any]:
    """The floor under any HTTP pickup: one request to an empty ASGI app under uvicorn, with the
    same client and the same pauses as the producer. A pickup is a create (one round trip) and
    a waiting claim's answer (half of one), so no server beats 1.5 of these."""
    with empty_http_server() as sink:
        return latency_summary(asyncio.run(_round_trips(sink.url, warmup, measured)))


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"runs": runs}
    for key in SERIES:
        merged[key] = {p: spread([run[key][p] for run in runs]) for p in PERCENTILES}
    return merged


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured jobs first (5)")
    parser.add_argument("--jobs", type=int, default=200, help="measured jobs (200)")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.jobs = 2, 10
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    for backend in backends:
        runs = []
        for run in range(args.runs):
            log(f"W2 {backend} run {run + 1}/{args.runs}")
            with chronos_server(backend, args.database_url) as server:
                runs.append(measure(server, args.warmup, args.jobs))
        results[backend] = merge_runs(runs)
    log("W2 floor: an empty HTTP endpoint, the same client and pauses")
    floor_runs = [measure_floor(args.warmup, args.jobs) for _ in range(args.runs)]
    floor = {"runs": floor_runs}
    floor.update({p: spread([run[p] for run in floor_runs]) for p in PERCENTILES})
    data: dict[str, Any] = {
        "params": {
            "backends": backends,
            "warmup": args.warmup,
            "jobs": args.jobs,
            "wait_seconds": 10,
            "pause_ms": [20, 60],
            "worker": "separate process, own HTTP connection",
            "runs": args.runs,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if "postgresql" in backends else None),
        "backends": results,
        "http_floor_ms": floor,
    }
    summary = "; ".join(
        f"{b} pickup p50/p95/p99 "
        + " / ".join(f"{results[b]['pickup_ms'][p]['median']:.1f}" for p in PERCENTILES[:3])
        + " ms"
        for b in backends
    )
    summary += f"; empty HTTP round trip p50 {floor['p50']['median']:.1f} ms"
    write_result("w2_pickup", data, args.out, summary)


if __name__ == "__main__":
    main()
