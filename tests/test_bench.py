"""Smoke tests of the benchmark scripts in bench/, so they cannot rot.

Each script runs at its ``--quick`` size in a subprocess (a few seconds each) against a real
``chronos serve``, and its JSON is checked for the documented keys and plausible values: counts
equal what was created, percentiles are ordered and non-negative, fractions lie in [0, 1].
Timings are never asserted. The PostgreSQL workloads use ``CHRONOS_TEST_PG_URL`` (default
127.0.0.1:5432): unreachable, they are skipped locally and fail under ``CI=true``, as the rest
of the suite does. ``bench/plot.py`` is then run on the quick outputs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, PG_SERVER_URL, _pg_admin

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every quick run writes ``<benchmark>.json``; the plot test reads them all."""
    return tmp_path_factory.mktemp("bench-results")


@pytest.fixture(scope="module")
def pg_server() -> str:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER_URL}: {exc!r}")
    return PG_SERVER_URL


def run_quick(script: str, out: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``bench/<script> --quick --out <out> <args>``; assert it worked; return its JSON."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert str(out) in proc.stdout  # the one-line summary names the JSON file
    data = json.loads(out.read_text())
    assert data["benchmark"] == out.stem
    assert data["params"]["quick"] is True
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["chronos_commit"]
    return data


def assert_latencies(summary: dict[str, Any], n: int | None = None) -> None:
    """``{n, p50, p95, p99, max, mean}``: ordered, non-negative, n as expected."""
    if n is not None:
        assert summary["n"] == n
    assert 0 <= summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert summary["mean"] >= 0


def assert_cpu(cpu: dict[str, float]) -> None:
    for key in ("server_cpu_pct", "postgres_cpu_pct", "client_cpu_pct"):
        assert cpu[key] >= 0
    assert cpu["wall_s"] > 0


def assert_spread(value: dict[str, float]) -> None:
    assert value["min"] <= value["median"] <= value["max"]


def test_w1_drain(results_dir: Path, pg_server: str) -> None:
    # Each claim names two handlers (the jobs' own and an idle one): every job still drains.
    out = results_dir / "w1_drain.json"
    data = run_quick("w1_drain.py", out, "--database-url", pg_server, "--handlers", "2")
    assert data["params"]["backend"] == "postgresql"
    assert data["params"]["handlers_per_claim"] == 2
    [run] = data["runs"]
    assert len(run["rounds"]) == len(data["rounds"]) == 2
    for index, record in enumerate(run["rounds"]):
        assert record["jobs"] == record["jobs_completed"] == 300
        assert record["finished_rows_before"] == 50 + 300 * index  # 50 warm-up jobs first
        assert record["jobs_per_s"] > 0 and record["enqueue_jobs_per_s"] > 0
        assert_cpu(record)
    for merged in data["rounds"]:
        assert_spread(merged["jobs_per_s"])
    assert data["first_jobs_per_s"] > 0 and data["last_jobs_per_s"] > 0
    assert data["last_vs_first"] > 0


def test_w2_pickup(results_dir: Path, pg_server: str) -> None:
    data = run_quick("w2_pickup.py", results_dir / "w2_pickup.json", "--database-url", pg_server)
    assert set(data["backends"]) == {"sqlite", "postgresql"}
    for backend in data["backends"].values():
        [run] = backend["runs"]
        assert_latencies(run["pickup_ms"], n=10)
        assert_latencies(run["create_ms"], n=10)
        assert run["after_create_ms"]["n"] == 10  # may be negative: the claim can beat the 201
        for percentile in ("p50", "p95", "p99", "max"):
            assert_spread(backend["pickup_ms"][percentile])
    [floor_run] = data["http_floor_ms"]["runs"]
    assert_latencies(floor_run, n=10)
    assert_spread(data["http_floor_ms"]["p50"])


def test_w4a_fire_burst(results_dir: Path, pg_server: str) -> None:
    out = results_dir / "w4a_fire_burst.json"
    data = run_quick("w4a_fire_burst.py", out, "--database-url", pg_server)
    [run] = data["runs"]
    assert run["due_slots"] == 20 * 3  # 20 schedules x 3 one-second slots in the window
    assert 0 <= run["fired"] <= run["due_slots"]
    assert 0 <= run["fired_fraction"] <= 1
    assert run["fired"] > 0
    assert 0 <= run["received"] <= run["fired"]
    assert_latencies(run["created_lag_ms"], n=run["fired"])
    assert_latencies(run["received_lag_ms"], n=run["received"])
    assert_cpu(run["cpu"])
    for key in ("fired_fraction", "created_lag_p50_ms", "received_lag_p99_ms", "server_cpu_pct"):
        assert_spread(data[key])


def test_w4b_many_schedules(results_dir: Path, pg_server: str) -> None:
    out = results_dir / "w4b_many_schedules.json"
    data = run_quick("w4b_many_schedules.py", out, "--database-url", pg_server)
    assert [size["schedules"] for size in data["sizes"]] == [20, 50]
    for size in data["sizes"]:
        # every 5 s, anchors spread over 5 s, a 2 s window: 2/5 of the schedules are due
        assert size["due_slots"] == size["schedules"] * 2 // 5
        assert 0 <= size["fired"] <= size["due_slots"]
        assert 0 <= size["fired_fraction"] <= 1
        assert size["fired"] > 0
        assert_latencies(size["lag_ms"], n=size["fired"])
        assert size["server_cpu_s_per_s"] >= 0 and size["server_cpu_ms_per_fire"] >= 0
        assert size["idle_server_cpu_s_per_s"] >= 0 and size["create_per_s"] > 0
        assert_cpu(size["cpu"])
    assert "cpu_per_fire_ratio" in data


def test_w5_push(results_dir: Path, pg_server: str) -> None:
    data = run_quick("w5_push.py", results_dir / "w5_push.json", "--database-url", pg_server)
    assert set(data["results"]) == {"sqlite", "postgresql"}
    for variants in data["results"].values():
        assert set(variants) == {"default", "single_tenant"}
        for block in variants.values():
            [run] = block["runs"]
            assert run["jobs"] == run["completed"] == 200
            assert run["received"] >= 200  # the sink saw every one (a retry may add some)
            assert run["jobs_per_s"] > 0 and run["seconds"] > 0
            assert_cpu(run["cpu"])
            assert_spread(block["jobs_per_s"])


def test_w6_sqlite_drain(results_dir: Path) -> None:
    data = run_quick("w6_sqlite_drain.py", results_dir / "w6_sqlite_drain.json")
    [run] = data["runs"]
    assert run["jobs"] == run["jobs_completed"] == 300
    assert run["jobs_per_s"] > 0
    assert_cpu(run)
    assert_spread(data["jobs_per_s"])


def test_w7_soak(results_dir: Path, pg_server: str) -> None:
    data = run_quick("w7_soak.py", results_dir / "w7_soak.json", "--database-url", pg_server)
    samples = data["samples"]
    assert len(samples) >= 2
    assert data["produced"] > 0 and 0 < data["drained"] <= data["produced"]
    for sample in samples:
        assert sample["rss_bytes"] > 0 and sample["db_bytes"] > 0
        assert sample["jobs_bytes"] > 0 and sample["executions_index_bytes"] > 0
        assert sample["produce_per_s"] >= 0 and sample["drain_per_s"] >= 0
        assert sum(sample["status_counts"].values()) >= 0
    assert [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples)
    assert set(data["drift"]) == {"rss_bytes", "db_bytes", "drain_per_s"}
    assert data["steady_samples"] <= len(samples)


def test_plot(results_dir: Path, tmp_path: Path) -> None:
    inputs = {p.stem for p in results_dir.glob("*.json")}
    if not inputs:
        pytest.skip("no quick results to plot (run with the benchmark smoke tests)")
    out = tmp_path / "img"
    proc = subprocess.run(
        # The quick results stand in for an earlier commit's too, to draw the before/after panel.
        [
            sys.executable,
            str(BENCH / "plot.py"),
            *("--results", str(results_dir), "--before", str(results_dir), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    expected = {
        "w1_throughput": "w1_drain",
        "w2_pickup": "w2_pickup",
        "w4_fire_lag": "w4a_fire_burst",
        "w5_push": "w5_push",
        "w7_soak": "w7_soak",
        "before_after": "w1_drain",
    }
    for image, source in expected.items():
        if source in inputs:
            assert (out / f"{image}.png").stat().st_size > 1000
