"""Helpers for the peer drivers and for run.py. Standard library only: every peer venv imports it.

The drivers live next to this file, so `import _peerlib` works when a driver is started as
`<venv>/bin/python bench/peers/<peer>_bench.py` (Python puts the script's folder on sys.path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

PG_SERVER = os.environ.get("PEERS_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_HOST = os.environ.get("PEERS_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PEERS_REDIS_PORT", "6379"))
REDIS_DB = 9  # logical DB reserved for the Celery peer; flushed before and after each run

# Full sizes (the published method) and the tiny --quick sizes used for development.
FULL = {"jobs": 20_000, "rounds": 200, "warmup": 5, "schedules": 1000, "seconds": 30.0}
QUICK = {"jobs": 500, "rounds": 20, "warmup": 5, "schedules": 50, "seconds": 5.0}
ENQUEUE_BATCH = 1_000
PAUSE_RANGE_S = (0.020, 0.060)  # W2 idle gap between jobs


# --------------------------------------------------------------------------- output


def claim_stdout() -> IO[str]:
    """Keep the real stdout for the single JSON result line; point fd 1 at stderr.

    Libraries that print, and worker subprocesses that inherit fd 1, then write to stderr,
    so run.py can rely on stdout holding exactly one line.
    """
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(result_fd, "w", buffering=1)


def emit(out: IO[str], result: dict[str, Any]) -> None:
    base = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    out.write(json.dumps({**base, **result}, sort_keys=False) + "\n")
    out.flush()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def driver_args(description: str, workloads: tuple[str, ...]) -> argparse.ArgumentParser:
    """The arguments every driver takes. Sizes default to the full method's."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workload", choices=workloads, required=True)
    ap.add_argument("--jobs", type=int, default=FULL["jobs"], help="W1 jobs to drain")
    ap.add_argument("--batch", type=int, default=ENQUEUE_BATCH, help="W1 enqueue batch size")
    ap.add_argument(
        "--single", type=int, default=1000, help="W1 extra: time a loop of N single enqueues"
    )
    ap.add_argument("--rounds", type=int, default=FULL["rounds"], help="W2 measured jobs")
    ap.add_argument("--warmup", type=int, default=FULL["warmup"], help="W2 warm-up jobs")
    ap.add_argument("--schedules", type=int, default=FULL["schedules"], help="W4a schedules")
    ap.add_argument("--seconds", type=float, default=FULL["seconds"], help="W4a window (s)")
    ap.add_argument("--deadline", type=float, default=170.0, help="hard limit for one run (s)")
    # internal: a driver starts its own W2 worker as `--role worker --dsn ... --report ...`
    ap.add_argument("--role", choices=("bench", "worker"), default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--dsn", help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    return ap


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float | None:
    """Percentile q in [0, 100] by linear interpolation between closest ranks (numpy default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000.0 for s in samples_s]

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "n": len(ms),
        "p50_ms": r(percentile(ms, 50)),
        "p95_ms": r(percentile(ms, 95)),
        "p99_ms": r(percentile(ms, 99)),
        "min_ms": r(min(ms)) if ms else None,
        "max_ms": r(max(ms)) if ms else None,
    }


class DrainStats:
    """Counts handler starts in a W1 drain; first/last start give the steady rate."""

    def __init__(self) -> None:
        self.n = 0
        self.first: float | None = None
        self.last: float | None = None

    def hit(self) -> None:
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        self.n += 1

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "first": self.first, "last": self.last}


def drain_result(
    jobs: int, handled: int, first: float | None, last: float | None, t_start: float, t_end: float
) -> dict[str, Any]:
    """jobs_per_s = (handled - 1) / (first handler start -> last handler start): worker
    start-up is not counted. jobs_per_s_wall counts from the worker's start."""
    steady = (last - first) if first is not None and last is not None else 0.0
    wall = t_end - t_start
    return {
        "jobs_per_s": round((handled - 1) / steady, 1) if steady > 0 else None,
        "jobs_per_s_wall": round(handled / wall, 1) if wall > 0 else None,
        "drain_wall_s": round(wall, 3),
        "handled": handled,
        "all_done": handled >= jobs,
    }


# --------------------------------------------------------------------------- PostgreSQL


def psql(sql: str, dbname: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", f"{PG_SERVER}/{dbname}", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@contextmanager
def fresh_database(peer: str) -> Iterator[tuple[str, str]]:
    """CREATE DATABASE peers_<peer>_<random>; yield (dsn, name); DROP it (FORCE) afterwards."""
    name = f"peers_{peer}_{secrets.token_hex(5)}"
    psql(f"CREATE DATABASE {name};")
    log(f"created database {name}")
    try:
        yield f"{PG_SERVER}/{name}", name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
        log(f"dropped database {name}")


def analyze_checkpoint(dbname: str) -> None:
    """Run between enqueue and drain: fresh tables have no planner statistics (a seq-sorting
    fetch plan for Procrastinate), and the checkpoint keeps its I/O out of the drain."""
    psql("ANALYZE;\nCHECKPOINT;", dbname)


# --------------------------------------------------------------------------- W2 protocol
# The producer takes t0 = time.time() just before the enqueue call and passes it (and a
# sequence number) in the job args. The handler's first statement appends
# "<time.time() - t0> <seq>" to a file; the producer follows that file, and once job
# <seq> is reported it pauses 20-60 ms (random) before the next enqueue. The first
# `warmup` jobs are dropped; the first one also absorbs the worker's start-up.


def report_pickup(path: str, t0: float, seq: int) -> None:
    """Handler side: one short O_APPEND write, atomic even with several worker processes."""
    line = f"{time.time() - t0:.6f} {seq}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class PickupFollower:
    """Producer side: follows the report file and remembers every latency by sequence."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: dict[int, float] = {}
        self._fh: IO[str] | None = None
        self._partial = ""

    def poll(self) -> None:
        if self._fh is None:
            if not os.path.exists(self.path):
                return
            self._fh = open(self.path)  # kept open while following
        chunk = self._fh.read()
        if not chunk:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                lat, seq = line.split()
                self.seen[int(seq)] = float(lat)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def measured(self, warmup: int) -> list[float]:
        return [lat for seq, lat in sorted(self.seen.items()) if seq >= warmup]


def _wait_budget(seq: int, boot_timeout: float, job_timeout: float) -> float:
    return boot_timeout if seq == 0 else job_timeout


async def pickup_loop_async(
    enqueue: Callable[[float, int], Awaitable[Any]],
    follower: PickupFollower,
    rounds: int,
    warmup: int,
    boot_timeout: float = 60.0,
    job_timeout: float = 15.0,
) -> list[float]:
    """Returns the enqueue-call durations (s) of the measured jobs."""
    calls: list[float] = []
    for seq in range(warmup + rounds):
        t0 = time.time()
        await enqueue(t0, seq)
        calls.append(time.time() - t0)
        limit = time.monotonic() + _wait_budget(seq, boot_timeout, job_timeout)
        while True:
            follower.poll()
            if seq in follower.seen:
                break
            if time.monotonic() > limit:
                raise TimeoutError(f"W2 job {seq} was not picked up in time")
            await asyncio.sleep(0.0005)
        await asyncio.sleep(random.uniform(*PAUSE_RANGE_S))
    return calls[warmup:]


def pickup_loop_sync(
    enqueue: Callable[[float, int], Any],
    follower: PickupFollower,
    rounds: int,
    warmup: int,
    boot_timeout: float = 60.0,
    job_timeout: float = 15.0,
) -> list[float]:
    calls: list[float] = []
    for seq in range(warmup + rounds):
        t0 = time.time()
        enqueue(t0, seq)
        calls.append(time.time() - t0)
        limit = time.monotonic() + _wait_budget(seq, boot_timeout, job_timeout)
        while True:
            follower.poll()
            if seq in follower.seen:
                break
            if time.monotonic() > limit:
                raise TimeoutError(f"W2 job {seq} was not picked up in time")
            time.sleep(0.0005)
        time.sleep(random.uniform(*PAUSE_RANGE_S))
    return calls[warmup:]


def pickup_result(follower: PickupFollower, calls: list[float], warmup: int) -> dict[str, Any]:
    lat = latency_summary(follower.measured(warmup))
    enq = latency_summary(calls)
    return {
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "p99_ms": lat["p99_ms"],
        "latency": lat,
        "enqueue_call_p50_ms": enq["p50_ms"],
    }


def stop_process(proc: subprocess.Popen[Any], sig: int, grace: float = 20.0) -> int | None:
    """Send `sig`, wait up to `grace` seconds, then kill. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} ignored signal {sig} for {grace:.0f} s: killing it")
            proc.kill()
            proc.wait()
    return proc.returncode


async def stop_process_async(
    proc: asyncio.subprocess.Process, sig: int, grace: float = 20.0
) -> None:
    """Send `sig` to a worker started with asyncio.create_subprocess_exec; kill it after `grace`."""
    if proc.returncode is None:
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            log(f"pid {proc.pid} ignored signal {sig} for {grace:.0f} s: killing it")
            proc.kill()
            await proc.wait()


async def start_worker_async(script: str, dsn: str, report: str) -> asyncio.subprocess.Process:
    """Start this driver again as its own W2 worker process."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        "--workload",
        "w2",
        "--role",
        "worker",
        "--dsn",
        dsn,
        "--report",
        report,
    )


# --------------------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """user + system CPU seconds of one process, from /proc/<pid>/stat (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_cpu_s() -> float:
    """CPU seconds of every process whose command name starts with 'postgres'."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm.startswith("postgres"):
            total += process_cpu_s(int(entry)) or 0.0
    return total
