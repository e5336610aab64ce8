"""The ``chronos`` command: first start, migrate, accounts, and an SDK import without the server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.endpoint import free_port

pytestmark = pytest.mark.e2e


def chronos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chronos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_first_start_prints_the_url_and_a_working_key(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CHRONOS_BOOTSTRAP_API_KEY"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chronos",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path}/first.db",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "CHRONOS_API_KEY=" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output
        key = re.search(r"CHRONOS_API_KEY=(chrns_\S+)", output).group(1)
        response = httpx.get(
            f"http://127.0.0.1:{port}/v1/api-keys", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(15)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells the signal.
    assert process.returncode in (0, -15)


def test_migrate_and_accounts_create(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    migrated = chronos("migrate", "--database-url", url, "--create")  # a new file: asked for
    assert migrated.returncode == 0, migrated.stderr
    created = chronos("accounts", "create", "acme", "--database-url", url)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("chrns_")
    again = chronos("accounts", "create", "acme", "--database-url", url)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert chronos("serve", "--roles", "api,cook").returncode == 2


def test_the_sdk_imports_without_server_dependencies():
    code = (
        "import sys, chronos, chronos.webhooks, chronos.errors, chronos.cli; "
        "heavy = {'fastapi', 'sqlalchemy', 'asyncpg', 'aiosqlite', 'alembic', 'uvicorn'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
