"""In a real browser: a job's page following its job live, cancel and retry, the dead letter's
bulk retry, and the workers page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import screenshot
from tests.e2e.server import ChronosServer

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "reports.py", line 14, in nightly\n'
    "    rows = fetch(day)\n"
    "ConnectionError: warehouse unreachable"
)


def claim(api: httpx.Client, handler: str, worker_id: str, wait: float = 0) -> dict[str, Any]:
    body = {"handlers": [handler], "worker_id": worker_id, "wait_seconds": wait}
    response = api.post("/v1/worker/jobs/claim", json=body)
    assert response.status_code == 200, response.text
    [job] = response.json()["jobs"]
    return job


def finish(api: httpx.Client, execution_id: str, status: str, **fields: Any) -> None:
    response = api.post(
        f"/v1/worker/executions/{execution_id}/result", json={"status": status, **fields}
    )
    assert response.status_code == 200, response.text


def mark_page(page: Any) -> None:
    """Leave a mark on the loaded document: it survives only if the page is not reloaded."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def test_a_triggered_job_completes_on_its_page_without_a_reload(page: Any, server: ChronosServer):
    with server.client() as api:
        schedule = {"name": "nightly-report", "cron": "0 2 * * *", "handler": "report"}
        schedule["retry_policy"] = {"initial_interval": "1s"}
        assert api.post("/v1/schedules", json=schedule).status_code == 201
        fired = api.post("/v1/schedules/nightly-report/trigger")
        assert fired.status_code == 201, fired.text
        job_id = fired.json()["id"]

        page.goto(f"/jobs/{job_id}")
        mark_page(page)
        status = page.locator("[data-job-status]")
        expect(status).to_have_attribute("data-job-status", "ready")
        expect(page.get_by_role("button", name="Cancel job")).to_be_visible()

        first = claim(api, "report", "reports-worker:4021")
        expect(status).to_have_attribute("data-job-status", "running")
        expect(page.locator('[data-attempt="1"]')).to_contain_text("reports-worker:4021")
        error = {"type": "ConnectionError", "message": "warehouse unreachable"}
        finish(api, first["execution_id"], "failed", error={**error, "traceback": TRACEBACK})
        expect(status).to_have_attribute("data-job-status", "pending")
        expect(page.locator(".traceback")).to_contain_text("ConnectionError: warehouse")

        second = claim(api, "report", "reports-worker:4021", wait=10)  # after the 1 s backoff
        finish(api, second["execution_id"], "completed", output={"rows": 1204, "file": "r.csv"})
        expect(status).to_have_attribute("data-job-status", "completed")
        expect(page.locator('[data-attempt="2"]')).to_have_attribute(
            "data-execution-status", "completed"
        )
        expect(page.locator("#job-outcome + pre")).to_contain_text('"rows": 1204')
        expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
        assert_not_reloaded(page)
        screenshot(page, "job")


def test_cancel_and_retry_from_the_job_page(page: Any, server: ChronosServer):
    with server.client() as api:
        job = api.post("/v1/jobs", json={"name": "resize", "handler": "images"}).json()
        page.goto(f"/jobs/{job['id']}")
        mark_page(page)
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator("#flash")).to_contain_text("Canceled resize")
        expect(page.locator("[data-job-status]")).to_have_attribute("data-job-status", "canceled")
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "canceled"

        page.get_by_role("button", name="Retry job").click()
        expect(page.locator("#flash")).to_contain_text("Retrying resize")
        expect(page.locator("[data-job-status]")).to_have_attribute("data-job-status", "ready")
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "ready"
        assert_not_reloaded(page)


def test_the_dead_letter_retries_the_selected_jobs(page: Any, server: ChronosServer):
    with server.client() as api:
        ids = []
        for n in range(3):
            ids.append(
                api.post("/v1/jobs", json={"handler": "sync", "max_retries": 0}).json()["id"]
            )
            claimed = claim(api, "sync", "sync-worker")
            finish(api, claimed["execution_id"], "failed", error={"message": f"timeout {n}"})
        page.goto("/dead-letter")
        mark_page(page)
        for job_id in ids[:2]:
            page.get_by_label(f"Select {job_id}").check()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Retry selected").click()
        expect(page.locator("#flash")).to_contain_text("Retried 2 jobs")
        expect(page.locator("tr[data-job]")).to_have_count(1)
        expect(page.locator(f'tr[data-job="{ids[2]}"]')).to_be_visible()
        statuses = [api.get(f"/v1/jobs/{job_id}").json()["status"] for job_id in ids]
        assert statuses == ["ready", "ready", "failed"]
        assert_not_reloaded(page)


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        code = 503 if self.path.startswith("/flaky") else 200
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    """A loopback HTTP endpoint for push jobs: 200, or 503 under ``/flaky``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_workers_page_shows_polling_workers_and_push_targets(
    page: Any, server: ChronosServer, hook_server: str
):
    page.goto("/workers")
    mark_page(page)
    expect(page.get_by_text("No worker has polled")).to_be_visible()
    with server.client() as api:
        for _ in range(2):
            api.post("/v1/jobs", json={"handler": "send-email"})
        claim(api, "send-email", "mail-worker-1:5120")
        claim(api, "send-email", "mail-worker-2:733")
        body = {"handlers": ["report"], "worker_id": "reports-worker:4021", "wait_seconds": 0}
        api.post("/v1/worker/jobs/claim", json=body)
        for path in ("/ok", "/ok", "/ok", "/flaky"):
            delivery = {"type": "push", "http": {"url": hook_server + path}}
            api.post("/v1/jobs", json={"name": "hook", "max_retries": 0, "delivery": delivery})
    row = page.locator('tr[data-worker="mail-worker-1:5120"]')
    expect(row).to_contain_text("polling")
    expect(row.locator("[data-in-flight]")).to_have_text("1")
    expect(page.locator("tr[data-worker]")).to_have_count(3)
    target = page.locator(f'tr[data-target="{hook_server}"]')
    expect(target.locator("[data-count]")).to_have_text("4")
    expect(target.locator("[data-rate]")).to_have_text("75%")
    assert_not_reloaded(page)
    screenshot(page, "workers")
