"""Chronos: a self-hostable job scheduler — the Python SDK.

    from chronos import Chronos
    chronos = Chronos(api_key="chrns_…", base_url="http://localhost:8080")

This package imports nothing from the server, so ``pip install chronos-scheduler`` is enough
to talk to a Chronos service. The server lives in ``chronos.server`` (the ``server`` extra).
"""

from chronos.client import AsyncChronos, Chronos
from chronos.errors import (
    APIError,
    AuthenticationError,
    ChronosError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    ValidationError,
)
from chronos.models import Execution, Job, Page, Schedule
from chronos.webhooks import InvalidSignature
from chronos.worker import JobContext, NonRetryable, Retryable

__all__ = [
    "APIError",
    "AsyncChronos",
    "AuthenticationError",
    "Chronos",
    "ChronosError",
    "ConflictError",
    "ConnectionFailed",
    "Execution",
    "InvalidSignature",
    "Job",
    "JobContext",
    "NonRetryable",
    "NotFoundError",
    "Page",
    "Retryable",
    "Schedule",
    "ValidationError",
    "__version__",
]
__version__ = "0.1.0"
