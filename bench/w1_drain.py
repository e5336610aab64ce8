"""W1 — drain throughput vs table size (PostgreSQL).

Rounds, on one server and one database: each round creates ``--round`` no-op pull jobs through
``POST /v1/jobs/batch`` (1,000 per call), runs ``ANALYZE; CHECKPOINT``, then 4 concurrent
workers each loop ``claim (limit 100, wait_seconds 0)`` → ``POST /v1/worker/results`` (all
completed) until the round's jobs are done. jobs/s = jobs / (first claim sent → last result
answered). After ``--warmup`` unmeasured jobs (1,000: they open the pools; they count as
finished rows), rounds repeat until one has run with ``--history`` finished rows already in the
tables, so the JSON holds jobs/s against table size (the goal: the round at 200k within 10 % of
the first). Each round also records server, postgres and client CPU (% of one core).

    python bench/w1_drain.py                     # 11 rounds of 20,000, the last at 201k rows
    python bench/w1_drain.py --quick             # 50 warm-up + 2 rounds of 300 (smoke test)
    python bench/w1_drain.py --runs 3 --history 100000
    python bench/w1_drain.py --handlers 3       # each claim names 3 handlers (one has the jobs)

JSON: params, machine, runs[] (each: rounds[]), rounds[] (per round: median/min/max over runs),
first_jobs_per_s, last_jobs_per_s, last_vs_first.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from common import (
    CpuMeter,
    Server,
    api_client,
    bench_parser,
    chronos_server,
    log,
    machine_info,
    settle_database,
    spread,
    write_result,
)

HANDLER = "drain"


@dataclass
class DrainResult:
    jobs: int
    seconds: float
    enqueue_seconds: float
    completed: int
    cpu: dict[str, float]

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


async def enqueue(http: httpx.AsyncClient, count: int, handler: str = HANDLER) -> float:
    """Create ``count`` pull jobs, 1,000 per batch call; returns the seconds it took."""
    started = time.perf_counter()
    for offset in range(0, count, 1000):
        jobs = [{"handler": handler} for _ in range(min(1000, count - offset))]
        (await http.post("/v1/jobs/batch", json={"jobs": jobs})).raise_for_status()
    return time.perf_counter() - started


@dataclass
class _DrainState:
    total: int
    claimed: int = 0
    completed: int = 0
    last_result: float = 0.0


async def _worker(
    http: httpx.AsyncClient, state: _DrainState, limit: int, handlers: list[str]
) -> None:
    claim = {"handlers": handlers, "limit": limit, "wait_seconds": 0}
    while state.claimed < state.total:
        response = await http.post("/v1/worker/jobs/claim", json=claim)
        response.raise_for_status()
        jobs = response.json()["jobs"]
        if not jobs:
            await asyncio.sleep(0.002)  # the rest is claimed by the others, or not visible yet
            continue
        state.claimed += len(jobs)
        results = [{"execution_id": j["execution_id"], "status": "completed"} for j in jobs]
        response = await http.post("/v1/worker/results", json={"results": results})
        response.raise_for_status()
        state.completed += sum(1 for item in response.json()["data"] if item.get("ok"))
        state.last_result = time.perf_counter()


def polled_handlers(count: int) -> list[str]:
    """What the workers poll for: the jobs' handler, then ``count - 1`` with no jobs (a worker
    that registers several handlers, of which one has the backlog)."""
    return [HANDLER, *(f"{HANDLER}-idle-{n}" for n in range(1, count))]


async def drain(
    http: httpx.AsyncClient, total: int, *, workers: int = 4, limit: int = 100, handlers: int = 1
) -> tuple[float, int]:
    """Claim and complete ``total`` jobs with ``workers`` concurrent loops on one client, each
    polling ``handlers`` handlers; returns (first claim sent → last result answered, jobs
    completed)."""
    state = _DrainState(total)
    started = time.perf_counter()
    names = polled_handlers(handlers)
    await asyncio.gather(*(_worker(http, state, limit, names) for _ in range(workers)))
    return state.last_result - started, state.completed


async def drain_round(
    server: Server,
    http: httpx.AsyncClient,
    jobs: int,
    *,
    workers: int = 4,
    limit: int = 100,
    analyze: bool = True,
    handlers: int = 1,
) -> DrainResult:
    """One round: enqueue, settle the database, drain; with CPU over the drain."""
    enqueue_seconds = await enqueue(http, jobs)
    await settle_database(server, analyze=analyze)
    meter = CpuMeter(server).start()
    seconds, completed = await drain(http, jobs, workers=workers, limit=limit, handlers=handlers)
    return DrainResult(jobs, seconds, enqueue_seconds, completed, meter.read())


def round_record(index: int, finished_before: int, result: DrainResult) -> dict[str, Any]:
    return {
        "round": index,
        "finished_rows_before": finished_before,
        "jobs": result.jobs,
        "jobs_completed": result.completed,
        "seconds": round(result.seconds, 3),
        "jobs_per_s": round(result.jobs_per_s, 1),
        "enqueue_jobs_per_s": round(result.jobs / result.enqueue_seconds, 1),
        **result.cpu,
    }


async def run_rounds(
    server: Server,
    round_size: int,
    history: int,
    warmup: int = 0,
    *,
    analyze: bool = True,
    handlers: int = 1,
) -> list[dict[str, Any]]:
    """Drain ``warmup`` unmeasured jobs (connection pools, caches; they count as finished rows),
    then rounds of ``round_size`` until one has run with at least ``history`` finished rows
    already in the tables."""
    rounds: list[dict[str, Any]] = []
    async with api_client(server) as http:
        if warmup:
            await enqueue(http, warmup)
            await drain(http, warmup, handlers=handlers)
        finished = warmup
        while not rounds or rounds[-1]["finished_rows_before"] < history:
            result = await drain_round(server, http, round_size, analyze=analyze, handlers=handlers)
            rounds.append(round_record(len(rounds), finished, result))
            log(
                f"  round {len(rounds)}: {finished:,} finished before, "
                f"{result.jobs_per_s:,.0f} jobs/s, server {result.cpu['server_cpu_pct']} %, "
                f"postgres {result.cpu['postgres_cpu_pct']} %"
            )
            finished += round_size
    return rounds


def median_rounds(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per round index: the median/min/max of jobs/s and CPU over the runs."""
    merged = []
    for index, first in enumerate(runs[0]):
        same = [run[index] for run in runs]
        merged.append(
            {
                "round": index,
                "finished_rows_before": first["finished_rows_before"],
                "jobs": first["jobs"],
                "jobs_per_s": spread([r["jobs_per_s"] for r in same]),
                "server_cpu_pct": spread([r["server_cpu_pct"] for r in same]),
                "postgres_cpu_pct": spread([r["postgres_cpu_pct"] for r in same]),
                "client_cpu_pct": spread([r["client_cpu_pct"] for r in same]),
            }
        )
    return merged


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--round", type=int, default=20_000, help="jobs per round (20,000)")
    parser.add_argument(
        "--history",
        type=int,
        default=200_000,
        help="run rounds until one starts with this many finished rows (200,000)",
    )
    parser.add_argument("--warmup", type=int, default=1000, help="unmeasured jobs first (1,000)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip ANALYZE before each drain (a fresh database with autovacuum off)",
    )
    parser.add_argument(
        "--handlers",
        type=int,
        default=1,
        help="handlers each claim names: the jobs' own, then others with no jobs (1)",
    )
    args = parser.parse_args()
    if args.handlers < 1:
        parser.error("--handlers must be at least 1")
    if args.quick:
        args.round, args.history, args.warmup = 300, 300, 50
    runs = []
    for run in range(args.runs):
        log(f"W1 run {run + 1}/{args.runs} ({args.backend})")
        with chronos_server(args.backend, args.database_url) as server:
            runs.append(
                asyncio.run(
                    run_rounds(
                        server,
                        args.round,
                        args.history,
                        args.warmup,
                        analyze=not args.no_analyze,
                        handlers=args.handlers,
                    )
                )
            )
    rounds = median_rounds(runs)
    first, last = rounds[0]["jobs_per_s"]["median"], rounds[-1]["jobs_per_s"]["median"]
    data: dict[str, Any] = {
        "params": {
            "backend": args.backend,
            "round": args.round,
            "history": args.history,
            "warmup": args.warmup,
            "analyze": not args.no_analyze,
            "workers": 4,
            "claim_limit": 100,
            "handlers_per_claim": args.handlers,
            "runs": args.runs,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if args.backend == "postgresql" else None),
        "runs": [{"rounds": r} for r in runs],
        "rounds": rounds,
        "first_jobs_per_s": first,
        "last_jobs_per_s": last,
        "last_vs_first": round(last / first, 3) if first else None,
    }
    summary = (
        f"{len(rounds)} rounds of {args.round:,} on {args.backend}: first {first:,.0f} jobs/s, "
        f"last {last:,.0f} jobs/s at {rounds[-1]['finished_rows_before']:,} finished rows "
        f"(x{data['last_vs_first']})"
    )
    write_result("w1_drain", data, args.out, summary)


if __name__ == "__main__":
    main()
