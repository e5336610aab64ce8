"""``GET /metrics``: the queue gauges read at scrape time, their bounded labels, the optional
token, and a scrape that still answers (counters only) while the database is down.

The gauges describe the test's own database (they are read per scrape, not kept in the
process-wide registry), so their values are asserted exactly; counters only relatively.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chronos.server.config import Settings
from chronos.server.runtime import Runtime
from chronos.server.services import stats as stats_service
from chronos.server.store import stats as stats_store
from chronos.server.store.db import Database
from tests.helpers import claim_one, create_job, expect, get_job, run_admission

GAUGES = (
    "chronos_jobs_ready",
    "chronos_jobs_ready_oldest_seconds",
    "chronos_jobs_queued",
    "chronos_jobs_queued_oldest_seconds",
    "chronos_jobs",
)
ALL_STATUSES = (
    "pending",
    "admitting",
    "queued",
    "ready",
    "running",
    "completed",
    "failed",
    "canceled",
    "skipped",
)

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Samples:
    """Every sample of an exposition: name → {sorted label pairs → value}."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            series = found.setdefault(sample.name, {})
            assert labels not in series, f"duplicate series {sample.name}{dict(labels)}"
            series[labels] = sample.value
    return found


async def scrape(client: httpx.AsyncClient, **request: Any) -> Samples:
    response = await client.get("/metrics", **request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def by_handler(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["handler"]: value for labels, value in samples.get(name, {}).items()}


def single(samples: Samples, name: str) -> float:
    [value] = samples[name].values()
    return value


def configure(runtime: Runtime, **changes: Any) -> None:
    """Change the test node's settings (they are read at each scrape)."""
    runtime.settings = dataclasses.replace(runtime.settings, **changes)


# --- ready pull jobs ----------------------------------------------------------------------------


async def test_ready_jobs_are_counted_and_aged_by_handler(client, clock):
    await create_job(client, handler="resize")
    await create_job(client, handler="resize")
    clock.advance(60)
    await create_job(client, handler="email")
    clock.advance(30)

    samples = await scrape(client)
    assert by_handler(samples, "chronos_jobs_ready") == {"resize": 2, "email": 1}
    assert by_handler(samples, "chronos_jobs_ready_oldest_seconds") == {
        "resize": 90,
        "email": 30,
    }

    await claim_one(client, ["resize"])
    await claim_one(client, ["email"])
    samples = await scrape(client)
    assert by_handler(samples, "chronos_jobs_ready") == {"resize": 1}
    assert by_handler(samples, "chronos_jobs_ready_oldest_seconds") == {"resize": 90}


async def test_a_handler_without_workers_shows_as_a_growing_ready_age(client, clock):
    """The alert of the README, ``chronos_jobs_ready_oldest_seconds > 300``, fires."""
    job = await create_job(client, handler="nobody-listens")
    clock.advance(120)
    assert by_handler(await scrape(client), "chronos_jobs_ready_oldest_seconds") == {
        "nobody-listens": 120
    }
    clock.advance(181)
    ages = by_handler(await scrape(client), "chronos_jobs_ready_oldest_seconds")
    assert ages["nobody-listens"] > 300
    assert (await get_job(client, job["id"]))["status"] == "ready"


async def test_a_delayed_job_ages_from_its_run_at(client, runtime, clock):
    await create_job(client, handler="later", delay="1m")
    assert by_handler(await scrape(client), "chronos_jobs_ready") == {}
    clock.advance(90)
    await run_admission(runtime)
    samples = await scrape(client)
    assert by_handler(samples, "chronos_jobs_ready") == {"later": 1}
    assert by_handler(samples, "chronos_jobs_ready_oldest_seconds") == {"later": 30}


async def test_handlers_beyond_the_limit_are_folded_into_other(client, runtime, clock):
    configure(runtime, metrics_max_handlers=2)
    await create_job(client, handler="rare")  # the oldest job of all, folded
    clock.advance(10)
    for handler, count in (("big", 3), ("mid", 2), ("small", 1)):
        for _ in range(count):
            await create_job(client, handler=handler)
    clock.advance(5)

    samples = await scrape(client)
    assert by_handler(samples, "chronos_jobs_ready") == {"big": 3, "mid": 2, "_other": 2}
    assert by_handler(samples, "chronos_jobs_ready_oldest_seconds") == {
        "big": 5,
        "mid": 5,
        "_other": 15,
    }


async def test_a_handler_named_other_shares_the_folded_series(client, runtime, clock):
    configure(runtime, metrics_max_handlers=1)
    await create_job(client, handler="x")
    clock.advance(7)
    await create_job(client, handler="_other")
    await create_job(client, handler="_other")

    samples = await scrape(client)  # ``parse`` fails on a duplicate series
    assert by_handler(samples, "chronos_jobs_ready") == {"_other": 3}
    assert by_handler(samples, "chronos_jobs_ready_oldest_seconds") == {"_other": 7}


async def test_with_no_handler_labels_everything_is_other(client, runtime):
    configure(runtime, metrics_max_handlers=0)
    await create_job(client, handler="a")
    await create_job(client, handler="b")
    assert by_handler(await scrape(client), "chronos_jobs_ready") == {"_other": 2}


async def test_labels_carry_no_account(client, other_client, account):
    await create_job(client, handler="shared")
    await create_job(other_client, handler="shared")

    response = await client.get("/metrics")
    samples = parse(response.text)
    assert by_handler(samples, "chronos_jobs_ready") == {"shared": 2}
    for name in GAUGES:
        for labels in samples[name]:
            assert {key for key, _ in labels} <= {"handler", "status"}
    assert account["id"] not in response.text


# --- queued push jobs and jobs by status --------------------------------------------------------


async def test_queued_push_jobs_are_counted_and_aged(client, clock):
    samples = await scrape(client)
    assert single(samples, "chronos_jobs_queued") == 0
    assert single(samples, "chronos_jobs_queued_oldest_seconds") == 0

    push = {"type": "push", "http": {"url": "http://push.example.com/hook"}}
    await create_job(client, name="first", delivery=push)
    clock.advance(45)
    await create_job(client, name="second", delivery=push)
    clock.advance(15)

    samples = await scrape(client)
    assert single(samples, "chronos_jobs_queued") == 2
    assert single(samples, "chronos_jobs_queued_oldest_seconds") == 60
    assert by_handler(samples, "chronos_jobs_ready") == {}


async def test_jobs_are_counted_by_status_across_accounts(client, other_client):
    await create_job(client, handler="h")
    await create_job(other_client, handler="h")
    await create_job(client, handler="h", delay="1h")
    canceled = await create_job(client, handler="h", delay="1h")
    expect(await client.post(f"/v1/jobs/{canceled['id']}/cancel"), 200)
    await claim_one(client, ["h"])

    counts = {
        dict(labels)["status"]: value
        for labels, value in (await scrape(client))["chronos_jobs"].items()
    }
    assert counts == {
        **dict.fromkeys(ALL_STATUSES, 0),
        "ready": 1,
        "running": 1,
        "pending": 1,
        "canceled": 1,
    }


async def test_counters_are_still_served(client):
    before = await scrape(client)
    await create_job(client, handler="h")
    after = await scrape(client)
    created = (("trigger", "api"),)
    total = "chronos_jobs_created_total"
    assert after[total][created] == before.get(total, {}).get(created, 0) + 1
    # Labelled counters have samples once counted; their families are always declared.
    text = (await client.get("/metrics")).text
    assert "# TYPE chronos_executions_finished_total counter" in text
    assert "# TYPE chronos_service_restarts_total counter" in text


# --- access -------------------------------------------------------------------------------------


async def test_metrics_are_open_without_a_token(client):
    samples = await scrape(client, headers={"Authorization": ""})
    assert "chronos_jobs" in samples
    assert "chronos_slots_fired_total" in samples


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer wrong-token",
        "Bearer s3cret-token-but-longer",
        "Basic s3cret-token",
        "Bearer ü".encode(),  # not ASCII: hmac.compare_digest refuses such str
    ],
)
async def test_a_metrics_token_is_required_once_set(client, runtime, authorization):
    configure(runtime, metrics_token="s3cret-token")
    response = await client.get("/metrics", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "s3cret-token" not in response.text


async def test_an_api_key_does_not_open_the_metrics(client, runtime):
    configure(runtime, metrics_token="s3cret-token")
    response = await client.get("/metrics")  # the client sends its account's API key
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_the_metrics_token_opens_the_metrics(client, runtime):
    configure(runtime, metrics_token="s3cret-token")
    await create_job(client, handler="h")
    samples = await scrape(client, headers={"Authorization": "Bearer s3cret-token"})
    assert by_handler(samples, "chronos_jobs_ready") == {"h": 1}
    assert "chronos_jobs_created_total" in samples


async def test_health_and_ready_stay_open_with_a_metrics_token(client, runtime):
    configure(runtime, metrics_token="s3cret-token")
    for path in ("/health", "/ready"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, path


def test_settings_read_the_metrics_options(monkeypatch):
    assert (Settings().metrics_token, Settings().metrics_max_handlers) == (None, 100)
    monkeypatch.setenv("CHRONOS_METRICS_TOKEN", "tok-123")
    monkeypatch.setenv("CHRONOS_METRICS_MAX_HANDLERS", "7")
    settings = Settings.from_env()
    assert (settings.metrics_token, settings.metrics_max_handlers) == ("tok-123", 7)
    assert "tok-123" not in repr(settings)
    monkeypatch.setenv("CHRONOS_METRICS_TOKEN", "")
    assert Settings.from_env().metrics_token is None
    for bad in ("-1", "many"):
        monkeypatch.setenv("CHRONOS_METRICS_MAX_HANDLERS", bad)
        with pytest.raises(ValueError, match="CHRONOS_METRICS_MAX_HANDLERS"):
            Settings.from_env()


# --- a database that does not answer ------------------------------------------------------------


def unreachable(db: Database, tmp_path) -> Database:
    """A database of the same kind as ``db`` that refuses every connection."""
    if db.is_sqlite:
        return Database.from_url(f"sqlite:///{tmp_path}/no/such/dir/chronos.db")
    return Database.from_url("postgresql://postgres@127.0.0.1:1/chronos")


async def test_a_scrape_answers_with_the_counters_while_the_database_is_down(
    client, runtime, monkeypatch, tmp_path, caplog
):
    await create_job(client, handler="h")
    dead = unreachable(runtime.db, tmp_path)
    monkeypatch.setattr(runtime, "db", dead)
    try:
        with caplog.at_level(logging.WARNING, logger="chronos.metrics"):
            samples = await scrape(client, headers={"Authorization": ""})
    finally:
        await dead.dispose()
    assert "chronos_jobs_created_total" in samples
    assert not set(GAUGES) & set(samples)
    [record] = [r for r in caplog.records if r.name == "chronos.metrics"]
    assert record.levelno == logging.WARNING
    assert "\n" not in record.getMessage()
    assert record.exc_info is None


async def test_a_database_too_slow_to_answer_does_not_hold_the_scrape(client, monkeypatch, caplog):
    async def hangs(*_: Any, **__: Any) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(stats_store, "ready_by_handler", hangs)
    monkeypatch.setattr(stats_service, "STATS_TIMEOUT_SECONDS", 0)
    with caplog.at_level(logging.WARNING, logger="chronos.metrics"):
        samples = await scrape(client)
    assert "chronos_slots_fired_total" in samples
    assert not set(GAUGES) & set(samples)
    assert [r.levelno for r in caplog.records if r.name == "chronos.metrics"] == [logging.WARNING]
