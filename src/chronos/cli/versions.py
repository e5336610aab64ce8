"""``chronos schedules edit|versions|version|rollback``: change a schedule's configuration and
go back to an earlier one.

    chronos schedules edit nightly                      # $EDITOR on its YAML; diff; PATCH
    chronos schedules edit nightly --set cron="0 3 * * *" --set payload.region=eu --yes
    chronos schedules edit nightly -f nightly.yaml      # the whole configuration from a file
    chronos schedules versions nightly                  # every version, what each changed
    chronos schedules version nightly 2                 # one version's configuration
    chronos schedules rollback nightly 2                # restore it, as a new version
    chronos schedules rollback nightly 2 --reason "3am broke the export"   # audit log's why

``edit`` shows the diff first and asks when a person is at the terminal (``--yes`` does not
ask, ``--dry-run`` only shows). A key removed from the configuration is emptied (see
:func:`patch_body`).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml  # type: ignore[import-untyped]
from rich.markup import escape

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    ReasonOption,
    _client,
    _print_json,
    _table,
    console,
    err_console,
    schedules_app,
)

MISSING = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"payload": {"a": 1}}`` → ``{"payload.a": 1}``; lists and scalars are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Per field path, ``(old, new)`` (``MISSING`` for a side without it)."""
    old, new = _flatten(before), _flatten(after)
    paths = sorted(set(old) | set(new))

    def became_mapping(path: str) -> bool:  # ``payload: null`` → ``payload.region: eu``
        return any(other.startswith(path + ".") for other in paths)

    return {
        path: (old.get(path, MISSING), new.get(path, MISSING))
        for path in paths
        if old.get(path, MISSING) != new.get(path, MISSING)
        and not (old.get(path) in (None, {}) and path not in new and became_mapping(path))
        and not (new.get(path) in (None, {}) and path not in old and became_mapping(path))
    }


def _text(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    return json.dumps(value, ensure_ascii=False)


def print_changes(name: str, found: dict[str, tuple[Any, Any]]) -> None:
    if not found:
        console.print(f"{escape(name)}: no changes")
        return
    console.print(f"[yellow]~ update {escape(name)}[/yellow]")
    for path, (old, new) in found.items():
        console.print(
            f"    {escape(path)}: [red]{escape(_text(old))}[/red] → "
            f"[green]{escape(_text(new))}[/green]",
            soft_wrap=True,
            highlight=False,
        )


def _json_changes(found: dict[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {path: [None if v is MISSING else v for v in pair] for path, pair in found.items()}


def _emptied(value: Any) -> Any:
    return {} if isinstance(value, dict) else [] if isinstance(value, list) else None


def patch_body(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys that differ. A removed key is emptied: ``{}`` for a mapping
    (``tags``), ``[]`` for a list, null for the rest (``payload``, ``description``; a key
    that must have a value, such as ``timezone``, is refused by the server)."""
    body = {key: value for key, value in after.items() if before.get(key) != value}
    for key, value in before.items():
        if key not in after and value not in (None, {}, []):
            body[key] = _emptied(value)
    return body


def _parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars or flow collections: ``3``, ``true``, ``[a, b]``,
    ``{"k": 1}``; anything else is a string."""
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def set_path(config: dict[str, Any], assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"use KEY=VALUE, got {assignment!r}", param_hint="--set")
    *parents, leaf = key.split(".")
    target = config
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[leaf] = _parse_value(raw)


def _load(text: str, source: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        err_console.print(f"[red]error[/red]: {escape(source)} is not valid YAML/JSON: {exc}")
        raise typer.Exit(1) from exc
    if not isinstance(loaded, dict):
        err_console.print(f"[red]error[/red]: {escape(source)} must hold one schedule (a mapping)")
        raise typer.Exit(1)
    return loaded


def dump(config: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _confirm(yes: bool) -> None:
    if yes or not sys.stdin.isatty():
        return
    if not typer.confirm("Apply these changes?", default=False):
        console.print("Nothing was changed.")
        raise typer.Exit(1)


@schedules_app.command("edit")
def schedules_edit(
    ctx: typer.Context,
    schedule: str,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", help='KEY=VALUE, e.g. cron="0 3 * * *", payload.region=eu'),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("-f", "--file", help="the whole configuration (YAML/JSON), - for stdin"),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="the editor's format: yaml or json")
    ] = "yaml",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the diff only")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a schedule's configuration: in $EDITOR, or with --set / -f; shows the diff,
    then PATCHes the changed fields (a new version)."""
    if fmt not in ("yaml", "json"):
        raise typer.BadParameter("yaml or json", param_hint="--format")
    with _client(ctx) as client:
        current = client.schedules.get(schedule)
        before = client.schedules.version(current.id, current.version).config
        if file is not None:
            text = sys.stdin.read() if file == "-" else _read(file)
            after = _load(text, "<stdin>" if file == "-" else file)
        else:
            after = copy.deepcopy(before)
        for assignment in assignments or []:
            set_path(after, assignment)
        if file is None and not assignments:
            edited = run_editor(dump(before, fmt), fmt)
            if edited is None:
                console.print("Not saved: nothing was changed.")
                return
            after = _load(edited, "the edited file")
        found = changes(before, after)
        if as_json and (dry_run or not found):
            return _print_json({"changes": _json_changes(found), "schedule": current.raw})
        if not as_json:
            print_changes(current.name, found)
        if dry_run or not found:
            return
        if not as_json:
            _confirm(yes)
        updated = client.schedules.update(current.id, reason=reason, **patch_body(before, after))
    if as_json:
        return _print_json({"changes": _json_changes(found), "schedule": updated.raw})
    console.print(f"{updated.name}: version {updated.version}")


def run_editor(text: str, fmt: str) -> str | None:
    """``text`` edited in ``$VISUAL`` or ``$EDITOR`` (``vi`` without either), run through the
    shell as git does (so ``EDITOR="code --wait"`` works); None when the file was not saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="chronos-edit-") as directory:
        path = Path(directory) / f"schedule.{fmt}"
        path.write_text(text, encoding="utf-8")
        saved_at = path.stat().st_mtime_ns
        done = subprocess.run(f"{editor} {shlex.quote(str(path))}", shell=True, check=False)
        if done.returncode != 0:
            err_console.print(f"[red]error[/red]: the editor ({escape(editor)}) failed")
            raise typer.Exit(1)
        edited = path.read_text(encoding="utf-8")
        if path.stat().st_mtime_ns == saved_at and edited == text:
            return None
        return edited


def _read(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]error[/red]: cannot read {escape(file)}: {exc}")
        raise typer.Exit(1) from exc


@schedules_app.command("versions")
def schedules_versions(ctx: typer.Context, schedule: str, as_json: JsonFlag = False) -> None:
    """Every configuration the schedule has had, newest first, with what each changed."""
    with _client(ctx) as client:
        current = client.schedules.get(schedule)
        versions = client.schedules.versions(current.id)
    if as_json:
        return _print_json([v.raw for v in versions])
    rows = []
    for index, version in enumerate(versions):
        older = versions[index + 1].config if index + 1 < len(versions) else None
        changed = "created" if older is None else ", ".join(changes(older, version.config))
        rows.append(
            [
                f"{version.version}{' (current)' if version.version == current.version else ''}",
                output.when(version.raw["created_at"], current.timezone),
                changed or "(no change)",
            ]
        )
    _table(["version", "created", "changes"], rows)


@schedules_app.command("version")
def schedules_version(
    ctx: typer.Context,
    schedule: str,
    version: int,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
    as_json: JsonFlag = False,
) -> None:
    """One version's configuration (as ``create`` and ``edit -f`` take it)."""
    with _client(ctx) as client:
        found = client.schedules.version(schedule, version)
    if as_json:
        return _print_json(found.raw)
    sys.stdout.write(dump(found.config, fmt))


@schedules_app.command("rollback")
def schedules_rollback(
    ctx: typer.Context,
    schedule: str,
    version: int,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Restore an earlier version's configuration, as a new version (shows what changes)."""
    with _client(ctx) as client:
        current = client.schedules.get(schedule)
        before = client.schedules.version(current.id, current.version).config
        target = client.schedules.version(current.id, version).config
        restored = client.schedules.rollback(current.id, version, reason=reason)
    found = changes(before, target)
    if as_json:
        return _print_json({"changes": _json_changes(found), "schedule": restored.raw})
    print_changes(current.name, found)
    console.print(f"{restored.name}: version {restored.version} (the configuration of {version})")
