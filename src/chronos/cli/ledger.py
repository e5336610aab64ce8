"""``chronos schedules slots NAME``: a schedule's fire ledger — each expected slot and what
became of it (on time, late by how much, missed and why, excluded by a calendar, …).

chronos schedules slots nightly                                  # the last 24 hours
chronos schedules slots nightly --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from chronos.cli import output
from chronos.cli.client import JsonFlag, _client, _print_json, _table, console, schedules_app

FromOption = Annotated[
    str | None, typer.Option("--from", help="RFC 3339; default 24 hours before --to")
]
ToOption = Annotated[str | None, typer.Option("--to", help="RFC 3339; default now")]


def _lag(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds:g}s"


@schedules_app.command("slots")
def schedules_slots(
    ctx: typer.Context,
    schedule: str,
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Expected vs actual: each slot in the window and its outcome, oldest first."""
    with _client(ctx) as client:
        zone = None if as_json else client.schedules.get(schedule).timezone
        ledger = client.schedules.slots(schedule, from_=start, to=end)
    if as_json:
        return _print_json(
            {"data": [slot.raw for slot in ledger.slots], "truncated": ledger.truncated}
        )
    _table(
        ["slot", "outcome", "lag", "reason"],
        [
            [
                output.when(slot.raw["at"], zone),
                slot.outcome,
                _lag(slot.lag_seconds),
                escape(slot.reason or ""),
            ]
            for slot in ledger.slots
        ],
    )
    if not ledger.slots:
        console.print("no slots in the window")
    if ledger.truncated:
        console.print("[yellow]earlier slots left out[/yellow]: ask again with --to the first slot")
