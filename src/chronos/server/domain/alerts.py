"""Alert rules, alerts and their notifications: the pure part.

A rule watches the subjects its selector picks (schedules, heartbeat monitors or pull
handlers) for one condition. The evaluator (``engine/alerts.py``) gathers, per rule and round,
a :class:`Finding` for each subject whose condition holds and ``None`` for each subject known to
be fine, and :func:`decide` turns that and the subject's alerts into the changes to make:

- the condition must hold for the rule's ``grace`` before an alert fires (until then it is
  ``pending``, and a pending alert whose condition ends resolves without a page);
- one open (``pending``/``firing``) alert per (rule, subject) — also a unique index;
- a firing alert whose condition ends resolves at once (``resolved_at``); its ``resolved``
  notification is sent ``cooldown`` later;
- a condition that returns within ``cooldown`` of a resolution (so before its ``resolved``
  notification was due) re-opens the same alert (status ``firing`` again, ``reopened`` + 1)
  with no new page, and the pending ``resolved`` notification is withdrawn. So a flapping
  subject pages once, and says "resolved" once, when it has stayed fine for the cooldown;
- a condition seen only after it ended (e.g. slots missed while every node was down, found on
  restart with firing already resumed) still fires if it lasted at least the grace, and
  resolves in the same step.

Nothing here reads a clock or the database.

    >>> plan = decide(rule, open_alert=None, recent=None, finding=finding, now=now)
    >>> plan.insert["status"], [n.event for n in plan.notify]
    ('firing', ['firing'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from chronos.server.domain.timing import iso
from chronos.server.ids import new_id


class ConditionType(StrEnum):
    MISSED = "missed"  # a slot was not fired (Chronos down/behind), or a fire is overdue
    LATE = "late"  # a fire created more than ``seconds`` after its slot
    CONSECUTIVE_FAILURES = "consecutive_failures"  # the last ``count`` runs failed
    SUCCESS_RATE = "success_rate"  # completed / finished over ``window`` below ``below``
    NO_WORKER = "no_worker"  # pull jobs ready > ``seconds`` and no worker polls the handler
    MONITOR = "monitor"  # a heartbeat monitor is late or failed


class SubjectType(StrEnum):
    SCHEDULE = "schedule"
    MONITOR = "monitor"
    HANDLER = "handler"


class AlertStatus(StrEnum):
    PENDING = "pending"  # the condition holds, for less than the grace so far
    FIRING = "firing"
    RESOLVED = "resolved"


OPEN_STATUSES = (AlertStatus.PENDING, AlertStatus.FIRING)


class NotificationEvent(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class NotificationStatus(StrEnum):
    PENDING = "pending"  # to be sent at ``next_attempt_at`` (again, after a failed attempt)
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS, or the endpoint refused it for good
    CANCELED = "canceled"  # a ``resolved`` withdrawn: the alert re-opened within the cooldown


class WebhookFormat(StrEnum):
    CHRONOS = "chronos"
    SLACK = "slack"


SUBJECT_OF: dict[ConditionType, SubjectType] = {
    ConditionType.MISSED: SubjectType.SCHEDULE,
    ConditionType.LATE: SubjectType.SCHEDULE,
    ConditionType.CONSECUTIVE_FAILURES: SubjectType.SCHEDULE,
    ConditionType.SUCCESS_RATE: SubjectType.SCHEDULE,
    ConditionType.NO_WORKER: SubjectType.HANDLER,
    ConditionType.MONITOR: SubjectType.MONITOR,
}

# How long a condition must hold before it pages, unless the rule says: a missed slot waits a
# minute, so a node restart (a few seconds of slots missed, then firing resumes) does not page.
DEFAULT_GRACE_SECONDS: dict[ConditionType, float] = {
    ConditionType.MISSED: 60.0,
    ConditionType.LATE: 0.0,
    ConditionType.CONSECUTIVE_FAILURES: 0.0,
    ConditionType.SUCCESS_RATE: 0.0,
    ConditionType.NO_WORKER: 0.0,
    ConditionType.MONITOR: 0.0,
}
DEFAULT_COOLDOWN_SECONDS = 300.0
MAX_GRACE_SECONDS = 86_400.0
MAX_COOLDOWN_SECONDS = 7 * 86_400.0
# A success-rate rule reads its whole window: it is evaluated at most this often.
MIN_INTERVAL_SECONDS: dict[ConditionType, float] = {ConditionType.SUCCESS_RATE: 60.0}

# Webhook deliveries: attempts and the backoff between them.
MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 3600.0


def rule_interval(rule: AlertRuleRow, interval: float) -> timedelta:
    """How long until the rule is evaluated again (``CHRONOS_ALERT_INTERVAL``, longer for a
    success-rate rule, which reads its whole window)."""
    kind = ConditionType(rule["condition"]["type"])
    return timedelta(seconds=max(interval, MIN_INTERVAL_SECONDS.get(kind, 0.0)))


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed delivery: 10 s, 20 s, 40 s, … up to 1 h."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(MAX_RETRY_SECONDS, seconds))


class Webhook(TypedDict):
    url: str
    headers: dict[str, str]
    format: str  # WebhookFormat


class Condition(TypedDict):
    type: str  # ConditionType
    seconds: NotRequired[float]  # late, no_worker
    count: NotRequired[int]  # consecutive_failures
    below: NotRequired[float]  # success_rate
    window: NotRequired[float]  # success_rate, seconds
    min_runs: NotRequired[int]  # success_rate


class Selector(TypedDict, total=False):
    tags: dict[str, str]
    names: list[str]


class AlertRuleSpec(TypedDict):
    """A rule's configuration, normalised (what a PATCH merges into)."""

    name: str
    description: str | None
    enabled: bool
    condition: Condition
    selector: Selector
    grace: float
    cooldown: float
    webhook: Webhook | None


class AlertRuleRow(AlertRuleSpec):
    id: str
    account_id: str
    created_at: datetime
    updated_at: datetime
    # The evaluator's bookkeeping: when it last looked, and when it looks next.
    evaluated_at: datetime | None
    next_eval_at: datetime


class AlertRow(TypedDict):
    id: str
    account_id: str
    rule_id: str
    rule_name: str
    condition: str  # ConditionType
    subject_type: str  # SubjectType
    subject_id: str
    subject_name: str
    status: str  # AlertStatus
    since: datetime  # when the condition began to hold
    opened_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    summary: str
    details: dict[str, Any]
    reopened: int
    updated_at: datetime


class NotificationRow(TypedDict):
    id: str
    account_id: str
    alert_id: str
    event: str  # NotificationEvent
    status: str  # NotificationStatus
    target: Webhook  # where it goes, as the rule said when it was made
    payload: dict[str, Any]  # the JSON body, made when the event happened
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    http_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class Subject:
    type: str  # SubjectType
    id: str  # schedule id, monitor id, or the handler's name
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.id)


@dataclass(frozen=True)
class Finding:
    """The condition holds for ``subject`` since ``since`` (or held, until ``ended_at``)."""

    subject: Subject
    since: datetime
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    ended_at: datetime | None = None


# What a condition found in one round: subject key → a Finding (it holds) or None (it is
# known not to hold). A subject absent from it is left as it is.
Assessment = dict[tuple[str, str], Finding | None]


def selects(selector: Mapping[str, Any], name: str, tags: Mapping[str, str] | None) -> bool:
    """Whether a rule's selector picks a subject: every tag given must match, and the name
    must be one of ``names`` if given. An empty selector picks everything in the account."""
    wanted_tags = selector.get("tags") or {}
    if wanted_tags:
        have = tags or {}
        if any(have.get(key) != value for key, value in wanted_tags.items()):
            return False
    names = selector.get("names")
    return not names or name in names


@dataclass(frozen=True)
class Notify:
    event: str  # NotificationEvent
    due_at: datetime


@dataclass
class Plan:
    """What to change for one (rule, subject): at most one alert written, notifications to
    queue for it, and whether its queued ``resolved`` notification is withdrawn."""

    insert: AlertRow | None = None
    update: dict[str, Any] = field(default_factory=dict)
    alert_id: str | None = None
    notify: list[Notify] = field(default_factory=list)
    cancel_resolved: bool = False
    fired: bool = False
    resolved: bool = False

    @property
    def empty(self) -> bool:
        return self.insert is None and not self.update and not self.notify


def decide(
    rule: AlertRuleRow,
    *,
    open_alert: AlertRow | None,
    recent: AlertRow | None,
    finding: Finding | None,
    now: datetime,
) -> Plan:
    """The changes for one subject. ``open_alert``: its pending or firing alert, if any;
    ``recent``: its latest alert that fired and resolved within the cooldown, if any;
    ``finding``: the condition holds (a Finding) or not (None)."""
    grace = timedelta(seconds=rule["grace"])
    cooldown = timedelta(seconds=rule["cooldown"])
    if finding is None:
        if open_alert is None:
            return Plan()
        return _resolve(open_alert, now, cooldown, now)
    ended = finding.ended_at
    if open_alert is not None:
        plan = Plan(alert_id=open_alert["id"])
        if (finding.summary, finding.details) != (open_alert["summary"], open_alert["details"]):
            plan.update.update(summary=finding.summary, details=finding.details, updated_at=now)
        if open_alert["status"] == AlertStatus.PENDING:
            if (ended or now) - open_alert["since"] >= grace:
                plan.update.update(status=AlertStatus.FIRING.value, fired_at=now, updated_at=now)
                plan.notify.append(Notify(NotificationEvent.FIRING.value, now))
                plan.fired = True
            elif ended is not None:
                return _merge(plan, _resolve(open_alert, ended, cooldown, now, fired=False))
        if ended is not None:
            return _merge(plan, _resolve(open_alert, ended, cooldown, now, fired=True))
        return plan
    if recent is not None and recent["resolved_at"] is not None:
        if ended is not None and finding.since <= recent["resolved_at"]:
            return Plan()  # an episode that began before that resolution: accounted for
        if now < recent["resolved_at"] + cooldown:
            # Back within the cooldown (its "resolved" is not due yet, so not sent): the same
            # alert re-opens, and the queued "resolved" is withdrawn.
            return _reopen(recent, finding, cooldown, now)
    if (ended or now) - finding.since < grace:
        if ended is not None:
            return Plan()  # began and ended within the grace, between two looks: no page
        return Plan(insert=_new_alert(rule, finding, AlertStatus.PENDING, now))
    alert = _new_alert(rule, finding, AlertStatus.FIRING, now)
    plan = Plan(insert=alert, alert_id=alert["id"], fired=True)
    plan.notify.append(Notify(NotificationEvent.FIRING.value, now))
    if ended is not None:
        alert["status"] = AlertStatus.RESOLVED.value
        alert["resolved_at"] = ended
        plan.notify.append(Notify(NotificationEvent.RESOLVED.value, max(now, ended + cooldown)))
        plan.resolved = True
    return plan


def _resolve(
    alert: AlertRow,
    at: datetime,
    cooldown: timedelta,
    now: datetime,
    *,
    fired: bool | None = None,
) -> Plan:
    has_fired = alert["fired_at"] is not None if fired is None else fired
    plan = Plan(alert_id=alert["id"], resolved=True)
    plan.update.update(status=AlertStatus.RESOLVED.value, resolved_at=at, updated_at=now)
    if has_fired:
        plan.notify.append(Notify(NotificationEvent.RESOLVED.value, max(now, at + cooldown)))
    return plan


def _merge(first: Plan, second: Plan) -> Plan:
    first.update.update(second.update)
    first.notify.extend(second.notify)
    first.resolved = first.resolved or second.resolved
    return first


def _reopen(recent: AlertRow, finding: Finding, cooldown: timedelta, now: datetime) -> Plan:
    plan = Plan(alert_id=recent["id"], cancel_resolved=True)
    plan.update.update(
        status=AlertStatus.FIRING.value,
        resolved_at=None,
        reopened=recent["reopened"] + 1,
        summary=finding.summary,
        details=finding.details,
        updated_at=now,
    )
    if finding.ended_at is not None:  # it came back and went again, between two looks
        plan.update.update(status=AlertStatus.RESOLVED.value, resolved_at=finding.ended_at)
        plan.notify.append(
            Notify(NotificationEvent.RESOLVED.value, max(now, finding.ended_at + cooldown))
        )
        plan.resolved = True
    return plan


def _new_alert(
    rule: AlertRuleRow, finding: Finding, status: AlertStatus, now: datetime
) -> AlertRow:
    subject = finding.subject
    return {
        "id": new_id("alr"),
        "account_id": rule["account_id"],
        "rule_id": rule["id"],
        "rule_name": rule["name"],
        "condition": rule["condition"]["type"],
        "subject_type": subject.type,
        "subject_id": subject.id,
        "subject_name": subject.name,
        "status": status.value,
        "since": finding.since,
        "opened_at": now,
        "fired_at": now if status == AlertStatus.FIRING else None,
        "resolved_at": None,
        "summary": finding.summary,
        "details": finding.details,
        "reopened": 0,
        "updated_at": now,
    }


# --- notifications ----------------------------------------------------------------------------


def alert_document(alert: Mapping[str, Any]) -> dict[str, Any]:
    """An alert as the API and the ``chronos`` webhook format show it."""
    return {
        "id": alert["id"],
        "rule_id": alert["rule_id"],
        "rule_name": alert["rule_name"],
        "condition": alert["condition"],
        "subject": {
            "type": alert["subject_type"],
            "id": alert["subject_id"],
            "name": alert["subject_name"],
        },
        "status": alert["status"],
        "since": iso(alert["since"]),
        "opened_at": iso(alert["opened_at"]),
        "fired_at": iso(alert["fired_at"]) if alert["fired_at"] else None,
        "resolved_at": iso(alert["resolved_at"]) if alert["resolved_at"] else None,
        "summary": alert["summary"],
        "details": alert["details"],
        "reopened": alert["reopened"],
    }


def notification_text(event: str, alert: Mapping[str, Any]) -> str:
    """One line a person reads in a chat channel."""
    if event == NotificationEvent.FIRING:
        return f":rotating_light: [FIRING] {alert['rule_name']}: {alert['summary']}"
    resolved = iso(alert["resolved_at"]) if alert["resolved_at"] else "now"
    return (
        f":white_check_mark: [RESOLVED] {alert['rule_name']}: {alert['subject_name']} is fine "
        f"again (since {resolved})"
    )


def notification_payload(event: str, alert: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """The webhook body: ``slack`` is ``{"text": …}`` (what a Slack incoming webhook takes);
    ``chronos`` adds the structured alert."""
    text = notification_text(event, alert)
    if fmt == WebhookFormat.SLACK:
        return {"text": text}
    return {"event": event, "text": text, "alert": alert_document(alert)}


def new_notification(
    alert: Mapping[str, Any], event: str, webhook: Webhook, due_at: datetime, now: datetime
) -> NotificationRow:
    return {
        "id": new_id("ntf"),
        "account_id": alert["account_id"],
        "alert_id": alert["id"],
        "event": event,
        "status": NotificationStatus.PENDING.value,
        "target": webhook,
        "payload": notification_payload(event, alert, webhook["format"]),
        "attempts": 0,
        "next_attempt_at": due_at,
        "created_at": now,
        "sent_at": None,
        "http_status": None,
        "last_error": None,
    }


def rule_document(rule: AlertRuleSpec) -> dict[str, Any]:
    """The fields of a rule the audit log compares (its configuration)."""
    return {
        "name": rule["name"],
        "description": rule["description"],
        "enabled": rule["enabled"],
        "condition": dict(rule["condition"]),
        "selector": dict(rule["selector"]),
        "grace": rule["grace"],
        "cooldown": rule["cooldown"],
        "webhook": dict(rule["webhook"]) if rule["webhook"] else None,
    }
