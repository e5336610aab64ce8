"""Schedules as code against a real ``chronos serve``: ``chronos apply``, ``chronos export``,
``chronos import crontab`` (the real command, in a subprocess) and ``schedules.apply`` from
the SDK, sync and async."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chronos import AsyncChronos, Chronos
from chronos.ascode import ApplyError
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("ascode")
    node = ChronosServer(f"sqlite:///{directory}/ascode.db", directory)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def api(server: ChronosServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def run(server: ChronosServer, *args: str, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "chronos", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={
            **os.environ,
            "CHRONOS_URL": server.url,
            "CHRONOS_API_KEY": server.api_key,
            "COLUMNS": "200",
        },
    )


def names(api: httpx.Client, prefix: str) -> set[str]:
    found = api.get("/v1/schedules", params={"limit": 500}).json()["data"]
    return {s["name"] for s in found if s["name"].startswith(prefix)}


SCHEDULES = """\
schedules:
  - name: rt-nightly
    handler: report
    cron: "0 2 * * *"
    timezone: Europe/Paris
    timeout: 5m
    tags: {team: backend}
  - name: rt-tick
    handler: tick
    schedule: "@every 90s"
    retry_policy: {max_attempts: 5, initial_interval: 2s}
  - name: rt-hook
    webhook: {url: "http://127.0.0.1:9/hook", success_codes: ["2xx"]}
    interval: {value: 2, unit: hours}
    start_at: 2026-01-01T00:00:00Z
    payload: {full: false}
"""


def test_apply_is_idempotent_and_export_round_trips(server, api, tmp_path: Path):
    source = tmp_path / "schedules.yaml"
    source.write_text(SCHEDULES)
    applied = run(server, "apply", "-f", str(source))
    assert applied.returncode == 0, applied.stderr
    assert "+ create rt-nightly" in applied.stdout and "timeout: 300" in applied.stdout
    assert "Applied: 3 created" in applied.stdout
    assert names(api, "rt-") == {"rt-nightly", "rt-tick", "rt-hook"}
    nightly = api.get("/v1/schedules/rt-nightly").json()
    assert nightly["tags"] == {"team": "backend", "managed-by": "chronos-apply"}

    again = run(server, "apply", "-f", str(source), "--dry-run", "--exit-code")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    # A schedule made by hand is exported too, and applying the export changes nothing.
    api.post("/v1/schedules", json={"name": "rt-by-hand", "handler": "h", "cron": "@hourly"})
    exported = tmp_path / "export" / "all.yaml"
    exported.parent.mkdir()
    done = run(server, "export", "-o", str(exported))
    assert done.returncode == 0, done.stderr
    assert "managed-by" not in exported.read_text()
    round_trip = run(server, "apply", "-f", str(exported.parent), "--dry-run", "--exit-code")
    assert round_trip.returncode == 0, round_trip.stdout + round_trip.stderr
    assert "No changes" in round_trip.stdout

    as_json = run(server, "export", "--format", "json", "--tag", "team=backend")
    assert [s["name"] for s in json.loads(as_json.stdout)["schedules"]] == ["rt-nightly"]
    from_stdin = run(server, "apply", "-f", "-", "--dry-run", "--exit-code", stdin=as_json.stdout)
    assert from_stdin.returncode == 0, from_stdin.stdout + from_stdin.stderr


def test_dry_run_shows_the_diff_and_prune_deletes_only_managed(server, api, tmp_path: Path):
    first = tmp_path / "v1.yaml"
    first.write_text(
        "- {name: pr-keep, handler: h, cron: '0 2 * * *'}\n"
        "- {name: pr-gone, handler: h, cron: '@daily'}\n"
    )
    assert run(server, "apply", "-f", str(first), "--yes").returncode == 0
    api.post("/v1/schedules", json={"name": "pr-manual", "handler": "h", "cron": "@hourly"})
    second = tmp_path / "v2.yaml"
    second.write_text(
        "schedules:\n  - {name: pr-keep, handler: h, cron: '0 3 * * *', timeout: 1m}\n"
    )

    planned = run(server, "apply", "-f", str(second), "--prune", "--dry-run", "--exit-code")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "~ update pr-keep" in planned.stdout
    assert "cron: 0 2 * * * → 0 3 * * *" in planned.stdout
    assert "timeout: 30 → 60" in planned.stdout
    assert "- delete pr-gone" in planned.stdout and "pr-manual" not in planned.stdout
    assert api.get("/v1/schedules/pr-keep").json()["cron"] == "0 2 * * *"  # nothing written

    applied = run(server, "apply", "-f", str(second), "--prune", "--json")
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["updated"] == ["pr-keep"] and "pr-gone" in result["deleted"]
    assert names(api, "pr-") == {"pr-keep", "pr-manual"}
    assert api.get("/v1/schedules/pr-keep").json()["version"] == 2


def test_bad_files_name_the_file_and_schedule_and_change_nothing(server, api, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schedules:\n"
        "  - name: bad-ok\n    handler: h\n    cron: '@daily'\n"
        "  - name: bad-colour\n    handler: h\n    cron: '@daily'\n    colour: red\n"
        "  - name: bad-cron\n    handler: h\n    cron: '99 * * * *'\n"
    )
    refused = run(server, "apply", "-f", str(bad))
    assert refused.returncode == 1
    assert f"{bad}:5: bad-colour: " in refused.stderr and "colour" in refused.stderr
    assert f"{bad}:9: bad-cron: invalid cron expression" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert names(api, "bad-") == set()

    other = tmp_path / "other.yml"
    other.write_text("- {name: bad-ok, handler: h, cron: '@hourly'}\n")
    twice = run(
        server, "apply", "-f", str(bad.parent / "other.yml"), "-f", str(tmp_path / "dup.yaml")
    )
    assert twice.returncode == 1 and "dup.yaml: cannot read" in twice.stderr
    (tmp_path / "dup.yaml").write_text("- {name: bad-ok, handler: h, cron: '@daily'}\n")
    twice = run(server, "apply", "-f", str(other), "-f", str(tmp_path / "dup.yaml"))
    assert twice.returncode == 1
    assert f"bad-ok: declared twice (also at {other}:1)" in twice.stderr

    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "broken.yaml").write_text("schedules:\n  - name: [x\n")
    both = run(
        server, "apply", "-f", str(tmp_path / "empty.yaml"), "-f", str(tmp_path / "broken.yaml")
    )
    assert both.returncode == 1
    assert "empty.yaml: the file is empty" in both.stderr
    assert "broken.yaml: not valid YAML: line 3" in both.stderr
    assert names(api, "bad-") == set()


CRONTAB = """\
# nightly jobs
MAILTO=ops@example.com
CRON_TZ=America/New_York
0 2 * * * /usr/local/bin/backup.sh --full > /dev/null 2>&1
@weekly mail -s "weekly report" ops%Hello,%see the dashboard.
"""


def test_import_crontab_previews_then_creates_idempotently(server, api, tmp_path: Path):
    crontab = tmp_path / "crontab"
    crontab.write_text(CRONTAB)
    preview = run(server, "import", "crontab", str(crontab), "--name-prefix", "ct-", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "ct-backup-sh-full" in preview.stdout and "America/New_York" in preview.stdout
    assert "2 to create" in preview.stdout and "MAILTO ignored" in preview.stderr
    assert names(api, "ct-") == set()

    created = run(server, "import", "crontab", str(crontab), "--name-prefix", "ct-", "--yes")
    assert created.returncode == 0, created.stderr
    weekly = api.get("/v1/schedules/ct-mail-s-weekly-report-ops").json()
    assert weekly["cron"] == "0 0 * * 0" and weekly["handler"] == "mail"
    assert weekly["payload"] == {
        "command": 'mail -s "weekly report" ops',
        "stdin": "Hello,\nsee the dashboard.\n",
    }
    again = run(server, "import", "crontab", str(crontab), "--name-prefix", "ct-")
    assert again.returncode == 0 and "No changes" in again.stdout

    pushed = run(
        server,
        "import",
        "crontab",
        "-",
        "--push-url",
        "http://127.0.0.1:9/run",
        "--name-prefix",
        "ctp-",
        "--timezone",
        "Europe/Paris",
        stdin="@hourly /bin/true\n",
    )
    assert pushed.returncode == 0, pushed.stderr
    hourly = api.get("/v1/schedules/ctp-true").json()
    assert hourly["delivery"]["http"]["url"] == "http://127.0.0.1:9/run"
    assert hourly["timezone"] == "Europe/Paris"

    reboot = run(server, "import", "crontab", "-", stdin="# boot\n@reboot /usr/bin/start\n")
    assert reboot.returncode == 1 and "-:2: @reboot" in reboot.stderr


def test_sdk_apply_sync_and_async(server, api):
    declared = [
        {"name": "sdk-a", "handler": "h", "cron": "@daily"},
        {"name": "sdk-b", "handler": "h", "interval": "1h"},
    ]
    with Chronos(api_key=server.api_key, base_url=server.url) as chronos:
        planned = chronos.schedules.apply(declared, dry_run=True)
        assert planned.created == ["sdk-a", "sdk-b"] and names(api, "sdk-") == set()
        assert planned.items[0].next_fire is not None
        result = chronos.schedules.apply(declared)
        assert result.created == ["sdk-a", "sdk-b"] and all(i.done for i in result.items)
        assert chronos.schedules.apply(declared).unchanged == ["sdk-a", "sdk-b"]
        with pytest.raises(ApplyError) as caught:
            chronos.schedules.apply([{"name": "sdk-c", "handler": "h", "cron": "nope"}])
        assert caught.value.problems[0].name == "sdk-c"
        assert caught.value.problems[0].source == "schedules[0]"

    async def scenario():
        async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
            changed = [declared[0], {**declared[1], "interval": "2h"}]
            result = await client.schedules.apply(changed)
            exported = await client.schedules.export()
            return result, exported

    result, exported = asyncio.run(scenario())
    assert result.updated == ["sdk-b"] and result.unchanged == ["sdk-a"]
    assert [(c.path, c.old, c.new) for c in result.items[1].changes] == [("interval.value", 1, 2)]
    assert {"name": "sdk-b", "handler": "h", "interval": {"value": 2, "unit": "hour"}} in exported
