"""Backfills and the audit log from the Python SDK (sync and async) and the CLI
(``chronos schedules backfill``, ``chronos backfills …``, ``chronos audit``), against a real
``chronos serve``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from chronos import AsyncChronos, Chronos
from chronos.cli import app
from chronos.errors import ValidationError
from chronos.models import AuditRecord, Backfill
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("backfill")
    node = ChronosServer(f"sqlite:///{directory}/backfill.db", directory)
    node.start()
    yield node
    node.stop()


def test_sdk_and_cli_backfill_and_audit(server: ChronosServer):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start, end = hour - timedelta(hours=5), hour - timedelta(hours=3)
    with Chronos(api_key=server.api_key, base_url=server.url) as chronos:
        chronos.schedules.create(name="report", handler="nobody", cron="0 * * * *")
        backfill = chronos.schedules.backfill("report", start, end, reason="outage")
        assert isinstance(backfill, Backfill)
        assert (backfill.created, backfill.status, backfill.start) == (3, "running", start)
        again = chronos.schedules.backfill("report", start, end)
        assert (again.created, again.skipped_existing) == (0, 3)
        assert [b.id for b in chronos.schedules.backfills("report").data] == [again.id, backfill.id]
        with pytest.raises(ValidationError) as future:
            chronos.schedules.backfill("report", start, hour + timedelta(hours=2))
        assert future.value.code == "validation_error"
        canceled = chronos.backfills.cancel(backfill.id, reason="wrong range")
        assert (canceled.status, canceled.canceled_jobs) == ("canceled", 3)
        assert chronos.backfills.get(backfill.id).jobs == {"canceled": 3}
        chronos.schedules.pause("report", note="investigating")
        chronos.schedules.delete("report", reason="obsolete")
        records = chronos.audit.list(resource="report").data
        assert all(isinstance(r, AuditRecord) for r in records)
        assert [(r.action, r.reason) for r in records] == [
            ("schedule.deleted", "obsolete"),
            ("schedule.paused", "investigating"),
            ("schedule.backfilled", None),
            ("schedule.backfilled", "outage"),
            ("schedule.created", None),
        ]
        everything = list(chronos.iterate(chronos.audit.list, limit=2))
        assert everything[0].action == "schedule.deleted"
        assert "backfill.canceled" in [r.action for r in everything]

    async def scenario() -> list[str]:
        async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
            return [r.action async for r in client.iterate(client.audit.list, limit=3)]

    assert asyncio.run(scenario()) == [r.action for r in everything]

    runner = CliRunner()
    env = {"CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key, "COLUMNS": "300"}
    created = runner.invoke(
        app,
        ["schedules", "create", "cli-report", "--handler", "nobody", "--cron", "0 * * * *"],
        env=env,
    )
    assert created.exit_code == 0, created.output
    args = ["schedules", "backfill", "cli-report", "--from", start.isoformat()]
    done = runner.invoke(app, [*args, "--to", end.isoformat(), "--rerun", "--json"], env=env)
    assert done.exit_code == 0, done.output
    backfilled = json.loads(done.output)
    assert (backfilled["created"], backfilled["overlap"]) == (3, "rerun")
    listed = runner.invoke(app, ["schedules", "backfills", "cli-report"], env=env)
    assert listed.exit_code == 0 and "ready 3" in listed.output
    shown = runner.invoke(app, ["backfills", "show", backfilled["id"], "--json"], env=env)
    assert json.loads(shown.output)["jobs"] == {"ready": 3}
    stopped = runner.invoke(app, ["backfills", "cancel", backfilled["id"], "--json"], env=env)
    assert json.loads(stopped.output)["canceled_jobs"] == 3
    too_far = runner.invoke(app, [*args, "--to", (hour + timedelta(days=1)).isoformat()], env=env)
    assert too_far.exit_code == 1 and "validation_error" in too_far.output

    audit = runner.invoke(app, ["audit", "--resource", "cli-report", "--json"], env=env)
    assert audit.exit_code == 0, audit.output
    actions = [r["action"] for r in json.loads(audit.output)["data"]]
    assert actions == ["schedule.backfilled", "schedule.created"]
    table = runner.invoke(app, ["audit", "--action", "schedule.paused"], env=env)
    assert table.exit_code == 0 and "investigating" in table.output
    bad = runner.invoke(app, ["audit", "--since", "yesterday"], env=env)
    assert bad.exit_code == 1 and "validation_error" in bad.output
