"""The audit log's pure parts: the diff (dotted paths, before → after), secret redaction,
the actor and the reason check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronos.server.api.deps import check_reason
from chronos.server.domain.audit import REDACTED, Actor, audit_row, diff
from chronos.server.errors import BadRequest

HOLDER = {"key_id": "key_1", "key_name": "ops", "key_prefix": "chrns_AbC1"}


def test_diff_lists_changed_fields_by_dotted_path():
    before = {"cron": "0 2 * * *", "tags": {"team": "a"}, "timeout": 30}
    after = {"cron": "0 3 * * *", "tags": {"team": "a", "env": "prod"}, "timeout": 30}
    assert diff(before, after) == {"cron": ["0 2 * * *", "0 3 * * *"], "tags.env": [None, "prod"]}
    assert diff(before, before) == {}
    assert diff(None, {"a": 1}) == {"a": [None, 1]}
    assert diff({"a": {"b": 1}}, None) == {"a": [{"b": 1}, None]}


def test_header_values_and_url_passwords_are_redacted_names_kept():
    delivery = {
        "http": {
            "url": "https://bot:hunter2@example.com/x?y=1",
            "headers": {"Authorization": "Bearer abc", "X-Id": "7"},
        }
    }
    created = diff(None, {"delivery": delivery})["delivery"][1]["http"]
    assert created == {
        "url": f"https://bot:{REDACTED}@example.com/x?y=1",
        "headers": {"Authorization": REDACTED, "X-Id": REDACTED},
    }
    changed = diff(
        {"delivery": delivery},
        {"delivery": {"http": {**delivery["http"], "url": "https://example.com/x"}}},
    )
    assert changed == {
        "delivery.http.url": [f"https://bot:{REDACTED}@example.com/x?y=1", "https://example.com/x"]
    }
    secrets = diff({"secret": "s1", "key_hash": "h1"}, {"secret": "s2", "key_hash": "h2"})
    assert secrets == {"secret": [REDACTED, REDACTED], "key_hash": [REDACTED, REDACTED]}


_NAMES = st.text(alphabet="abcdefghij-", min_size=1, max_size=10)
_VALUES = st.text(min_size=0, max_size=20).map(lambda text: f"S3CR3T{text}")


@given(
    st.dictionaries(_NAMES, _VALUES, max_size=4),
    st.dictionaries(_NAMES, _VALUES, max_size=4),
    st.text(alphabet="abc:@", max_size=12),
)
def test_no_header_value_or_url_password_ever_reaches_a_record(old, new, user):
    url = f"https://{user}:S3CR3Tpw@host/path"
    record = diff(
        {"delivery": {"http": {"headers": old, "url": "https://host/"}}},
        {"delivery": {"http": {"headers": new, "url": url}}},
    )
    assert "S3CR3T" not in str(record)


def test_actor_text_and_reason():
    actor = Actor.of(HOLDER, via="dashboard")
    assert str(actor) == "dashboard: ops (chrns_AbC1…)" and actor.key_id == "key_1"
    assert actor.with_reason(None) is actor
    assert actor.with_reason("why").reason == "why"
    now = datetime(2026, 3, 1, tzinfo=UTC)
    row = audit_row("acc", actor.with_reason("why"), "schedule.paused", "schedule", "sch_1", "n",
                    before={"state": "enabled"}, after={"state": "paused"}, at=now)  # fmt: skip
    assert (row["reason"], row["actor"], row["changes"]) == (
        "why",
        "dashboard: ops (chrns_AbC1…)",
        {"state": ["enabled", "paused"]},
    )
    note = audit_row("acc", actor.with_reason("why"), "x.y", "x", "1", None,
                     before=None, after=None, at=now, reason="the note")  # fmt: skip
    assert note["reason"] == "the note" and note["changes"] is None
    system = audit_row("acc", None, "x.y", "x", "1", None, before=None, after=None, at=now)
    assert (system["actor"], system["actor_key_id"], system["reason"]) == (None, None, None)


@pytest.mark.parametrize("bad", ["x" * 501, "a\x00b", "line\nbreak", "del\x7f"])
def test_reasons_must_be_short_and_printable(bad):
    with pytest.raises(BadRequest):
        check_reason(bad)


def test_reasons_are_trimmed_and_blank_is_none():
    assert check_reason("  migrating\t ") == "migrating"
    assert check_reason("   ") is None
    assert check_reason(None) is None
    assert check_reason("tab\tinside") == "tab\tinside"
