"""``chronos audit``: who changed what, when, and why (newest first).

chronos audit                                   # the latest 50 changes
chronos audit --resource nightly                # one schedule's (by name or id)
chronos audit --action schedule.paused --since 2026-03-01T00:00:00Z --json
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from chronos.cli import output
from chronos.cli.client import JsonFlag, KeyOption, UrlOption, _client, _print_json, _table


def audit(
    ctx: typer.Context,
    resource: Annotated[
        str | None, typer.Option("--resource", help="an id, or a name (e.g. a schedule's)")
    ] = None,
    resource_type: Annotated[
        str | None, typer.Option("--type", help="schedule, key, signing_secret, backfill, …")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="e.g. schedule.paused, key.deleted")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="the API key id")] = None,
    since: Annotated[str | None, typer.Option("--since", help="RFC 3339")] = None,
    until: Annotated[str | None, typer.Option("--until", help="RFC 3339")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """The audit log: who changed what, when, and why."""
    ctx.obj = {"url": url, "api_key": api_key}
    with _client(ctx) as client:
        page = client.audit.list(
            resource=resource,
            resource_type=resource_type,
            action=action,
            actor_key_id=actor,
            since=since,
            until=until,
            limit=limit,
        )
    if as_json:
        _print_json({"data": [r.raw for r in page.data], "next_cursor": page.next_cursor})
        return
    _table(
        ["at", "actor", "action", "resource", "changes", "reason"],
        [
            [
                output.when(r.raw["at"]),
                r.actor.get("name"),
                r.action,
                r.resource.get("name") or r.resource.get("id"),
                _changes(r.changes),
                r.reason,
            ]
            for r in page.data
        ],
    )
    if page.next_cursor:
        print(f"(more: narrow with --since/--until, or --json for the cursor {page.next_cursor})")


def _changes(changes: dict[str, list[object]] | None, limit: int = 4) -> str:
    if not changes:
        return ""
    parts = [
        f"{field}: {json.dumps(pair[0])} → {json.dumps(pair[1])}"
        for field, pair in list(changes.items())[:limit]
    ]
    more = len(changes) - limit
    return "; ".join(parts) + (f"; +{more} more" if more > 0 else "")
