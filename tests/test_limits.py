"""Per-key limits: a request rate (off by default) and concurrent claim long-polls."""

from __future__ import annotations

import pytest

from chronos.server.api.limits import LongPollLimiter, RateLimiter
from chronos.server.config import Settings, parse_rate
from chronos.server.errors import RateLimited
from tests.helpers import bearer, create_api_key, create_job, long_poll, wait_for_claimers


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_allows_its_burst_then_its_rate():
    ticks = Ticks()
    limiter = RateLimiter(per_second=2, burst=2, monotonic=ticks)
    assert [limiter.take("k"), limiter.take("k")] == [None, None]
    assert limiter.take("k") == pytest.approx(0.5)
    assert limiter.take("other") is None  # each key has its own bucket
    ticks.now += 0.5
    assert limiter.take("k") is None
    with pytest.raises(RateLimited) as refused:
        limiter.check("k")
    assert (refused.value.status, refused.value.retry_after) == (429, 1)


def test_the_rate_limit_is_off_unless_configured(monkeypatch):
    monkeypatch.delenv("CHRONOS_RATE_LIMIT", raising=False)
    assert Settings.from_env().rate_limit_per_second is None
    assert (parse_rate("50"), parse_rate("50/s"), parse_rate("off")) == (50.0, 50.0, None)
    for bad in ("fast", "-1", "nan"):
        with pytest.raises(ValueError, match="CHRONOS_RATE_LIMIT"):
            parse_rate(bad)


async def test_a_key_over_its_rate_gets_429_with_retry_after(client, runtime):
    ticks = Ticks()
    runtime.rate_limiter = RateLimiter(per_second=1, burst=2, monotonic=ticks)
    assert [(await client.get("/v1/jobs")).status_code for _ in range(2)] == [200, 200]
    refused = await client.get("/v1/jobs")
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
    assert refused.headers["retry-after"] == "1"
    ticks.now += 1
    assert (await client.get("/v1/jobs")).status_code == 200
    ticks.now += 1
    second_key = (await create_api_key(client, "second"))["key"]  # spends the refill
    assert (await client.get("/v1/jobs")).status_code == 429
    assert (await client.get("/v1/jobs", headers=bearer(second_key))).status_code == 200


async def test_a_key_may_hold_only_so_many_waiting_claims(client, runtime):
    runtime.long_polls = LongPollLimiter(per_key=1)
    first = long_poll(client, wait_seconds=5)
    await wait_for_claimers(runtime, 1)
    second = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 5})
    assert (second.status_code, second.json()["error"]["code"]) == (429, "rate_limited")
    assert second.headers["retry-after"] == "1"
    quick = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    assert quick.status_code == 200  # a claim that does not wait holds no slot
    await create_job(client, handler="h")
    assert len((await first).json()["jobs"]) == 1
    assert runtime.long_polls._open == {}  # the slot was given back
    again = long_poll(client, wait_seconds=0.05)
    assert (await again).status_code == 200


@pytest.mark.parametrize("name", ["CHRONOS_BODY_READ_TIMEOUT", "CHRONOS_KEEP_ALIVE"])
def test_a_zero_read_timeout_is_refused_at_start(monkeypatch, name):
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValueError, match=f"{name}: must be more than 0 seconds"):
        Settings.from_env()
    monkeypatch.setenv(name, "2s")
    assert Settings.from_env() is not None
