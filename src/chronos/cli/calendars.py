"""``chronos calendars …``: named sets of dates that schedules exclude or run only on.

chronos calendars create holidays --date 2026-12-25 --range 2026-12-28:2027-01-01 --rule weekends
chronos calendars import holidays us-holidays.ics        # adds the file's all-day events
chronos calendars show holidays                          # with the schedules that use it
chronos calendars update holidays --add-date 2026-12-24 --remove-date 2026-12-25 \
    --add-range 2027-08-01:2027-08-15 --rule weekends --reason "office closed"
chronos calendars update holidays -f patch.json         # a PATCH body: {"dates": [...]}
chronos calendars delete holidays                        # refused while schedules name it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    ReasonOption,
    _client,
    _connection,
    _fields,
    _print_json,
    _table,
)
from chronos.cli.patching import PatchFileOption, nothing_given, read_patch, report
from chronos.errors import NotFoundError

calendars_app = typer.Typer(
    no_args_is_help=True, help="Calendars (holidays, business days).", callback=_connection
)

_MAX_ICS_BYTES = 2_000_000


def _rule(text: str) -> Any:
    """``weekends`` | ``weekdays`` | ``last_business_day`` | ``nth_weekday:thu:4[:11]`` |
    ``yearly:12:25``."""
    kind, *args = text.split(":")
    try:
        if kind == "nth_weekday" and len(args) in (2, 3):
            rule: dict[str, Any] = {"kind": kind, "weekday": args[0], "n": int(args[1])}
            if len(args) == 3:
                rule["month"] = int(args[2])
            return rule
        if kind == "yearly" and len(args) == 2:
            return {"kind": kind, "month": int(args[0]), "day": int(args[1])}
    except ValueError as exc:
        raise typer.BadParameter(f"cannot read rule {text!r}: {exc}") from exc
    if args:
        raise typer.BadParameter(
            f"cannot read rule {text!r}: use weekends, weekdays, last_business_day, "
            "nth_weekday:WEEKDAY:N[:MONTH] or yearly:MONTH:DAY"
        )
    return kind


def _update_rule(text: str) -> dict[str, Any]:
    """``KIND`` or ``KIND:{json}`` (``nth_weekday:{"weekday": "thu", "n": 4}``), or the
    ``create`` forms (``nth_weekday:thu:4:11``); always as the API keeps it (``{"kind": …}``)."""
    kind, sep, rest = text.partition(":")
    if sep and rest.lstrip().startswith("{"):
        try:
            params = json.loads(rest)
        except ValueError as exc:
            raise typer.BadParameter(f"cannot read rule {text!r}: {exc}") from exc
        if not isinstance(params, dict):
            raise typer.BadParameter(f"cannot read rule {text!r}: KIND:{{json object}}")
        return {**params, "kind": kind}
    rule = _rule(text)
    return {"kind": rule} if isinstance(rule, str) else rule


def _range(text: str) -> dict[str, str]:
    first, sep, last = text.partition(":")
    if not sep:
        raise typer.BadParameter(f"a range is FROM:TO (YYYY-MM-DD:YYYY-MM-DD), got {text!r}")
    return {"from": first, "to": last}


def _read_ics(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > _MAX_ICS_BYTES:
        raise typer.BadParameter(f"{path} is larger than {_MAX_ICS_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{path} is not UTF-8 text") from exc


def _show(raw: dict[str, Any]) -> None:
    keys = ["id", "name", "description", "dates", "ranges", "rules", "version", "schedules"]
    _fields(raw, keys)


@calendars_app.command("list")
def calendars_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every calendar."""
    with _client(ctx) as client:
        page = client.calendars.list(limit=500)
    if as_json:
        _print_json([c.raw for c in page.data])
        return
    _table(
        ["name", "dates", "ranges", "rules", "updated"],
        [
            [c.name, len(c.dates), len(c.ranges), len(c.rules), output.when(c.raw["updated_at"])]
            for c in page.data
        ],
    )


@calendars_app.command("show")
def calendars_show(
    ctx: typer.Context,
    calendar: str,
    upcoming: Annotated[
        bool, typer.Option("--upcoming", help="also list its dates in the next year")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """A calendar (by id or name) and the schedules that use it."""
    with _client(ctx) as client:
        found = client.calendars.get(calendar)
        days = client.calendars.dates(calendar) if upcoming else None
    if as_json:
        _print_json({**found.raw, **({"upcoming": days} if days is not None else {})})
        return
    _show(found.raw)
    if days is not None:
        print("\n".join(days) if days else "(no dates in the next year)")


@calendars_app.command("create")
def calendars_create(
    ctx: typer.Context,
    name: str,
    date: Annotated[list[str] | None, typer.Option("--date", help="YYYY-MM-DD")] = None,
    date_range: Annotated[
        list[str] | None, typer.Option("--range", help="FROM:TO, both included")
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="weekends, weekdays, last_business_day, nth_weekday:thu:4:11, yearly:12:25",
        ),
    ] = None,
    ics: Annotated[Path | None, typer.Option("--ics", help="an .ics file to import")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a calendar from dates, ranges, rules and an .ics file."""
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "dates": date or [],
        "ranges": [_range(r) for r in date_range or []],
        "rules": [_rule(r) for r in rule or []],
        "ics": _read_ics(ics) if ics is not None else None,
    }
    with _client(ctx) as client:
        created = client.calendars.create(**body)
    if as_json:
        _print_json(created.raw)
        return
    print(f"created calendar {created.name} ({created.id})")


@calendars_app.command("update")
def calendars_update(
    ctx: typer.Context,
    calendar: str,
    description: Annotated[str | None, typer.Option("--description")] = None,
    add_date: Annotated[
        list[str] | None, typer.Option("--add-date", help="YYYY-MM-DD (repeatable)")
    ] = None,
    remove_date: Annotated[
        list[str] | None, typer.Option("--remove-date", help="YYYY-MM-DD (repeatable)")
    ] = None,
    add_range: Annotated[
        list[str] | None, typer.Option("--add-range", help="FROM:TO, both included")
    ] = None,
    remove_range: Annotated[
        list[str] | None, typer.Option("--remove-range", help="FROM:TO, as the calendar has it")
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help='add a rule: KIND or KIND:{json}, e.g. weekends, nth_weekday:{"weekday": '
            '"thu", "n": 4} (or nth_weekday:thu:4)',
        ),
    ] = None,
    clear_rules: Annotated[
        bool, typer.Option("--clear-rules", help="remove every rule (then add --rule's)")
    ] = False,
    file: PatchFileOption = None,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a calendar (by id or name); shows what changed.

    Add or remove dates, ranges and rules, or PATCH the fields of -f FILE (each given
    replaces the current one)."""
    body = read_patch(file)
    with _client(ctx) as client:
        current = client.calendars.get(calendar)
        if description is not None:
            body["description"] = description
        if add_date or remove_date:
            dates = list(body.get("dates", current.dates))
            for day in remove_date or []:
                if day not in dates:
                    raise typer.BadParameter(
                        f"{day} is not one of {current.name}'s dates", param_hint="--remove-date"
                    )
                dates.remove(day)
            dates += [day for day in add_date or [] if day not in dates]
            body["dates"] = dates
        if add_range or remove_range:
            ranges = list(body.get("ranges", current.ranges))
            for text in remove_range or []:
                if _range(text) not in ranges:
                    raise typer.BadParameter(
                        f"{text} is not one of {current.name}'s ranges",
                        param_hint="--remove-range",
                    )
                ranges.remove(_range(text))
            ranges += [r for r in map(_range, add_range or []) if r not in ranges]
            body["ranges"] = ranges
        if rule or clear_rules:
            rules = [] if clear_rules else list(body.get("rules", current.rules))
            rules += [r for r in map(_update_rule, rule or []) if r not in rules]
            body["rules"] = rules
        if not body:
            nothing_given()
        updated = client.calendars.update(current.id, reason=reason, **body)
    keys = ["name", "description", "dates", "ranges", "rules"]
    report("calendar", current.raw, updated.raw, keys, as_json)
    if not as_json:
        print(f"calendar {updated.name}: version {updated.version}")


@calendars_app.command("import")
def calendars_import(
    ctx: typer.Context,
    calendar: str,
    file: Path,
    replace: Annotated[
        bool, typer.Option("--replace", help="replace the entries instead of adding to them")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add an .ics file's all-day events to a calendar (created if it does not exist)."""
    text = _read_ics(file)
    with _client(ctx) as client:
        try:
            client.calendars.get(calendar)
        except NotFoundError:
            updated = client.calendars.create(name=calendar, ics=text)
        else:
            updated = client.calendars.import_ics(calendar, text, replace=replace)
    if as_json:
        _print_json(updated.raw)
        return
    print(
        f"calendar {updated.name}: {len(updated.dates)} dates, {len(updated.ranges)} ranges, "
        f"{len(updated.rules)} rules (version {updated.version})"
    )


@calendars_app.command("delete")
def calendars_delete(ctx: typer.Context, calendar: str, as_json: JsonFlag = False) -> None:
    """Delete a calendar (refused while schedules name it)."""
    with _client(ctx) as client:
        client.calendars.delete(calendar)
    if as_json:
        _print_json({"deleted": calendar})
        return
    print(f"deleted calendar {calendar}")
