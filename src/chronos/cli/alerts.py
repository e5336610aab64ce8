"""``chronos alerts …``: alert rules and the alert history.

chronos alerts rules create missed-slots --condition missed --grace 2m \\
    --webhook https://hooks.slack.com/services/… --format slack [--tag team=data]
chronos alerts rules create failing --condition consecutive_failures --count 3
chronos alerts rules list
chronos alerts rules update missed-slots --grace 5m --cooldown 1h --webhook-url https://… \
    --format chronos --reason "too noisy"            # or -f patch.json (a PATCH body)
chronos alerts rules disable missed-slots / enable missed-slots
chronos alerts rules delete missed-slots
chronos alerts list [--status firing] [--rule RULE_ID] [--subject nightly]
chronos alerts show alr_…
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    ReasonOption,
    TagOption,
    _client,
    _connection,
    _fields,
    _print_json,
    _table,
    _tags,
    console,
)
from chronos.cli.patching import PatchFileOption, nothing_given, read_patch, report

alerts_app = typer.Typer(
    no_args_is_help=True, help="Alerts: rules and the alert history.", callback=_connection
)
rules_app = typer.Typer(no_args_is_help=True, help="Alert rules.")
alerts_app.add_typer(rules_app, name="rules")

CONDITIONS = "missed, late, consecutive_failures, success_rate, no_worker, monitor"
ALERT_FIELDS = [
    "id",
    "status",
    "rule_name",
    "condition",
    "subject",
    "summary",
    "since",
    "opened_at",
    "fired_at",
    "resolved_at",
    "reopened",
    "details",
]


def _selector_text(selector: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in (selector.get("tags") or {}).items()]
    parts += list(selector.get("names") or [])
    return ", ".join(parts) or "(account)"


def _condition_text(condition: dict[str, Any]) -> str:
    params = ", ".join(
        f"{k}={output.percent(v) if k == 'below' else v}"
        for k, v in condition.items()
        if k != "type"
    )
    return f"{condition['type']} ({params})" if params else condition["type"]


@rules_app.command("list")
def rules_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every alert rule."""
    with _client(ctx) as client:
        rules = list(client.iterate(client.alert_rules.list))
    if as_json:
        _print_json([r.raw for r in rules])
        return
    _table(
        ["name", "condition", "selector", "grace", "webhook", "enabled"],
        [
            [
                r.name,
                _condition_text(r.condition),
                _selector_text(r.selector),
                f"{r.grace:g}s",
                (r.webhook or {}).get("url", "-"),
                r.enabled,
            ]
            for r in rules
        ],
    )


@rules_app.command("create")
def rules_create(
    ctx: typer.Context,
    name: str,
    condition: Annotated[str, typer.Option(help=CONDITIONS)],
    seconds: Annotated[
        str | None, typer.Option(help="late / no_worker: the threshold, e.g. 5m")
    ] = None,
    count: Annotated[int | None, typer.Option(help="consecutive_failures: how many")] = None,
    below: Annotated[float | None, typer.Option(help="success_rate: e.g. 0.9")] = None,
    window: Annotated[str | None, typer.Option(help="success_rate: e.g. 1h")] = None,
    min_runs: Annotated[int | None, typer.Option("--min-runs", help="success_rate")] = None,
    tag: TagOption = None,
    names: Annotated[
        list[str] | None, typer.Option("--name", help="a subject's name (repeatable)")
    ] = None,
    grace: Annotated[str | None, typer.Option(help="how long it must hold before paging")] = None,
    cooldown: Annotated[str | None, typer.Option(help="re-open instead of paging again")] = None,
    webhook: Annotated[str | None, typer.Option(help="where notifications are POSTed")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="NAME=VALUE for the webhook")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="chronos or slack")] = "chronos",
    description: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an alert rule."""
    params = {
        "seconds": seconds,
        "count": count,
        "below": below,
        "window": window,
        "min_runs": min_runs,
    }
    selector: dict[str, Any] = {}
    if tag:
        selector["tags"] = _tags(tag)
    if names:
        selector["names"] = names
    body: dict[str, Any] = {
        "name": name,
        "condition": {"type": condition, **{k: v for k, v in params.items() if v is not None}},
        "selector": selector or None,
        "grace": grace,
        "cooldown": cooldown,
        "description": description,
    }
    if webhook:
        body["webhook"] = {"url": webhook, "headers": _tags(header), "format": fmt}
    with _client(ctx) as client:
        created = client.alert_rules.create(**body)
    if as_json:
        return _print_json(created.raw)
    console.print(
        f"created alert rule [bold]{created.name}[/bold] ({created.id}): "
        f"{_condition_text(created.condition)}, grace {created.grace:g}s"
    )


@rules_app.command("show")
def rules_show(ctx: typer.Context, rule: str, as_json: JsonFlag = False) -> None:
    """One alert rule (by id or name)."""
    with _client(ctx) as client:
        found = client.alert_rules.get(rule)
    if as_json:
        return _print_json(found.raw)
    _fields(
        {**found.raw, "condition": _condition_text(found.condition)},
        [
            "id",
            "name",
            "description",
            "enabled",
            "condition",
            "selector",
            "grace",
            "cooldown",
            "webhook",
            "created_at",
            "updated_at",
            "evaluated_at",
        ],
    )


RULE_KEYS = ["name", "description", "enabled", "condition", "selector", "grace", "cooldown",
             "webhook"]  # fmt: skip


def _rule_changed(
    ctx: typer.Context,
    rule: str,
    body: dict[str, Any],
    reason: str | None,
    as_json: bool,
    webhook: dict[str, str] | None = None,
) -> None:
    """PATCH the rule, then show what changed; ``webhook`` (``--webhook-url``, ``--format``)
    changes those fields of the rule's webhook, keeping its others (headers)."""
    with _client(ctx) as client:
        current = client.alert_rules.get(rule)
        if webhook:
            body["webhook"] = {**(body.get("webhook") or current.webhook or {}), **webhook}
            if "url" not in body["webhook"]:
                raise typer.BadParameter(
                    f"{current.name} has no webhook: give --webhook-url", param_hint="--format"
                )
        updated = client.alert_rules.update(current.id, reason=reason, **body)
    report("rule", current.raw, updated.raw, RULE_KEYS, as_json)
    if not as_json:
        state = "enabled" if updated.enabled else "disabled"
        console.print(
            f"alert rule [bold]{updated.name}[/bold]: {_condition_text(updated.condition)}, "
            f"grace {updated.grace:g}s, {state}"
        )


@rules_app.command("update")
def rules_update(
    ctx: typer.Context,
    rule: str,
    grace: Annotated[str | None, typer.Option(help="how long it must hold: 5m")] = None,
    cooldown: Annotated[str | None, typer.Option(help="re-open instead of paging again")] = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="where notifications are POSTed")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="chronos or slack")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    file: PatchFileOption = None,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an alert rule (by id or name); shows what changed.

    Each option given replaces the current value (the webhook keeps its other fields);
    -f FILE: a PATCH body."""
    body = read_patch(file)
    for key, value in (("grace", grace), ("cooldown", cooldown), ("description", description)):
        if value is not None:
            body[key] = value
    webhook = {k: v for k, v in (("url", webhook_url), ("format", fmt)) if v is not None}
    if not body and not webhook:
        nothing_given()
    _rule_changed(ctx, rule, body, reason, as_json, webhook)


@rules_app.command("enable")
def rules_enable(
    ctx: typer.Context, rule: str, reason: ReasonOption = None, as_json: JsonFlag = False
) -> None:
    """Evaluate the rule again."""
    _rule_changed(ctx, rule, {"enabled": True}, reason, as_json)


@rules_app.command("disable")
def rules_disable(
    ctx: typer.Context, rule: str, reason: ReasonOption = None, as_json: JsonFlag = False
) -> None:
    """Stop evaluating the rule (until `enable`)."""
    _rule_changed(ctx, rule, {"enabled": False}, reason, as_json)


@rules_app.command("delete")
def rules_delete(ctx: typer.Context, rule: str, as_json: JsonFlag = False) -> None:
    """Delete a rule (by id or name); its open alerts resolve without a notification."""
    with _client(ctx) as client:
        client.alert_rules.delete(rule)
    if as_json:
        return _print_json({"deleted": rule})
    console.print(f"deleted alert rule {rule}")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, firing or resolved")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="a rule id or name")] = None,
    subject: Annotated[str | None, typer.Option(help="a schedule, monitor or handler")] = None,
    since: Annotated[str | None, typer.Option(help="opened since (RFC 3339)")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """The alert history, newest first."""
    with _client(ctx) as client:
        page = client.alerts.list(
            status=status, rule_id=rule, subject=subject, since=since, limit=limit
        )
    if as_json:
        _print_json([a.raw for a in page.data])
        return
    _table(
        ["id", "status", "rule", "subject", "since", "resolved", "summary"],
        [
            [
                a.id,
                a.status,
                a.rule_name,
                a.subject["name"],
                output.when(a.raw["since"]),
                output.when(a.raw["resolved_at"]) or "-",
                a.summary,
            ]
            for a in page.data
        ],
    )


@alerts_app.command("show")
def alerts_show(ctx: typer.Context, alert_id: str, as_json: JsonFlag = False) -> None:
    """An alert and its notifications."""
    with _client(ctx) as client:
        found = client.alerts.get(alert_id)
    if as_json:
        return _print_json(found.raw)
    _fields(found.raw, ALERT_FIELDS)
    sent = found.notifications or []
    if sent:
        _table(
            ["event", "status", "attempts", "http", "sent at", "error"],
            [
                [
                    n["event"],
                    n["status"],
                    n["attempts"],
                    n["http_status"],
                    output.when(n["sent_at"]),
                    n["last_error"],
                ]
                for n in sent
            ],
        )
