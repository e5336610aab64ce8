"""API fuzzing: Schemathesis against a live ``chronos serve`` (SQLite), every operation.

The test starts a real server, seeds a few resources (a schedule with two versions, a running
and a ready job, a claimed execution, and schedules and API keys for DELETE to remove), then
runs ``st run`` against the server's own ``/openapi.json`` with the bootstrap key as a Bearer
header. Hooks in this module point half of the path parameters at those resources and nudge
half of the create bodies past rules the OpenAPI cannot express, so the fuzzer gets past 404s
and 422s into the code behind them.

It fails when Schemathesis reports a failure or an error (a 5xx, a response breaking its
declared schema or content type, a dropped connection, a timeout), when the server dies or
logs a traceback, or when ``/ready`` or the API key stop working afterwards. Undeclared 4xx
answers (401, 404, 409, ...) are not failures: ``status_code_conformance`` is deliberately not
among the checks.

Knobs (see docs/fuzzing.md):

- ``CHRONOS_FUZZ_EXAMPLES``: test cases per operation in the fuzzing phase (default 100);
- ``CHRONOS_FUZZ_SECONDS``: a time budget instead: fuzzing and stateful phases repeat until it is
  spent (unset by default, so the run is bounded by the number of examples);
- ``CHRONOS_FUZZ_SEED``: the seed (default fixed, so CI is reproducible; ``random`` for a new one).

This module is also the Schemathesis hooks module of the run it starts (``SCHEMATHESIS_HOOKS``);
its hooks are only registered in that subprocess, where ``_HOOKS_ENV`` is set.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
DEFAULT_EXAMPLES = 100
DEFAULT_SEED = 20240611
# With the default settings the run takes about two minutes on a 2-core machine; the hard
# deadline only stops a run that hangs.
BASE_DEADLINE = 480
_HOOKS_ENV = "_CHRONOS_FUZZ_HOOK_SEEDS"
# A long-poll waits up to 20 s (``wait_seconds``, default 20): the hook shortens the waits the
# fuzzer asks for, and the request timeout stays above the longest wait anyway.
REQUEST_TIMEOUT = 30
WAIT_SCALE = 0.01
SEED_HANDLER = "fuzz-seed-job"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# --- the test -------------------------------------------------------------------------------


def test_api_fuzz(tmp_path: Path) -> None:
    examples = _env_int("CHRONOS_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)
    seconds = _env_int("CHRONOS_FUZZ_SECONDS", 0)
    seed_text = os.environ.get("CHRONOS_FUZZ_SEED", "").strip() or str(DEFAULT_SEED)
    seed = random.randrange(2**31) if seed_text == "random" else int(seed_text)
    deadline = max(BASE_DEADLINE * max(1, examples // DEFAULT_EXAMPLES), seconds + 300)

    # No ``dispatcher`` role: the fuzzer creates push jobs with arbitrary URLs, and nothing
    # must be sent to them. Private targets are refused too, should a dispatcher ever run.
    server = ChronosServer(
        f"sqlite:///{tmp_path}/fuzz.db",
        tmp_path,
        roles="api,scheduler",
        env={"CHRONOS_PUSH_BLOCK_PRIVATE": "true"},
    )
    server.start()
    try:
        resources = _create_resources(server)
        report_dir = tmp_path / "report"
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--no-color",
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {server.api_key}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(examples),
            "--seed",
            str(seed),
            "--workers",
            "1",
            "--request-timeout",
            str(REQUEST_TIMEOUT),
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-dir",
            str(report_dir),
        ]
        if seconds:
            command += ["--max-time", str(seconds)]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.e2e.test_fuzz",
            _HOOKS_ENV: json.dumps({**resources, "rng_seed": seed}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        output_path = tmp_path / "schemathesis.txt"
        started = time.monotonic()
        with open(output_path, "wb") as output:
            try:
                done = subprocess.run(
                    command,
                    # Schemathesis keeps a cache (.schemathesis/) in its working directory.
                    cwd=tmp_path,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=deadline,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"schemathesis did not finish within {deadline}s (seed {seed}); "
                    f"output so far in {output_path}:\n{_tail(output_path.read_text())}"
                )
        elapsed = time.monotonic() - started
        text = output_path.read_text(errors="replace")
        print(f"schemathesis: exit {done.returncode} in {elapsed:.0f}s, seed {seed}")
        print(_section(text, "SUMMARY") or _tail(text))

        problems: list[str] = []
        if done.returncode != 0:
            problems.append(_summary(text, done.returncode, seed, output_path))
        if server.process is None or server.process.poll() is not None:
            problems.append("the server died during the run")
        else:
            problems += _after_checks(server)
        tracebacks = _tracebacks(server.log())
        if tracebacks:
            problems.append("the server logged tracebacks:\n" + "\n\n".join(tracebacks))
        assert not problems, "\n\n".join(problems) + f"\n\nserver log: {server.log_path}"
    finally:
        server.stop()


def _create_resources(server: ChronosServer) -> dict[str, Any]:
    """Resources the fuzzer's path parameters are sometimes pointed at, so that operations on
    one schedule, job, execution or key get past their 404s."""
    with server.client() as client:

        def call(method: str, path: str, body: Any = None) -> dict[str, Any]:
            response = client.request(method, path, json=body)
            assert response.status_code < 300, (method, path, response.text)
            return response.json()

        schedule = call(
            "PUT",
            "/v1/schedules/fuzz-seed",
            {"handler": "fuzz-seed", "interval": {"value": 1, "unit": "hour"}},
        )
        call("PATCH", "/v1/schedules/fuzz-seed", {"description": "version 2"})
        running = call(
            "POST", "/v1/jobs", {"name": "fuzz seed", "handler": SEED_HANDLER, "timeout": 3600}
        )
        claimed = call(
            "POST", "/v1/worker/jobs/claim", {"handlers": [SEED_HANDLER], "wait_seconds": 5}
        )["jobs"]
        assert [job["id"] for job in claimed] == [running["id"]], claimed
        ready = call("POST", "/v1/jobs", {"name": "fuzz seed 2", "handler": "fuzz-seed-ready"})
        keys = call("GET", "/v1/api-keys")["data"]
        doomed_keys = [call("POST", "/v1/api-keys", {"name": f"fuzz {i}"}) for i in range(5)]
        doomed_schedules = [
            call("PUT", f"/v1/schedules/fuzz-doomed-{i}", {"handler": "fuzz", "cron": "0 3 * * *"})
            for i in range(3)
        ]
    own = [key["id"] for key in keys if server.api_key.startswith(key["prefix"])]
    assert len(own) == 1, keys
    return {
        "path": {
            "schedule": [schedule["id"], schedule["name"]],
            "name": [schedule["name"]],
            "version": [1, 2],
            "job_id": [running["id"], ready["id"]],
            "execution_id": [claimed[0]["execution_id"]],
        },
        # Only DELETE requests are pointed at these.
        "doomed": {
            "schedule": [s["name"] for s in doomed_schedules] + [doomed_schedules[0]["id"]],
            "key_id": [key["id"] for key in doomed_keys],
        },
        "own_key_id": own[0],
    }


def _after_checks(server: ChronosServer) -> list[str]:
    problems = []
    try:
        ready = httpx.get(f"{server.url}/ready", timeout=10)
        if ready.status_code != 200:
            problems.append(f"GET /ready answered {ready.status_code} after the run: {ready.text}")
        with server.client() as client:
            keys = client.get("/v1/api-keys")
        if keys.status_code != 200:
            problems.append(
                f"GET /v1/api-keys answered {keys.status_code} after the run: {keys.text}"
            )
    except httpx.HTTPError as exc:
        problems.append(f"the server stopped answering after the run: {exc!r}")
    return problems


# --- reading Schemathesis' output -------------------------------------------------------------

_HEADING = re.compile(r"^=+ ([A-Z ]+?) =+$", re.M)


def _section(text: str, name: str) -> str:
    """The body of a ``==== NAME ====`` section of Schemathesis' output, or ''."""
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        if heading.group(1) == name:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return text[heading.start() : end].strip()
    return ""


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _summary(text: str, code: int, seed: int, path: Path) -> str:
    failures = _section(text, "FAILURES")
    errors = _section(text, "ERRORS")
    operations = re.findall(r"^_+ (.+?) _+$", failures + "\n" + errors, re.M)
    head = f"schemathesis exited {code} (seed {seed}); full output: {path}"
    if operations:
        head += "\nfailing operations:\n" + "\n".join(f"  - {op}" for op in operations)
    body = "\n\n".join(part for part in (failures, errors) if part) or _tail(text)
    if len(body) > 20000:
        body = body[:20000] + f"\n... (cut; see {path})"
    return f"{head}\n\n{body}\n\n{_section(text, 'SUMMARY')}"


def _tracebacks(log: str) -> list[str]:
    found = []
    for match in re.finditer(r"^Traceback \(most recent call last\):$", log, re.M):
        block = log[max(0, match.start() - 300) : match.start() + 3000]
        found.append(block)
    return found[:5]


# --- Schemathesis hooks (only in the ``st run`` subprocess) -----------------------------------

# The OpenAPI cannot say that a schedule takes exactly one of cron, interval or schedule, that a
# pull job needs a handler, or which time zones exist, so nearly every generated schedule and
# many jobs are refused with a 422 before the interesting code runs. Half of the create bodies
# are nudged past these rules (everything else in them stays as generated).
TRIGGERS = [
    {"cron": "*/5 * * * *"},
    {"cron": "0 2 * * 1-5"},
    {"cron": "30 */2 * * * *"},
    {"cron": "0 0 29 2 *"},
    {"interval": 1},
    {"interval": "90s"},
    {"interval": {"value": 2, "unit": "hour"}},
    {"schedule": "@every 10m"},
    {"schedule": "0 3 * * *"},
]
TIMEZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]
SCHEDULE_PATCHES = [
    {"description": "patched"},
    {"enabled": False},
    {"cron": "*/10 * * * *", "interval": None, "schedule": None},
    {"interval": "45s", "cron": None, "schedule": None},
    {"timezone": "Asia/Kathmandu"},
    {"concurrency": "allow", "misfire_policy": "run_all"},
    {"tags": {"team": "fuzz"}, "payload": {"n": 1}},
    {"start_at": "2030-01-01T00:00:00Z", "end_at": "2031-01-01T00:00:00Z"},
]


def _register_hooks(resources: dict[str, Any]) -> None:
    import schemathesis

    rng = random.Random(resources["rng_seed"])
    existing: dict[str, list[Any]] = resources["path"]
    doomed: dict[str, list[Any]] = resources["doomed"]
    own_key_id: str = resources["own_key_id"]
    execution_ids: list[str] = existing["execution_id"]

    @schemathesis.hook("before_call")
    def chronos_fuzz_before_call(context: Any, case: Any, kwargs: Any) -> None:
        method, path = case.method.upper(), case.operation.path
        parameters = case.path_parameters
        if parameters:
            # DELETE gets resources of its own, so the others are not deleted under the rest.
            pool = doomed if method == "DELETE" else existing
            for name in list(parameters):
                if pool.get(name) and rng.random() < 0.5:
                    parameters[name] = rng.choice(pool[name])
            # Never revoke the key the run authenticates with (inferred links could find it).
            if parameters.get("key_id") == own_key_id:
                parameters["key_id"] = doomed["key_id"][0]
        body = case.body
        if not isinstance(body, dict):
            return
        if path == "/v1/worker/jobs/claim":
            body["wait_seconds"] = _shorter_wait(body.get("wait_seconds", 20))
        elif path == "/v1/worker/results":
            for item in _dicts(body.get("results")):
                if "execution_id" in item and rng.random() < 0.5:
                    item["execution_id"] = rng.choice(execution_ids)
        elif rng.random() < 0.5:
            if path in ("/v1/schedules", "/v1/schedules/{name}") and method != "GET":
                _nudge_schedule(body, rng)
            elif path == "/v1/schedules/{schedule}" and method == "PATCH":
                body.update(rng.choice(SCHEDULE_PATCHES))
            elif path == "/v1/jobs" and method == "POST":
                _nudge_job(body)
            elif path == "/v1/jobs/batch":
                for item in _dicts(body.get("jobs")):
                    _nudge_job(item)


_unique = itertools.count(1)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a generated list (which may be anything but a list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _nudge_job(body: dict[str, Any]) -> None:
    # Generated names and idempotency keys repeat ("0", "0", ...): most would only meet a 409.
    if isinstance(body.get("idempotency_key"), str):
        body["idempotency_key"] += f"-{next(_unique)}"
    delivery = body.get("delivery")
    push = isinstance(delivery, dict) and delivery.get("type") == "push"
    if isinstance(delivery, dict) and not push:
        delivery.pop("http", None)
    if not push and not body.get("handler") and body.get("webhook") is None:
        body["handler"] = "fuzz-handler"


def _nudge_schedule(body: dict[str, Any], rng: random.Random) -> None:
    _nudge_job(body)
    for key in ("cron", "interval", "schedule"):
        body.pop(key, None)
    body.update(rng.choice(TRIGGERS))
    if "timezone" in body and body["timezone"] not in TIMEZONES:
        body["timezone"] = rng.choice(TIMEZONES)
    name = body.get("name")
    if isinstance(name, str):
        body["name"] = name.replace("/", "-").replace(".", "-") + f"-{next(_unique)}"
    start, end = body.get("start_at"), body.get("end_at")
    if isinstance(start, str) and isinstance(end, str) and end <= start:
        del body["end_at"]


def _shorter_wait(value: Any) -> Any:
    """A long-poll wait the API accepts (a number or numeric string in [0, 20]), scaled down
    so that the run does not sit in 20 s waits; anything else is left for the API to refuse."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value * WAIT_SCALE if 0 <= value <= 20 else value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return str(number * WAIT_SCALE) if 0 <= number <= 20 else value
    return value


if os.environ.get(_HOOKS_ENV):
    _register_hooks(json.loads(os.environ[_HOOKS_ENV]))
