"""Start a throwaway `chronos serve` for a benchmark (SQLite in a temp dir, or a PostgreSQL URL)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def chronos_server(database_url: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield (base_url, api_key) of a fresh server; stop it afterwards."""
    key = "chrns_" + secrets.token_urlsafe(24)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        env = {**os.environ, "CHRONOS_BOOTSTRAP_API_KEY": key, "CHRONOS_LOG_LEVEL": "warning"}
        log = open(f"{tmp}/server.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "chronos", "serve", "--database-url", url, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            else:
                raise RuntimeError(open(f"{tmp}/server.log").read())
            yield base, key
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
