"""``chronos jobs create``: a one-off job.

chronos jobs create --handler send-email --payload '{"to": "a@example.com"}'
chronos jobs create --handler report --payload @payload.json --delay 10m
chronos jobs create --push-url https://ops.example.com/run --scheduled-for 2026-12-01T09:00:00Z
chronos jobs create --handler import --idempotency-key import-2026-11-29 --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    TagOption,
    _client,
    _print_json,
    _tags,
    console,
    jobs_app,
)


def read_payload(text: str) -> Any:
    """JSON text, or ``@file.json`` (``@-``: standard input)."""
    source = "--payload"
    if text.startswith("@"):
        path = text[1:]
        source = path
        try:
            text = typer.get_text_stream("stdin").read() if path == "-" else Path(path).read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{source} is not JSON: {exc}", param_hint="--payload") from exc


@jobs_app.command("create")
def jobs_create(
    ctx: typer.Context,
    handler: Annotated[str | None, typer.Option(help="the pull handler that runs it")] = None,
    payload: Annotated[
        str | None, typer.Option(help="JSON text, or @file.json (@- for standard input)")
    ] = None,
    delay: Annotated[str | None, typer.Option(help='run after this long, e.g. "10m"')] = None,
    scheduled_for: Annotated[
        str | None, typer.Option("--scheduled-for", help="run at this instant (RFC 3339)")
    ] = None,
    push_url: Annotated[
        str | None, typer.Option("--push-url", help="push delivery: Chronos POSTs the job here")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="the same key again returns the first job"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="a label for people")] = None,
    timeout: Annotated[str | None, typer.Option(help='e.g. "5m"')] = None,
    max_retries: Annotated[int | None, typer.Option("--max-retries")] = None,
    tag: TagOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a one-off job (pull with --handler, or push with --push-url)."""
    if delay is not None and scheduled_for is not None:
        raise typer.BadParameter("give --delay or --scheduled-for, not both")
    body: dict[str, Any] = {
        "handler": handler,
        "payload": read_payload(payload) if payload is not None else None,
        "delay": delay,
        "scheduled_for": scheduled_for,
        "idempotency_key": idempotency_key,
        "name": name,
        "timeout": timeout,
        "max_retries": max_retries,
        "tags": _tags(tag) or None,
    }
    if push_url is not None:
        body["delivery"] = {"type": "push", "http": {"url": push_url}}
    with _client(ctx) as client:
        job = client.jobs.create(**body)
    if as_json:
        return _print_json(job.raw)
    console.print(
        f"created job [bold]{job.id}[/bold] ({job.status}), runs at {output.when(job.run_at)}",
        soft_wrap=True,
    )
