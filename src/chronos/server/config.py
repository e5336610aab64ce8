"""Settings, from flags and ``CHRONOS_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chronos.server.domain.durations import parse_duration

ROLES = ("api", "scheduler", "dispatcher")
DEFAULT_DATABASE_URL = "sqlite:///./chronos.db"


def parse_roles(text: str) -> frozenset[str]:
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"--roles takes a comma-separated list of {', '.join(ROLES)}")
    return roles


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
    # Also refuse loopback and private addresses as push targets.
    push_block_private: bool = False
    # Finished jobs older than this are pruned (with their executions).
    retention_seconds: float = 7 * 86400
    migrate_on_start: bool = True
    log_level: str = "info"

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
            "retention_seconds": parse_duration(env.get("CHRONOS_RETENTION", "7d")),
            "push_block_private": env.get("CHRONOS_PUSH_BLOCK_PRIVATE", "").lower()
            in ("1", "true", "yes", "on"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
