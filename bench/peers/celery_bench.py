"""Celery + Redis driver (run with bench/peers/.venvs/celery/bin/python).

  --workload w1 [--pool prefork --concurrency 2]   burn-down of --jobs no-op jobs
  --workload w2 [--pool prefork --concurrency 2]   idle pickup latency, --rounds jobs

Broker: Redis logical DB 9, FLUSHDB before and after; no result backend.
Prints one JSON line on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _peerlib as lib
import redis

PEER = "celery"
HERE = Path(__file__).resolve().parent
BROKER = f"redis://{lib.REDIS_HOST}:{lib.REDIS_PORT}/{lib.REDIS_DB}"


def versions() -> dict[str, str]:
    return {
        "celery": version("celery"),
        "kombu": version("kombu"),
        "billiard": version("billiard"),
        "redis": version("redis"),
    }


def start_worker(pool: str, concurrency: int) -> subprocess.Popen[bytes]:
    celery = str(Path(sys.executable).with_name("celery"))
    cmd = [celery, "-A", "celery_bench_tasks", "worker", "-P", pool, "-c", str(concurrency)]
    cmd += ["-Q", "bench", "--loglevel=WARNING"]
    return subprocess.Popen(cmd, cwd=HERE, env=os.environ.copy())


def w1(a: Any, r: redis.Redis) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as stats_dir:
        os.environ["PEERS_CELERY_STATS"] = stats_dir
        import celery_bench_tasks as tasks

        t = time.perf_counter()
        for _ in range(a.jobs):
            tasks.noop.delay()
        enqueue_s = time.perf_counter() - t
        queued = r.llen("bench")

        timed_out = True
        t_start = time.time()
        worker = start_worker(a.pool, a.concurrency)
        try:
            while time.time() - t_start < a.deadline:
                if r.llen("bench") == 0 and r.hlen("unacked") == 0:
                    timed_out = False
                    break
                time.sleep(0.02)
        finally:
            t_empty = time.time()
            rc = lib.stop_process(worker, signal.SIGTERM, grace=30)  # warm shutdown
        per_process = []
        for path in glob.glob(os.path.join(stats_dir, "*.json")):
            with open(path) as fh:
                per_process.append(json.load(fh))

    handled = sum(p["n"] for p in per_process)
    first = min((p["first"] for p in per_process), default=None)
    last = max((p["last"] for p in per_process), default=None)
    return {
        **lib.drain_result(a.jobs, handled, first, last, t_start, last or t_empty),
        "config": f"{a.pool} c={a.concurrency}",
        "timed_out": timed_out,
        "queued_before_worker": queued,
        "processes_reporting": len(per_process),
        "queue_empty_after_s": round(t_empty - t_start, 3),
        "worker_exit_code": rc,
        "enqueue_jobs_per_s": round(a.jobs / enqueue_s, 1),
        "settings": {
            "jobs": a.jobs,
            "enqueue": "loop of task.delay() (no bulk enqueue for independent tasks)",
            "worker": f"celery -A celery_bench_tasks worker -P {a.pool} -c {a.concurrency} "
            "-Q bench --loglevel=WARNING; prefetch_multiplier 4, "
            "acks_late off (defaults)",
            "app": f"broker {BROKER}, task_ignore_result=True, result_backend=None",
            "drained": "LLEN bench == 0 and HLEN unacked == 0, then warm shutdown (SIGTERM)",
            "handler": "def noop(): per-process counter, written at process shutdown",
            "jobs_per_s": "(handled-1) / (first handler start -> last handler start)",
            "jobs_per_s_wall": "handled / (worker start -> last handler start)",
        },
    }


def w2(a: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "pickup.txt")
        os.environ["PEERS_CELERY_REPORT"] = report
        import celery_bench_tasks as tasks

        worker = start_worker(a.pool, a.concurrency)
        follower = lib.PickupFollower(report)
        try:

            def enqueue(t0: float, seq: int) -> None:
                tasks.ping.delay(t0, seq)

            # the first warm-up job waits for the worker to boot (up to 60 s)
            calls = lib.pickup_loop_sync(enqueue, follower, a.rounds, a.warmup)
        finally:
            lib.stop_process(worker, signal.SIGTERM, grace=30)
            follower.poll()
            follower.close()
    return {
        **lib.pickup_result(follower, calls, a.warmup),
        "config": f"{a.pool} c={a.concurrency}",
        "settings": {
            "rounds": a.rounds,
            "warmup": a.warmup,
            "worker": f"own process; celery worker -P {a.pool} -c {a.concurrency} -Q bench "
            "(BRPOP on Redis), defaults otherwise",
            "app": f"broker {BROKER}, task_ignore_result=True, result_backend=None",
            "producer": "task.delay(t0, seq); t0 taken just before the call; random 20-60 ms "
            "pause after each pickup",
        },
    }


def main() -> None:
    ap = lib.driver_args(__doc__.splitlines()[0], ("w1", "w2"))
    ap.add_argument("--pool", choices=("prefork", "threads", "solo"), default="prefork")
    ap.add_argument("--concurrency", type=int, default=2)
    a = ap.parse_args()
    out = lib.claim_stdout()
    load = lib.loadavg()
    os.environ["PEERS_CELERY_BROKER"] = BROKER
    r = redis.Redis(host=lib.REDIS_HOST, port=lib.REDIS_PORT, db=lib.REDIS_DB)
    r.flushdb()
    try:
        res = w1(a, r) if a.workload == "w1" else w2(a)
    finally:
        r.flushdb()
    info = r.info("server")
    lib.emit(
        out,
        {
            "peer": PEER,
            "version": version("celery"),
            "workload": a.workload,
            **res,
            "versions": {**versions(), "redis-server": info.get("redis_version")},
            "load_before": load,
        },
    )


if __name__ == "__main__":
    main()
