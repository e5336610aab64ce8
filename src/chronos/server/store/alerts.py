"""Alert rules, alerts, their notifications (the outbox), and the reads the evaluator's
conditions make. Every read the evaluator makes per round is bounded by an index: due rules by
``ix_alert_rules_due``, open alerts by ``uq_alerts_open``, recently resolved ones by
``(rule_id, resolved_at)``, a schedule's fires by ``uq_jobs_schedule_slot``, its runs by
``ix_jobs_schedule_listing``, fires since the last look by the jobs' id range, due
notifications by ``ix_alert_notifications_due``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.alerts import (
    OPEN_STATUSES,
    AlertRow,
    AlertRuleRow,
    AlertStatus,
    NotificationEvent,
    NotificationRow,
    NotificationStatus,
)
from chronos.server.domain.rows import ScheduleRow
from chronos.server.domain.states import JobStatus, JobTrigger
from chronos.server.ids import id_floor
from chronos.server.store.dialect import is_postgres, seconds_between, skip_locked
from chronos.server.store.errors import unique
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import alert_notifications, alert_rules, alerts, jobs, schedules

_OPEN = [s.value for s in OPEN_STATUSES]

# --- rules ------------------------------------------------------------------------------------


async def alert_rule_insert(conn: AsyncConnection, row: AlertRuleRow) -> None:
    """Insert a rule; a taken name raises :class:`UniqueViolation` and inserts nothing."""
    async with unique(conn, "alert_rule_name", row["name"]):
        await conn.execute(sa.insert(alert_rules).values(**row))


async def alert_rule_get(
    conn: AsyncConnection, account_id: str, id_or_name: str, *, for_update: bool = False
) -> AlertRuleRow | None:
    """By id (``arl_…``) or by name."""
    for column in (alert_rules.c.id, alert_rules.c.name):
        query = sa.select(alert_rules).where(
            alert_rules.c.account_id == account_id, column == id_or_name
        )
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is not None:
            return cast(AlertRuleRow, dict(row._mapping))
    return None


async def alert_rule_list(
    conn: AsyncConnection, account_id: str, *, cursor: str | None, limit: int
) -> tuple[list[AlertRuleRow], str | None]:
    query = sa.select(alert_rules).where(alert_rules.c.account_id == account_id)
    rows = await conn.execute(page(query, alert_rules.c.id, cursor, limit))
    return split_page([cast(AlertRuleRow, dict(r._mapping)) for r in rows], limit)


async def alert_rule_update(conn: AsyncConnection, rule_id: str, values: Mapping[str, Any]) -> None:
    """Change a rule's columns; a taken name raises :class:`UniqueViolation`."""
    async with unique(conn, "alert_rule_name", values.get("name")):
        await conn.execute(sa.update(alert_rules).where(alert_rules.c.id == rule_id).values(values))


async def alert_rule_delete(conn: AsyncConnection, rule_id: str) -> None:
    await conn.execute(sa.delete(alert_rules).where(alert_rules.c.id == rule_id))


async def alert_rule_due_ids(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """Enabled rules due for evaluation, the longest-waiting first."""
    rows = await conn.execute(
        sa.select(alert_rules.c.id)
        .where(alert_rules.c.enabled, alert_rules.c.next_eval_at <= now)
        .order_by(alert_rules.c.next_eval_at)
        .limit(limit)
    )
    return [row.id for row in rows]


async def alert_rule_lock_due(
    conn: AsyncConnection, rule_id: str, now: datetime
) -> AlertRuleRow | None:
    """The rule, locked for this transaction, if it is still due and no other node holds it
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer)."""
    query = sa.select(alert_rules).where(
        alert_rules.c.id == rule_id, alert_rules.c.enabled, alert_rules.c.next_eval_at <= now
    )
    row = (await conn.execute(skip_locked(conn, query))).first()
    return cast(AlertRuleRow, dict(row._mapping)) if row is not None else None


async def alert_rule_next_due_at(conn: AsyncConnection) -> datetime | None:
    row = await conn.execute(
        sa.select(sa.func.min(alert_rules.c.next_eval_at)).where(alert_rules.c.enabled)
    )
    return cast(datetime | None, row.scalar())


# --- alerts -----------------------------------------------------------------------------------


async def alert_insert(conn: AsyncConnection, row: AlertRow) -> bool:
    """Insert an alert; False (and nothing inserted) if the subject already has an open alert
    for this rule (``uq_alerts_open``: another node got there first)."""
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(alerts).values(**row))
    except IntegrityError:
        return False
    return True


async def alert_update(conn: AsyncConnection, alert_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(values))


async def alerts_open_for_rule(conn: AsyncConnection, rule_id: str) -> list[AlertRow]:
    rows = await conn.execute(
        sa.select(alerts).where(alerts.c.rule_id == rule_id, alerts.c.status.in_(_OPEN))
    )
    return [cast(AlertRow, dict(r._mapping)) for r in rows]


async def alerts_resolved_since(
    conn: AsyncConnection, rule_id: str, since: datetime
) -> list[AlertRow]:
    """The rule's alerts that fired and resolved at or after ``since``, newest first."""
    rows = await conn.execute(
        sa.select(alerts)
        .where(
            alerts.c.rule_id == rule_id,
            alerts.c.resolved_at >= since,
            alerts.c.status == AlertStatus.RESOLVED.value,
            alerts.c.fired_at.is_not(None),
        )
        .order_by(alerts.c.resolved_at.desc())
    )
    return [cast(AlertRow, dict(r._mapping)) for r in rows]


async def alert_get(conn: AsyncConnection, account_id: str, alert_id: str) -> AlertRow | None:
    row = (
        await conn.execute(
            sa.select(alerts).where(alerts.c.account_id == account_id, alerts.c.id == alert_id)
        )
    ).first()
    return cast(AlertRow, dict(row._mapping)) if row is not None else None


async def alert_list(
    conn: AsyncConnection,
    account_id: str,
    *,
    status: str | None,
    rule: str | None,
    subject: str | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AlertRow], str | None]:
    """Newest first. ``rule``: the rule's id or name (as it was when the alert opened);
    ``subject``: the subject's id or name; ``since``: opened at or after."""
    query = sa.select(alerts).where(alerts.c.account_id == account_id)
    if status is not None:
        query = query.where(alerts.c.status == status)
    if rule is not None:
        query = query.where(sa.or_(alerts.c.rule_id == rule, alerts.c.rule_name == rule))
    if subject is not None:
        query = query.where(
            sa.or_(alerts.c.subject_id == subject, alerts.c.subject_name == subject)
        )
    if since is not None:
        query = query.where(alerts.c.opened_at >= since)
    rows = await conn.execute(page(query, alerts.c.id, cursor, limit))
    return split_page([cast(AlertRow, dict(r._mapping)) for r in rows], limit)


async def alerts_close_for_rule(conn: AsyncConnection, rule_id: str, now: datetime) -> int:
    """A deleted rule's open alerts resolve (silently) and its unsent notifications are
    withdrawn."""
    await conn.execute(
        sa.update(alert_notifications)
        .where(
            alert_notifications.c.alert_id.in_(
                sa.select(alerts.c.id).where(alerts.c.rule_id == rule_id)
            ),
            alert_notifications.c.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELED.value, last_error="the alert rule was deleted")
    )
    result = await conn.execute(
        sa.update(alerts)
        .where(alerts.c.rule_id == rule_id, alerts.c.status.in_(_OPEN))
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now, updated_at=now)
    )
    return result.rowcount or 0


async def alerts_firing_count(conn: AsyncConnection) -> int:
    row = await conn.execute(
        sa.select(sa.func.count()).where(alerts.c.status == AlertStatus.FIRING.value)
    )
    return int(row.scalar() or 0)


# --- notifications (the outbox) ---------------------------------------------------------------


async def notification_insert(conn: AsyncConnection, row: NotificationRow) -> None:
    await conn.execute(sa.insert(alert_notifications).values(**row))


async def notification_cancel_resolved(conn: AsyncConnection, alert_id: str) -> int:
    """Withdraw an alert's unsent ``resolved`` notification (it re-opened in the cooldown)."""
    result = await conn.execute(
        sa.update(alert_notifications)
        .where(
            alert_notifications.c.alert_id == alert_id,
            alert_notifications.c.event == NotificationEvent.RESOLVED.value,
            alert_notifications.c.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELED.value, last_error="the alert re-opened")
    )
    return result.rowcount or 0


async def notification_claim_due(
    conn: AsyncConnection, now: datetime, *, lease_until: datetime, limit: int
) -> list[NotificationRow]:
    """Take due notifications for sending: each gets an attempt and is hidden until
    ``lease_until``, so a node that dies mid-send leaves it to be sent again then."""
    query = (
        sa.select(alert_notifications)
        .where(
            alert_notifications.c.status == NotificationStatus.PENDING.value,
            alert_notifications.c.next_attempt_at <= now,
        )
        .order_by(alert_notifications.c.next_attempt_at)
        .limit(limit)
    )
    rows = [
        cast(NotificationRow, dict(r._mapping))
        for r in await conn.execute(skip_locked(conn, query))
    ]
    if rows:
        await conn.execute(
            sa.update(alert_notifications)
            .where(alert_notifications.c.id.in_([r["id"] for r in rows]))
            .values(attempts=alert_notifications.c.attempts + 1, next_attempt_at=lease_until)
        )
    for row in rows:
        row["attempts"] += 1
    return rows


async def notification_record(
    conn: AsyncConnection, notification_id: str, values: Mapping[str, Any]
) -> None:
    """An attempt's outcome (only while the notification is still pending)."""
    await conn.execute(
        sa.update(alert_notifications)
        .where(
            alert_notifications.c.id == notification_id,
            alert_notifications.c.status == NotificationStatus.PENDING.value,
        )
        .values(values)
    )


async def notifications_for_alerts(
    conn: AsyncConnection, alert_ids: Sequence[str]
) -> dict[str, list[NotificationRow]]:
    """Each alert's notifications, oldest first."""
    if not alert_ids:
        return {}
    rows = await conn.execute(
        sa.select(alert_notifications)
        .where(alert_notifications.c.alert_id.in_(list(alert_ids)))
        .order_by(alert_notifications.c.id)
    )
    found: dict[str, list[NotificationRow]] = {}
    for row in rows:
        found.setdefault(row.alert_id, []).append(cast(NotificationRow, dict(row._mapping)))
    return found


async def notification_next_due_at(conn: AsyncConnection) -> datetime | None:
    row = await conn.execute(
        sa.select(sa.func.min(alert_notifications.c.next_attempt_at)).where(
            alert_notifications.c.status == NotificationStatus.PENDING.value
        )
    )
    return cast(datetime | None, row.scalar())


# --- what conditions read ---------------------------------------------------------------------


async def schedules_by_ids(
    conn: AsyncConnection, account_id: str, ids: Iterable[str]
) -> dict[str, ScheduleRow]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(schedules).where(schedules.c.account_id == account_id, schedules.c.id.in_(wanted))
    )
    return {row.id: cast(ScheduleRow, dict(row._mapping)) for row in rows}


async def schedules_failing(conn: AsyncConnection, account_id: str, *, limit: int) -> list[str]:
    """Schedules whose last run failed (``last_status``)."""
    rows = await conn.execute(
        sa.select(schedules.c.id)
        .where(
            schedules.c.account_id == account_id,
            schedules.c.last_status == JobStatus.FAILED.value,
        )
        .limit(limit)
    )
    return [row.id for row in rows]


async def schedule_fire_after(
    conn: AsyncConnection, schedule_id: str, after: datetime
) -> tuple[datetime, datetime] | None:
    """The schedule's first fired slot at or after ``after``: (slot, when its job was
    created). A missed event's ``until`` is its round's time: a slot due at that very instant
    was fired on time by that round."""
    row = (
        await conn.execute(
            sa.select(jobs.c.scheduled_for, jobs.c.created_at)
            .where(
                jobs.c.schedule_id == schedule_id,
                jobs.c.trigger == JobTrigger.SCHEDULE.value,
                jobs.c.scheduled_for >= after,
            )
            .order_by(jobs.c.scheduled_for)
            .limit(1)
        )
    ).first()
    return (row.scheduled_for, row.created_at) if row is not None else None


async def schedule_latest_fire(
    conn: AsyncConnection, schedule_id: str
) -> tuple[datetime, datetime] | None:
    """The schedule's latest fired slot: (slot, when its job was created)."""
    row = (
        await conn.execute(
            sa.select(jobs.c.scheduled_for, jobs.c.created_at)
            .where(
                jobs.c.schedule_id == schedule_id,
                jobs.c.trigger == JobTrigger.SCHEDULE.value,
            )
            .order_by(jobs.c.scheduled_for.desc())
            .limit(1)
        )
    ).first()
    return (row.scheduled_for, row.created_at) if row is not None else None


async def late_fires_since(
    conn: AsyncConnection, account_id: str, since: datetime, *, late_after: float, limit: int
) -> dict[str, datetime]:
    """Schedules with a fire created since ``since`` more than ``late_after`` seconds after
    its slot: schedule id → its earliest such slot."""
    lag = seconds_between(conn, jobs.c.created_at, jobs.c.scheduled_for)
    rows = await conn.execute(
        sa.select(jobs.c.schedule_id, sa.func.min(jobs.c.scheduled_for).label("first"))
        .where(
            jobs.c.account_id == account_id,
            jobs.c.id >= id_floor("job", int(since.timestamp() * 1000)),
            jobs.c.created_at >= since,
            jobs.c.trigger == JobTrigger.SCHEDULE.value,
            lag > late_after,
        )
        .group_by(jobs.c.schedule_id)
        .limit(limit)
    )
    return {row.schedule_id: row.first for row in rows}


async def schedule_last_runs(
    conn: AsyncConnection, schedule_id: str, count: int
) -> list[tuple[str, datetime]]:
    """The schedule's last ``count`` finished runs (completed or failed): (status,
    finished_at), newest first."""
    rows = await conn.execute(
        sa.select(jobs.c.status, jobs.c.finished_at)
        .where(
            jobs.c.schedule_id == schedule_id,
            jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
        )
        .order_by(jobs.c.id.desc())
        .limit(count)
    )
    return [(row.status, row.finished_at) for row in rows]


async def schedules_last_runs(
    conn: AsyncConnection, schedule_ids: Sequence[str], count: int
) -> dict[str, list[tuple[str, datetime]]]:
    """:func:`schedule_last_runs` of many schedules: on PostgreSQL one query (a ``LATERAL``
    top-``count`` per schedule through ``ix_jobs_schedule_listing``), so a rule watching
    hundreds of failing schedules costs one round trip a look; on SQLite (in-process, no
    round trips) one indexed query each."""
    if not schedule_ids:
        return {}
    if not is_postgres(conn):
        return {sid: await schedule_last_runs(conn, sid, count) for sid in schedule_ids}
    ids = (
        sa.func.unnest(sa.bindparam("ids", list(schedule_ids), type_=postgresql.ARRAY(sa.String)))
        .table_valued("id")
        .render_derived(name="s")
    )
    last = (
        sa.select(jobs.c.id, jobs.c.status, jobs.c.finished_at)
        .where(
            jobs.c.schedule_id == ids.c.id,
            jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
        )
        .order_by(jobs.c.id.desc())
        .limit(count)
        .lateral("j")
    )
    rows = await conn.execute(
        sa.select(ids.c.id.label("schedule_id"), last.c.status, last.c.finished_at)
        .select_from(ids.join(last, sa.true()))
        .order_by(ids.c.id, last.c.id.desc())
    )
    found: dict[str, list[tuple[str, datetime]]] = {sid: [] for sid in schedule_ids}
    for row in rows:
        found[row.schedule_id].append((row.status, row.finished_at))
    return found


async def finished_by_schedule(
    conn: AsyncConnection, account_id: str, since: datetime, *, limit: int
) -> dict[str, tuple[int, int]]:
    """Runs of the account's schedules finished since ``since``: id → (completed, failed)."""
    completed = jobs.c.status == JobStatus.COMPLETED.value
    rows = await conn.execute(
        sa.select(
            jobs.c.schedule_id,
            sa.func.sum(sa.case((completed, 1), else_=0)).label("completed"),
            sa.func.count().label("finished"),
        )
        .where(
            jobs.c.finished_at >= since,
            jobs.c.finished_at.is_not(None),
            jobs.c.account_id == account_id,
            jobs.c.schedule_id.is_not(None),
            jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
        )
        .group_by(jobs.c.schedule_id)
        .limit(limit)
    )
    return {
        row.schedule_id: (int(row.completed or 0), int(row.finished) - int(row.completed or 0))
        for row in rows
    }


# --- the overview and retention -----------------------------------------------------------------


async def alerts_firing(conn: AsyncConnection, account_id: str, *, limit: int) -> list[AlertRow]:
    """The account's firing alerts, newest first (through the partial ``uq_alerts_open``: only
    open alerts are read, however long the history)."""
    rows = await conn.execute(
        sa.select(alerts)
        .where(
            alerts.c.status.in_(_OPEN),  # the partial index's own predicate
            alerts.c.status == AlertStatus.FIRING.value,
            alerts.c.account_id == account_id,
        )
        .order_by(alerts.c.id.desc())
        .limit(limit)
    )
    return [cast(AlertRow, dict(r._mapping)) for r in rows]


async def alerts_delete_resolved_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` alerts resolved before ``cutoff`` (their notifications go with
    them, ``ON DELETE CASCADE``), oldest first through ``ix_alerts_resolved``; how many went.
    An alert with a notification still to send stays until it is sent or given up."""
    unsent = (
        sa.select(alert_notifications.c.id)
        .where(
            alert_notifications.c.alert_id == alerts.c.id,
            alert_notifications.c.status == NotificationStatus.PENDING.value,
        )
        .exists()
    )
    batch = skip_locked(
        conn,
        sa.select(alerts.c.id)
        .where(
            alerts.c.status == AlertStatus.RESOLVED.value,
            alerts.c.resolved_at < cutoff,
            ~unsent,
        )
        .order_by(alerts.c.resolved_at)
        .limit(limit),
    ).scalar_subquery()
    result = await conn.execute(sa.delete(alerts).where(alerts.c.id.in_(batch)))
    return result.rowcount or 0


async def notifications_delete_done_before(
    conn: AsyncConnection, cutoff: datetime, limit: int
) -> int:
    """Delete up to ``limit`` notifications made before ``cutoff`` that are done with (sent,
    failed or withdrawn; a pending one stays until it is sent or given up), oldest first
    through ``ix_alert_notifications_done``; how many went."""
    batch = skip_locked(
        conn,
        sa.select(alert_notifications.c.id)
        .where(
            alert_notifications.c.status != NotificationStatus.PENDING.value,
            alert_notifications.c.created_at < cutoff,
        )
        .order_by(alert_notifications.c.created_at)
        .limit(limit),
    ).scalar_subquery()
    result = await conn.execute(
        sa.delete(alert_notifications).where(alert_notifications.c.id.in_(batch))
    )
    return result.rowcount or 0
