"""The README's examples run as written against a real server."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def curl_examples() -> list[str]:
    """Every bash block that calls the API with curl, except those with placeholders."""
    return [
        block
        for block in code_blocks("bash")
        if "curl" in block and "localhost:8080" in block and "…" not in block
    ]


def test_readme_has_the_seed_examples():
    examples = "\n".join(curl_examples())
    for seed_text in [
        "Hourly tenant sync",
        "Process upload",
        "charge-inv_789",
        "schedule_id=null",
        "Send webhook notification",
    ]:
        assert seed_text in examples


def test_readme_curl_examples_run_as_written(tmp_path):
    server = ChronosServer(f"sqlite:///{tmp_path}/readme.db", tmp_path)
    server.start()
    try:
        env = {**os.environ, "CHRONOS_API_KEY": server.api_key}
        for block in curl_examples():
            script = block.replace("http://localhost:8080", server.url)
            script = script.replace("curl ", "curl --fail-with-body -sS ")
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
            assert '"error"' not in done.stdout, done.stdout
    finally:
        server.stop()


def test_readme_signature_snippet_verifies_a_chronos_signature():
    snippet = next(block for block in code_blocks("python") if "def verify" in block)
    namespace: dict = {}
    exec(snippet, namespace)
    secret, body, now = "whsec_test", b'{"job_id": "job_1"}', int(time.time())
    signature = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    other = hmac.new(b"old", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={now},v1={signature},v1={other}"
    assert namespace["verify"](body, header, secret)
    assert not namespace["verify"](body + b" ", header, secret)
    assert not namespace["verify"](body, header, "whsec_other")
    stale = f"t={now - 1000},v1={signature}"
    assert not namespace["verify"](body, stale, secret)
