"""APScheduler 4 driver (run with bench/peers/.venvs/apscheduler/bin/python).

  --workload w4a [--schedules 1000] [--seconds 30]   fire burst: every schedule fires each second

One AsyncScheduler process (role both) on SQLAlchemyDataStore (asyncpg engine) with
AsyncpgEventBroker, in a fresh PostgreSQL database. --schedules IntervalTrigger(seconds=1)
schedules of one async no-op task all start at the same whole second T0, so every whole second
--schedules fires are due at once. Measured over a --seconds window that starts --settle
seconds after T0: lag = now inside the task - job.scheduled_fire_time for every fire whose
scheduled time is inside the window; fired_fraction = those fires / fires due in the window
(the rest were coalesced away or never started); CPU % of this (scheduler) process and of all
postgres processes over the window (100 % = one core).

Prints one JSON line on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import _peerlib as lib
from apscheduler import AsyncScheduler, current_job
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.eventbrokers.asyncpg import AsyncpgEventBroker
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import create_async_engine

PEER = "apscheduler"

# (scheduled fire time as epoch seconds, lag in seconds, wall time the task started)
fires: list[tuple[float, float, float]] = []


async def tick() -> None:
    now = datetime.now(UTC)
    scheduled = current_job.get().scheduled_fire_time
    fires.append((scheduled.timestamp(), (now - scheduled).total_seconds(), time.time()))


def versions() -> dict[str, str]:
    return {
        name: version(name) for name in ("apscheduler", "anyio", "sniffio", "sqlalchemy", "asyncpg")
    }


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def in_window(w_start: float, w_end: float) -> list[tuple[float, float, float]]:
    return [f for f in fires if w_start <= f[0] < w_end]


async def w4a(a: Any) -> dict[str, Any]:
    n = a.schedules
    with lib.fresh_database(PEER) as (dsn, _dbname):
        engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        data_store = SQLAlchemyDataStore(engine)
        broker = AsyncpgEventBroker.from_async_sqla_engine(engine)
        try:
            async with AsyncScheduler(data_store, broker) as scheduler:
                await scheduler.configure_task(
                    "tick", func=tick, job_executor="async", max_running_jobs=None
                )
                # T0: a whole second far enough ahead for all add_schedule round trips.
                t_add = time.time()
                t0 = math.ceil(t_add + 3.0 + 0.02 * n)
                first = datetime.fromtimestamp(t0, UTC)
                for i in range(n):
                    await scheduler.add_schedule(
                        "tick", IntervalTrigger(seconds=1, start_time=first), id=f"s{i}"
                    )
                add_s = time.time() - t_add
                late = time.time() > t0
                if late:
                    lib.log(f"adding {n} schedules took {add_s:.1f} s and ran past T0")
                await scheduler.start_in_background()

                w_start = max(t0, time.time()) + a.settle
                w_end = w_start + a.seconds
                due_times = range(math.ceil(w_start), math.ceil(w_end))  # fire times T0 + k
                due = n * len(due_times)

                await asyncio.sleep(max(0.0, w_start - time.time()))
                cpu0, pg0, wall0 = self_cpu_s(), lib.postgres_cpu_s(), time.time()
                await asyncio.sleep(max(0.0, w_end - time.time()))
                cpu1, pg1, wall1 = self_cpu_s(), lib.postgres_cpu_s(), time.time()

                # Let late in-window fires start: stop when all ran, when none arrived for
                # 3 s (the rest were coalesced), or after 30 s.
                give_up = time.time() + 30.0
                while time.time() < give_up:
                    got = in_window(w_start, w_end)
                    if len(got) >= due:
                        break
                    newest = max((f[2] for f in got), default=w_end)
                    if time.time() - max(newest, w_end) > 3.0:
                        break
                    await asyncio.sleep(0.2)
                await scheduler.stop()
        finally:
            await engine.dispose()

    got = in_window(w_start, w_end)
    lat = lib.latency_summary([f[1] for f in got])
    wall = wall1 - wall0
    return {
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "p99_ms": lat["p99_ms"],
        "fired_fraction": round(len(got) / due, 4) if due else None,
        "fires_due": due,
        "fires_ran": len(got),
        "scheduler_cpu_pct": round(100.0 * (cpu1 - cpu0) / wall, 1),
        "postgres_cpu_pct": round(100.0 * (pg1 - pg0) / wall, 1),
        "latency": lat,
        "add_schedules_s": round(add_s, 2),
        "add_ran_past_t0": late,
        "config": f"{n} schedules x 1 s",
        "settings": {
            "schedules": n,
            "trigger": "IntervalTrigger(seconds=1, start_time=T0), T0 a whole second, the same "
            "for every schedule",
            "window_s": a.seconds,
            "settle_s": a.settle,
            "scheduler": "AsyncScheduler(SQLAlchemyDataStore(asyncpg engine), "
            "AsyncpgEventBroker.from_async_sqla_engine), role both, max_concurrent_jobs 100, "
            "coalesce latest, misfire_grace_time None (defaults)",
            "task": "async def tick(): records the lag (job_executor='async', "
            "max_running_jobs=None)",
            "lag": "datetime.now() in the task - job.scheduled_fire_time",
            "cpu_pct": "user+sys CPU seconds over the window / window seconds; 100 = one core",
            "workarounds": "sniffio installed explicitly; anyio pinned to 4.9.0",
        },
    }


def main() -> None:
    ap = lib.driver_args(__doc__.splitlines()[0], ("w4a",))
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after T0 before the window")
    a = ap.parse_args()
    out = lib.claim_stdout()
    load = lib.loadavg()
    res = asyncio.run(asyncio.wait_for(w4a(a), a.deadline))
    lib.emit(
        out,
        {
            "peer": PEER,
            "version": version("apscheduler"),
            "workload": a.workload,
            **res,
            "versions": versions(),
            "load_before": load,
        },
    )


if __name__ == "__main__":
    main()
