"""The complete ``chronos`` command (issue 16, item 5): the real command against one real
``chronos serve`` for the module — new commands, names where ids were, whole ids at 80
columns, times in the schedule's timezone or ``--utc``, ``--version``, shell completion and
``--json`` on every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import typer

from chronos.cli import app
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

CHRONOS = str(Path(sys.executable).with_name("chronos"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("cli-complete")
    node = ChronosServer(f"sqlite:///{directory}/cli.db", directory)
    node.start()
    yield node
    node.stop()


def run(
    server: ChronosServer | None, *args: str, env: dict[str, str] | None = None, input: str = ""
) -> subprocess.CompletedProcess[str]:
    """``chronos ARGS`` as a user types it (80 columns, not a terminal)."""
    base = {k: v for k, v in os.environ.items() if k not in ("CHRONOS_UTC", "EDITOR", "VISUAL")}
    if server is not None:
        base |= {"CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key}
    return subprocess.run(
        [CHRONOS, *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=30,
        env={**base, "COLUMNS": "80", **(env or {})},
    )


def ok(server: ChronosServer | None, *args: str, **kwargs: object) -> str:
    done = run(server, *args, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, f"chronos {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def as_json(server: ChronosServer, *args: str) -> object:
    return json.loads(ok(server, *args, "--json"))


def local(instant: str, zone: str) -> str:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    shown = moment.astimezone(UTC if zone == "UTC" else ZoneInfo(zone))
    return f"{shown:%Y-%m-%d %H:%M:%S} {shown.tzname()}"


def test_version_and_shell_completion():
    assert ok(None, "--version").strip() == f"chronos {version('chronos-scheduler')}"
    # Typer detects the user's shell from the process tree, which a test runner need not
    # have; with detection off, the shell is named explicitly, as a user may.
    no_detect = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = ok(None, "--show-completion", "bash", env=no_detect)
    assert "_chronos_completion" in script and "complete " in script
    assert "--install-completion" in ok(None, "--help")


def test_every_command_takes_json():
    """Every command but the long-running ``serve``, ``dev`` and ``worker`` prints JSON."""
    root = typer.main.get_command(app)
    missing = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        elif path not in (["serve"], ["dev"], ["worker"]) and not any(
            "--json" in p.opts for p in command.params
        ):
            missing.append(" ".join(path))

    walk(root, [])
    assert missing == []


def test_jobs_create_and_names_where_ids_were(server: ChronosServer, tmp_path: Path):
    ok(server, "schedules", "create", "tokyo-report", "--handler", "report", "--cron",
       "0 9 * * *", "--timezone", "Asia/Tokyo")  # fmt: skip
    triggered = as_json(server, "schedules", "trigger", "tokyo-report")
    payload = tmp_path / "payload.json"
    payload.write_text('{"to": "a@example.com"}')
    welcome = ["jobs", "create", "--handler", "send-email", "--payload", f"@{payload}",
               "--scheduled-for", "2030-01-01T00:00:00Z", "--idempotency-key", "w-1"]  # fmt: skip
    created = as_json(server, *welcome)
    assert created["payload"] == {"to": "a@example.com"} and created["status"] == "pending"
    assert created["idempotency_key"] == "w-1" and created["run_at"] == "2030-01-01T00:00:00Z"
    again = run(server, *welcome)  # the same key: refused, nothing created
    assert again.returncode == 1 and "idempotency_key_conflict" in again.stderr
    pushed = as_json(server, "jobs", "create", "--push-url", "https://example.com/run",
                     "--delay", "1h", "--payload", '{"n": 1}')  # fmt: skip
    assert pushed["delivery"]["type"] == "push" and pushed["status"] == "pending"
    shown = ok(server, "jobs", "create", "--handler", "h")
    assert shown.startswith("created job job_")

    by_name = as_json(server, "jobs", "list", "--schedule", "tokyo-report")
    assert [j["id"] for j in by_name] == [triggered["id"]]
    by_id_option = as_json(server, "jobs", "list", "--schedule-id", "tokyo-report")
    assert [j["id"] for j in by_id_option] == [triggered["id"]]
    by_id = as_json(server, "jobs", "list", "--schedule-id", triggered["schedule_id"])
    assert [j["id"] for j in by_id] == [triggered["id"]]
    unknown = run(server, "jobs", "list", "--schedule-id", "no-such-schedule")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "no schedule 'no-such-schedule'" in unknown.stderr
    bad = run(server, "jobs", "create", "--handler", "h", "--payload", "{nope")
    assert bad.returncode == 2 and "not JSON" in bad.stderr


def test_ids_are_never_cut_at_80_columns(server: ChronosServer):
    ok(server, "schedules", "create", "a-schedule-with-a-rather-long-name", "--handler",
       "a-handler-with-a-long-name", "--every", "1h")  # fmt: skip
    as_json(server, "schedules", "trigger", "a-schedule-with-a-rather-long-name")
    jobs = as_json(server, "jobs", "list")
    assert len(jobs) >= 2
    table = ok(server, "jobs", "list")
    assert max(len(line) for line in table.splitlines()) <= 80
    for job in jobs:
        assert job["id"] in table, f"{job['id']} is cut:\n{table}"
    assert "…" not in table
    job = jobs[0]
    execution_free = ok(server, "jobs", "show", job["id"])
    assert job["id"] in execution_free
    schedule = as_json(server, "schedules", "show", "a-schedule-with-a-rather-long-name")
    assert schedule["id"] in ok(server, "schedules", "show", schedule["id"])


def test_times_in_the_schedule_timezone_or_utc(server: ChronosServer):
    ok(server, "schedules", "create", "paris-nightly", "--handler", "report", "--cron",
       "0 2 * * *", "--timezone", "Europe/Paris")  # fmt: skip
    schedule = as_json(server, "schedules", "show", "paris-nightly")
    next_run = schedule["next_run_at"]
    paris, utc = local(next_run, "Europe/Paris"), local(next_run, "UTC")
    assert paris.endswith(("CET", "CEST")) and utc.endswith("UTC")

    shown = ok(server, "schedules", "show", "paris-nightly")
    assert paris in shown and utc not in shown
    assert utc in ok(server, "--utc", "schedules", "show", "paris-nightly")
    assert utc in ok(server, "schedules", "show", "paris-nightly", env={"CHRONOS_UTC": "1"})
    wide = {"COLUMNS": "200"}  # times wrap in narrow columns
    assert paris in ok(server, "schedules", "list", env=wide)
    assert paris in ok(server, "schedules", "upcoming", "paris-nightly", "--count", "1")
    assert utc in ok(server, "--utc", "schedules", "upcoming", "paris-nightly", "--count", "1")
    # --json is the API's answer, whatever --utc says
    assert as_json(server, "schedules", "upcoming", "paris-nightly", "--count", "1") == [next_run]

    job = as_json(server, "schedules", "trigger", "paris-nightly")
    one_off = as_json(server, "jobs", "create", "--handler", "h", "--delay", "1h")
    table = ok(server, "jobs", "list", "--limit", "200", env=wide)
    assert local(job["run_at"], "Europe/Paris") in table  # its schedule's timezone
    assert local(one_off["run_at"], "UTC") in table  # no schedule: UTC
    utc_table = ok(server, "--utc", "jobs", "list", "--limit", "200", env=wide)
    assert local(job["run_at"], "UTC") in utc_table


def test_success_rate_reads_as_a_percentage(server: ChronosServer):
    ok(server, "schedules", "create", "rated", "--handler", "rated-handler", "--every", "1h")
    as_json(server, "schedules", "trigger", "rated")
    headers = {"Authorization": f"Bearer {server.api_key}"}
    claimed = httpx.post(
        f"{server.url}/v1/worker/jobs/claim",
        json={"handlers": ["rated-handler"], "wait_seconds": 5},
        headers=headers,
    ).json()["jobs"]
    execution_id = claimed[0]["execution_id"]
    httpx.post(
        f"{server.url}/v1/worker/executions/{execution_id}/result",
        json={"status": "completed"},
        headers=headers,
    ).raise_for_status()
    assert as_json(server, "schedules", "show", "rated")["success_rate"] == 1.0
    listed = [line for line in ok(server, "schedules", "list").splitlines() if "rated" in line]
    assert "100%" in listed[0]
    shown = [line for line in ok(server, "schedules", "show", "rated").splitlines()]
    assert any("success_rate" in line and "100%" in line for line in shown)
    assert "1.0" not in "\n".join(line for line in shown if "success_rate" in line)


def test_edit_versions_and_rollback(server: ChronosServer, tmp_path: Path):
    ok(server, "schedules", "create", "editable", "--handler", "report", "--cron", "0 2 * * *")
    dry = ok(server, "schedules", "edit", "editable", "--set", "cron=0 3 * * *", "--dry-run")
    assert '"0 2 * * *" → "0 3 * * *"' in dry
    assert as_json(server, "schedules", "show", "editable")["version"] == 1

    edited = ok(server, "schedules", "edit", "editable", "--set", "cron=0 3 * * *",
                "--set", "payload.region=eu", "--set", "tags.team=data")  # fmt: skip
    assert 'payload.region: (none) → "eu"' in edited and "version 2" in edited
    after = as_json(server, "schedules", "show", "editable")
    assert (after["cron"], after["payload"], after["tags"]) == (
        "0 3 * * *",
        {"region": "eu"},
        {"team": "data"},
    )

    # $EDITOR: what the editor saves is diffed and PATCHed
    editor = "sed -i -e 's/^handler: report$/handler: report-v2/'"
    by_editor = ok(server, "schedules", "edit", "editable", env={"EDITOR": editor})
    assert 'handler: "report" → "report-v2"' in by_editor
    assert as_json(server, "schedules", "show", "editable")["handler"] == "report-v2"

    # -f: the whole configuration; a key left out is reset (tags back to none)
    config = as_json(server, "schedules", "version", "editable", "3")["config"]
    del config["tags"]
    config["cron"] = "0 4 * * *"
    (tmp_path / "editable.json").write_text(json.dumps(config))
    from_file = as_json(
        server, "schedules", "edit", "editable", "-f", str(tmp_path / "editable.json")
    )
    assert from_file["changes"]["cron"] == ["0 3 * * *", "0 4 * * *"]
    assert from_file["schedule"]["tags"] == {} and from_file["schedule"]["version"] == 4

    versions = as_json(server, "schedules", "versions", "editable")
    assert [v["version"] for v in versions] == [4, 3, 2, 1]
    table = ok(server, "schedules", "versions", "editable")
    assert "4 (current)" in table and "created" in table
    first = ok(server, "schedules", "version", "editable", "1")
    assert "cron: 0 2 * * *" in first and "handler: report" in first

    rolled = ok(server, "schedules", "rollback", "editable", "1")
    assert '"0 4 * * *" → "0 2 * * *"' in rolled and "version 5" in rolled
    restored = as_json(server, "schedules", "show", "editable")
    assert (restored["cron"], restored["handler"], restored["version"]) == (
        "0 2 * * *",
        "report",
        5,
    )


def test_delete_enable_disable_exist(server: ChronosServer):
    ok(server, "schedules", "create", "short-lived", "--handler", "h", "--every", "1h")
    assert as_json(server, "schedules", "disable", "short-lived")["state"] == "disabled"
    assert as_json(server, "schedules", "enable", "short-lived")["state"] == "enabled"
    assert as_json(server, "schedules", "delete", "short-lived") == {"deleted": "short-lived"}
    assert run(server, "schedules", "show", "short-lived").returncode == 1


def test_every_read_command_prints_json(server: ChronosServer):
    ok(server, "schedules", "create", "read-me", "--handler", "h", "--cron", "0 1 * * *")
    job = as_json(server, "schedules", "trigger", "read-me")
    ok(server, "calendars", "create", "holidays", "--date", "2026-12-25")
    ok(server, "monitors", "create", "backup", "--every", "1h")
    ok(server, "alerts", "rules", "create", "missed", "--condition", "missed")
    backfill = as_json(server, "schedules", "backfill", "read-me", "--from",
                       "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z")  # fmt: skip
    reads = [
        ["schedules", "list"],
        ["schedules", "show", "read-me"],
        ["schedules", "upcoming", "read-me"],
        ["schedules", "slots", "read-me"],
        ["schedules", "versions", "read-me"],
        ["schedules", "version", "read-me", "1"],
        ["schedules", "backfills", "read-me"],
        ["schedules", "preview", "p", "--handler", "h", "--cron", "0 1 * * *"],
        ["jobs", "list", "--schedule", "read-me"],
        ["jobs", "show", job["id"]],
        ["backfills", "show", backfill["id"]],
        ["calendars", "list"],
        ["calendars", "show", "holidays"],
        ["monitors", "list"],
        ["monitors", "show", "backup"],
        ["alerts", "list"],
        ["alerts", "rules", "list"],
        ["alerts", "rules", "show", "missed"],
        ["audit", "--resource", "read-me"],
        ["export"],
    ]
    for command in reads:
        parsed = as_json(server, *command)
        assert parsed is not None, command


def test_admin_commands_print_json(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/admin.db"
    assert json.loads(ok(None, "migrate", "--database-url", url, "--create", "--json")) == {
        "migrated": True
    }
    created = json.loads(ok(None, "accounts", "create", "acme", "--database-url", url, "--json"))
    assert created["account"] == "acme" and created["api_key"].startswith("chrns_")
    key = json.loads(
        ok(None, "accounts", "keys", "create", "acme", "--database-url", url, "--json")
    )
    assert key["account"] == "acme" and key["id"].startswith("key_")
    [account] = json.loads(ok(None, "accounts", "list", "--database-url", url, "--json"))
    assert account["name"] == "acme" and account["key_count"] == 2
    assert account["id"] in ok(None, "accounts", "list", "--database-url", url)  # whole at 80


def audit_reasons(server: ChronosServer, resource: str) -> dict[str, list[str | None]]:
    """Per action, the reasons GET /v1/audit records for ``resource`` (an id or a name)."""
    answer = httpx.get(
        f"{server.url}/v1/audit",
        params={"resource_id": resource, "limit": 100},
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, list[str | None]] = {}
    for record in answer.json()["data"]:
        found.setdefault(record["action"], []).append(record["reason"])
    return found


def test_calendars_update(server: ChronosServer, tmp_path: Path):
    ok(server, "calendars", "create", "office", "--date", "2026-12-24", "--date", "2026-12-25")
    shown = ok(
        server,
        "calendars",
        "update",
        "office",
        "--add-date",
        "2026-12-31",
        "--remove-date",
        "2026-12-24",
        "--add-range",
        "2027-08-01:2027-08-15",
        "--rule",
        "weekends",
        "--description",
        "closed",
        "--reason",
        "office closed",
    )
    assert "~ update office" in shown and "version 2" in shown
    assert 'ranges: [] → [{"from": "2027-08-01", "to": "2027-08-15"}]' in shown
    assert '"2026-12-24", "2026-12-25"' in shown and '["2026-12-25", "2026-12-31"]' in shown

    rules = as_json(
        server,
        "calendars",
        "update",
        "office",
        "--clear-rules",
        "--rule",
        'nth_weekday:{"weekday": "thu", "n": 4}',
        "--rule",
        "yearly:1:1",
    )
    assert rules["calendar"]["rules"] == [
        {"kind": "nth_weekday", "weekday": "thu", "n": 4},
        {"kind": "yearly", "month": 1, "day": 1},
    ]
    assert rules["changes"]["rules"][0] == [{"kind": "weekends"}]

    (tmp_path / "patch.json").write_text(json.dumps({"dates": [], "ranges": []}))
    from_file = as_json(server, "calendars", "update", "office", "-f", str(tmp_path / "patch.json"))
    assert from_file["calendar"]["dates"] == [] and from_file["calendar"]["version"] == 4
    not_there = run(server, "calendars", "update", "office", "--remove-date", "2026-01-01")
    assert not_there.returncode == 2 and "not one of office's dates" in not_there.stderr
    assert audit_reasons(server, "office")["calendar.updated"][-1] == "office closed"


def test_alert_rules_update_enable_disable(server: ChronosServer):
    ok(
        server,
        "alerts",
        "rules",
        "create",
        "slow",
        "--condition",
        "late",
        "--seconds",
        "5m",
        "--webhook",
        "https://hooks.example.com/a",
        "--header",
        "X-Token=s3cret",
    )
    shown = ok(
        server,
        "alerts",
        "rules",
        "update",
        "slow",
        "--grace",
        "2m",
        "--cooldown",
        "1h",
        "--webhook-url",
        "https://hooks.example.com/b",
        "--format",
        "slack",
        "--reason",
        "quieter",
    )
    assert "~ update slow" in shown and "grace: 0 → 120" in shown.replace(".0", "")
    rule = as_json(server, "alerts", "rules", "show", "slow")
    assert rule["webhook"]["url"] == "https://hooks.example.com/b"
    assert rule["webhook"]["format"] == "slack" and rule["webhook"]["headers"]  # headers kept
    disabled = as_json(server, "alerts", "rules", "disable", "slow", "--reason", "maintenance")
    assert disabled["rule"]["enabled"] is False and disabled["changes"]["enabled"] == [True, False]
    assert "enabled" in ok(server, "alerts", "rules", "enable", "slow")
    reasons = audit_reasons(server, rule["id"])
    assert {"quieter", "maintenance"} <= set(reasons["alert_rule.updated"])


def test_monitors_update_pause_resume_rotate_token(server: ChronosServer):
    made = as_json(server, "monitors", "create", "nightly-backup", "--cron", "0 2 * * *")
    shown = ok(
        server,
        "monitors",
        "update",
        "nightly-backup",
        "--cron",
        "0 3 * * *",
        "--timezone",
        "Europe/Paris",
        "--grace",
        "1h",
        "--reason",
        "moved",
    )
    assert '"0 2 * * *" → "0 3 * * *"' in shown and "Europe/Paris" in shown
    interval = as_json(server, "monitors", "update", "nightly-backup", "--interval", "2h")
    assert interval["monitor"]["cron"] is None and interval["changes"]["cron"][0] == "0 3 * * *"
    paused = as_json(server, "monitors", "pause", "nightly-backup", "--reason", "migration")
    assert paused["state"] == "paused"
    assert "nightly-backup is" in ok(server, "monitors", "resume", "nightly-backup")
    rotated = ok(server, "monitors", "rotate-token", "nightly-backup", "--reason", "leaked")
    new_ok = as_json(server, "monitors", "show", "nightly-backup")["ping_urls"]["ok"]
    assert new_ok != made["ping_urls"]["ok"] and new_ok in rotated
    assert httpx.get(made["ping_urls"]["ok"], timeout=10).status_code == 404
    reasons = {r for rs in audit_reasons(server, made["id"]).values() for r in rs}
    assert {"moved", "migration", "leaked"} <= reasons


def test_schedules_edit_and_rollback_take_a_reason(server: ChronosServer):
    ok(server, "schedules", "create", "reasoned", "--handler", "h", "--cron", "0 2 * * *")
    ok(server, "schedules", "edit", "reasoned", "--set", "cron=0 3 * * *", "--reason", "later")
    rolled = as_json(server, "schedules", "rollback", "reasoned", "1", "--reason", "too late")
    assert rolled["schedule"]["cron"] == "0 2 * * *"
    reasons = {r for rs in audit_reasons(server, "reasoned").values() for r in rs}
    assert {"later", "too late"} <= reasons
