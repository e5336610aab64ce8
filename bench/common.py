"""Shared pieces of the benchmark scripts in bench/ (not a benchmark itself).

- ``chronos_server(...)``: a throwaway ``chronos serve`` subprocess on a free port, on a SQLite
  file in a temp dir or on a fresh PostgreSQL database ``chronos_bench_<hex>`` (created on the
  given server, dropped afterwards, whatever happens).
- Measuring: ``percentile`` (linear interpolation), ``spread`` (median/min/max), process CPU
  seconds and RSS from /proc, CPU of all ``postgres`` processes (``CpuMeter`` over an
  interval), ``machine_info``.
- Talking to the server: ``api_client`` (one keep-alive ``httpx.AsyncClient``),
  ``pg_execute``/``pg_fetch`` (asyncpg on the bench database), ``read_jobs`` (the jobs table read
  with Chronos' own table definitions, after the server has stopped: exact timestamps for every
  job without paging the API while it is under load).
- Output: ``bench_parser`` (the shared CLI flags) and ``write_result`` (JSON + one summary line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

PG_SERVER_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the server under test ------------------------------------------------------------------


@dataclass
class Server:
    """A running ``chronos serve``: where it listens, its key, its pid and its database."""

    base_url: str
    api_key: str
    pid: int
    database_url: str
    backend: str  # "sqlite" or "postgresql"
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_url(server_url: str, database: str) -> str:
    return f"{server_url.rstrip('/')}/{database}"


async def _pg_admin(server_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_url(server_url, "postgres"), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def bench_database(backend: str, pg_server_url: str, tmp: Path) -> Iterator[str]:
    """Yield the URL of an empty database: a SQLite file in ``tmp``, or a fresh PostgreSQL
    database on ``pg_server_url`` that is dropped (WITH FORCE) afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"chronos_bench_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
    log(f"created database {name}")
    try:
        with _sigterm_as_exit():
            yield _pg_url(pg_server_url, name)
    finally:
        asyncio.run(_pg_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        log(f"dropped database {name}")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While inside: SIGTERM raises SystemExit, so ``finally`` blocks still drop the database
    and stop the server (SIGKILL cannot be caught: a killed run may leave a database behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_term(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, exit_on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"chronos serve did not start:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def chronos_server(
    backend: str = "sqlite",
    pg_server_url: str = PG_SERVER_DEFAULT,
    env: dict[str, str] | None = None,
    roles: str | None = None,
) -> Iterator[Server]:
    """Start ``chronos serve`` on a fresh database; stop it and remove the database afterwards.

    ``backend`` is ``sqlite`` or ``postgresql``; ``env`` adds CHRONOS_* settings."""
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown backend {backend!r}")
    key = "chrns_" + secrets.token_urlsafe(24)
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="chronos-bench-") as tmp_name,
        bench_database(backend, pg_server_url, Path(tmp_name)) as database_url,
    ):
        log_path = Path(tmp_name) / "server.log"
        full_env = {
            **os.environ,
            "CHRONOS_BOOTSTRAP_API_KEY": key,
            "CHRONOS_LOG_LEVEL": "warning",
            "CHRONOS_SHUTDOWN_GRACE": "2s",
            **(env or {}),
        }
        command = [sys.executable, "-m", "chronos", "serve", "--database-url", database_url]
        command += ["--port", str(port), *(["--roles", roles] if roles else [])]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        server = Server(base_url, key, process.pid, database_url, backend, log_path, process)
        try:
            _wait_healthy(base_url, process, log_path)
            yield server
        finally:
            server.stop()


# --- an empty HTTP endpoint ------------------------------------------------------------------


@dataclass
class Sink:
    """An HTTP server that answers 200 with an empty body at once, counting what it gets."""

    url: str
    _counter: Any = field(repr=False)

    @property
    def received(self) -> int:
        return int(self._counter.value)


def _sink_main(port: int, counter: Any) -> None:
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        with counter.get_lock():
            counter.value += 1
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")


@contextlib.contextmanager
def empty_http_server() -> Iterator[Sink]:
    """A minimal ASGI app under uvicorn in its own process (the push target of W5, the HTTP
    floor of W2), stopped afterwards."""
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("q", 0)
    port = free_port()
    process = ctx.Process(target=_sink_main, args=(port, counter), daemon=True)
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the empty HTTP server did not start") from None
                time.sleep(0.05)
        counter.value = 0
        yield Sink(url, counter)
    finally:
        process.terminate()
        process.join(10)


def api_client(server: Server, *, timeout: float = 60.0) -> httpx.AsyncClient:
    """One keep-alive client for the whole benchmark (connections are reused)."""
    return httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=timeout,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


async def create_schedules(
    http: httpx.AsyncClient, bodies: Sequence[dict[str, Any]], *, in_flight: int = 16
) -> list[dict[str, Any]]:
    """``POST /v1/schedules`` for every body, ``in_flight`` at a time (there is no batch
    endpoint for schedules), printing progress every 10 %; returns the created schedules."""
    created: list[dict[str, Any]] = [{} for _ in bodies]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    step = max(1, len(bodies) // 10)
    started = time.monotonic()
    done = 0

    async def creator() -> None:
        nonlocal done
        while not queue.empty():
            index = queue.get_nowait()
            response = await http.post("/v1/schedules", json=bodies[index])
            response.raise_for_status()
            created[index] = response.json()
            done += 1
            if done % step == 0 and len(bodies) >= 1000:
                rate = done / (time.monotonic() - started)
                log(f"  created {done:,}/{len(bodies):,} schedules ({rate:,.0f}/s)")

    await asyncio.gather(*(creator() for _ in range(min(in_flight, len(bodies)))))
    return created


# --- measuring ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks (numpy's
    default), as the peer figures use."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p95, p99, max and mean of a list of milliseconds (all zero when empty)."""
    if not values_ms:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "n": len(values_ms),
        "p50": round(percentile(values_ms, 50), 3),
        "p95": round(percentile(values_ms, 95), 3),
        "p99": round(percentile(values_ms, 99), 3),
        "max": round(max(values_ms), 3),
        "mean": round(statistics.fmean(values_ms), 3),
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated runs."""
    return {
        "median": round(statistics.median(values), 4),
        "min": min(values),
        "max": max(values),
    }


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat (0 if it has gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # fields 14 and 15 of stat


def process_rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def postgres_cpu_by_pid() -> dict[int, float]:
    """CPU seconds of every process named ``postgres`` on the machine, by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        found[int(entry.name)] = process_cpu_seconds(int(entry.name))
    return found


def postgres_cpu_since(start: dict[int, float]) -> float:
    """CPU used by postgres processes since ``start`` (a ``postgres_cpu_by_pid()``): processes
    born since count whole; the last slice of those that exited meanwhile is lost (Chronos keeps
    its pool open, so its backends stay)."""
    now = postgres_cpu_by_pid()
    return sum(max(0.0, cpu - start.get(pid, 0.0)) for pid, cpu in now.items())


@dataclass
class CpuMeter:
    """CPU used by the server, all postgres processes and this client since ``start()``."""

    server: Server
    wall: float = 0.0
    server_cpu: float = 0.0
    postgres_cpu: dict[int, float] = field(default_factory=dict)
    client_cpu: float = 0.0

    def start(self) -> CpuMeter:
        self.wall = time.monotonic()
        self.server_cpu = self.server.cpu_seconds()
        self.postgres_cpu = postgres_cpu_by_pid() if self.server.backend == "postgresql" else {}
        self.client_cpu = time.process_time()
        return self

    def read(self) -> dict[str, float]:
        """Seconds of CPU and % of one core (100 % = one core busy) since ``start()``."""
        wall = max(time.monotonic() - self.wall, 1e-9)
        server = self.server.cpu_seconds() - self.server_cpu
        postgres = (
            postgres_cpu_since(self.postgres_cpu) if self.server.backend == "postgresql" else 0.0
        )
        client = time.process_time() - self.client_cpu
        return {
            "wall_s": round(wall, 3),
            "server_cpu_s": round(server, 3),
            "postgres_cpu_s": round(postgres, 3),
            "client_cpu_s": round(client, 3),
            "server_cpu_pct": round(100 * server / wall, 1),
            "postgres_cpu_pct": round(100 * postgres / wall, 1),
            "client_cpu_pct": round(100 * client / wall, 1),
        }


def to_us(value: datetime | str) -> int:
    """A timestamp (aware datetime or ISO 8601 text) as integer microseconds since the epoch:
    exact, so slot arithmetic and window bounds never disagree by a rounding error."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def now_us() -> int:
    return time.time_ns() // 1000


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def iso_from_us(us: int) -> str:
    return _from_us(us).isoformat().replace("+00:00", "Z")


# --- the database under test ----------------------------------------------------------------


async def pg_execute(database_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def pg_fetch(database_url: str, query: str) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def settle_database(server: Server, *, analyze: bool = True) -> None:
    """After an enqueue, before measuring: PostgreSQL gets ``ANALYZE; CHECKPOINT`` (as the peer
    figures do: autovacuum would analyze within a minute in production; ``analyze=False``
    leaves the planner without statistics, as a fresh database with autovacuum off has);
    SQLite gets a WAL checkpoint only (SQLite never analyzes by itself and Chronos does not ask
    it to)."""
    if server.backend == "postgresql":
        await pg_execute(server.database_url, *(["ANALYZE"] if analyze else []), "CHECKPOINT")
    else:
        import sqlite3

        path = server.database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()


async def read_jobs(
    database_url: str, *, scheduled_from_us: int | None = None, scheduled_to_us: int | None = None
) -> list[dict[str, Any]]:
    """Every job (optionally with ``scheduled_for`` in [from, to)), with ``scheduled_for``,
    ``created_at`` and ``finished_at`` as integer microseconds. Read through Chronos' own table
    definitions so both backends decode the same way; call it once the server has stopped."""
    import sqlalchemy as sa

    from chronos.server.store.db import Database
    from chronos.server.store.tables import jobs

    query = sa.select(
        jobs.c.id,
        jobs.c.schedule_id,
        jobs.c.status,
        jobs.c.scheduled_for,
        jobs.c.created_at,
        jobs.c.finished_at,
    )
    if scheduled_from_us is not None:
        query = query.where(jobs.c.scheduled_for >= _from_us(scheduled_from_us))
    if scheduled_to_us is not None:
        query = query.where(jobs.c.scheduled_for < _from_us(scheduled_to_us))
    db = Database.from_url(database_url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
    finally:
        await db.dispose()
    return [
        {
            "id": row["id"],
            "schedule_id": row["schedule_id"],
            "status": row["status"],
            "scheduled_for_us": to_us(row["scheduled_for"]),
            "created_at_us": to_us(row["created_at"]),
            "finished_at_us": to_us(row["finished_at"]) if row["finished_at"] else None,
        }
        for row in rows
    ]


# --- context and output ---------------------------------------------------------------------


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _pg_version(pg_server_url: str) -> str | None:
    async def fetch() -> str:
        import asyncpg

        conn = await asyncpg.connect(_pg_url(pg_server_url, "postgres"), timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(fetch())
    except Exception:
        return None


def machine_info(pg_server_url: str | None = None) -> dict[str, Any]:
    """Where and on what the numbers were taken."""
    import sqlite3

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_1m_before": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "chronos_commit": _git_commit(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _pg_version(pg_server_url) if pg_server_url else None,
    }


def bench_parser(
    description: str | None, *, runs: int | None = 1, postgres: bool = True
) -> argparse.ArgumentParser:
    """The flags every script takes: --quick, --out, --database-url (unless the script never
    uses PostgreSQL), and --runs (default ``runs``) where repeating makes sense
    (``runs=None``: no such flag)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few-second smoke size (used by the tests)"
    )
    if postgres:
        parser.add_argument(
            "--database-url",
            default=PG_SERVER_DEFAULT,
            help="PostgreSQL *server* URL; a fresh database is created on it and dropped "
            f"afterwards (default {PG_SERVER_DEFAULT})",
        )
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/<name>.json)")
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs, help=f"repetitions ({runs})")
    return parser


def write_result(name: str, data: dict[str, Any], out: Path | None, summary: str) -> Path:
    """Write ``data`` (plus ``benchmark``) as JSON to ``out`` or bench/results/<name>.json and
    print a one-line summary and where the JSON went."""
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, **data}, indent=2) + "\n")
    print(f"{name}: {summary}  [{path}]", flush=True)
    return path


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the summary line."""
    print(message, file=sys.stderr, flush=True)
