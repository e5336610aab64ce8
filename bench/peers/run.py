"""Peers harness: runs the peer job queues/schedulers and Chronos' matching workloads in one
invocation, so every published figure is a side-by-side ratio taken on the same machine.

    bash bench/peers/setup.sh                              # once: one venv per peer
    .venv/bin/python bench/peers/run.py                    # all peers, 3 runs, 15 s idle
    .venv/bin/python bench/peers/run.py --quick            # tiny sizes, 1 run, no idle
    .venv/bin/python bench/peers/run.py --peers pgqueuer,celery --workloads w1 --runs 5

Each peer driver (bench/peers/<peer>_bench.py) runs in its own venv and prints one JSON line.
Chronos runs through bench/w1_drain.py, bench/w2_pickup.py and bench/w4a_fire_burst.py (with
--out, --runs 1, and --quick in quick mode). Results: bench/results/peers/<system>.json,
summary.json (per workload: each system's median/min/max and Chronos/peer ratios) and
summary.md; --quick writes to bench/results/peers/quick/ instead, so it never replaces
full-size figures. See bench/peers/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _peerlib as lib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENVS = Path(os.environ.get("PEERS_VENVS", HERE / ".venvs"))
RESULTS = REPO / "bench" / "results" / "peers"
PEERS = ("pgqueuer", "procrastinate", "celery", "apscheduler")
WORKLOADS = ("w1", "w2", "w4a")


@dataclass(frozen=True)
class Config:
    system: str  # a peer name or "chronos"
    workload: str
    label: str
    argv: tuple[str, ...] = ()


# The peer configurations of the shared/peers method. W1: PgQueuer batch_size 10 and 100,
# Procrastinate concurrency 1 and 10, Celery prefork c=2. W2: each peer's defaults (Celery
# prefork c=2). W4a: APScheduler 4 only.
PEER_CONFIGS = (
    Config("pgqueuer", "w1", "batch_size=10", ("--batch-size", "10")),
    Config("pgqueuer", "w1", "batch_size=100", ("--batch-size", "100")),
    Config("pgqueuer", "w2", "defaults"),
    Config("procrastinate", "w1", "concurrency=1", ("--concurrency", "1")),
    Config("procrastinate", "w1", "concurrency=10", ("--concurrency", "10")),
    Config("procrastinate", "w2", "concurrency=1"),
    Config("celery", "w1", "prefork c=2", ("--pool", "prefork", "--concurrency", "2")),
    Config("celery", "w2", "prefork c=2", ("--pool", "prefork", "--concurrency", "2")),
    Config("apscheduler", "w4a", "IntervalTrigger 1 s, aligned"),
)

# What each workload reports; the first metrics are the headline ones in the table.
METRICS = {
    "w1": ("jobs_per_s", "jobs_per_s_wall", "enqueue_jobs_per_s"),
    "w2": ("p50_ms", "p95_ms", "p99_ms", "enqueue_call_p50_ms"),
    "w4a": (
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "fired_fraction",
        "scheduler_cpu_pct",
        "postgres_cpu_pct",
    ),
}
HEADLINE = {
    "w1": ("jobs_per_s",),
    "w2": ("p50_ms", "p95_ms", "p99_ms"),
    "w4a": ("p50_ms", "p99_ms", "fired_fraction", "scheduler_cpu_pct"),
}
HIGHER_IS_BETTER = {"jobs_per_s", "jobs_per_s_wall", "enqueue_jobs_per_s", "fired_fraction"}
WORKLOAD_TITLES = {
    "w1": "W1 burn-down (jobs/s, higher is better)",
    "w2": "W2 idle pickup latency (ms, lower is better)",
    "w4a": "W4a 1 s fire burst (lag ms lower, fired fraction higher is better)",
}


# --------------------------------------------------------------------------- Chronos side
# Chronos' own bench scripts (written alongside, in bench/). Everything that depends on their
# flags and JSON keys is here: adjust CHRONOS and chronos_metrics() if those change.
# A flag is passed only if the script's --help lists it. Each metric names candidate paths
# into the script's JSON (dots separate keys / list indexes); the first path found wins, and a
# {median, min, max} value counts as its median.
CHRONOS: dict[str, dict[str, Any]] = {
    "w1": {
        "script": "bench/w1_drain.py",
        # one 20,000-job round on PostgreSQL after the script's own warm-up jobs
        "args": (("--backend", "postgresql"), ("--history", "0"), ("--runs", "1")),
        "config": "PostgreSQL, 4 HTTP workers, claim limit 100",
        "metrics": {
            "jobs_per_s": ("runs.0.rounds.0.jobs_per_s", "first_jobs_per_s", "jobs_per_s"),
            "enqueue_jobs_per_s": ("runs.0.rounds.0.enqueue_jobs_per_s",),
            "server_cpu_pct": ("runs.0.rounds.0.server_cpu_pct",),
            "postgres_cpu_pct": ("runs.0.rounds.0.postgres_cpu_pct",),
        },
    },
    "w2": {
        "script": "bench/w2_pickup.py",
        "args": (("--backend", "postgresql"), ("--runs", "1")),
        "config": "PostgreSQL, long-poll claim (wait_seconds 10)",
        "metrics": {
            "p50_ms": ("backends.postgresql.pickup_ms.p50", "p50_ms"),
            "p95_ms": ("backends.postgresql.pickup_ms.p95", "p95_ms"),
            "p99_ms": ("backends.postgresql.pickup_ms.p99", "p99_ms"),
            "enqueue_call_p50_ms": ("backends.postgresql.create_ms.p50",),
        },
    },
    "w4a": {
        "script": "bench/w4a_fire_burst.py",
        "args": (("--backend", "postgresql"), ("--runs", "1")),
        "config": "PostgreSQL, slot -> worker received",
        "metrics": {
            "p50_ms": ("runs.0.received_lag_ms.p50", "received_lag_p50_ms"),
            "p95_ms": ("runs.0.received_lag_ms.p95",),
            "p99_ms": ("runs.0.received_lag_ms.p99", "received_lag_p99_ms"),
            "fired_fraction": ("runs.0.fired_fraction", "fired_fraction"),
            "scheduler_cpu_pct": ("runs.0.cpu.server_cpu_pct", "server_cpu_pct"),
            "postgres_cpu_pct": ("runs.0.cpu.postgres_cpu_pct",),
            "created_lag_p50_ms": ("runs.0.created_lag_ms.p50", "created_lag_p50_ms"),
            "created_lag_p99_ms": ("runs.0.created_lag_ms.p99", "created_lag_p99_ms"),
        },
    },
}


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    if isinstance(data, dict) and "median" in data:
        data = data["median"]
    return data if isinstance(data, int | float) and not isinstance(data, bool) else None


def chronos_metrics(workload: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric, paths in CHRONOS[workload]["metrics"].items():
        out[metric] = next((v for p in paths if (v := _lookup(data, p)) is not None), None)
    return out


_help_cache: dict[str, str] = {}


def _supported_args(script: Path, wanted: tuple[tuple[str, str], ...]) -> list[str]:
    if str(script) not in _help_cache:
        proc = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        _help_cache[str(script)] = proc.stdout
    text = _help_cache[str(script)]
    argv: list[str] = []
    for flag, value in wanted:
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
            argv += [flag, value]
    return argv


def run_chronos(workload: str, quick: bool, timeout: float, log_dir: Path, tag: str) -> dict:
    spec = CHRONOS[workload]
    script = REPO / spec["script"]
    if not script.exists():
        return {"ok": False, "skipped": True, "error": f"{spec['script']} is missing"}
    with tempfile.TemporaryDirectory(prefix="peers-chronos-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), *_supported_args(script, spec["args"])]
        cmd += [*(["--quick"] if quick else []), "--out", str(out)]
        proc = _run(cmd, timeout, log_dir / f"{tag}.log")
        if not proc["ok"]:
            return proc
        try:
            data = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": f"no JSON in --out file: {exc}", **_tail(proc)}
    metrics = chronos_metrics(workload, data)
    missing = [m for m in HEADLINE[workload] if metrics.get(m) is None]
    result = {
        "system": "chronos",
        "workload": workload,
        "config": spec["config"],
        **metrics,
        "command": " ".join(_short(c) for c in cmd),
        "raw": data,
    }
    if missing:
        result["missing_metrics"] = missing  # the keys in CHRONOS need adjusting
    return {"ok": True, "result": result, "seconds": proc["seconds"]}


# --------------------------------------------------------------------------- peer side


def size_args(workload: str, sizes: dict[str, Any]) -> list[str]:
    if workload == "w1":
        return ["--jobs", str(sizes["jobs"]), "--single", str(sizes["single"])]
    if workload == "w2":
        return ["--rounds", str(sizes["rounds"]), "--warmup", str(sizes["warmup"])]
    return ["--schedules", str(sizes["schedules"]), "--seconds", str(sizes["seconds"])]


def run_peer(cfg: Config, sizes: dict[str, Any], timeout: float, log_dir: Path, tag: str) -> dict:
    python = VENVS / cfg.system / "bin" / "python"
    driver = HERE / f"{cfg.system}_bench.py"
    cmd = [str(python), str(driver), "--workload", cfg.workload, *size_args(cfg.workload, sizes)]
    cmd += [*cfg.argv, "--deadline", str(max(30.0, timeout - 60.0))]
    proc = _run(cmd, timeout, log_dir / f"{tag}.log", drop_leftover_dbs=True)
    if not proc["ok"]:
        return proc
    lines = [ln for ln in proc["stdout"].splitlines() if ln.startswith("{")]
    if len(lines) != 1:
        return {"ok": False, "error": f"expected one JSON line, got {len(lines)}", **_tail(proc)}
    result = json.loads(lines[0])
    result["command"] = " ".join(_short(c) for c in cmd)
    return {"ok": True, "result": result, "seconds": proc["seconds"]}


def _short(arg: str) -> str:
    """A path inside the repository, relative to it (commands are recorded as run from it)."""
    path = Path(arg)
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else arg


def _tail(proc: dict) -> dict:
    return {"stderr_tail": proc.get("stderr", "")[-2000:]}


def _run(cmd: list[str], timeout: float, log_path: Path, drop_leftover_dbs: bool = False) -> dict:
    """Run one benchmark process in its own session; on timeout end that process group."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
        timed_out = False
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the worker it started
            stdout, _ = proc.communicate()
        err.seek(0)
        stderr = err.read()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"$ {' '.join(cmd)}\n{stderr}")
    if drop_leftover_dbs:
        _drop_leftover_databases(stderr)
    out = {
        "ok": proc.returncode == 0 and not timed_out,
        "rc": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
        "seconds": round(time.monotonic() - started, 1),
        "log": str(log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path),
    }
    if not out["ok"]:
        out["error"] = (
            f"timed out after {timeout:.0f} s" if timed_out else f"exit {proc.returncode}"
        )
        out.update(_tail(out))
    return out


def _drop_leftover_databases(stderr: str) -> None:
    """A killed driver cannot drop its database: drop those it logged as created only."""
    created = set(re.findall(r"created database (peers_\w+)", stderr))
    dropped = set(re.findall(r"dropped database (peers_\w+)", stderr))
    for name in sorted(created - dropped):
        try:
            lib.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
            print(f"    dropped leftover database {name}", flush=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"    could not drop leftover database {name}: {exc}", flush=True)


# --------------------------------------------------------------------------- machine info


def _redis_info() -> dict[str, str]:
    """INFO server over a raw socket (no client library in this venv needed)."""
    try:
        with socket.create_connection((lib.REDIS_HOST, lib.REDIS_PORT), timeout=3) as sock:
            sock.sendall(b"INFO server\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                data += chunk
                if not chunk or (data.startswith(b"$") and data.endswith(b"\r\n\r\n")):
                    break
                head, _, body = data.partition(b"\r\n")
                if head.startswith(b"$") and len(body) >= int(head[1:]):
                    break
    except OSError as exc:
        return {"error": str(exc)}
    fields = dict(
        line.split(":", 1) for line in data.decode(errors="replace").splitlines() if ":" in line
    )
    return {k: fields[k] for k in ("redis_version", "redis_mode") if k in fields}


def _postgres_info() -> dict[str, str]:
    try:
        rows = lib.psql(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', "
            "'max_connections') ORDER BY name;"
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return {"error": str(exc)}
    return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _pip_freeze(python: Path) -> list[str]:
    proc = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, timeout=120
    )
    return proc.stdout.split() if proc.returncode == 0 else [f"pip freeze failed: {proc.stderr}"]


def machine_info() -> dict[str, Any]:
    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "mem_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_at_start": lib.loadavg(),
        "postgresql": _postgres_info(),
        "redis": _redis_info(),
        "chronos_commit": _git("rev-parse", "--short", "HEAD")
        + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no", "--", "src") else ""),
    }


# --------------------------------------------------------------------------- aggregation


def spread(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "median": round(statistics.median(values), 4),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def aggregate(runs: list[dict[str, Any]], workload: str, extra: tuple[str, ...] = ()) -> dict:
    ok = [r["result"] for r in runs if r.get("ok")]
    stats = {}
    for metric in (*METRICS[workload], *extra):
        values = [v for r in ok if isinstance(v := r.get(metric), int | float)]
        if values:
            stats[metric] = spread(values)
    return stats


def ratio(chronos: float | None, peer: float | None) -> float | None:
    if chronos is None or not peer:
        return None
    return round(chronos / peer, 3)


def build_summary(entries: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """entries: one per (system, workload, config) with its stats."""
    workloads: dict[str, Any] = {}
    for w in WORKLOADS:
        rows = [e for e in entries if e["workload"] == w]
        if not rows:
            continue
        chronos = next((e for e in rows if e["system"] == "chronos"), None)
        metrics: dict[str, Any] = {}
        for metric in METRICS[w]:
            systems = []
            for e in rows:
                s = e["stats"].get(metric)
                if s is None:
                    continue
                c = (chronos or {}).get("stats", {}).get(metric)
                systems.append(
                    {
                        "system": e["system"],
                        "config": e["config"],
                        **s,
                        "chronos_over_this": None
                        if e["system"] == "chronos" or c is None
                        else ratio(c["median"], s["median"]),
                    }
                )
            if systems:
                metrics[metric] = {
                    "higher_is_better": metric in HIGHER_IS_BETTER,
                    "systems": systems,
                }
        workloads[w] = {"title": WORKLOAD_TITLES[w], "metrics": metrics}
    return {
        **meta,
        "ratio": "chronos_over_this = Chronos median / this system's median, same metric and "
        "same invocation. For a higher_is_better metric a ratio above 1 means Chronos is "
        "ahead; for latencies and CPU a ratio below 1 means Chronos is ahead.",
        "workloads": workloads,
    }


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def markdown(summary: dict[str, Any]) -> str:
    out = [
        "| workload | metric | system | config | median (min-max) | n | Chronos ÷ this |",
        "|---|---|---|---|---|---|---|",
    ]
    for w, block in summary["workloads"].items():
        for metric in HEADLINE[w]:
            m = block["metrics"].get(metric)
            if not m:
                continue
            for s in m["systems"]:
                r = s["chronos_over_this"]
                out.append(
                    f"| {w} | {metric} | {s['system']} | {s['config']} | "
                    f"{_fmt(s['median'])} ({_fmt(s['min'])}-{_fmt(s['max'])}) | {s['n']} | "
                    f"{'-' if r is None else f'{r:.2f}x'} |"
                )
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated (default: all)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="w1,w2,w4a (default all)")
    ap.add_argument("--runs", type=int, default=None, help="runs per configuration (3)")
    ap.add_argument("--idle", type=float, default=None, help="idle seconds between runs (15)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 run, no idle")
    ap.add_argument("--no-chronos", action="store_true", help="peers only")
    ap.add_argument("--timeout", type=float, default=None, help="per-run limit, s (300; 600 W1)")
    ap.add_argument("--out-dir", type=Path, default=None, help="default bench/results/peers")
    for name in ("jobs", "rounds", "warmup", "schedules"):
        ap.add_argument(f"--{name}", type=int, default=None, help="override the size")
    ap.add_argument("--seconds", type=float, default=None, help="override the W4a window")
    a = ap.parse_args()
    a.peers = [p for p in a.peers.split(",") if p]
    a.workloads = [w for w in a.workloads.split(",") if w]
    for p in a.peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}; choose from {', '.join(PEERS)}")
    for w in a.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    if a.runs is None:
        a.runs = 1 if a.quick else 3
    if a.idle is None:
        a.idle = 0.0 if a.quick else 15.0
    if a.out_dir is None:
        a.out_dir = RESULTS / "quick" if a.quick else RESULTS
    return a


def main() -> int:
    a = parse_args()
    sizes = dict(lib.QUICK if a.quick else lib.FULL)
    sizes["single"] = 50 if a.quick else 1000
    for name in ("jobs", "rounds", "warmup", "schedules", "seconds"):
        if getattr(a, name) is not None:
            sizes[name] = getattr(a, name)

    configs = [c for c in PEER_CONFIGS if c.system in a.peers and c.workload in a.workloads]
    missing = [p for p in a.peers if not (VENVS / p / ".complete").exists()]
    if missing:
        print(
            f"peer venvs missing for: {', '.join(missing)}. Run: bash bench/peers/setup.sh",
            file=sys.stderr,
        )
        return 2
    if not configs:
        print("nothing to run for these --peers/--workloads", file=sys.stderr)
        return 2
    chronos_workloads = [] if a.no_chronos else sorted({c.workload for c in configs})

    out_dir: Path = a.out_dir
    log_dir = out_dir / "logs"
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "quick": a.quick,
        "runs": a.runs,
        "idle_s": a.idle,
        "sizes": sizes,
        "machine": machine_info(),
    }
    print(f"machine: {json.dumps(meta['machine'])}", flush=True)

    # per (system, workload, config): the run records
    records: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    chronos_skip: dict[str, str] = {}
    first = True
    for rep in range(1, a.runs + 1):
        plan: list[Config | str] = [*chronos_workloads, *configs]  # str = a Chronos workload
        for item in plan:
            if isinstance(item, str) and item in chronos_skip:
                continue
            if not first and a.idle > 0:
                time.sleep(a.idle)
            first = False
            load = lib.loadavg()
            if isinstance(item, str):
                key = ("chronos", item, CHRONOS[item]["config"])
                tag = f"chronos-{item}-run{rep}"
                timeout = a.timeout or (600.0 if item == "w1" else 300.0)
                print(f"[run {rep}/{a.runs}] chronos {item} (load {load})", flush=True)
                rec = run_chronos(item, a.quick, timeout, log_dir, tag)
                if rec.get("skipped"):
                    chronos_skip[item] = rec["error"]
                    print(f"    SKIPPED Chronos {item}: {rec['error']}", flush=True)
                    continue
            else:
                key = (item.system, item.workload, item.label)
                slug = re.sub(r"\W+", "_", item.label)
                tag = f"{item.system}-{item.workload}-{slug}-run{rep}"
                timeout = a.timeout or (600.0 if item.workload == "w1" else 300.0)
                print(
                    f"[run {rep}/{a.runs}] {item.system} {item.workload} {item.label} "
                    f"(load {load})",
                    flush=True,
                )
                rec = run_peer(item, sizes, timeout, log_dir, tag)
            rec = {k: v for k, v in rec.items() if k not in ("stdout", "stderr")}
            rec["run"] = rep
            rec["load_before"] = load
            records.setdefault(key, []).append(rec)
            if rec["ok"]:
                res = rec["result"]
                shown = {m: res.get(m) for m in HEADLINE[key[1]]}
                print(f"    ok in {rec['seconds']} s: {json.dumps(shown)}", flush=True)
                if res.get("missing_metrics"):
                    print(
                        f"    WARNING: Chronos JSON lacks {res['missing_metrics']}: "
                        "adjust CHRONOS in bench/peers/run.py",
                        flush=True,
                    )
            else:
                print(f"    FAILED: {rec['error']} (log: {rec.get('log')})", flush=True)
                print("    " + rec.get("stderr_tail", "").strip()[-600:].replace("\n", "\n    "))

    # per-system files
    entries = []
    systems = (["chronos"] if chronos_workloads else []) + list(a.peers)
    for system in systems:
        blocks = []
        for (s, w, label), runs in records.items():
            if s != system:
                continue
            extra = tuple(CHRONOS[w]["metrics"]) if s == "chronos" else ()
            stats = aggregate(runs, w, extra)
            ok = [r["result"] for r in runs if r["ok"]]
            blocks.append(
                {
                    "workload": w,
                    "config": label,
                    "settings": ok[0].get("settings") if ok else None,
                    "stats": stats,
                    "runs": runs,
                }
            )
            entries.append({"system": s, "workload": w, "config": label, "stats": stats})
        if system == "chronos":
            packages = _pip_freeze(Path(sys.executable))
            version = meta["machine"]["chronos_commit"]
        else:
            packages = _pip_freeze(VENVS / system / "bin" / "python")
            version = next(
                (r["result"]["version"] for b in blocks for r in b["runs"] if r["ok"]), None
            )
        doc = {
            "system": system,
            "version": version,
            "packages": packages,
            **meta,
            "skipped": chronos_skip if system == "chronos" else None,
            "configs": blocks,
        }
        (out_dir / f"{system}.json").write_text(json.dumps(doc, indent=2) + "\n")

    summary = build_summary(entries, meta)
    if chronos_skip:
        summary["chronos_skipped"] = chronos_skip
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = markdown(summary)
    (out_dir / "summary.md").write_text(table + "\n")
    print()
    print(table)
    for w, why in chronos_skip.items():
        print(f"\nChronos {w} skipped: {why}")
    print(
        f"\nwrote {out_dir.relative_to(REPO) if out_dir.is_relative_to(REPO) else out_dir}/"
        f"{{{','.join(systems)},summary}}.json and summary.md",
        flush=True,
    )
    failed = sum(1 for runs in records.values() for r in runs if not r["ok"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
