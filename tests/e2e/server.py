"""Real ``chronos serve`` processes for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.endpoint import free_port


class ChronosServer:
    """A ``chronos serve`` subprocess on a free port, its output captured in ``log_path``.

    ``server.start()`` waits (bounded) until ``/health`` answers; ``kill()`` sends SIGKILL;
    ``stop()`` sends SIGTERM and waits. ``start()`` again restarts it on the same port.
    """

    def __init__(
        self,
        database_url: str,
        log_dir: Path,
        *,
        api_key: str | None = None,
        env: dict[str, str] | None = None,
        roles: str | None = None,
    ) -> None:
        self.database_url = database_url
        self.api_key = api_key or "chrns_" + secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"chronos-{self.port}.log"
        self.env = env or {}
        self.roles = roles
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 20.0) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "CHRONOS_BOOTSTRAP_API_KEY": self.api_key,
            "CHRONOS_LOG_LEVEL": "warning",
            **self.env,
        }
        command = [
            sys.executable,
            "-m",
            "chronos",
            "serve",
            "--database-url",
            self.database_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.roles:
            command += ["--roles", self.roles]
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start #{self.starts} ---\n".encode())
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chronos serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"chronos serve did not come up in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.api_key}"}
        )
