"""W7 — soak: steady load with retention on; do memory, table sizes and the drain rate drift?

One server (PostgreSQL by default) with ``CHRONOS_RETENTION`` short (``--retention``, 60s) so
the pruner keeps deleting finished jobs. For ``--minutes`` (30) a producer creates jobs at a
fixed rate (``--rate`` 1,000 jobs/s as ``POST /v1/jobs/batch`` calls of ``--batch`` 100 every
100 ms; when it falls behind it sends at once, never in a burst beyond that) and 2 workers drain
them (long-poll claim, limit 100, wait_seconds 1, one results call per claim). Every
``--sample-every`` s (30) a sample records: server RSS, server and postgres CPU %, the jobs and
executions tables' total and index sizes (``pg_total_relation_size``, ``pg_indexes_size``; on
SQLite the database file plus its WAL), rows per job status, and the jobs produced and drained
in that interval. Drift = (mean of the last third - mean of the first third) ÷ the first third,
over the samples taken after ``--warmup`` s (default: retention + 120 s; the pruner runs at
least once a minute, so by then the tables should have stopped growing), for RSS, database size
and drain rate. The quick run is too short for the pruner to run: it only smoke-tests.

    python bench/w7_soak.py                      # 30 min at 1,000 jobs/s, retention 60s
    python bench/w7_soak.py --minutes 10 --rate 500 --backend sqlite
    python bench/w7_soak.py --vacuum-every 60    # VACUUM the hot tables where autovacuum is off
    python bench/w7_soak.py --quick              # 0.3 min at 200 jobs/s, samples every 5 s

JSON: params, machine, samples[] (t_s, rss_bytes, server_cpu_pct, postgres_cpu_pct,
db_bytes, jobs_bytes, jobs_index_bytes, executions_bytes, executions_index_bytes, status_counts,
produced, drained, produce_per_s, drain_per_s, backlog), produced, drained, drift {rss_bytes,
db_bytes, drain_per_s}, steady_samples.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
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
    pg_execute,
    pg_fetch,
    write_result,
)

HANDLER = "soak"


@dataclass
class Counters:
    produced: int = 0
    drained: int = 0


async def producer(http: httpx.AsyncClient, counts: Counters, rate: float, batch: int) -> None:
    period = batch / rate
    jobs = [{"handler": HANDLER}] * batch
    next_at = time.monotonic()
    while True:
        (await http.post("/v1/jobs/batch", json={"jobs": jobs})).raise_for_status()
        counts.produced += batch
        next_at = max(next_at + period, time.monotonic() - period)  # no catch-up burst
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def worker(http: httpx.AsyncClient, counts: Counters) -> None:
    claim = {"handlers": [HANDLER], "limit": 100, "wait_seconds": 1}
    while True:
        response = await http.post("/v1/worker/jobs/claim", json=claim)
        response.raise_for_status()
        jobs = response.json()["jobs"]
        if not jobs:
            continue
        results = [{"execution_id": j["execution_id"], "status": "completed"} for j in jobs]
        (await http.post("/v1/worker/results", json={"results": results})).raise_for_status()
        counts.drained += len(jobs)


async def table_sizes(server: Server) -> dict[str, Any]:
    """Sizes in bytes and rows per job status, from the database itself."""
    if server.backend == "postgresql":
        [sizes] = await pg_fetch(
            server.database_url,
            "SELECT pg_database_size(current_database()) AS db_bytes,"
            " pg_total_relation_size('jobs') AS jobs_bytes,"
            " pg_indexes_size('jobs') AS jobs_index_bytes,"
            " pg_total_relation_size('executions') AS executions_bytes,"
            " pg_indexes_size('executions') AS executions_index_bytes",
        )
        rows = await pg_fetch(
            server.database_url, "SELECT status, count(*) AS n FROM jobs GROUP BY status"
        )
        return {**sizes, "status_counts": {r["status"]: r["n"] for r in rows}}
    return await asyncio.get_running_loop().run_in_executor(None, _sqlite_sizes, server)


def _sqlite_sizes(server: Server) -> dict[str, Any]:
    path = Path(server.database_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    finally:
        conn.close()
    return {
        "db_bytes": path.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "status_counts": dict(rows),
    }


async def sampler(
    server: Server, counts: Counters, every: float, samples: list[dict[str, Any]]
) -> None:
    started = time.monotonic()
    last = Counters()
    meter = CpuMeter(server).start()
    while True:
        await asyncio.sleep(every - (time.monotonic() - started) % every)
        cpu = meter.read()
        meter.start()
        produced, drained = counts.produced - last.produced, counts.drained - last.drained
        last = Counters(counts.produced, counts.drained)
        sample = {
            "t_s": round(time.monotonic() - started, 1),
            "rss_bytes": server.rss_bytes(),
            "server_cpu_pct": cpu["server_cpu_pct"],
            "postgres_cpu_pct": cpu["postgres_cpu_pct"],
            **(await table_sizes(server)),
            "produced": produced,
            "drained": drained,
            "produce_per_s": round(produced / cpu["wall_s"], 1),
            "drain_per_s": round(drained / cpu["wall_s"], 1),
            "backlog": counts.produced - counts.drained,
        }
        samples.append(sample)
        log(
            f"  t={sample['t_s']:.0f}s rss={sample['rss_bytes'] / 2**20:.0f} MiB "
            f"db={sample['db_bytes'] / 2**20:.1f} MiB drain={sample['drain_per_s']:.0f}/s "
            f"backlog={sample['backlog']}"
        )


async def vacuumer(server: Server, every: float) -> None:
    """Stand in for autovacuum where it is off: ``VACUUM`` the hot tables every ``every`` s."""
    while True:
        await asyncio.sleep(every)
        await pg_execute(server.database_url, "VACUUM jobs, executions")


async def soak(server: Server, args: Any) -> tuple[list[dict[str, Any]], Counters]:
    counts, samples = Counters(), list[dict[str, Any]]()
    async with api_client(server) as http:
        tasks = [
            asyncio.create_task(producer(http, counts, args.rate, args.batch)),
            asyncio.create_task(worker(http, counts)),
            asyncio.create_task(worker(http, counts)),
            asyncio.create_task(sampler(server, counts, args.sample_every, samples)),
        ]
        if args.vacuum_every and server.backend == "postgresql":
            tasks.append(asyncio.create_task(vacuumer(server, args.vacuum_every)))
        done, _ = await asyncio.wait(tasks, timeout=args.minutes * 60)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:  # a task that ended early failed: say why
            task.result()
    return samples, counts


def drift(samples: list[dict[str, Any]], key: str) -> float | None:
    """(mean of the last third - mean of the first third) ÷ mean of the first third."""
    if len(samples) < 2:
        return None
    third = max(1, len(samples) // 3)
    first = statistics.fmean(s[key] for s in samples[:third])
    last = statistics.fmean(s[key] for s in samples[-third:])
    return round((last - first) / first, 4) if first else None


def main() -> None:
    parser = bench_parser(__doc__, runs=None)
    parser.add_argument("--minutes", type=float, default=30.0, help="duration (30)")
    parser.add_argument("--rate", type=float, default=1000.0, help="jobs per second (1,000)")
    parser.add_argument("--batch", type=int, default=100, help="jobs per batch call (100)")
    parser.add_argument("--retention", default="60s", help="CHRONOS_RETENTION (60s)")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds (30)")
    parser.add_argument("--warmup", type=float, help="seconds before drift counts (retention+120)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--vacuum-every",
        type=float,
        default=0.0,
        help="VACUUM the hot tables every N s (where autovacuum is off; 0: never)",
    )
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.rate, args.retention, args.sample_every = 0.3, 200.0, "5s", 5.0
        args.warmup = 5.0 if args.warmup is None else args.warmup
    if args.warmup is None:
        from chronos.server.domain.durations import parse_duration

        args.warmup = parse_duration(args.retention) + 120
    log(f"W7: {args.minutes} min at {args.rate:,.0f} jobs/s on {args.backend}")
    env = {"CHRONOS_RETENTION": args.retention}
    with chronos_server(args.backend, args.database_url, env=env) as server:
        samples, counts = asyncio.run(soak(server, args))
    steady = [s for s in samples if s["t_s"] >= args.warmup]
    data: dict[str, Any] = {
        "params": {
            "backend": args.backend,
            "minutes": args.minutes,
            "rate": args.rate,
            "batch": args.batch,
            "retention": args.retention,
            "sample_every_s": args.sample_every,
            "warmup_s": args.warmup,
            "workers": 2,
            "vacuum_every_s": args.vacuum_every,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if args.backend == "postgresql" else None),
        "samples": samples,
        "produced": counts.produced,
        "drained": counts.drained,
        "steady_samples": len(steady),
        "drift": {key: drift(steady, key) for key in ("rss_bytes", "db_bytes", "drain_per_s")},
    }
    summary = (
        f"{args.minutes} min at {args.rate:,.0f} jobs/s on {args.backend}: produced "
        f"{counts.produced:,}, drained {counts.drained:,}; drift RSS {data['drift']['rss_bytes']}, "
        f"db size {data['drift']['db_bytes']}, drain rate {data['drift']['drain_per_s']}"
    )
    write_result("w7_soak", data, args.out, summary)


if __name__ == "__main__":
    main()
