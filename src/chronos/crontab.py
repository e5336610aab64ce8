"""Vixie/cronie crontabs, read as Chronos schedules (``chronos import crontab``).

    parsed = parse_crontab(open("crontab").read())
    parsed.entries    # CronEntry(line=3, cron="0 2 * * *", timezone=None, command=..., stdin=...)
    parsed.notes      # what was read but has no Chronos meaning (MAILTO=, SHELL=, ...)
    bodies = to_schedules(parsed, timezone="Europe/Paris")  # or push_url="https://…"

What a line can be (``man 5 crontab``):

- blank, or a comment (first non-blank character ``#``);
- an environment setting ``NAME = value`` (the value may be quoted). ``CRON_TZ=Zone`` sets the
  timezone of the lines below it; ``MAILTO``, ``SHELL``, ``PATH`` and cron's other own
  settings are noted and ignored; any other variable is carried in the payload's ``env``;
- five time fields and a command, or ``@hourly``/``@daily``/``@midnight``/``@weekly``/
  ``@monthly``/``@yearly``/``@annually`` and a command. ``@reboot`` has no Chronos meaning
  and is refused. In a system crontab (``/etc/crontab``, ``system=True``) a user name
  comes before the command.

In the command, the first ``%`` not escaped as ``\\%`` ends the command: what follows is its
standard input, each further ``%`` a newline (cron adds a final newline). ``\\%`` is a
literal ``%``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

MAX_NAME_LENGTH = 200

SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Variables cron itself reads: they mean nothing to Chronos.
CRON_SETTINGS = {
    "MAILTO": "Chronos sends no mail: use alert rules (docs/alerts.md) to hear of failures",
    "MAILFROM": "Chronos sends no mail",
    "SHELL": "the worker that runs the command chooses its shell",
    "PATH": "the worker that runs the command has its own PATH",
    "HOME": "the worker that runs the command has its own HOME",
    "LOGNAME": "commands run as the worker's user",
    "USER": "commands run as the worker's user",
    "RANDOM_DELAY": "use the schedule's jitter instead",
    "CONTENT_TYPE": "Chronos sends no mail",
    "CONTENT_TRANSFER_ENCODING": "Chronos sends no mail",
}

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (field name, lowest, highest, names mapped to numbers)
FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
]
_ENV = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_ITEM = re.compile(r"^(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


class CrontabError(ValueError):
    """Lines that cannot be imported, each with its line number."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"line {line}: {message}" for line, message in errors))


@dataclass(frozen=True)
class CronEntry:
    """One job line: its number, the cron (shortcuts expanded), the ``CRON_TZ`` in force
    (or None), the command and its standard input (``%``), the user (system crontabs), the
    other variables in force, and the line as written."""

    line: int
    cron: str
    command: str
    stdin: str | None = None
    timezone: str | None = None
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class Crontab:
    entries: list[CronEntry]
    notes: list[tuple[int, str]]  # (line, message): what was read and ignored


def _value(number: str, low: int, high: int, names: dict[str, int], name: str) -> int:
    if number.isdigit():
        value = int(number)
    elif number.lower() in names:
        value = names[number.lower()]
    else:
        raise ValueError(f"{name}: {number!r} is not a number")
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}-{high}")
    return value


def check_field(text: str, index: int) -> None:
    """ValueError saying what is wrong with the ``index``-th time field, if anything."""
    name, low, high, names = FIELDS[index]
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ValueError(f"{name}: cannot read {item!r}")
        if match["step"] is not None and int(match["step"]) == 0:
            raise ValueError(f"{name}: a step of 0 in {item!r}")
        if match["range"] == "*":
            continue
        first, _, last = match["range"].partition("-")
        start = _value(first, low, high, names, name)
        if last and _value(last, low, high, names, name) < start:
            raise ValueError(f"{name}: range {match['range']!r} runs backwards")


def split_percent(text: str) -> tuple[str, str | None]:
    """``(command, stdin)`` as cron splits them: the first unescaped ``%`` starts standard
    input, further ones are newlines, ``\\%`` is a literal ``%`` (cron's ``do_command.c``)."""
    command: list[str] = []
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            if char == "%":
                command[-1] = "%"
            else:
                command.append(char)
            escaped = False
            continue
        if char == "%":
            return "".join(command), _stdin(text[index + 1 :])
        command.append(char)
        escaped = char == "\\"
    return "".join(command), None


def _stdin(data: str) -> str:
    out: list[str] = []
    escaped = False
    last = "\n"  # nothing written: no newline added (cron writes nothing for "cmd%")
    for char in data:
        if escaped:
            if char != "%":
                out.append("\\")
        elif char == "%":
            char = "\n"
        escaped = char == "\\"
        if not escaped:
            out.append(char)
        last = char
    if escaped:
        out.append("\\")
    if last != "\n":
        out.append("\n")
    return "".join(out)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_crontab(text: str, *, system: bool = False) -> Crontab:
    """Every job line of a crontab; :class:`CrontabError` listing every bad line."""
    entries: list[CronEntry] = []
    notes: list[tuple[int, str]] = []
    errors: list[tuple[int, str]] = []
    timezone: str | None = None
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        setting = _ENV.match(line)
        if setting:
            key, value = setting[1], _unquote(setting[2])
            if key == "CRON_TZ":
                timezone = value or None
                notes.append((number, f"CRON_TZ={value}: the lines below run in {value or 'UTC'}"))
            elif key in CRON_SETTINGS:
                notes.append((number, f"{key} ignored: {CRON_SETTINGS[key]}"))
            else:
                env[key] = value
                notes.append((number, f"{key} is passed in the payload's env of the lines below"))
            continue
        try:
            entries.append(_job_line(number, line, system, timezone, env))
        except ValueError as exc:
            errors.append((number, str(exc)))
    if errors:
        raise CrontabError(errors)
    return Crontab(entries, notes)


def _job_line(
    number: int, line: str, system: bool, timezone: str | None, env: dict[str, str]
) -> CronEntry:
    stripped = line.strip()
    if stripped.startswith("@"):
        shortcut, *tail = re.split(r"[ \t]+", stripped, maxsplit=1)
        rest = tail[0] if tail else ""
        if shortcut.lower() == "@reboot":
            raise ValueError(
                "@reboot runs a command when the machine boots, which has no meaning in "
                "Chronos: start it from your service manager (a systemd unit) instead, or "
                "remove the line"
            )
        if shortcut.lower() not in SHORTCUTS:
            raise ValueError(
                f"unknown shortcut {shortcut!r}: use @hourly, @daily, @midnight, @weekly, "
                "@monthly, @yearly or @annually"
            )
        cron = SHORTCUTS[shortcut.lower()]
    else:
        parts = re.split(r"[ \t]+", stripped, maxsplit=5)
        if len(parts) < 6:
            raise ValueError(
                "expected five time fields and a command (minute hour day-of-month month "
                "day-of-week command)"
            )
        for index, text in enumerate(parts[:5]):
            check_field(text, index)
        cron, rest = " ".join(parts[:5]), parts[5]
    user = None
    if system:
        user_and_rest = re.split(r"[ \t]+", rest, maxsplit=1)
        if len(user_and_rest) < 2 or not user_and_rest[1].strip():
            raise ValueError("expected a user name and a command after the time fields")
        user, rest = user_and_rest
    command, stdin = split_percent(rest)
    if not command.strip():
        raise ValueError("no command")
    return CronEntry(number, cron, command.strip(), stdin, timezone, user, dict(env), stripped)


# --- names and bodies -----------------------------------------------------------------------

_CONTROL = {"|", "||", "&&", ";", "&"}
_REDIRECT = re.compile(r"^[0-9]*(?:>>?|<|&>)")


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False)
    except ValueError:  # an unbalanced quote: fall back to plain words
        return command.split()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _segment(words: list[str]) -> list[str]:
    """The words of the command that says what runs: a leading ``cd DIR &&`` and
    variable assignments are skipped, redirections and what follows ``|``/``;`` dropped."""
    while True:
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words and words[0] == "cd" and "&&" in words:
            words = words[words.index("&&") + 1 :]
            continue
        break
    out = []
    for word in words:
        if word in _CONTROL or _REDIRECT.match(word):
            break
        out.append(word)
    return out


def program(command: str) -> str:
    """The handler a command becomes: a slug of its program's name (``/opt/bin/backup.sh
    --full`` → ``backup-sh``); ``command`` when there is nothing to go on."""
    words = _segment(_words(command))
    return (slug(words[0].rsplit("/", 1)[-1]) if words else "") or "command"


def command_name(command: str) -> str:
    """A readable name from a command: its program and arguments, paths cut to their last
    part (``/opt/bin/backup.sh --full > /dev/null`` → ``backup-sh-full``)."""
    words = _segment(_words(command))
    return slug(" ".join(word.rstrip("/").rsplit("/", 1)[-1] for word in words)) or "command"


def unique_names(bases: list[str], prefix: str = "") -> list[str]:
    """``prefix`` + each base, cut to :data:`MAX_NAME_LENGTH`, made unique with ``-2``,
    ``-3``…"""
    taken: set[str] = set()
    names = []
    for base in bases:
        stem = (prefix + base)[:MAX_NAME_LENGTH].rstrip("-") or "command"
        name, counter = stem, 1
        while name in taken:
            counter += 1
            suffix = f"-{counter}"
            name = stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
        taken.add(name)
        names.append(name)
    return names


def to_schedules(
    crontab: Crontab,
    *,
    push_url: str | None = None,
    timezone: str = "UTC",
    name_prefix: str = "",
) -> list[dict[str, Any]]:
    """One schedule body per entry. Pull (default): the handler is the program's slug and
    the payload carries ``command`` (and ``stdin``, ``env``, ``user`` when there are any)
    for a worker to run. ``push_url``: Chronos posts the same payload (in its JSON envelope)
    to that URL."""
    names = unique_names([command_name(e.command) for e in crontab.entries], name_prefix)
    bodies = []
    for entry, name in zip(crontab.entries, names, strict=True):
        payload: dict[str, Any] = {"command": entry.command}
        if entry.stdin is not None:
            payload["stdin"] = entry.stdin
        if entry.env:
            payload["env"] = entry.env
        if entry.user is not None:
            payload["user"] = entry.user
        body: dict[str, Any] = {
            "name": name,
            "description": f"crontab: {entry.text}"[:2000],
            "handler": program(entry.command),
            "cron": entry.cron,
            "timezone": entry.timezone or timezone,
            "payload": payload,
            "tags": {"imported-from": "crontab"},
        }
        if push_url is not None:
            body["delivery"] = {"type": "push", "http": {"url": push_url}}
        bodies.append(body)
    return bodies
