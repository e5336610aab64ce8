"""The TypeScript SDK (sdks/typescript): ``npm ci`` (unless ``.ci/run`` already ran it) and
``npm test`` there, against a real ``chronos serve`` that its tests start from this checkout
(``CHRONOS_BIN``).

Its tests run seed 000's worker example end to end, the worker's retries, heartbeats and
cancels, push signature verification against real push requests, and fail when
``src/openapi.d.ts`` no longer matches this server's ``/openapi.json`` (``npm run gen`` there).
Without Node and npm the test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

pytestmark = pytest.mark.e2e
SDK = Path(__file__).resolve().parents[2] / "sdks" / "typescript"


def _run(command: list[str], env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(
        command, cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-20_000:]
        pytest.fail(f"{' '.join(command)} failed in {SDK} (exit {done.returncode}):\n{output}")


def _installed() -> bool:
    """``npm ci`` has run since the lockfile last changed (``.ci/run`` runs it)."""
    marker = SDK / "node_modules" / ".package-lock.json"
    lock = SDK / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def test_typescript_sdk_npm_ci_and_npm_test() -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        if IN_CI:
            pytest.fail("Node and npm are required under CI=true for the TypeScript SDK")
        pytest.skip("Node and npm are not installed")
    env = {
        **os.environ,
        "CHRONOS_BIN": str(Path(sys.executable).with_name("chronos")),
        "npm_config_audit": "false",
        "npm_config_fund": "false",
    }
    if not _installed():
        _run([npm, "ci"], env, timeout=600)
    _run([npm, "test"], env, timeout=600)
