"""Celery app and tasks for celery_bench.py; the worker loads it with `-A celery_bench_tasks`.

Configured through the environment (set by celery_bench.py before it starts the worker):
PEERS_CELERY_BROKER (redis URL, logical DB 9), PEERS_CELERY_STATS (folder where each
worker process writes its W1 counter at shutdown), PEERS_CELERY_REPORT (W2 report file).
"""

from __future__ import annotations

import json
import os
from typing import Any

import _peerlib as lib
from celery import Celery, signals

BROKER = os.environ.get(
    "PEERS_CELERY_BROKER", f"redis://{lib.REDIS_HOST}:{lib.REDIS_PORT}/{lib.REDIS_DB}"
)
STATS_DIR = os.environ.get("PEERS_CELERY_STATS", "")
REPORT = os.environ.get("PEERS_CELERY_REPORT", "")
QUEUE = "bench"

app = Celery("peers_bench", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    result_backend=None,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

stats = lib.DrainStats()


@app.task(name="noop")
def noop() -> None:
    stats.hit()


@app.task(name="ping")
def ping(t0: float, seq: int) -> None:
    lib.report_pickup(REPORT, t0, seq)


def _write_stats(**_: Any) -> None:
    if STATS_DIR and stats.n:
        path = os.path.join(STATS_DIR, f"worker-{os.getpid()}.json")
        with open(path, "w") as fh:
            json.dump(stats.as_dict(), fh)


# prefork: every child process runs worker_process_shutdown; threads/solo: worker_shutdown
signals.worker_process_shutdown.connect(_write_stats, weak=False)
signals.worker_shutdown.connect(_write_stats, weak=False)
