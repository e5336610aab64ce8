"""W4a — aligned fire burst: N interval schedules firing every second on the same instants.

``--schedules`` (1,000) schedules ``{"interval": {"value": 1, "unit": "second"}}``, all with
the same ``start_at`` (a whole second a few seconds ahead, so every slot of every schedule is
on the same instant), ``concurrency: "allow"``, handler ``burst``, pull delivery. Four
concurrent long-poll claims (limit 100, wait_seconds 5, results reported in one batch call per
claim) drain them and record the wall-clock time each job arrived. Measured over a window of
``--window`` s (30) starting ``--warmup`` s (5) after the first fire: the fraction of due slots
that got a job, slot → job created (``created_at - scheduled_for``), slot → worker received
(claim returned - ``scheduled_for``), p50/p95/p99/max, and server/postgres/client CPU (% of
one core) over the window. The jobs are read from the database once the server has stopped.

    python bench/w4a_fire_burst.py                     # PostgreSQL, 1,000 schedules, 30 s
    python bench/w4a_fire_burst.py --sqlite --runs 3
    python bench/w4a_fire_burst.py --quick             # 20 schedules, 3 s window (smoke test)

JSON: params, machine, runs[] (per run: due_slots, fired, fired_fraction, received,
created_lag_ms and received_lag_ms {n,p50,p95,p99,max,mean}, cpu {server_cpu_pct, …}),
fired_fraction, created_lag_p50_ms, created_lag_p99_ms, received_lag_p50_ms,
received_lag_p99_ms, server_cpu_pct (each {median,min,max} over runs).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx
from common import (
    CpuMeter,
    Server,
    api_client,
    bench_parser,
    chronos_server,
    create_schedules,
    iso_from_us,
    latency_summary,
    log,
    machine_info,
    now_us,
    read_jobs,
    spread,
    write_result,
)

HANDLER = "burst"
SECOND_US = 1_000_000


@dataclass
class Received:
    """What the workers saw: job id → wall clock (µs since the epoch) when its claim returned."""

    jobs: dict[str, int] = field(default_factory=dict)


async def pull_worker(http: httpx.AsyncClient, seen: Received) -> None:
    claim = {"handlers": [HANDLER], "limit": 100, "wait_seconds": 5}
    while True:
        response = await http.post("/v1/worker/jobs/claim", json=claim)
        arrived = now_us()
        response.raise_for_status()
        jobs = response.json()["jobs"]
        if not jobs:
            continue
        for job in jobs:
            seen.jobs[job["id"]] = arrived
        results = [{"execution_id": j["execution_id"], "status": "completed"} for j in jobs]
        (await http.post("/v1/worker/results", json={"results": results})).raise_for_status()


async def sleep_until(wall_us: int) -> None:
    await asyncio.sleep(max(0.0, (wall_us - now_us()) / 1e6))


def schedule_bodies(count: int, start_us: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"burst-{index}",
            "handler": HANDLER,
            "interval": {"value": 1, "unit": "second"},
            "start_at": iso_from_us(start_us),
            "concurrency": "allow",
        }
        for index in range(count)
    ]


async def burst(
    server: Server, count: int, window_s: int, warmup_s: int, grace_s: float
) -> dict[str, Any]:
    seen = Received()
    first_fire = (now_us() // SECOND_US + 2 + count // 200) * SECOND_US
    async with api_client(server) as http:
        workers = [asyncio.create_task(pull_worker(http, seen)) for _ in range(4)]
        try:
            await create_schedules(http, schedule_bodies(count, first_fire))
            created = -(-now_us() // SECOND_US) * SECOND_US
            window_start = max(first_fire, created) + warmup_s * SECOND_US
            window_end = window_start + window_s * SECOND_US
            await sleep_until(window_start)
            meter = CpuMeter(server).start()
            await sleep_until(window_end)
            cpu = meter.read()
            await asyncio.sleep(grace_s)  # let the last slots be created and received
            for task in workers:
                if task.done():  # a worker that stopped early failed: say why
                    task.result()
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await asyncio.gather(*workers)
    server.stop()
    jobs = await read_jobs(
        server.database_url, scheduled_from_us=window_start, scheduled_to_us=window_end
    )
    return summarize(jobs, seen, count * window_s, cpu)


def summarize(
    jobs: list[dict[str, Any]], seen: Received, due: int, cpu: dict[str, float]
) -> dict[str, Any]:
    created_lag = [(j["created_at_us"] - j["scheduled_for_us"]) / 1000 for j in jobs]
    received_lag = [
        (seen.jobs[j["id"]] - j["scheduled_for_us"]) / 1000 for j in jobs if j["id"] in seen.jobs
    ]
    return {
        "due_slots": due,
        "fired": len(jobs),
        "fired_fraction": round(len(jobs) / due, 4) if due else 0.0,
        "received": len(received_lag),
        "created_lag_ms": latency_summary(created_lag),
        "received_lag_ms": latency_summary(received_lag),
        "cpu": cpu,
    }


def run_once(args: Any) -> dict[str, Any]:
    with chronos_server(args.backend, args.database_url) as server:
        return asyncio.run(burst(server, args.schedules, args.window, args.warmup, args.grace))


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--schedules", type=int, default=1000, help="schedules (1,000)")
    parser.add_argument("--window", type=int, default=30, help="measured seconds (30)")
    parser.add_argument("--warmup", type=int, default=5, help="seconds after first fire (5)")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds after the window (2)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--sqlite", dest="backend", action="store_const", const="sqlite")
    args = parser.parse_args()
    if args.quick:
        args.schedules, args.window, args.warmup, args.grace = 20, 3, 1, 1.0
    runs = []
    for run in range(args.runs):
        log(f"W4a run {run + 1}/{args.runs}: {args.schedules:,} schedules on {args.backend}")
        runs.append(run_once(args))
    data: dict[str, Any] = {
        "params": {
            "backend": args.backend,
            "schedules": args.schedules,
            "interval_s": 1,
            "window_s": args.window,
            "warmup_s": args.warmup,
            "grace_s": args.grace,
            "workers": 4,
            "claim_limit": 100,
            "runs": args.runs,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if args.backend == "postgresql" else None),
        "runs": runs,
        "fired_fraction": spread([r["fired_fraction"] for r in runs]),
        "created_lag_p50_ms": spread([r["created_lag_ms"]["p50"] for r in runs]),
        "created_lag_p99_ms": spread([r["created_lag_ms"]["p99"] for r in runs]),
        "received_lag_p50_ms": spread([r["received_lag_ms"]["p50"] for r in runs]),
        "received_lag_p99_ms": spread([r["received_lag_ms"]["p99"] for r in runs]),
        "server_cpu_pct": spread([r["cpu"]["server_cpu_pct"] for r in runs]),
    }
    summary = (
        f"{args.schedules:,} schedules x 1 s on {args.backend}: fired "
        f"{data['fired_fraction']['median']:.1%} of due slots, slot → created p50/p99 "
        f"{data['created_lag_p50_ms']['median']:.0f}/{data['created_lag_p99_ms']['median']:.0f} "
        f"ms, slot → worker p50/p99 {data['received_lag_p50_ms']['median']:.0f}/"
        f"{data['received_lag_p99_ms']['median']:.0f} ms, server CPU "
        f"{data['server_cpu_pct']['median']:.0f} %"
    )
    write_result("w4a_fire_burst", data, args.out, summary)


if __name__ == "__main__":
    main()
