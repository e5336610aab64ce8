"""W6 — drain throughput on the embedded SQLite (W1's method, one round per run).

Each run starts a fresh ``chronos serve`` on a SQLite file, drains ``--warmup`` unmeasured jobs,
then one round: ``--jobs`` no-op pull jobs created through ``POST /v1/jobs/batch`` (1,000 per
call), a WAL checkpoint, and 4 concurrent workers claiming 100 at a time (wait_seconds 0) and
reporting through ``POST /v1/worker/results``. jobs/s = jobs / (first claim → last result).
Reported as median (min-max) of ``--runs`` runs, with server and client CPU.

    python bench/w6_sqlite_drain.py              # 3 runs of 20,000 jobs
    python bench/w6_sqlite_drain.py --quick      # 1 run of 300 (smoke test)

JSON: params, machine, runs[] (per run: W1's round record), jobs_per_s {median,min,max},
server_cpu_pct {median,min,max}, client_cpu_pct {median,min,max}.
"""

from __future__ import annotations

import asyncio
from typing import Any

from common import bench_parser, chronos_server, log, machine_info, spread, write_result
from w1_drain import run_rounds


def main() -> None:
    parser = bench_parser(__doc__, runs=3, postgres=False)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per run (20,000)")
    parser.add_argument("--warmup", type=int, default=1000, help="unmeasured jobs first (1,000)")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.warmup, args.runs = 300, 50, 1
    runs = []
    for run in range(args.runs):
        log(f"W6 run {run + 1}/{args.runs} (sqlite)")
        with chronos_server("sqlite") as server:
            [record] = asyncio.run(run_rounds(server, args.jobs, 0, args.warmup))
        runs.append(record)
    rates = [r["jobs_per_s"] for r in runs]
    data: dict[str, Any] = {
        "params": {
            "backend": "sqlite",
            "jobs": args.jobs,
            "warmup": args.warmup,
            "workers": 4,
            "claim_limit": 100,
            "runs": args.runs,
            "quick": args.quick,
        },
        "machine": machine_info(),
        "runs": runs,
        "jobs_per_s": spread(rates),
        "server_cpu_pct": spread([r["server_cpu_pct"] for r in runs]),
        "client_cpu_pct": spread([r["client_cpu_pct"] for r in runs]),
    }
    summary = (
        f"{args.jobs:,} jobs on SQLite, {args.runs} runs: {spread(rates)['median']:,.0f} jobs/s "
        f"({min(rates):,.0f}-{max(rates):,.0f})"
    )
    write_result("w6_sqlite_drain", data, args.out, summary)


if __name__ == "__main__":
    main()
