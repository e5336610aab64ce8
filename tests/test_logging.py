"""Logging: the JSON format, and secrets (the database password, an operator-supplied API key,
SQL parameters) kept out of the logs and the startup lines."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from chronos.server.config import Settings
from chronos.server.runtime import Runtime
from chronos.server.serve import (
    JsonFormatter,
    announce,
    configure_logging,
    mask_url,
    uvicorn_config,
)
from chronos.server.store.db import Database

BOOTSTRAP_KEY = "chrns_operator-chosen-key-never-echoed"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure_logging`` replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("chronos.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_the_json_formatter_writes_one_parseable_object_per_line():
    formatter = JsonFormatter()
    plain = formatter.format(_record("job %s took %d ms", "job_1", 12))
    entry = json.loads(plain)
    assert set(entry) == {"ts", "level", "logger", "msg"}
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "chronos.test"
    assert entry["msg"] == "job job_1 took 12 ms"
    assert entry["ts"].endswith("Z")

    with_exception = formatter.format(_record('a "quoted"\nmessage: ünïcode', exc=True))
    assert "\n" not in with_exception  # one line, whatever the message and traceback hold
    entry = json.loads(with_exception)
    assert entry["msg"] == 'a "quoted"\nmessage: ünïcode'
    assert entry["exc"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in entry["exc"]


def test_json_logging_sends_every_record_through_the_formatter(capsys, restore_logging):
    configure_logging(Settings(log_format="json", log_level="debug"))
    logging.getLogger("chronos.x").info("hello %s", "world")
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("failed")
    lines = capsys.readouterr().err.strip().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries[0] == {
        **entries[0],
        "level": "INFO",
        "logger": "chronos.x",
        "msg": "hello world",
    }
    assert entries[1]["level"] == "ERROR"
    assert "RuntimeError: kaput" in entries[1]["exc"]


def test_log_format_and_access_log_settings(monkeypatch):
    assert Settings.from_env().log_format == "text"
    assert Settings.from_env().access_log is False
    assert Settings.from_env().shutdown_grace_seconds == 30
    monkeypatch.setenv("CHRONOS_LOG_FORMAT", "JSON")
    monkeypatch.setenv("CHRONOS_ACCESS_LOG", "1")
    monkeypatch.setenv("CHRONOS_SHUTDOWN_GRACE", "1m30s")
    settings = Settings.from_env()
    assert settings.log_format == "json"
    assert settings.access_log is True
    assert settings.shutdown_grace_seconds == 90
    config = uvicorn_config(object(), settings)
    assert config.access_log is True
    assert config.log_config is None  # uvicorn's records go through the JSON formatter
    assert config.timeout_graceful_shutdown == 90
    monkeypatch.setenv("CHRONOS_SHUTDOWN_GRACE", "2.5s")
    assert uvicorn_config(object(), Settings.from_env()).timeout_graceful_shutdown == math.ceil(2.5)
    monkeypatch.setenv("CHRONOS_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="CHRONOS_LOG_FORMAT"):
        Settings.from_env()
    monkeypatch.setenv("CHRONOS_LOG_FORMAT", "text")
    monkeypatch.setenv("CHRONOS_SHUTDOWN_GRACE", "soon")
    with pytest.raises(ValueError, match="CHRONOS_SHUTDOWN_GRACE"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://chronos:hunter2@db.internal/chronos",
            "postgresql://chronos:***@db.internal/chronos",
        ),
        (
            "postgresql://chronos:p%40ss@db:5432/c?password=x",
            "postgresql://chronos:***@db:5432/c?password=***",
        ),
        ("postgresql://chronos@db/chronos", "postgresql://chronos@db/chronos"),
        ("sqlite:///./chronos.db", "sqlite:///./chronos.db"),
    ],
)
def test_database_urls_are_shown_masked(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_startup_never_shows_the_database_password_or_the_bootstrap_key(
    db, database_url, log_format, capsys, caplog, restore_logging
):
    """``db`` leaves the database empty, so the node bootstraps with the operator's key."""
    url = make_url(database_url)
    password = None
    if url.get_backend_name() == "postgresql":
        password = url.password or "pg-password-never-shown"  # trust auth ignores it
        url = url.set(password=password)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        bootstrap_api_key=BOOTSTRAP_KEY,
        migrate_on_start=True,
        log_level="debug",
        log_format=log_format,
    )
    configure_logging(settings)
    caplog.set_level(logging.DEBUG)
    node = Runtime(settings, on_started=announce)
    await node.start()
    try:
        assert node.bootstrap_key == BOOTSTRAP_KEY  # the account was created with it
        # A failing statement logs without its bound parameters.
        with pytest.raises(sa.exc.DBAPIError) as failure:
            async with node.db.read() as conn:
                await conn.execute(
                    sa.text("SELECT * FROM no_such_table WHERE name = :name"),
                    {"name": BOOTSTRAP_KEY},
                )
        logging.getLogger("chronos.api").error("database error", exc_info=failure.value)
    finally:
        await node.stop()

    captured = capsys.readouterr()
    seen = captured.out + captured.err + caplog.text
    assert BOOTSTRAP_KEY not in seen
    assert "using the key from CHRONOS_BOOTSTRAP_API_KEY" in captured.out
    assert "shutting down: 0 push requests finished, 0 released" in seen
    if password is not None:
        assert password not in seen
        assert ":***@" in captured.out
    if log_format == "json":
        for line in captured.out.splitlines() + captured.err.splitlines():
            json.loads(line)


async def test_a_generated_key_is_still_shown_once(db, database_url, capsys):
    node = Runtime(Settings(database_url=database_url, migrate_on_start=False), on_started=announce)
    await node.start()
    await node.stop()
    assert f"export CHRONOS_API_KEY={node.bootstrap_key}" in capsys.readouterr().out


def test_sql_errors_hide_their_parameters():
    db = Database.from_url("sqlite:///:memory:")
    assert db.engine.sync_engine.hide_parameters is True
