"""``chronos serve``: build the runtime and run uvicorn, with logging and a graceful shutdown.

On SIGTERM or SIGINT the node stops taking new work at once (open claim long-polls answer
``{"jobs": []}``, the dispatcher claims nothing more), gives push requests in flight
``CHRONOS_SHUTDOWN_GRACE`` to finish, releases the rest for another node, and exits 0.

Logs go to stderr, as text or (``CHRONOS_LOG_FORMAT=json``) one JSON object per line. Neither
they nor the startup lines ever show the database password or an operator-supplied API key.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
from collections.abc import Generator
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE

from chronos.logs import TEXT_FORMAT, JsonFormatter
from chronos.server.app import create_app
from chronos.server.config import Settings
from chronos.server.locate import database_label, mask_url  # noqa: F401 (re-exported)
from chronos.server.runtime import Runtime


def configure_logging(settings: Settings) -> None:
    """Chronos's own logs (and uvicorn's, in JSON) go to stderr through the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers.clear()
            uvicorn_logger.propagate = True
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    """Libraries whose DEBUG lines would carry secrets: at DEBUG, aiosqlite logs every
    statement with its parameters (key hashes, payloads, push headers)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def _say(settings: Settings, text: str) -> None:
    """A startup line on stdout, whatever the log level; a JSON object in JSON format."""
    if settings.log_format == "json":
        record = logging.LogRecord("chronos", logging.INFO, __file__, 0, text, None, None)
        text = JsonFormatter().format(record)
    print(text, flush=True)


def announce(runtime: Runtime) -> None:
    settings = runtime.settings
    url = f"http://{settings.host}:{settings.port}"
    if "api" in settings.roles:
        _say(settings, f"Chronos is running at {url} (dashboard at {url}/, API docs at {url}/docs)")
    else:
        _say(settings, f"Chronos is running at {url} (roles: {', '.join(sorted(settings.roles))})")
    _say(settings, f"database: {database_label(settings.database_url)}")
    if runtime.bootstrap_key:
        if settings.bootstrap_api_key is not None:
            # The operator chose this key: never echo it.
            _say(settings, "created account 'default' using the key from CHRONOS_BOOTSTRAP_API_KEY")
        else:
            _say(settings, "created account 'default'; its API key is shown once, keep it:")
            _say(settings, f"  export CHRONOS_API_KEY={runtime.bootstrap_key}")


class GracefulServer(uvicorn.Server):
    """uvicorn, with the runtime told of the shutdown before uvicorn waits for connections
    (so long-polls answer at once), and exit status 0 after a signal-initiated shutdown."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Like uvicorn's, but a signal that led to a graceful shutdown is not raised again
        # afterwards: the process exits 0, not 143.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: Any = None) -> None:
        self.runtime.begin_shutdown()
        await super().shutdown(sockets=sockets)


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Text keeps uvicorn's own format; JSON sends its records through ours.
        log_config=LOGGING_CONFIG if settings.log_format == "text" else None,
        access_log=settings.access_log,
        # HTTP requests get the same grace as push requests (long-polls answer at once).
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_seconds)),
        timeout_keep_alive=max(1, math.ceil(settings.keep_alive_seconds)),
        # Request headers larger than this are refused (h11; httptools has its own limit).
        h11_max_incomplete_event_size=64 * 1024,
    )


def run_server(settings: Settings) -> None:
    configure_logging(settings)
    runtime = Runtime(settings, on_started=announce)
    server = GracefulServer(uvicorn_config(create_app(runtime), settings), runtime)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
