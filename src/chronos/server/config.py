"""Settings, from flags and ``CHRONOS_*`` environment variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from chronos.server.domain.durations import parse_duration

ROLES = ("api", "scheduler", "dispatcher")
DEFAULT_DATABASE_URL = "sqlite:///./chronos.db"


LOG_FORMATS = ("text", "json")
_TRUE = ("1", "true", "yes", "on")


def parse_log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(
            f"CHRONOS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {text!r}"
        )
    return value


def env_duration(name: str, default: str, *, positive: bool = False) -> float:
    """A duration from the environment (``"30s"``, ``"2m"``, plain seconds), named on error;
    ``positive``: zero is refused too (a timeout of nothing would refuse every request)."""
    try:
        seconds = parse_duration(os.environ.get(name, default))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if positive and seconds <= 0:
        raise ValueError(f"{name}: must be more than 0 seconds")
    return seconds


def parse_roles(text: str) -> frozenset[str]:
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"--roles takes a comma-separated list of {', '.join(ROLES)}")
    return roles


def parse_metrics_max_handlers(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"CHRONOS_METRICS_MAX_HANDLERS must be a whole number >= 0, not {text!r}")
    return value


def parse_rate(text: str) -> float | None:
    """``CHRONOS_RATE_LIMIT``: requests a second per key ("50", "50/s"), or empty for none."""
    text = text.strip().lower().removesuffix("/s")
    if not text or text in ("0", "off", "none"):
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError("CHRONOS_RATE_LIMIT takes requests a second per key, e.g. 50")
    return rate


def parse_positive_int(name: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{name} takes a whole number, at least 1")
    return int(text)


def parse_push_account_concurrency(text: str) -> int:
    """A whole number >= 1; empty means 0, the default (half of the push slots)."""
    if not text.strip():
        return 0
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"CHRONOS_PUSH_ACCOUNT_CONCURRENCY must be a whole number >= 1, not {text!r}"
        )
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    roles: frozenset[str] = field(default_factory=lambda: frozenset(ROLES))
    bootstrap_api_key: str | None = None
    # The largest ``payload`` a job or schedule may carry (JSON-encoded).
    max_payload_bytes: int = 256 * 1024
    # The largest request body (a batch of jobs is the biggest legitimate one).
    max_body_bytes: int = 16 * 1024 * 1024
    # Push requests in flight at once on this node.
    push_concurrency: int = 100
    # Push requests of one account in flight at once on this node (its fair share of the
    # slots). 0, the default: half of ``push_concurrency``, at least 1. It applies even to
    # an account alone on the node: a single-tenant deployment sets it to ``push_concurrency``.
    push_account_concurrency: int = 0
    # Also refuse loopback and private addresses as push targets.
    push_block_private: bool = False
    # The longest ``timeout`` a push job or schedule may ask for (a request holds a slot).
    push_max_timeout_seconds: float = 60 * 60
    # Finished jobs older than this are pruned (with their executions).
    retention_seconds: float = 7 * 86400
    # How often each alert rule is evaluated (a success-rate rule: at most once a minute).
    alert_interval_seconds: float = 10.0
    # Audit records older than this are pruned.
    audit_retention_seconds: float = 90 * 86400
    # Alerts resolved longer ago than this, and webhook notifications sent (or given up) longer
    # ago, are pruned; open alerts and notifications still to send stay.
    alert_retention_seconds: float = 90 * 86400
    migrate_on_start: bool = True
    log_level: str = "info"
    # On SIGTERM/SIGINT: how long push requests in flight get to finish (and be recorded) before
    # the rest are aborted and their jobs released to be sent again at once.
    shutdown_grace_seconds: float = 30.0
    # How long an idle HTTP keep-alive connection stays open.
    keep_alive_seconds: float = 5.0
    # "text" (human-readable) or "json" (one object per line: ts, level, logger, msg, exc).
    log_format: str = "text"
    # Log every HTTP request (uvicorn's access log).
    access_log: bool = False
    # When set, ``GET /metrics`` requires ``Authorization: Bearer <metrics_token>``.
    metrics_token: str | None = field(default=None, repr=False)
    # Handlers named in the ``handler`` label of the queue gauges; the rest become "_other".
    metrics_max_handlers: int = 100
    # Requests a second each API key may make on this node (None: no limit).
    rate_limit_per_second: float | None = None
    # Claim long-polls one API key may hold open at once on this node.
    max_long_polls_per_key: int = 100
    # Longest pause between two chunks of a request body before the request is refused (408).
    body_read_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("CHRONOS_DATABASE_URL", DEFAULT_DATABASE_URL),
            "host": env.get("CHRONOS_HOST", "127.0.0.1"),
            "port": int(env.get("CHRONOS_PORT", "8080")),
            "roles": parse_roles(env.get("CHRONOS_ROLES", ",".join(ROLES))),
            "bootstrap_api_key": env.get("CHRONOS_BOOTSTRAP_API_KEY") or None,
            "max_payload_bytes": int(env.get("CHRONOS_MAX_PAYLOAD_BYTES", 256 * 1024)),
            "log_level": env.get("CHRONOS_LOG_LEVEL", "info"),
            "push_concurrency": int(env.get("CHRONOS_PUSH_CONCURRENCY", "100")),
            "push_account_concurrency": parse_push_account_concurrency(
                env.get("CHRONOS_PUSH_ACCOUNT_CONCURRENCY", "")
            ),
            "retention_seconds": parse_duration(env.get("CHRONOS_RETENTION", "7d")),
            "alert_interval_seconds": env_duration("CHRONOS_ALERT_INTERVAL", "10s", positive=True),
            "audit_retention_seconds": env_duration(
                "CHRONOS_AUDIT_RETENTION", "90d", positive=True
            ),
            "alert_retention_seconds": env_duration(
                "CHRONOS_ALERT_RETENTION", "90d", positive=True
            ),
            "push_block_private": env.get("CHRONOS_PUSH_BLOCK_PRIVATE", "").lower()
            in ("1", "true", "yes", "on"),
            "push_max_timeout_seconds": parse_duration(env.get("CHRONOS_PUSH_MAX_TIMEOUT", "1h")),
            "shutdown_grace_seconds": env_duration("CHRONOS_SHUTDOWN_GRACE", "30s"),
            "keep_alive_seconds": env_duration("CHRONOS_KEEP_ALIVE", "5s", positive=True),
            "log_format": parse_log_format(env.get("CHRONOS_LOG_FORMAT", "text")),
            "access_log": env.get("CHRONOS_ACCESS_LOG", "").strip().lower() in _TRUE,
            "metrics_token": env.get("CHRONOS_METRICS_TOKEN", "").strip() or None,
            "metrics_max_handlers": parse_metrics_max_handlers(
                env.get("CHRONOS_METRICS_MAX_HANDLERS", "100")
            ),
            "rate_limit_per_second": parse_rate(env.get("CHRONOS_RATE_LIMIT", "")),
            "body_read_timeout_seconds": env_duration(
                "CHRONOS_BODY_READ_TIMEOUT", "30s", positive=True
            ),
            "max_long_polls_per_key": parse_positive_int(
                "CHRONOS_MAX_LONG_POLLS_PER_KEY", env.get("CHRONOS_MAX_LONG_POLLS_PER_KEY", "100")
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.push_account_concurrency <= 0:
            default = max(1, self.push_concurrency // 2)
            object.__setattr__(self, "push_account_concurrency", default)
