"""Testing code that uses Chronos, with ``chronos.testing`` (docs/testing.md).

Run it with ``pytest examples/test_example.py`` (needs ``pip install 'chronos-scheduler[server]'``
for the ``chronos_server`` fixture; ``perform`` needs only the SDK).
"""

from datetime import UTC, datetime

import pytest

from chronos import Chronos, NonRetryable
from chronos.testing import perform

# The chronos_server fixture. (Where chronos-scheduler is pip-installed, its pytest plugin
# provides it without this line; a top-level conftest.py can say the same.)
pytest_plugins = ["chronos.testing.pytest_plugin"]

# --- the application under test: handlers, and code that enqueues work ---------------------


def sync_tenant(ctx):
    tenants = ctx.payload.get("tenants", [])  # {} when the job carries no payload
    return {"synced": len(tenants), "attempt": ctx.attempt}


async def charge_invoice(ctx):
    if "invoiceId" not in ctx.payload:
        raise NonRetryable("payload has no invoiceId")
    return {"charged": ctx.payload["invoiceId"]}


def sign_up(chronos: Chronos, email: str) -> None:
    """Application code: a welcome email now, an invoice in a day, a report every hour."""
    chronos.jobs.create(handler="send-email", payload={"to": email, "template": "welcome"})
    chronos.jobs.create(handler="charge-invoice", payload={"invoiceId": f"inv-{email}"}, delay="1d")
    chronos.schedules.upsert(f"report-{email}", handler="report", interval="1h")


# --- unit tests: run a handler in-process, no server --------------------------------------


def test_handler_output():
    assert perform(sync_tenant, {"tenants": ["a", "b"]}) == {"synced": 2, "attempt": 1}


def test_handler_without_payload_gets_an_empty_dict():
    assert perform(sync_tenant) == {"synced": 0, "attempt": 1}


def test_async_handler_and_a_later_attempt():
    assert perform(charge_invoice, {"invoiceId": "inv_1"}, attempt=3) == {"charged": "inv_1"}


def test_handler_failure_is_raised():
    with pytest.raises(NonRetryable, match="no invoiceId"):
        perform(charge_invoice, {})


# --- integration tests: an embedded Chronos, with time under the test's control -----------


def test_sign_up_enqueues_the_welcome_email(chronos_server):
    sign_up(chronos_server.client, "ada@example.com")
    chronos_server.assert_enqueued(handler="send-email", payload={"template": "welcome"})
    chronos_server.refute_enqueued(handler="send-email", payload={"template": "goodbye"})
    assert len(chronos_server.all_enqueued(handler="charge-invoice")) == 1


def test_the_report_runs_every_hour_without_sleeping(chronos_server):
    chronos_server.freeze(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    sign_up(chronos_server.client, "bob@example.com")
    chronos_server.refute_enqueued(handler="report")
    chronos_server.advance(hours=1)  # moves the server's clock, runs the scheduler once
    job = chronos_server.assert_enqueued(handler="report", schedule="report-bob@example.com")
    assert job.scheduled_for == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_drain_runs_the_jobs_with_the_real_handlers(chronos_server):
    sign_up(chronos_server.client, "cy@example.com")
    sent = []
    handlers = {
        "send-email": lambda ctx: sent.append(ctx.payload["to"]),
        "charge-invoice": charge_invoice,
    }
    assert chronos_server.drain(handlers).completed == 1  # the invoice waits a day
    assert sent == ["cy@example.com"]
    later = chronos_server.drain(handlers, with_scheduled=True)  # moves the clock a day on
    assert (later.completed, later.failed) == (1, 0)
    chronos_server.refute_enqueued(handler="charge-invoice")
