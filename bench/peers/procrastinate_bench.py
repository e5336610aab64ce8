"""Procrastinate driver (run with bench/peers/.venvs/procrastinate/bin/python).

  --workload w1 [--concurrency 1|10]   burn-down of --jobs no-op jobs
  --workload w2                        idle pickup latency, --rounds jobs one at a time

Prints one JSON line on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from importlib.metadata import version
from typing import Any

import _peerlib as lib
import procrastinate

PEER = "procrastinate"
QUEUE = "bench"


def versions() -> dict[str, str]:
    return {
        "procrastinate": version("procrastinate"),
        "psycopg": version("psycopg"),
        "psycopg-pool": version("psycopg-pool"),
    }


def build_app(
    dsn: str, pool_size: int, stats: lib.DrainStats | None = None, report: str | None = None
) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=dsn, min_size=pool_size, max_size=pool_size
        )
    )

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        if stats is not None:
            stats.hit()

    @app.task(name="ping", queue=QUEUE)
    async def ping(t0: float, seq: int) -> None:
        if report is not None:
            lib.report_pickup(report, t0, seq)

    return app


async def w1(a: Any) -> dict[str, Any]:
    stats = lib.DrainStats()
    pool = max(4, a.concurrency + 2)
    with lib.fresh_database(PEER) as (dsn, dbname):
        app = build_app(dsn, pool, stats=stats)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            noop = app.tasks["noop"]

            t = time.perf_counter()
            for start in range(0, a.jobs, a.batch):
                k = min(a.batch, a.jobs - start)
                await noop.batch_defer_async(*({} for _ in range(k)))
            enqueue_s = time.perf_counter() - t

            single_rate = None
            if a.single:
                # into a queue the worker does not listen to, so these jobs stay
                other = noop.configure(queue="not_drained")
                t = time.perf_counter()
                for _ in range(a.single):
                    await other.defer_async()
                single_rate = round(a.single / (time.perf_counter() - t), 1)

            # Without fresh statistics the fetch query sorts every todo row on each fetch.
            lib.analyze_checkpoint(dbname)

            timed_out = False
            t_start = time.time()
            try:
                await asyncio.wait_for(
                    app.run_worker_async(
                        queues=[QUEUE],
                        concurrency=a.concurrency,
                        wait=False,
                        install_signal_handlers=False,
                    ),
                    a.deadline,
                )
            except TimeoutError:
                timed_out = True
            t_end = time.time()
            succeeded = int(
                lib.psql(
                    f"SELECT count(*) FROM procrastinate_jobs WHERE queue_name = '{QUEUE}' "
                    "AND status = 'succeeded';",
                    dbname,
                )
            )

    return {
        **lib.drain_result(a.jobs, stats.n, stats.first, stats.last, t_start, t_end),
        "config": f"concurrency={a.concurrency}",
        "timed_out": timed_out,
        "succeeded_in_db": succeeded,
        "enqueue_jobs_per_s": round(a.jobs / enqueue_s, 1),
        "single_enqueue_jobs_per_s": single_rate,
        "settings": {
            "jobs": a.jobs,
            "enqueue": f"Task.batch_defer_async in batches of {a.batch}",
            "db_prep": "ANALYZE; CHECKPOINT after enqueue, before the worker starts",
            "connector": f"PsycopgConnector(min_size=max_size={pool})",
            "worker": f"App.run_worker_async(queues=['{QUEUE}'], concurrency={a.concurrency}, "
            "wait=False); listen_notify on, delete_jobs never (defaults)",
            "handler": "async def noop(): counter only",
            "jobs_per_s": "(handled-1) / (first handler start -> last handler start)",
        },
    }


async def w2_worker(dsn: str, report: str) -> None:
    app = build_app(dsn, 4, report=report)
    async with app.open_async():
        # SIGTERM -> graceful stop through Procrastinate's own signal handlers
        await app.run_worker_async(queues=[QUEUE], concurrency=1)


async def w2(a: Any) -> dict[str, Any]:
    with lib.fresh_database(PEER) as (dsn, dbname), tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "pickup.txt")
        app = build_app(dsn, 4)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            lib.psql("CHECKPOINT;", dbname)
            worker = await lib.start_worker_async(__file__, dsn, report)
            follower = lib.PickupFollower(report)
            ping = app.tasks["ping"]
            try:

                async def enqueue(t0: float, seq: int) -> None:
                    await ping.defer_async(t0=t0, seq=seq)

                calls = await asyncio.wait_for(
                    lib.pickup_loop_async(enqueue, follower, a.rounds, a.warmup), a.deadline
                )
            finally:
                await lib.stop_process_async(worker, signal.SIGTERM)
                follower.poll()
                follower.close()
    return {
        **lib.pickup_result(follower, calls, a.warmup),
        "config": "concurrency=1",
        "settings": {
            "rounds": a.rounds,
            "warmup": a.warmup,
            "worker": "own process; App.run_worker_async(queues=['bench'], concurrency=1); "
            "listen_notify on, fetch_job_polling_interval 5 s (defaults); pool 4",
            "producer": "Task.defer_async(t0=..., seq=...); t0 taken just before the call; "
            "random 20-60 ms pause after each pickup",
        },
    }


def main() -> None:
    ap = lib.driver_args(__doc__.splitlines()[0], ("w1", "w2"))
    ap.add_argument("--concurrency", type=int, default=1, help="W1 worker concurrency")
    a = ap.parse_args()
    if a.role == "worker":
        asyncio.run(w2_worker(a.dsn, a.report))
        return
    out = lib.claim_stdout()
    load = lib.loadavg()
    res = asyncio.run(w1(a) if a.workload == "w1" else w2(a))
    lib.emit(
        out,
        {
            "peer": PEER,
            "version": version("procrastinate"),
            "workload": a.workload,
            **res,
            "versions": versions(),
            "load_before": load,
        },
    )


if __name__ == "__main__":
    main()
