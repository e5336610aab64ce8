"""``chronos dev``: a local, single-user Chronos with auth off (like ``temporal server start-dev``).

Embedded SQLite (``./chronos-dev.db`` unless ``--database-url`` says otherwise), bound to a
loopback address only. A request without an ``Authorization`` header acts as the ``default``
account: on the first such request the server creates a key named ``chronos dev`` for that
account (a new one each start, replacing the previous start's; the plaintext is kept in memory
only) and adds it to keyless requests whose ``Host`` (and ``Origin``, if any) name loopback.
A request that sends a key is authenticated as usual, so keys still work. ``chronos serve``
never installs this.
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from chronos.server.config import Settings

DEV_DATABASE_URL = "sqlite:///./chronos-dev.db"
DEV_KEY_NAME = "chronos dev"
AUTH_OFF_BANNER = (
    "!! DEV MODE: AUTHENTICATION IS OFF. Requests without an API key act as account "
    "'default'. Loopback only; never use `chronos dev` for anything but local trials. !!"
)


class NotLoopback(ValueError):
    pass


def check_loopback(host: str) -> None:
    """Refuse any host that is not a loopback address or ``localhost``."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host != "localhost":
            raise NotLoopback(
                f"chronos dev binds to loopback only (127.0.0.1, ::1, localhost), not {host!r}"
            ) from None
        addresses = []  # "localhost" names loopback (RFC 6761)
    for address in addresses:
        if not address.is_loopback:
            raise NotLoopback(
                f"chronos dev binds to loopback only (127.0.0.1, ::1, localhost), not {host!r}"
            )


class DevAuth:
    """Keyless requests get the dev key of account ``default`` (created on first use)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.key: bytes | None = None
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _local_keyless(scope["headers"]):
            key = await self._key(scope)
            if key is not None:
                scope = dict(scope)
                scope["headers"] = [*scope["headers"], (b"authorization", b"Bearer " + key)]
        await self.app(scope, receive, send)

    async def _key(self, scope: Scope) -> bytes | None:
        if self.key is not None:
            return self.key
        async with self.lock:
            if self.key is None:
                accounts = scope["app"].state.runtime.accounts
                default = next(
                    (a for a in await accounts.list_accounts() if a["name"] == "default"), None
                )
                if default is None:
                    return None
                # One dev key at a time: the previous start's key (its plaintext is gone with
                # that process) is replaced, so keys do not pile up over restarts.
                for stale in await accounts.list_keys(default["id"]):
                    if stale["name"] == DEV_KEY_NAME:
                        await accounts.delete_key(default["id"], stale["id"])
                _, plaintext = await accounts.create_key(default["id"], DEV_KEY_NAME)
                self.key = plaintext.encode()
        return self.key


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _hostname(value: bytes) -> str | None:
    """``localhost:8080`` -> ``localhost``; ``http://[::1]:3000`` -> ``::1``."""
    text = value.decode("latin-1")
    try:
        return urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:
        return None


def _local_keyless(headers: list[tuple[bytes, bytes]]) -> bool:
    """No key sent, and nothing says the request came through a browser from another site:
    its ``Host`` (and ``Origin``, if any) name loopback, so a web page on another name (or a
    DNS-rebound one) gets no free key."""
    found = dict(headers)
    if b"authorization" in found:
        return False
    if _hostname(found.get(b"host", b"")) not in LOOPBACK_NAMES:
        return False
    origin = found.get(b"origin")
    return origin is None or _hostname(origin) in LOOPBACK_NAMES


def run_dev(settings: Settings) -> None:
    """Check the host, say that auth is off, and serve with :class:`DevAuth` in front."""
    import sys

    from uvicorn.config import STARTUP_FAILURE

    from chronos.server.app import create_app
    from chronos.server.runtime import Runtime
    from chronos.server.serve import GracefulServer, announce, configure_logging, uvicorn_config

    check_loopback(settings.host)
    configure_logging(settings)
    print(AUTH_OFF_BANNER, flush=True)
    runtime = Runtime(settings, on_started=announce)
    app = create_app(runtime)
    app.add_middleware(DevAuth)
    server = GracefulServer(uvicorn_config(app, settings), runtime)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
