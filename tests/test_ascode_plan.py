"""Schedules as code, without a server: files, canonical forms, the plan and its diff."""

from __future__ import annotations

import io

import pytest

from chronos.ascode.files import FileProblems, dump_document, load_sources, parse_document
from chronos.ascode.normalize import canonical, compact, interval, seconds
from chronos.ascode.plan import (
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    MISSING,
    ApplyError,
    Declared,
    compute_plan,
    diff,
    export_body,
)
from chronos.ascode.runner import Request, apply_steps, drive
from chronos.errors import ValidationError

MARK = {MANAGED_TAG_KEY: MANAGED_TAG_VALUE}


def server_view(**overrides):
    """A schedule as GET /v1/schedules returns it (defaults filled, read-only fields)."""
    view = {
        "id": "sch_01m8k501ypt4z2tejxcgwd30f3",
        "name": "nightly",
        "description": None,
        "handler": "report",
        "cron": "0 2 * * *",
        "interval": None,
        "timezone": "UTC",
        "start_at": None,
        "end_at": None,
        "payload": None,
        "delivery": {"type": "pull"},
        "timeout": 30,
        "max_retries": 3,
        "retry_policy": {
            "max_attempts": 4,
            "initial_interval": 1,
            "multiplier": 2.0,
            "max_interval": 3600,
        },
        "concurrency": "forbid",
        "misfire_policy": "run_once",
        "catchup_window": 3600,
        "tags": dict(MARK),
        "enabled": True,
        "dst_policy": {"gap": "shift", "overlap": "first"},
        "jitter": 0,
        "spread": 0,
        "exclude_calendars": [],
        "only_calendar": None,
        "cron_resolved": "0 2 * * *",
        "state": "enabled",
        "next_run_at": "2026-11-30T02:00:00Z",
        "last_run_at": None,
        "last_status": None,
        "version": 1,
        "success_rate": None,
        "created_at": "2026-11-29T00:00:00Z",
        "updated_at": "2026-11-29T00:00:00Z",
    }
    view.update(overrides)
    return view


def plan_for(body, current):
    return compute_plan([Declared(body, "s.yaml:2")], current)


def test_a_hand_written_body_matches_the_servers_canonical_view():
    body = {
        "name": "nightly",
        "handler": "report",
        "schedule": "@daily",
        "timeout": "30s",
        "retry_policy": {"max_attempts": 4, "initial_interval": "1s", "max_interval": "1h"},
        "catchup_window": "60m",
    }
    current = server_view(cron="0 0 * * *")
    [item] = plan_for(body, [current])
    assert item.action == "unchanged", item.changes


def test_aliases_and_durations_take_the_servers_form():
    assert seconds("1h30m") == 5400 and seconds({"value": 2, "unit": "minutes"}) == 120
    assert interval("90m") == {"value": 90, "unit": "minute"}
    assert interval(7200) == {"value": 2, "unit": "hour"}
    assert interval({"value": 2, "unit": "Hours"}) == {"value": 2, "unit": "hour"}
    config = canonical(
        {
            "name": "n",
            "webhook": {"url": "https://x.test/h", "success_codes": [204, "2xx"]},
            "schedule": "@every 90s",
            "start_at": "2026-01-01T01:00:00+01:00",
            "exclude_calendars": ["a", "b", "a"],
        }
    )
    assert config["interval"] == {"value": 90, "unit": "second"} and config["cron"] is None
    assert config["delivery"] == {
        "type": "push",
        "http": {
            "url": "https://x.test/h",
            "method": "POST",
            "headers": {},
            "body": None,
            "success_codes": ["204", "200-299"],
        },
    }
    assert config["start_at"] == "2026-01-01T00:00:00Z"
    assert config["exclude_calendars"] == ["a", "b"]


def test_changed_fields_are_listed_old_to_new_by_path():
    body = {"name": "nightly", "handler": "report", "cron": "0 3 * * *", "tags": {"team": "a"}}
    [item] = plan_for(body, [server_view()])
    assert item.action == "update"
    assert {(c.path, c.old, c.new) for c in item.changes} == {
        ("cron", "0 2 * * *", "0 3 * * *"),
        ("tags.team", MISSING, "a"),
    }
    assert item.body["tags"] == {"team": "a", **MARK}  # what the PUT sends


def test_a_field_left_out_of_the_file_returns_to_its_default():
    [item] = plan_for(
        {"name": "nightly", "handler": "report", "cron": "0 2 * * *"},
        [server_view(timeout=60, payload={"full": True})],
    )
    assert {(c.path, c.old, c.new) for c in item.changes} == {
        ("timeout", 60, 30),
        ("payload.full", True, MISSING),
    }


def test_true_and_1_are_different_values():
    changes = diff({"payload": {"x": 1}}, {"payload": {"x": True}})
    assert [(c.path, c.old, c.new) for c in changes] == [("payload.x", 1, True)]


def test_the_managed_marker_is_not_a_change_and_prune_needs_it():
    unmarked = server_view(name="by-hand", tags={})
    managed_gone = server_view(name="old")
    declared = [Declared({"name": "by-hand", "handler": "report", "cron": "0 2 * * *"})]
    items = compute_plan(declared, [unmarked, managed_gone], prune=True)
    assert [(i.action, i.name) for i in items] == [("unchanged", "by-hand"), ("delete", "old")]
    assert [i.action for i in compute_plan(declared, [unmarked, managed_gone])] == ["unchanged"]


def test_create_shows_only_what_differs_from_the_defaults():
    [item] = plan_for({"name": "n", "handler": "h", "cron": "0 2 * * *", "timeout": 60}, [])
    assert item.action == "create"
    assert {(c.path, c.new) for c in item.changes} == {
        ("handler", "h"),
        ("cron", "0 2 * * *"),
        ("timeout", 60),
    }


def test_duplicate_and_missing_names_stop_the_plan_naming_their_source():
    declared = [
        Declared({"name": "a", "handler": "h", "cron": "@daily"}, "one.yaml:2"),
        Declared({"handler": "h", "cron": "@daily"}, "one.yaml:5"),
        Declared({"name": "a", "handler": "h", "cron": "@hourly"}, "two.yaml:2"),
    ]
    with pytest.raises(ApplyError) as caught:
        compute_plan(declared, [])
    assert [str(p) for p in caught.value.problems] == [
        "one.yaml:5: a schedule needs a non-blank name",
        "two.yaml:2: a: declared twice (also at one.yaml:2)",
    ]


def test_export_body_round_trips_through_the_plan():
    current = server_view(
        timeout=300,
        tags={"team": "backend", **MARK},
        delivery={
            "type": "push",
            "http": {
                "url": "https://x.test/h",
                "method": "PUT",
                "headers": {},
                "body": None,
                "success_codes": ["200-299"],
            },
        },
        retry_policy={
            "max_attempts": 6,
            "initial_interval": 2,
            "multiplier": 2.0,
            "max_interval": 3600,
        },
        max_retries=5,
    )
    exported = export_body(current)
    assert exported == {
        "name": "nightly",
        "handler": "report",
        "cron": "0 2 * * *",
        "delivery": {"type": "push", "http": {"url": "https://x.test/h", "method": "PUT"}},
        "timeout": 300,
        "max_retries": 5,
        "retry_policy": {"initial_interval": 2, "multiplier": 2.0, "max_interval": 3600},
        "tags": {"team": "backend"},
    }
    [declared] = parse_document(dump_document([exported]), "e.yaml")
    assert plan_for(declared.body, [current])[0].action == "unchanged"
    assert compact(canonical({"name": "n", "handler": "h", "cron": "@daily"})) == {
        "name": "n",
        "handler": "h",
        "cron": "0 0 * * *",
    }


def test_multi_line_strings_are_written_as_blocks_and_read_back():
    body = {"name": "m", "payload": {"stdin": "Hello,\nsee you.\n", "odd": "a\n  b \n\n"}}
    text = dump_document([body])
    assert "stdin: |\n" in text
    assert parse_document(text, "m.yaml")[0].body == body


def test_files_take_a_schedules_key_or_a_bare_list_and_name_lines():
    text = "schedules:\n  - name: a\n    cron: '@daily'\n    handler: h\n  - name: b\n"
    assert [d.source for d in parse_document(text, "s.yaml")] == ["s.yaml:2", "s.yaml:5"]
    assert [d.name for d in parse_document("- name: x\n", "l.yaml")] == ["x"]
    assert parse_document('[{"name": "j"}]', "j.json", as_json=True)[0].source == "j.json[0]"
    assert parse_document("schedules: []\n", "none.yaml") == []
    dated = parse_document("- name: d\n  start_at: 2026-01-01T00:00:00Z\n", "d.yaml")
    assert dated[0].body["start_at"] == "2026-01-01T00:00:00Z"  # YAML's datetime, as text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("schedules:\n  - name: [unclosed\n", "not valid YAML: line 3"),
        ("- name: c\n  cron: */5 * * * *\n", "must be quoted"),
        ("calendars: []\nschedules: []\n", "unknown top-level key(s) ['calendars']"),
        ("name: lonely\n", "unknown top-level key(s) ['name']"),
        ("42\n", "expected a list of schedules"),
    ],
)
def test_unreadable_files_say_why(text, message):
    with pytest.raises(FileProblems) as caught:
        parse_document(text, "bad.yaml")
    [problem] = caught.value.problems
    assert problem.source == "bad.yaml" and message in problem.message


def test_a_folder_reads_its_yaml_and_json_files_in_order(tmp_path):
    (tmp_path / "b.yml").write_text("- name: b\n")
    (tmp_path / "a.json").write_text('{"schedules": [{"name": "a"}]}')
    (tmp_path / "notes.txt").write_text("not a schedule")
    stdin = io.StringIO("- name: s\n")
    found = load_sources([str(tmp_path), "-"], stdin=stdin)
    assert [d.name for d in found] == ["a", "b", "s"]
    with pytest.raises(FileProblems) as caught:
        load_sources([str(tmp_path / "missing.yaml"), str(tmp_path / "notes.txt")])
    assert len(caught.value.problems) == 2


def test_the_steps_validate_every_change_before_writing_anything():
    """A fake ``_call``: the second schedule is refused by the server's validation, so no
    PUT is made at all."""
    calls: list[Request] = []

    def call(method, path, *, json=None, params=None):
        calls.append(Request(method, path, json, params or {}))
        if method == "GET":
            return {"data": [], "next_cursor": None}
        if json and json.get("name") == "bad":
            raise ValidationError("invalid cron expression", code="invalid_schedule")
        return {"data": ["2026-11-30T02:00:00Z"]}

    declared = [{"name": "good", "handler": "h", "cron": "@daily"}, {"name": "bad"}]
    with pytest.raises(ApplyError) as caught:
        drive(apply_steps(declared), call)
    assert [str(p) for p in caught.value.problems] == ["schedules[1]: bad: invalid cron expression"]
    assert [c.method for c in calls] == ["GET", "POST", "POST"]
    assert caught.value.result.items[0].next_fire == "2026-11-30T02:00:00Z"
