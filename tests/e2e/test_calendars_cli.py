"""Calendars from the Python SDK (sync and async) and the ``chronos calendars`` commands,
against a real ``chronos serve``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronos import AsyncChronos, Chronos
from chronos.cli import app
from chronos.errors import ConflictError, NotFoundError, ValidationError
from chronos.models import Calendar
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Christmas\r\n"
    "DTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261226\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nSUMMARY:Thanksgiving\r\nDTSTART;VALUE=DATE:20201126\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("calendars")
    node = ChronosServer(f"sqlite:///{directory}/calendars.db", directory)
    node.start()
    yield node
    node.stop()


def test_sdk_and_cli_calendars(server: ChronosServer, tmp_path: Path):
    with Chronos(api_key=server.api_key, base_url=server.url) as chronos:
        created = chronos.calendars.create(name="office", dates=["2026-12-24"], rules=["weekends"])
        assert isinstance(created, Calendar) and created.dates == ["2026-12-24"]
        chronos.schedules.create(
            name="reports", handler="h", cron="0 9 * * *", exclude_calendars=["office"]
        )
        assert chronos.calendars.get("office").schedules == ["reports"]
        updated = chronos.calendars.update("office", dates=["2026-12-31"])
        assert updated.version == 2 and updated.rules == [{"kind": "weekends"}]
        assert chronos.calendars.dates("office", "2026-12-30", "2027-01-01") == ["2026-12-31"]
        with pytest.raises(ConflictError) as in_use:
            chronos.calendars.delete("office")
        assert in_use.value.code == "calendar_in_use"
        with pytest.raises(ValidationError):
            chronos.calendars.import_ics("office", "not ics")
        with pytest.raises(NotFoundError):
            chronos.calendars.get("nope")

    async def scenario() -> list[str]:
        async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
            await client.calendars.upsert("async", dates=["2027-01-01"])
            return [c.name for c in (await client.calendars.list()).data]

    assert set(asyncio.run(scenario())) >= {"office", "async"}

    runner = CliRunner()
    env = {"CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key}
    ics = tmp_path / "us.ics"
    ics.write_text(ICS)
    created_cli = runner.invoke(
        app,
        ["calendars", "create", "team", "--date", "2026-07-03", "--rule", "nth_weekday:mon:-1:5"],
        env=env,
    )
    assert created_cli.exit_code == 0, created_cli.output
    imported = runner.invoke(app, ["calendars", "import", "team", str(ics)], env=env)
    assert imported.exit_code == 0, imported.output
    assert "2 dates, 0 ranges, 2 rules" in imported.output
    fresh = runner.invoke(app, ["calendars", "import", "us", str(ics), "--json"], env=env)
    assert json.loads(fresh.output)["dates"] == ["2026-12-25"]
    shown = runner.invoke(app, ["calendars", "show", "team", "--json"], env=env)
    assert json.loads(shown.output)["rules"][0]["kind"] == "nth_weekday"
    listed = runner.invoke(app, ["calendars", "list"], env=env)
    assert "team" in listed.output and "us" in listed.output
    refused = runner.invoke(app, ["calendars", "delete", "office"], env=env)
    assert refused.exit_code == 1 and "calendar_in_use" in refused.output
    deleted = runner.invoke(app, ["calendars", "delete", "us"], env=env)
    assert deleted.exit_code == 0, deleted.output
