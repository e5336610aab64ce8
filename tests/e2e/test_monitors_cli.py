"""Heartbeat monitors end to end against a real ``chronos serve``: the ``chronos monitors``
commands, the sync SDK, and a key-less ``GET`` of the tokenised ping URL (a crontab's curl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from chronos import Chronos
from chronos.errors import NotFoundError
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


def test_monitors_through_the_cli_the_sdk_and_a_bare_curl(tmp_path):
    server = ChronosServer(f"sqlite:///{tmp_path}/monitors.db", tmp_path)
    server.start()
    env = {**os.environ, "CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chronos", "monitors", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    try:
        made = cli(
            "create",
            "backup",
            "--cron",
            "0 2 * * *",
            "--timezone",
            "Europe/Paris",
            "--grace",
            "30m",
            "--max-runtime",
            "1h",
            "--tag",
            "team=ops",
            "--json",
        )
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        assert created["state"] == "new" and created["expectation"].startswith("every day at 02:00")

        # The crontab's curl: no API key, GET.
        pinged = httpx.get(created["ping_urls"]["ok"], timeout=10)
        assert pinged.status_code == 200 and pinged.json() == {"ok": True}
        assert httpx.get(f"{server.url}/v1/ping/not-a-token", timeout=10).status_code == 404

        failed = cli("ping", "backup", "--fail", "--exit-code", "2", "--json")
        assert failed.returncode == 0, failed.stderr
        assert json.loads(failed.stdout)["state"] == "failed"

        with Chronos(api_key=server.api_key, base_url=server.url) as sdk:
            monitor = sdk.monitors.get("backup")
            assert monitor.state == "failed" and monitor.tags == {"team": "ops"}
            assert [(p["kind"], p["exit_code"]) for p in monitor.pings or []] == [
                ("fail", 2),
                ("ok", None),
            ]
            assert sdk.monitors.ping("backup", "ok")["state"] == "up"
            assert [m.name for m in sdk.monitors.list(tags={"team": "ops"}).data] == ["backup"]

        listed = cli("list", "--json")
        assert [m["state"] for m in json.loads(listed.stdout)] == ["up"]
        assert cli("pause", "backup").returncode == 0
        assert cli("delete", "backup").returncode == 0
        gone = cli("show", "backup")
        assert gone.returncode == 1 and "not_found" in gone.stderr
        with (
            Chronos(api_key=server.api_key, base_url=server.url) as sdk,
            pytest.raises(NotFoundError),
        ):
            sdk.monitors.get("backup")
    finally:
        server.stop()
