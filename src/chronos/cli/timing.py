"""``chronos schedules create|preview`` options for DST policy, jitter and spread
(docs/dst.md, docs/jitter.md):

    chronos schedules create nightly --handler report --cron "H 2 * * *" \\
        --timezone America/New_York --dst-gap skip --dst-overlap first --jitter 5m --spread 10m
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer


class DstGapChoice(StrEnum):
    shift = "shift"
    skip = "skip"


class DstOverlapChoice(StrEnum):
    first = "first"
    last = "last"
    both = "both"


JitterOption = Annotated[
    str | None,
    typer.Option(help='delay each fire by up to this much, e.g. "30s" (same delay per slot)'),
]
SpreadOption = Annotated[
    str | None,
    typer.Option(help='move every slot by a fixed amount below this, e.g. "1h" (from the name)'),
]
DstGapOption = Annotated[
    DstGapChoice | None,
    typer.Option("--dst-gap", help="a local time a spring-forward gap skips: shift or skip"),
]
DstOverlapOption = Annotated[
    DstOverlapChoice | None,
    typer.Option("--dst-overlap", help="a local time that occurs twice: first, last or both"),
]


def timing_fields(
    body: dict[str, Any],
    jitter: str | None,
    spread: str | None,
    dst_gap: DstGapChoice | None,
    dst_overlap: DstOverlapChoice | None,
) -> dict[str, Any]:
    """``body`` with the options given (a ``--from-file`` body's ``dst_policy`` is kept and
    the options override its keys)."""
    if jitter is not None:
        body["jitter"] = jitter
    if spread is not None:
        body["spread"] = spread
    if dst_gap is not None or dst_overlap is not None:
        policy = dict(body.get("dst_policy") or {})
        if dst_gap is not None:
            policy["gap"] = dst_gap.value
        if dst_overlap is not None:
            policy["overlap"] = dst_overlap.value
        body["dst_policy"] = policy
    return body
