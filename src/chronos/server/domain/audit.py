"""The audit log: who changed what, when, and why.

Every change to an account's configuration (schedules, calendars, monitors, alert rules, API
keys, signing secrets) is recorded in the same transaction as the change itself, with the key
that made it, the fields that changed (before → after) and an optional reason
(``X-Chronos-Reason`` header or a ``reason`` field; a pause's note).

    >>> row = audit_row("acc_1", actor, "schedule.updated", "schedule", "sch_1", "nightly",
    ...                 before=old_spec, after=new_spec, at=now)
    >>> row["changes"]
    {'cron': ['0 2 * * *', '0 3 * * *']}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from chronos.server.domain.rows import KeyHolder, actor_of
from chronos.server.ids import new_id

# Keys whose values never enter the log (push header values, key hashes, secrets).
REDACTED = "[redacted]"
_SECRET_KEYS = frozenset(
    {"headers", "key_hash", "secret", "token", "ping_token", "password", "signing_secret"}
)
# A URL's authority (``scheme://user:password@host:port``), whose password is hidden.
_URL_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^\s/?#]*)")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the API key behind it (``key_id`` None for the server itself or an
    admin command), how it is shown (``ops (chrns_AbC1…)``, ``dashboard: ops (…)``), and why."""

    key_id: str | None
    name: str
    reason: str | None = None

    @classmethod
    def of(cls, holder: KeyHolder, *, via: str | None = None, reason: str | None = None) -> Actor:
        return cls(holder["key_id"], actor_of(holder, via=via), reason)

    def with_reason(self, reason: str | None) -> Actor:
        """The same actor, with ``reason`` (a body's ``reason`` field) when one is given."""
        return self if reason is None else replace(self, reason=reason)

    def __str__(self) -> str:
        return self.name


class AuditRow(TypedDict):
    id: str
    account_id: str
    at: datetime
    actor_key_id: str | None
    actor: str | None
    action: str  # "<resource_type>.<verb>": schedule.created, calendar.deleted, key.created, ...
    resource_type: str
    resource_id: str
    resource_name: str | None
    changes: dict[str, Any] | None  # {"field.path": [before, after]}
    reason: str | None


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields that differ, flattened to dotted paths: ``{"delivery.http.url": [a, b]}``.
    A field only on one side shows ``None`` on the other; secret values are redacted."""
    changes: dict[str, Any] = {}
    _walk("", before or {}, after or {}, changes)
    return changes


def _walk(prefix: str, before: Any, after: Any, out: dict[str, Any]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted({*before, *after}, key=str):
            path = f"{prefix}{key}"
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            if str(key).lower() in _SECRET_KEYS:
                out[path] = [_redact(old), _redact(new)]
            else:
                _walk(f"{path}.", old, new, out)
        return
    if before != after:
        out[prefix.rstrip(".")] = [_scrub(before), _scrub(after)]


def _scrub(value: Any) -> Any:
    """``value`` with URL passwords and secret-named keys inside lists or mappings hidden."""
    if isinstance(value, str):
        return _URL_AUTHORITY.sub(_hide_password, value) if "://" in value else value
    if isinstance(value, Mapping):
        return {
            key: _redact(item) if str(key).lower() in _SECRET_KEYS else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _hide_password(match: re.Match[str]) -> str:
    """``user:password@host`` → ``user:[redacted]@host`` (the userinfo ends at the last @)."""
    userinfo, at, host = match["authority"].rpartition("@")
    if not at or ":" not in userinfo:
        return match[0]
    user = userinfo.partition(":")[0]
    return f"{match['scheme']}{user}:{REDACTED}@{host}"


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: REDACTED for key in value}
    return None if value is None else REDACTED


def audit_row(
    account_id: str,
    actor: Actor | None,
    action: str,
    resource_type: str,
    resource_id: str,
    resource_name: str | None,
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
    reason: str | None = None,
) -> AuditRow:
    """One audit record; ``reason`` (e.g. a pause note) wins over the actor's own reason."""
    changes = diff(before, after)
    return {
        "id": new_id("aud"),
        "account_id": account_id,
        "at": at,
        "actor_key_id": actor.key_id if actor else None,
        "actor": actor.name if actor else None,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "changes": changes or None,
        "reason": reason if reason is not None else (actor.reason if actor else None),
    }
