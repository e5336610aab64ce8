"""PgQueuer driver (run with bench/peers/.venvs/pgqueuer/bin/python).

  --workload w1 [--batch-size 10|100]   burn-down of --jobs no-op jobs
  --workload w2                         idle pickup latency, --rounds jobs one at a time

Prints one JSON line on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
import time
from importlib.metadata import version
from typing import Any

import _peerlib as lib
import asyncpg
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.domain.types import QueueExecutionMode

PEER = "pgqueuer"


def versions() -> dict[str, str]:
    return {"pgqueuer": version("pgqueuer"), "asyncpg": version("asyncpg")}


async def w1(a: Any) -> dict[str, Any]:
    stats = lib.DrainStats()
    with lib.fresh_database(PEER) as (dsn, dbname):
        producer = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(producer))
        await queries.install()

        t = time.perf_counter()
        for start in range(0, a.jobs, a.batch):
            k = min(a.batch, a.jobs - start)
            await queries.enqueue(["noop"] * k, [None] * k, [0] * k)
        enqueue_s = time.perf_counter() - t

        single_rate = None
        if a.single:
            # an entrypoint the worker does not register, so these jobs stay queued
            t = time.perf_counter()
            for _ in range(a.single):
                await queries.enqueue("not_drained", None)
            single_rate = round(a.single / (time.perf_counter() - t), 1)

        lib.analyze_checkpoint(dbname)

        worker_conn = await asyncpg.connect(dsn)
        qm = QueueManager(Queries(AsyncpgDriver(worker_conn)))

        @qm.entrypoint("noop")
        async def noop(job: Any) -> None:
            stats.hit()

        timed_out = False
        t_start = time.time()
        try:
            await asyncio.wait_for(
                qm.run(batch_size=a.batch_size, mode=QueueExecutionMode.drain), a.deadline
            )
        except TimeoutError:
            timed_out = True
        t_end = time.time()
        left = int(lib.psql("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'noop';", dbname))
        await worker_conn.close()
        await producer.close()

    return {
        **lib.drain_result(a.jobs, stats.n, stats.first, stats.last, t_start, t_end),
        "config": f"batch_size={a.batch_size}",
        "timed_out": timed_out,
        "jobs_left_in_queue": left,
        "enqueue_jobs_per_s": round(a.jobs / enqueue_s, 1),
        "single_enqueue_jobs_per_s": single_rate,
        "settings": {
            "jobs": a.jobs,
            "enqueue": f"Queries.enqueue(list, ...) in batches of {a.batch}",
            "db_prep": "ANALYZE; CHECKPOINT after enqueue, before the worker starts",
            "worker": "QueueManager(Queries(AsyncpgDriver(one asyncpg connection)))"
            f".run(batch_size={a.batch_size}, mode=drain); max_concurrent_tasks unlimited, "
            "durability durable (defaults)",
            "handler": "async def noop(job): counter only",
            "jobs_per_s": "(handled-1) / (first handler start -> last handler start)",
        },
    }


async def w2_worker(dsn: str, report: str) -> None:
    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("ping")
    async def ping(job: Any) -> None:
        args = json.loads(job.payload)
        lib.report_pickup(report, args["t0"], args["seq"])

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, qm.shutdown.set)
    await qm.run()  # defaults: batch_size 10, dequeue_timeout 30 s, LISTEN/NOTIFY
    await conn.close()


async def w2(a: Any) -> dict[str, Any]:
    with lib.fresh_database(PEER) as (dsn, dbname), tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "pickup.txt")
        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        lib.psql("CHECKPOINT;", dbname)
        worker = await lib.start_worker_async(__file__, dsn, report)
        follower = lib.PickupFollower(report)
        try:

            async def enqueue(t0: float, seq: int) -> None:
                await queries.enqueue("ping", json.dumps({"t0": t0, "seq": seq}).encode())

            calls = await asyncio.wait_for(
                lib.pickup_loop_async(enqueue, follower, a.rounds, a.warmup), a.deadline
            )
        finally:
            await lib.stop_process_async(worker, signal.SIGTERM)
            follower.poll()
            follower.close()
            await conn.close()
    return {
        **lib.pickup_result(follower, calls, a.warmup),
        "config": "defaults",
        "settings": {
            "rounds": a.rounds,
            "warmup": a.warmup,
            "worker": "own process; QueueManager.run() defaults (batch_size 10, "
            "dequeue_timeout 30 s, LISTEN/NOTIFY), one asyncpg connection",
            "producer": "Queries.enqueue('ping', json {t0, seq}); t0 taken just before the "
            "call; random 20-60 ms pause after each pickup",
        },
    }


def main() -> None:
    ap = lib.driver_args(__doc__.splitlines()[0], ("w1", "w2"))
    ap.add_argument("--batch-size", type=int, default=10, help="W1 worker batch_size")
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
            "version": version("pgqueuer"),
            "workload": a.workload,
            **res,
            "versions": versions(),
            "load_before": load,
        },
    )


if __name__ == "__main__":
    main()
