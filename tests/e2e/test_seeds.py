"""Seeds 003 and 004's curl examples, as printed, against ``chronos dev`` (issue 17).

The curl commands are read out of copies of the seed files (``tests/seeds/``) and run with
bash and the real curl. Two rewrites, and only these: the port (``localhost:3000`` /
``localhost:8080``) becomes the dev server's when that port is taken on this machine, and
seed 003's webhook host (``https://api.openweathermap.org``) becomes a local HTTP server
standing in for it, so the run can be seen to arrive. Seed 004's versioning examples need a
``daily-backup`` job with two versions and the tags its filter asks for: the test makes it
from the seed's own job model, then applies the seed's tags example as version 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.endpoint import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
]

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _port_or_free(port: int) -> int:
    """The seed's own port if it is free here, else any free one (the curls are rewritten)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = b'{"weather": "drizzle"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Any:
    """A local HTTP server standing in for a seed's webhook host; ``.seen``: paths asked for."""
    handler = type("Recorder", (_Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.seen = handler.seen  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def _start_dev(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    env["CHRONOS_LOG_LEVEL"] = "warning"
    process = subprocess.Popen(
        [sys.executable, "-m", "chronos", "dev", "--port", str(port)],
        cwd=tmp_path,  # the dev database is ./chronos-dev.db
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"chronos dev did not start: {process.communicate()[0]}")


@pytest.fixture
def dev_server(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    port = _port_or_free(request.param)
    process = _start_dev(tmp_path, port)
    yield port
    process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    assert "AUTHENTICATION IS OFF" in output


def _curl(command: str) -> tuple[int, Any]:
    """Run a seed's curl with bash; its HTTP status and parsed JSON body (or None)."""
    done = subprocess.run(
        ["bash", "-c", command + " -sS -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body.strip() else None


def seed003_curls(port: int, webhook_host: str) -> list[str]:
    """Seed 003's curls: its HTML export keeps markdown escapes (``\\*``, ``\\\\`` line ends)."""
    text = (SEEDS / "003_api_jobs.txt").read_text()
    text = text.replace("\\\\ ", "").replace("\\*", "*")
    curls = [c.strip() for c in re.findall(r"curl (?:[^#\n])*", text)]
    return [
        c.replace("localhost:3000", f"localhost:{port}").replace(
            "https://api.openweathermap.org", webhook_host
        )
        for c in curls
    ]


def seed004_curls(port: int) -> list[str]:
    text = (SEEDS / "004_jobs.md").read_text()
    return [
        c.strip().replace("localhost:8080", f"localhost:{port}")
        for c in re.findall(r"^curl .*$", text, flags=re.MULTILINE)
    ]


@pytest.mark.parametrize("dev_server", [3000], indirect=True)
def test_seed_003_examples_run_as_printed(dev_server: int, stand_in: Any) -> None:
    port = dev_server
    webhook_host = f"http://127.0.0.1:{stand_in.server_address[1]}"
    curls = seed003_curls(port, webhook_host)
    create = next(c for c in curls if "-X POST" in c and "/api/jobs" in c)
    health = [c for c in curls if "-X" not in c]
    assert [c.split()[-1] for c in health] == [
        f"http://localhost:{port}/health",
        f"http://localhost:{port}/api/jobs",
    ]

    status, job = _curl(create)
    assert status == 201, job
    assert job["name"] == "Daily Weather Report"
    assert job["schedule"] == "0 8 * * *"
    assert job["type"] == "WEBHOOK"
    assert job["payload"]["params"] == {"q": "London", "appid": "your-api-key"}
    assert job["payload"]["url"] == f"{webhook_host}/data/2.5/weather"
    assert job["next_run_at"].endswith("T08:00:00Z")

    # POST /api/jobs/:id/run (the seed's table; it prints no curl for it).
    status, run = _curl(f"curl -X POST http://localhost:{port}/api/jobs/{job['id']}/run")
    assert status == 201, run
    assert run["job_id"] == job["id"]

    deadline = time.monotonic() + 15
    while "/data/2.5/weather?q=London&appid=your-api-key" not in stand_in.seen:
        assert time.monotonic() < deadline, stand_in.seen
        time.sleep(0.1)

    for command in health:
        status, body = _curl(command)
        assert status == 200, body
    status, listing = _curl(health[1])  # GET /api/jobs: jobs with their execution history
    (listed,) = listing["data"]
    assert listed["id"] == job["id"]
    deadline = time.monotonic() + 10
    while [e["status"] for e in listed["executions"]] != ["completed"]:
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)
        listed = _curl(health[1])[1]["data"][0]


@pytest.mark.parametrize("dev_server", [8080], indirect=True)
def test_seed_004_examples_run_as_printed(dev_server: int) -> None:
    port = dev_server
    base = f"http://localhost:{port}/api/v1/jobs"
    text = (SEEDS / "004_jobs.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    model = json.loads(blocks[0])  # the seed's Job Model, sent back as it is printed
    tags = json.loads(blocks[-2])["tags"]  # the Tags example: team=backend, production
    created = httpx.post(base, json=model)
    assert created.status_code == 201, created.text
    job = created.json()
    for field in ("name", "schedule", "timezone", "timeout", "concurrency", "tags", "enabled"):
        assert job[field] == model[field], field
    assert job["retry_policy"] == {**model["retry_policy"], "max_interval": "1h"}
    assert job["webhook"]["url"] == model["webhook"]["url"]
    assert job["state"] == "enabled"
    assert job["next_run"].endswith("T07:00:00Z")  # 02:00 New York (EST)
    changed = httpx.put(f"{base}/daily-backup", json={**model, "tags": tags})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2

    curls = seed004_curls(port)
    assert len(curls) == 5, curls
    results = []
    for command in curls:
        status, body = _curl(command)
        assert 200 <= status < 300, (command, body)
        results.append(body)
    one_tag, two_tags, versions, version_2, rolled_back = results
    assert [j["name"] for j in one_tag["data"]] == ["daily-backup"]
    assert [j["name"] for j in two_tags["data"]] == ["daily-backup"]
    assert [v["version"] for v in versions["data"]] == [2, 1]
    assert version_2["version"] == 2 and version_2["job"]["tags"] == tags
    assert rolled_back["version"] == 3
    assert rolled_back["tags"] == model["tags"]

    # Auth is off for keyless requests only: a key that is sent is still checked.
    status, body = _curl(f"curl -H 'Authorization: Bearer chrns_wrong' {base}")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    # ... and only requests to a loopback name go keyless (no DNS rebinding, no other site).
    for header in ("Host: rebound.example", "Origin: https://evil.example"):
        status, body = _curl(f"curl -H '{header}' {base}")
        assert status == 401, header


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_dev_refuses_a_non_loopback_host(tmp_path: Path, host: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chronos", "dev", "--host", host, "--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "loopback only" in done.stderr
    assert not (tmp_path / "chronos-dev.db").exists()
