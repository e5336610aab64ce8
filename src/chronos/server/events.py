"""One log line per state change an operator wants to know about, with the ids to find it.

Logged by ``chronos.events`` at INFO: jobs fired or skipped by a schedule, claimed, finished
(completed, failed with the reason, timed out, retried and when), released at shutdown. Set
``CHRONOS_LOG_LEVEL=warning`` (or filter the ``chronos.events`` logger) to silence them; the
lines are only formatted when the logger would write them.

    fired job_01… schedule=sch_01… slot=2026-03-01T12:00:00Z status=ready
    finished job_01… execution=exe_01… attempt=2 failed error=timeout: no result before…
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from chronos.server.domain.jobs import Ending
from chronos.server.domain.rows import ClaimedJob, JobOutcome, JobRow
from chronos.server.domain.timing import iso

log = logging.getLogger("chronos.events")


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        text = f"{kind}: {message}" if kind else str(message)
    else:
        text = str(error)
    return text.replace("\n", " ")[:200]


def jobs_fired(rows: Iterable[JobRow]) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    for row in rows:
        verb = "skipped" if row["status"] == "skipped" else "fired"
        log.info(
            "%s %s schedule=%s slot=%s status=%s",
            verb,
            row["id"],
            row["schedule_id"],
            iso(row["scheduled_for"]),
            row["status"],
        )


def jobs_claimed(jobs: Iterable[ClaimedJob], worker_id: str | None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    for job in jobs:
        log.info(
            "claimed %s execution=%s attempt=%d handler=%s worker=%s",
            job["id"],
            job["execution_id"],
            job["attempt"],
            job["handler"],
            worker_id,
        )


def executions_finished(endings: Iterable[Ending], outcomes: Iterable[JobOutcome]) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    for ending, outcome in zip(endings, outcomes, strict=True):
        execution, result = ending.execution, ending.result
        line = (
            f"finished {execution['job_id']} execution={execution['id']} "
            f"attempt={execution['attempt']} {result.status.value}"
        )
        if result.http_status is not None:
            line += f" http={result.http_status}"
        if result.error is not None:
            line += f" error={_error_text(result.error)}"
        if outcome["status"] == "pending":
            line += f"; retry at {iso(outcome['run_at'])}"
        elif outcome["status"] == "failed":
            line += "; the job failed"
        log.info("%s", line)
