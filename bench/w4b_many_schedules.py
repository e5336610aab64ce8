"""W4b — many schedules: does the scheduler's CPU per tick follow the due schedules only?

For each size in ``--sizes`` (10,000 and 100,000), on a fresh server and database: create that
many interval schedules (every ``--interval`` s, 60), their ``start_at`` spread uniformly over
one interval (in the past, so ~N/interval fire each second from the moment each exists),
``concurrency: "allow"``, pull delivery on a handler no worker serves (the jobs pile up: no
worker is needed). Before creating them, ``--idle`` s (10) of the empty node's CPU give the
fixed cost of its loops, subtracted in ``server_cpu_ms_per_fire_above_idle``. There is no
batch endpoint for schedules, so they are created 16 requests in flight, with progress on
stderr (about 200/s on 2 cores: 100,000 take some 8 minutes). After ``--warmup`` s (10),
measure over ``--window`` s (120): fired fraction (jobs whose slot falls in the window ÷ due
slots), lag ``created_at - scheduled_for`` p50/p95/p99/max (``created_at`` is stamped when
the scheduler tick starts), server and postgres CPU seconds per second and per fired slot.
The jobs are read from the database once the server has stopped.

    python bench/w4b_many_schedules.py                       # 10k and 100k, 60 s, 120 s window
    python bench/w4b_many_schedules.py --sizes 1000,10000 --window 60
    python bench/w4b_many_schedules.py --quick               # 20 and 50 every 5 s, 2 s window

JSON: params, machine, sizes[] (per size: schedules, fires_per_s_expected, create_per_s,
due_slots, fired, fired_fraction, lag_ms {n,p50,p95,p99,max,mean}, server_cpu_s_per_s,
server_cpu_ms_per_fire, idle_server_cpu_s_per_s, server_cpu_ms_per_fire_above_idle,
postgres_cpu_s_per_s, postgres_cpu_ms_per_fire, cpu {…}, idle_cpu {…}), cpu_per_fire_ratio
(largest size ÷ smallest, above idle: 1.0 means CPU per fire does not grow with N).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
    to_us,
    write_result,
)

SECOND_US = 1_000_000


def schedule_bodies(count: int, interval_s: int, base_us: int) -> list[dict[str, Any]]:
    """``count`` schedules whose anchors are spread evenly over one interval from ``base_us``."""
    interval_us = interval_s * SECOND_US
    return [
        {
            "name": f"many-{index}",
            "handler": "unserved",
            "interval": {"value": interval_s, "unit": "second"},
            "start_at": iso_from_us(base_us + index * interval_us // count),
            "concurrency": "allow",
        }
        for index in range(count)
    ]


def due_slots(anchors_us: list[int], interval_us: int, start_us: int, end_us: int) -> int:
    """Slots ``anchor + k·interval`` (k ≥ 0) in [start, end), over all anchors."""

    def first_at_or_after(anchor: int, at: int) -> int:
        return max(0, -(-(at - anchor) // interval_us))

    return sum(first_at_or_after(a, end_us) - first_at_or_after(a, start_us) for a in anchors_us)


async def sleep_until(wall_us: int) -> None:
    await asyncio.sleep(max(0.0, (wall_us - now_us()) / 1e6))


async def idle_cpu(server: Server, seconds: float) -> dict[str, float]:
    """Server and postgres CPU of the node with no schedules: the fixed cost of its loops."""
    meter = CpuMeter(server).start()
    await asyncio.sleep(seconds)
    return meter.read()


async def create_spread(server: Server, count: int, interval_s: int) -> tuple[list[int], float]:
    """Create the schedules; returns their anchors (µs) and the creation rate."""
    base = (now_us() // SECOND_US - interval_s) * SECOND_US  # one interval ago: all in the past
    async with api_client(server) as http:
        started = time.monotonic()
        created = await create_schedules(http, schedule_bodies(count, interval_s, base))
        rate = count / (time.monotonic() - started)
    return [to_us(s["start_at"]) for s in created], rate


def fire_stats(
    count: int,
    args: Any,
    due: int,
    jobs: list[dict[str, Any]],
    cpu: dict[str, float],
    idle: dict[str, float],
) -> dict[str, Any]:
    fired = len(jobs)
    per_fire = 1000 / fired if fired else 0.0
    server_per_s = cpu["server_cpu_s"] / cpu["wall_s"]
    idle_per_s = idle["server_cpu_s"] / idle["wall_s"]
    return {
        "schedules": count,
        "fires_per_s_expected": round(count / args.interval, 2),
        "due_slots": due,
        "fired": fired,
        "fired_fraction": round(fired / due, 4) if due else 0.0,
        "lag_ms": latency_summary(
            [(j["created_at_us"] - j["scheduled_for_us"]) / 1000 for j in jobs]
        ),
        "server_cpu_s_per_s": round(server_per_s, 4),
        "server_cpu_ms_per_fire": round(cpu["server_cpu_s"] * per_fire, 4),
        "idle_server_cpu_s_per_s": round(idle_per_s, 4),
        "server_cpu_ms_per_fire_above_idle": round(
            (server_per_s - idle_per_s) * cpu["wall_s"] * per_fire, 4
        ),
        "postgres_cpu_s_per_s": round(cpu["postgres_cpu_s"] / cpu["wall_s"], 4),
        "postgres_cpu_ms_per_fire": round(cpu["postgres_cpu_s"] * per_fire, 4),
        "cpu": cpu,
        "idle_cpu": idle,
    }


async def measure_size(server: Server, count: int, args: Any) -> dict[str, Any]:
    idle = await idle_cpu(server, args.idle)
    anchors, create_rate = await create_spread(server, count, args.interval)
    window_start = (-(-now_us() // SECOND_US) + args.warmup) * SECOND_US
    window_end = window_start + args.window * SECOND_US
    await sleep_until(window_start)
    meter = CpuMeter(server).start()
    await sleep_until(window_end)
    cpu = meter.read()
    await asyncio.sleep(args.grace)  # slots near the end of the window get their jobs
    server.stop()
    jobs = await read_jobs(
        server.database_url, scheduled_from_us=window_start, scheduled_to_us=window_end
    )
    due = due_slots(anchors, args.interval * SECOND_US, window_start, window_end)
    return {**fire_stats(count, args, due, jobs, cpu, idle), "create_per_s": round(create_rate, 1)}


def main() -> None:
    parser = bench_parser(__doc__, runs=None)
    parser.add_argument("--sizes", default="10000,100000", help="schedule counts (10000,100000)")
    parser.add_argument("--interval", type=int, default=60, help="seconds between fires (60)")
    parser.add_argument("--window", type=int, default=120, help="measured seconds (120)")
    parser.add_argument("--warmup", type=int, default=10, help="seconds before the window (10)")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds after the window (5)")
    parser.add_argument("--idle", type=float, default=10.0, help="idle CPU baseline, s (10)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.interval, args.window, args.warmup = "20,50", 5, 2, 1
        args.grace, args.idle = 1.0, 0.5
    sizes = [int(size) for size in args.sizes.split(",")]
    results = []
    for count in sizes:
        log(f"W4b: {count:,} schedules every {args.interval} s on {args.backend}")
        with chronos_server(args.backend, args.database_url) as server:
            results.append(asyncio.run(measure_size(server, count, args)))
        last = results[-1]
        log(f"  lag p50 {last['lag_ms']['p50']} ms, {last['server_cpu_ms_per_fire']} ms CPU/fire")
    key = "server_cpu_ms_per_fire_above_idle"
    first, last = results[0][key], results[-1][key]
    data: dict[str, Any] = {
        "params": {
            "backend": args.backend,
            "sizes": sizes,
            "interval_s": args.interval,
            "window_s": args.window,
            "warmup_s": args.warmup,
            "grace_s": args.grace,
            "idle_s": args.idle,
            "quick": args.quick,
        },
        "machine": machine_info(args.database_url if args.backend == "postgresql" else None),
        "sizes": results,
        "cpu_per_fire_ratio": round(last / first, 3) if first else None,
    }
    summary = "; ".join(
        f"{r['schedules']:,} sched: fired {r['fired_fraction']:.1%}, lag p50/p99 "
        f"{r['lag_ms']['p50']:.0f}/{r['lag_ms']['p99']:.0f} ms, "
        f"{r['server_cpu_ms_per_fire']:.2f} ms server CPU per fire"
        for r in results
    )
    write_result("w4b_many_schedules", data, args.out, summary)


if __name__ == "__main__":
    main()
