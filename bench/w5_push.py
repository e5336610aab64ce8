"""W5 — push throughput: how many push jobs per second one node delivers to a local sink.

A receiver (a minimal ASGI app under uvicorn, answering 200 with an empty body at once) runs in
its own process and counts the requests. For each backend and each variant, a fresh
``chronos serve`` gets ``--jobs`` push jobs (``delivery: {"type": "push", "http": {"url":
<sink>}}``) created through ``POST /v1/jobs/batch`` (1,000 per call); the script polls until
none is queued, running or pending, then stops the server and reads the jobs back. jobs/s =
jobs / (first create sent → last ``finished_at``): create, send and record, on one node.
Variants: ``default`` (``CHRONOS_PUSH_CONCURRENCY`` 100, one account may use half of it) and
``single_tenant`` (``CHRONOS_PUSH_ACCOUNT_CONCURRENCY`` = ``CHRONOS_PUSH_CONCURRENCY`` = 100:
one tenant may use every slot).

    python bench/w5_push.py                      # 10,000 jobs, SQLite and PostgreSQL, both variants
    python bench/w5_push.py --backend postgresql --runs 3
    python bench/w5_push.py --quick              # 200 jobs (smoke test)

JSON: params, machine, results.<backend>.<variant>: runs[] (per run: jobs, completed,
received, create_s, seconds, jobs_per_s, cpu {…}) and jobs_per_s {median,min,max}.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from common import (
    CpuMeter,
    Server,
    Sink,
    api_client,
    bench_parser,
    chronos_server,
    empty_http_server,
    log,
    machine_info,
    now_us,
    read_jobs,
    spread,
    write_result,
)

PUSH_CONCURRENCY = 100
VARIANTS: dict[str, dict[str, str]] = {
    "default": {"CHRONOS_PUSH_CONCURRENCY": str(PUSH_CONCURRENCY)},
    "single_tenant": {
        "CHRONOS_PUSH_CONCURRENCY": str(PUSH_CONCURRENCY),
        "CHRONOS_PUSH_ACCOUNT_CONCURRENCY": str(PUSH_CONCURRENCY),
    },
}


# --- the measurement ------------------------------------------------------------------------


async def unfinished(http: httpx.AsyncClient) -> bool:
    for status in ("queued", "running", "pending"):
        response = await http.get("/v1/jobs", params={"status": status, "limit": 1})
        response.raise_for_status()
        if response.json()["data"]:
            return True
    return False


async def push_run(server: Server, target: str, count: int) -> dict[str, Any]:
    meter = CpuMeter(server).start()
    started_us = now_us()
    async with api_client(server) as http:
        for offset in range(0, count, 1000):
            delivery = {"type": "push", "http": {"url": target}}
            batch = [{"handler": "push", "delivery": delivery}] * min(1000, count - offset)
            (await http.post("/v1/jobs/batch", json={"jobs": batch})).raise_for_status()
        create_s = (now_us() - started_us) / 1e6
        deadline = time.monotonic() + 600
        while await unfinished(http):
            if time.monotonic() > deadline:
                raise TimeoutError("push jobs still unfinished after 600 s")
            await asyncio.sleep(0.1)
    cpu = meter.read()
    server.stop()
    jobs = await read_jobs(server.database_url)
    finished = [j["finished_at_us"] for j in jobs if j["finished_at_us"] is not None]
    seconds = (max(finished) - started_us) / 1e6 if finished else float("nan")
    return {
        "jobs": count,
        "completed": sum(1 for j in jobs if j["status"] == "completed"),
        "create_s": round(create_s, 3),
        "seconds": round(seconds, 3),
        "jobs_per_s": round(count / seconds, 1),
        "cpu": cpu,
    }


def run_variant(args: Any, backend: str, variant: str, sink: Sink) -> dict[str, Any]:
    runs = []
    for run in range(args.runs):
        log(f"W5 {backend} {variant} run {run + 1}/{args.runs}: {args.jobs:,} push jobs")
        before = sink.received
        with chronos_server(backend, args.database_url, env=VARIANTS[variant]) as server:
            result = asyncio.run(push_run(server, f"{sink.url}/hook", args.jobs))
        result["received"] = sink.received - before
        runs.append(result)
    return {"runs": runs, "jobs_per_s": spread([r["jobs_per_s"] for r in runs])}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=10_000, help="push jobs per run (10,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--variants", default="default,single_tenant", help="which variants")
    args = parser.parse_args()
    if args.quick:
        args.jobs = 200
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    variants = args.variants.split(",")
    with empty_http_server() as sink:
        results = {
            backend: {v: run_variant(args, backend, v, sink) for v in variants}
            for backend in backends
        }
    data: dict[str, Any] = {
        "params": {
            "backends": backends,
            "variants": {v: VARIANTS[v] for v in variants},
            "jobs": args.jobs,
            "runs": args.runs,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if "postgresql" in backends else None),
        "results": results,
    }
    summary = "; ".join(
        f"{b} {v} {results[b][v]['jobs_per_s']['median']:,.0f} jobs/s"
        for b in backends
        for v in variants
    )
    write_result("w5_push", data, args.out, summary)


if __name__ == "__main__":
    main()
