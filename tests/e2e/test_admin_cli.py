"""Admin commands name the database they act on and never create one by accident; a lost key
can be replaced. The real ``chronos`` command, against a real ``chronos serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.endpoint import free_port

pytestmark = pytest.mark.e2e


def chronos(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    return subprocess.run(
        [sys.executable, "-m", "chronos", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """``chronos serve`` started in ``tmp_path/app`` on the default ``./chronos.db``: that
    directory, the server's URL and everything it printed until it was ready."""
    app = tmp_path / "app"
    app.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "chronos", "serve", "--port", str(port)],
        cwd=app,
        env={**env, "CHRONOS_LOG_LEVEL": "warning"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("CHRONOS_API_KEY=" in x for x in lines):
        lines.append(process.stdout.readline())
    try:
        yield app, f"http://127.0.0.1:{port}", "".join(lines)
    finally:
        process.terminate()
        process.wait(15)


def test_serve_creates_its_database_and_prints_the_absolute_path(served):
    app, _, output = served
    assert f"database: {app / 'chronos.db'}" in output
    assert (app / "chronos.db").exists()


def test_admin_commands_elsewhere_refuse_to_create_a_database(served, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (["accounts", "create", "acme"], ["migrate"], ["accounts", "list"]):
        done = chronos(*command, cwd=elsewhere)
        assert done.returncode == 1, command
        expected = (
            f"no database at {elsewhere / 'chronos.db'}; run from the directory where the "
            "server runs, pass --database-url, or --create"
        )
        assert expected in done.stderr, done.stderr
        assert "chrns_" not in done.stdout
    assert not (elsewhere / "chronos.db").exists()
    created = chronos("accounts", "create", "acme", "--create", cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    assert f"database: {elsewhere / 'chronos.db'}" in created.stderr
    assert (elsewhere / "chronos.db").exists()


def test_a_lost_key_is_replaced_and_accounts_are_listed_without_keys(served):
    app, url, output = served
    bootstrap = output.split("CHRONOS_API_KEY=")[1].split()[0]
    issued = chronos("accounts", "keys", "create", "default", "--scope", "worker", cwd=app)
    assert issued.returncode == 0, issued.stderr
    assert f"database: {app / 'chronos.db'}" in issued.stderr
    key = issued.stdout.strip().splitlines()[-1]
    assert key.startswith("chrns_") and key != bootstrap
    worker_call = httpx.post(
        f"{url}/v1/worker/jobs/claim",
        json={"handlers": ["h"], "wait_seconds": 0},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert worker_call.status_code == 200  # the running server accepts the new key at once
    admin_call = httpx.get(f"{url}/v1/schedules", headers={"Authorization": f"Bearer {key}"})
    assert admin_call.status_code == 403  # a worker key
    admin = chronos("accounts", "keys", "create", "default", "--name", "ops", cwd=app)
    admin_key = admin.stdout.strip().splitlines()[-1]
    assert (
        httpx.get(
            f"{url}/v1/schedules", headers={"Authorization": f"Bearer {admin_key}"}
        ).status_code
        == 200
    )
    listed = chronos("accounts", "list", "--json", cwd=app)
    assert listed.returncode == 0, listed.stderr
    accounts = json.loads(listed.stdout)
    assert [(a["name"], a["key_count"]) for a in accounts] == [("default", 3)]
    assert accounts[0]["id"].startswith("acc_")
    table = chronos("accounts", "list", cwd=app)
    assert "default" in table.stdout and "chrns_" not in table.stdout + table.stderr
    missing = chronos("accounts", "keys", "create", "nobody", cwd=app)
    assert missing.returncode == 1 and "no account named 'nobody'" in missing.stderr
    bad_scope = chronos("accounts", "keys", "create", "default", "--scope", "root", cwd=app)
    assert bad_scope.returncode == 1 and "admin or worker" in bad_scope.stderr


def test_postgresql_urls_are_shown_without_the_password(tmp_path):
    url = f"postgresql://chronos:hunter2@127.0.0.1:{free_port()}/chronos"
    done = chronos("accounts", "list", "--database-url", url, cwd=tmp_path)
    assert done.returncode == 1
    assert f"database: postgresql://chronos:***@127.0.0.1:{url.split(':')[3]}" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
