"""The crontab reader (``chronos import crontab``), without a server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.crontab import (
    MAX_NAME_LENGTH,
    CrontabError,
    command_name,
    parse_crontab,
    program,
    split_percent,
    to_schedules,
    unique_names,
)

EXAMPLE = """\
# m h dom mon dow command
MAILTO=ops@example.com
SHELL=/bin/bash
APP_ENV = "production"
CRON_TZ=America/New_York
0 2 * * * /usr/local/bin/backup.sh --full > /dev/null 2>&1
*/15 9-17 * * mon-fri cd /srv/app && ./manage.py clearsessions
@weekly mail -s "weekly report" ops%Hello,%see the dashboard.
CRON_TZ=UTC

30 4 1 jan,jul * /usr/local/bin/backup.sh --full
"""


def test_a_crontab_becomes_entries_with_their_timezone_and_notes():
    crontab = parse_crontab(EXAMPLE)
    assert [(e.line, e.cron, e.timezone) for e in crontab.entries] == [
        (6, "0 2 * * *", "America/New_York"),
        (7, "*/15 9-17 * * mon-fri", "America/New_York"),
        (8, "0 0 * * 0", "America/New_York"),
        (11, "30 4 1 jan,jul *", "UTC"),
    ]
    weekly = crontab.entries[2]
    assert weekly.command == 'mail -s "weekly report" ops'
    assert weekly.stdin == "Hello,\nsee the dashboard.\n"
    assert weekly.env == {"APP_ENV": "production"}
    notes = dict(crontab.notes)
    assert "MAILTO ignored" in notes[2] and "SHELL ignored" in notes[3]
    assert "payload's env" in notes[4] and "America/New_York" in notes[5]


def test_entries_become_pull_schedules_with_the_command_in_the_payload():
    bodies = to_schedules(parse_crontab(EXAMPLE), timezone="Europe/Paris", name_prefix="cron-")
    assert [(b["name"], b["handler"]) for b in bodies] == [
        ("cron-backup-sh-full", "backup-sh"),
        ("cron-manage-py-clearsessions", "manage-py"),
        ("cron-mail-s-weekly-report-ops", "mail"),
        ("cron-backup-sh-full-2", "backup-sh"),
    ]
    assert bodies[2]["payload"] == {
        "command": 'mail -s "weekly report" ops',
        "stdin": "Hello,\nsee the dashboard.\n",
        "env": {"APP_ENV": "production"},
    }
    assert bodies[0]["timezone"] == "America/New_York"
    assert "delivery" not in bodies[0]
    pushed = to_schedules(parse_crontab("@hourly /bin/true\n"), push_url="https://x.test/run")
    assert pushed[0]["delivery"] == {"type": "push", "http": {"url": "https://x.test/run"}}
    assert pushed[0]["timezone"] == "UTC"


def test_system_crontabs_carry_a_user():
    [entry] = parse_crontab(
        "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n", system=True
    ).entries
    assert entry.user == "root" and entry.command == "cd / && run-parts --report /etc/cron.hourly"
    assert to_schedules(parse_crontab("@daily www-data /bin/true\n", system=True))[0][
        "payload"
    ] == {"command": "/bin/true", "user": "www-data"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("echo hi", ("echo hi", None)),
        ("echo 100\\% done", ("echo 100% done", None)),
        ("cat%a%b", ("cat", "a\nb\n")),
        ("cat%a\\%b%", ("cat", "a%b\n")),
        ("cat%", ("cat", "")),
        ("printf '%s'\\%x", ("printf '", "s'%x\n")),
        ("a\\b%c\\d", ("a\\b", "c\\d\n")),
    ],
)
def test_percent_splits_stdin_as_cron_does(text, expected):
    assert split_percent(text) == expected


def test_reboot_and_bad_lines_are_refused_with_their_line_numbers():
    text = "MAILTO=x\n@reboot /usr/bin/start\n0 2 * *\n61 * * * * x\n@fortnightly x\n5 4 * * 8 x\n"
    with pytest.raises(CrontabError) as caught:
        parse_crontab(text)
    lines = dict(caught.value.errors)
    assert sorted(lines) == [2, 3, 4, 5, 6]
    assert "@reboot" in lines[2] and "service manager" in lines[2]
    assert "five time fields" in lines[3]
    assert "minute: 61 is outside 0-59" in lines[4]
    assert "unknown shortcut '@fortnightly'" in lines[5]
    assert "day of week: 8" in lines[6]


def test_names_are_slugs_unique_and_at_most_200_characters():
    assert command_name("/opt/bin/backup.sh --full > /dev/null 2>&1") == "backup-sh-full"
    assert command_name("FOO=1 cd /srv && php artisan schedule:run") == "php-artisan-schedule-run"
    assert program("cd /srv && ./manage.py x | tee log") == "manage-py"
    assert program("&& >") == "command"
    long = "x" * 300
    names = unique_names([long, long, long], prefix="p-")
    assert len(set(names)) == 3 and all(len(n) <= MAX_NAME_LENGTH for n in names)
    assert names[1].endswith("-2") and names[2].endswith("-3")


# --- generated crontab lines ------------------------------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = number.map(str)
    ranges = st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}")
    step = st.integers(1, high - low + 1)
    item = st.one_of(
        st.just("*"),
        single,
        ranges,
        step.map(lambda s: f"*/{s}"),
        st.tuples(ranges, step).map(lambda p: f"{p[0]}/{p[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


FIELDS = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 7))
COMMANDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1
).filter(lambda c: c.strip() and not c.strip().startswith("%"))


@settings(max_examples=200, deadline=None)
@given(FIELDS, COMMANDS, st.sampled_from([" ", "\t", "  "]))
def test_every_valid_line_parses(fields, command, gap):
    line = gap.join(fields) + gap + command
    [entry] = parse_crontab(line + "\n").entries
    assert entry.cron == " ".join(fields)
    expected_command, expected_stdin = split_percent(command.lstrip(" \t"))
    assert entry.command == expected_command.strip() and entry.stdin == expected_stdin


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["# c", "", "A=b", "@daily x", "0 * * * * y"]), max_size=8),
    st.sampled_from(
        [
            "60 * * * * x",
            "* 24 * * * x",
            "* * 0 * * x",
            "* * * 13 * x",
            "* * * *",
            "@reboot x",
            "*/0 * * * * x",
            "5-1 * * * * x",
            "@yearly",
        ]
    ),
)
def test_a_malformed_line_is_named_by_its_number(before, bad):
    text = "\n".join([*before, bad, "@hourly fine"]) + "\n"
    with pytest.raises(CrontabError) as caught:
        parse_crontab(text)
    assert [line for line, _ in caught.value.errors] == [len(before) + 1]
