"""``chronos schedules backfill …`` and ``chronos backfills …``: run a schedule's past slots.

chronos schedules backfill nightly --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z
chronos schedules backfill nightly --from … --to … --rerun --reason "fixed the report bug"
chronos schedules backfills nightly          # its backfills, newest first
chronos backfills show bfl_…                 # progress: its jobs by status
chronos backfills cancel bfl_…               # cancel its jobs not yet started
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    _client,
    _connection,
    _fields,
    _print_json,
    _table,
    schedule_zones,
    schedules_app,
)
from chronos.client import Chronos

backfills_app = typer.Typer(no_args_is_help=True, help="Backfills.", callback=_connection)

_KEYS = [
    "id",
    "schedule_id",
    "from",
    "to",
    "overlap",
    "status",
    "created",
    "rerun",
    "skipped_existing",
    "in_flight",
    "excluded",
    "jobs",
    "reason",
    "created_at",
    "canceled_at",
    "canceled_jobs",
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="why, for the audit log")]


def _show(client: Chronos, raw: dict[str, Any], as_json: bool) -> None:
    """A backfill; its times in its schedule's timezone."""
    if as_json:
        _print_json(raw)
    else:
        zone = schedule_zones(client, [raw.get("schedule_id")]).get(raw.get("schedule_id") or "")
        _fields(raw, _KEYS, zone)


@schedules_app.command("backfill")
def schedules_backfill(
    ctx: typer.Context,
    schedule: str,
    start: Annotated[str, typer.Option("--from", help="RFC 3339, e.g. 2026-03-01T00:00:00Z")],
    end: Annotated[str, typer.Option("--to", help="RFC 3339, not in the future; included")],
    rerun: Annotated[
        bool, typer.Option("--rerun", help="also run again slots whose job has finished")
    ] = False,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create the jobs of a schedule's past slots that have none, exactly once."""
    with _client(ctx) as client:
        backfill = client.schedules.backfill(
            schedule, start, end, overlap="rerun" if rerun else "skip", reason=reason
        )
        _show(client, backfill.raw, as_json)


@schedules_app.command("backfills")
def schedules_backfills(ctx: typer.Context, schedule: str, as_json: JsonFlag = False) -> None:
    """A schedule's backfills, newest first."""
    with _client(ctx) as client:
        page = client.schedules.backfills(schedule, limit=100)
        zone = None if as_json else client.schedules.get(schedule).timezone
    if as_json:
        _print_json([b.raw for b in page.data])
        return
    _table(
        ["id", "from", "to", "status", "created", "rerun", "existing", "jobs"],
        [
            [
                b.id,
                output.when(b.raw["from"], zone),
                output.when(b.raw["to"], zone),
                b.status,
                b.created,
                b.rerun,
                b.skipped_existing,
                ", ".join(f"{k} {v}" for k, v in sorted(b.jobs.items())),
            ]
            for b in page.data
        ],
    )


@backfills_app.command("show")
def backfills_show(ctx: typer.Context, backfill: str, as_json: JsonFlag = False) -> None:
    """A backfill and its progress (its jobs by status)."""
    with _client(ctx) as client:
        found = client.backfills.get(backfill)
        _show(client, found.raw, as_json)


@backfills_app.command("cancel")
def backfills_cancel(
    ctx: typer.Context, backfill: str, reason: ReasonOption = None, as_json: JsonFlag = False
) -> None:
    """Cancel a backfill's jobs that have not started yet."""
    with _client(ctx) as client:
        found = client.backfills.cancel(backfill, reason=reason)
        _show(client, found.raw, as_json)
