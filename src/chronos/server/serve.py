"""``chronos serve``: build the runtime and run uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from chronos.server.app import create_app
from chronos.server.config import Settings
from chronos.server.runtime import Runtime


def announce(runtime: Runtime) -> None:
    settings = runtime.settings
    url = f"http://{settings.host}:{settings.port}"
    print(f"Chronos is running at {url} (API docs at {url}/docs)", flush=True)
    print(f"database: {settings.database_url}", flush=True)
    if runtime.bootstrap_key:
        print("created account 'default'; its API key is shown once, keep it:", flush=True)
        print(f"  export CHRONOS_API_KEY={runtime.bootstrap_key}", flush=True)


def run_server(*, database_url: str | None, host: str, port: int, roles: frozenset[str]) -> None:
    settings = Settings.from_env(database_url=database_url, host=host, port=port, roles=roles)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(Runtime(settings, on_started=announce))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
