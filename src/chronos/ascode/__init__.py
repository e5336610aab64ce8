"""Schedules as code: declare schedules in files, apply them, export them back.

    from chronos import Chronos
    result = Chronos().schedules.apply(
        [{"name": "nightly", "handler": "report", "cron": "0 2 * * *"}], prune=True
    )
    result.created, result.updated, result.deleted, result.unchanged

``plan`` computes what to do (pure), ``normalize`` brings a body to the server's canonical
form for the comparison, ``runner`` makes the API calls (sync and async alike), ``files``
reads and writes the YAML/JSON files of ``chronos apply`` and ``chronos export``. See
docs/schedules-as-code.md.
"""

from chronos.ascode.plan import (
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    ApplyError,
    ApplyResult,
    Declared,
    FieldChange,
    PlanItem,
    Problem,
    compute_plan,
)
from chronos.ascode.runner import apply_steps, drive, export_steps

__all__ = [
    "MANAGED_TAG_KEY",
    "MANAGED_TAG_VALUE",
    "ApplyError",
    "ApplyResult",
    "Declared",
    "FieldChange",
    "PlanItem",
    "Problem",
    "apply_steps",
    "compute_plan",
    "drive",
    "export_steps",
]
