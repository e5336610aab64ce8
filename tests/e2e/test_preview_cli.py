"""Schedule previews from the Python SDK and the ``chronos schedules preview`` command, against
a real ``chronos serve`` (its clock is the real one: DST changes are always within 366 days)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest

from chronos import Chronos, ValidationError
from chronos.models import SchedulePreview
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

NY = "America/New_York"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("preview")
    node = ChronosServer(f"sqlite:///{directory}/preview.db", directory)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def chronos(server: ChronosServer) -> Iterator[Chronos]:
    with Chronos(api_key=server.api_key, base_url=server.url) as client:
        yield client


def cli(server: ChronosServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key}
    return subprocess.run(
        [sys.executable, "-m", "chronos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_sdk_preview_takes_create_arguments_and_stores_nothing(chronos):
    preview = chronos.schedules.preview(
        count=5, name="nightly", handler="h", cron="30 2 * * *", timezone=NY
    )
    assert isinstance(preview, SchedulePreview)
    assert len(preview.fires) == len(preview.local) == 5
    assert preview.timezone == NY
    assert preview.description == "every day at 02:30 (America/New_York)"
    for fire, local in zip(preview.fires, preview.local, strict=True):
        assert fire.tzinfo == UTC and fire == local
        assert local.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    # Spring changes can be 371 days apart: the next may be just beyond the 366-day horizon.
    assert [w["code"] for w in preview.warnings] in (["dst_gap"], [])
    assert all("02:30 does not exist" in w["message"] for w in preview.warnings)
    assert chronos.schedules.preview(name="n", handler="h", interval="1h").warnings == []
    assert "nightly" not in [s.name for s in chronos.schedules.list().data]


def test_sdk_preview_raises_what_create_raises(chronos):
    bad = {"name": "n", "handler": "h", "cron": "0 2 * * *", "timezone": "Mars/Olympus"}
    with pytest.raises(ValidationError) as previewed:
        chronos.schedules.preview(**bad)
    with pytest.raises(ValidationError) as created:
        chronos.schedules.create(**bad)
    assert previewed.value.code == created.value.code == "invalid_schedule"
    assert previewed.value.message == created.value.message


def test_cli_preview(server):
    shown = cli(
        server,
        "schedules",
        "preview",
        "nightly",
        "--handler",
        "h",
        "--cron",
        "30 1,2 * * *",
        "--timezone",
        NY,
        "--count",
        "3",
    )
    assert shown.returncode == 0, shown.stderr
    assert "at 01:30 and 02:30 every day (America/New_York)" in shown.stdout
    # 01:30 is repeated in the fall and 02:30 skipped in the spring: one is within 366 days.
    assert "warning dst_" in shown.stdout
    assert shown.stdout.count(":30:00Z") == 3

    as_json = cli(
        server, "schedules", "preview", "every", "--handler", "h", "--every", "90s", "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["description"] == "every 90 seconds"
    assert len(body["data"]) == 10 and body["warnings"] == []

    refused = cli(server, "schedules", "preview", "x", "--handler", "h", "--cron", "61 * * * *")
    assert refused.returncode == 1 and "invalid_schedule" in refused.stderr
    too_few = cli(server, "schedules", "preview", "x", "--cron", "* * * * *", "--count", "0")
    assert too_few.returncode == 2  # refused by the command itself
    listed = json.loads(cli(server, "schedules", "list", "--json").stdout)
    assert listed == []


def test_sdk_and_cli_pass_dst_policy_jitter_and_spread(server, chronos):
    created = chronos.schedules.create(
        name="sdk-timing",
        handler="h",
        cron="H 2 * * *",
        timezone=NY,
        dst_policy={"gap": "skip", "overlap": "both"},
        jitter="30s",
        spread="5m",
    )
    assert created.raw["dst_policy"] == {"gap": "skip", "overlap": "both"}
    assert (created.raw["jitter"], created.raw["spread"], created.raw["cron"]) == (
        30,
        300,
        "H 2 * * *",
    )
    preview = chronos.schedules.preview(name="sdk-timing", handler="h", cron="H 2 * * *")
    assert preview.cron_resolved is not None and preview.cron_resolved.endswith(" 2 * * *")
    assert len(preview.dst) == len(preview.fires)
    made = cli(
        server,
        "schedules",
        "create",
        "cli-timing",
        "--handler",
        "h",
        "--cron",
        "30 1 * * *",
        "--timezone",
        NY,
        "--jitter",
        "1m",
        "--spread",
        "90s",
        "--dst-gap",
        "skip",
        "--dst-overlap",
        "last",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert body["dst_policy"] == {"gap": "skip", "overlap": "last"}
    assert (body["jitter"], body["spread"]) == (60, 90)
    bad = cli(
        server,
        "schedules",
        "create",
        "x",
        "--handler",
        "h",
        "--cron",
        "0 * * * *",
        "--dst-gap",
        "later",
    )
    assert bad.returncode == 2  # refused by the command itself
    for name in ("sdk-timing", "cli-timing"):
        chronos.schedules.delete(name)
