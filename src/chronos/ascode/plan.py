"""The plan of ``apply``: which declared schedules to create, update or leave alone, and
which managed ones to delete. Pure: it takes the declared bodies and the server's schedules
and touches no network (``runner.py`` does the calls)::

    items = compute_plan([Declared({"name": "n", "handler": "h", "cron": "@daily"})],
                         current=[...], prune=False)
    [(i.action, i.name, [(c.path, c.old, c.new) for c in i.changes]) for i in items]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chronos.ascode.normalize import (
    CONFIG_FIELDS,
    canonical,
    compact,
    server_config,
)
from chronos.errors import ChronosError

# The tag ``apply`` puts on every schedule it writes. ``--prune`` deletes only schedules that
# carry it, so schedules made by hand, the dashboard or another tool are never pruned.
MANAGED_TAG_KEY = "managed-by"
MANAGED_TAG_VALUE = "chronos-apply"


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Declared:
    """A schedule body as a file (or a caller) declares it; ``source`` says where
    (``schedules.yaml:12``), for messages."""

    body: dict[str, Any]
    source: str | None = None

    @property
    def name(self) -> Any:
        return self.body.get("name")


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: a dotted ``path`` (``delivery.http.url``), the server's
    value and the declared one (:data:`MISSING` when a side has none)."""

    path: str
    old: Any
    new: Any


@dataclass
class PlanItem:
    """What ``apply`` does to one schedule: ``action`` is ``create``, ``update``,
    ``delete`` or ``unchanged``. ``body`` is what is sent (``PUT``), ``current`` the
    server's schedule; ``next_fire`` comes from the server's validation (creates and
    updates); ``done`` says whether it was carried out."""

    action: str
    name: str
    source: str | None = None
    changes: list[FieldChange] = field(default_factory=list)
    body: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    next_fire: str | None = None
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "source": self.source,
            "changes": [
                {"path": c.path, "old": _json(c.old), "new": _json(c.new)} for c in self.changes
            ],
            "next_fire": self.next_fire,
            "done": self.done,
        }


def _json(value: Any) -> Any:
    return None if value is MISSING else value


@dataclass(frozen=True)
class Problem:
    """Why a declared schedule cannot be applied: where it is, its name, the API's code and
    message."""

    source: str | None
    name: str | None
    message: str
    code: str = "invalid_schedule"

    def __str__(self) -> str:
        where = ": ".join(str(p) for p in (self.source, self.name) if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass
class ApplyResult:
    """The plan, and after a real apply what was done. ``created``, ``updated``,
    ``deleted`` and ``unchanged`` list names."""

    items: list[PlanItem]
    dry_run: bool

    def _names(self, action: str) -> list[str]:
        return [item.name for item in self.items if item.action == action]

    @property
    def created(self) -> list[str]:
        return self._names("create")

    @property
    def updated(self) -> list[str]:
        return self._names("update")

    @property
    def deleted(self) -> list[str]:
        return self._names("delete")

    @property
    def unchanged(self) -> list[str]:
        return self._names("unchanged")

    @property
    def has_changes(self) -> bool:
        return any(item.action != "unchanged" for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "items": [item.to_dict() for item in self.items],
        }


class ApplyError(ChronosError):
    """Some declared schedules cannot be applied; ``problems`` says which and why, and
    ``result`` holds the plan (and, if writing had begun, what was done)."""

    code, status = "apply_failed", 422

    def __init__(self, problems: list[Problem], result: ApplyResult | None = None) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s):\n{lines}", details=problems)
        self.problems = problems
        self.result = result


def with_marker(body: dict[str, Any]) -> dict[str, Any]:
    tags = body.get("tags")
    if tags is not None and not isinstance(tags, dict):
        return dict(body)  # the server's 422 will say what is wrong with it
    return {**body, "tags": {**(tags or {}), MANAGED_TAG_KEY: MANAGED_TAG_VALUE}}


def is_managed(schedule: dict[str, Any]) -> bool:
    return (schedule.get("tags") or {}).get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


def _without_marker(config: dict[str, Any]) -> dict[str, Any]:
    tags = config.get("tags")
    if not isinstance(tags, dict):
        return config
    return {**config, "tags": {k: v for k, v in tags.items() if k != MANAGED_TAG_KEY}}


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """``{"delivery": {"http": {"url": u}}}`` → ``{"delivery.http.url": u}`` (an empty
    dict stays a value)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        _flatten(value, key, out)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal, with ``True`` and ``1`` told apart (``30`` and ``30.0`` are the same)."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def diff(current: dict[str, Any], desired: dict[str, Any]) -> list[FieldChange]:
    """The fields of ``desired`` (canonical) that the server's ``current`` holds otherwise.
    Only configuration fields are compared; the managed marker tag is not."""
    keys = [k for k in CONFIG_FIELDS if k in desired or k in current]
    keys += [k for k in desired if k not in keys]
    old = flatten({k: current.get(k) for k in keys if k in current})
    new = flatten({k: desired.get(k) for k in keys if k in desired})
    changes = []
    for path in [*new, *(p for p in old if p not in new)]:
        before, after = old.get(path, MISSING), new.get(path, MISSING)
        if (before is MISSING and after in (None, {})) or (
            after is MISSING and before in (None, {})
        ):
            continue  # an empty value against the other side's fields below that path
        if not _same(before, after):
            changes.append(FieldChange(path, before, after))
    return changes


def check_declared(declared: list[Declared]) -> list[Problem]:
    """Declarations that cannot be planned: not a mapping, no name, a name twice."""
    problems: list[Problem] = []
    seen: dict[str, str | None] = {}
    for item in declared:
        if not isinstance(item.body, dict):
            problems.append(Problem(item.source, None, "a schedule must be a mapping of fields"))
            continue
        name = item.name
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(item.source, None, "a schedule needs a non-blank name"))
            continue
        if name in seen:
            first = seen[name] or "an earlier schedule"
            problems.append(
                Problem(item.source, name, f"declared twice (also at {first})", "duplicate_name")
            )
            continue
        seen[name] = item.source
    return problems


def compute_plan(
    declared: list[Declared], current: list[dict[str, Any]], *, prune: bool = False
) -> list[PlanItem]:
    """One item per declared schedule (in order), then, with ``prune``, a ``delete`` for
    each managed schedule on the server that no declaration names (by name)."""
    problems = check_declared(declared)
    if problems:
        raise ApplyError(problems)
    by_name = {s["name"]: s for s in current}
    items: list[PlanItem] = []
    for item in declared:
        body = with_marker(item.body)
        desired = _without_marker(canonical(body))
        existing = by_name.get(item.name)
        if existing is None:
            changes = [
                FieldChange(path, MISSING, value)
                for path, value in flatten(compact(desired)).items()
                if path != "name"
            ]
            items.append(PlanItem("create", item.name, item.source, changes, body))
            continue
        changes = diff(_without_marker(server_config(existing)), desired)
        action = "update" if changes else "unchanged"
        items.append(PlanItem(action, item.name, item.source, changes, body, existing))
    if prune:
        names = {item.name for item in declared}
        for schedule in sorted(current, key=lambda s: s["name"]):
            if schedule["name"] not in names and is_managed(schedule):
                items.append(PlanItem("delete", schedule["name"], current=schedule))
    return items


def export_body(raw: dict[str, Any]) -> dict[str, Any]:
    """A schedule as ``chronos export`` writes it: configuration only, defaults and the
    managed marker left out (``apply`` puts both back)."""
    return compact(_without_marker(server_config(raw)))
