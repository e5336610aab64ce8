"""Plot the benchmark results: bench/results/*.json → PNGs in docs/img/ (matplotlib, Agg).

- ``w1_throughput.png``: W1 jobs/s against the finished rows already in the tables (W6's SQLite
  figure as a marker, peers' W1 figures as dashed lines).
- ``w2_pickup.png``: W2 pickup latency p50/p95/p99, Chronos on SQLite and PostgreSQL, and peers.
- ``w4_fire_lag.png``: fire lag against the number of schedules (W4a burst: slot → worker and
  slot → created; W4b spread: slot → created; a peer's W4a), and W4b server CPU per fire.
- ``w5_push.png``: W5 push jobs/s per backend and variant.
- ``w7_soak.png``: W7 RSS, database size and drain rate over time.
- ``before_after.png``: each workload's headline figure from ``<results>/before`` (the same
  scripts run against an earlier commit) beside the current one.

A plot whose input is missing is skipped. Peer figures are read from ``<peers>/<system>.json``
as bench/peers/run.py writes them (see bench/README.md).

    python bench/plot.py [--results bench/results] [--peers bench/results/peers] [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

BENCH_DIR = Path(__file__).resolve().parent
Data = dict[str, Any]


def load(path: Path) -> Data | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_peers(folder: Path) -> list[Data]:
    """Peer entries as flat records: {system, workload, config, <metric>: median, ...}."""
    records: list[Data] = []
    for path in sorted(folder.glob("*.json")):
        doc = load(path)
        if not doc or doc.get("system") in (None, "chronos") or "configs" not in doc:
            continue
        for block in doc["configs"]:
            stats = {k: v["median"] for k, v in (block.get("stats") or {}).items() if v}
            schedules = (doc.get("sizes") or {}).get("schedules")
            records.append(
                {
                    "system": doc["system"],
                    "workload": block.get("workload"),
                    "config": block.get("config"),
                    "schedules": schedules,
                    **stats,
                }
            )
    return records


def peer_label(record: Data) -> str:
    return f"{record['system']} ({record['config']})" if record.get("config") else record["system"]


def median(value: Any) -> float:
    return float(value["median"]) if isinstance(value, dict) else float(value)


# --- the plots ------------------------------------------------------------------------------


def plot_w1(results: dict[str, Data], peers: list[Data], ax: Axes) -> None:
    w1 = results["w1_drain"]
    rounds = w1["rounds"]
    x = [r["finished_rows_before"] for r in rounds]
    y = [median(r["jobs_per_s"]) for r in rounds]
    low = [yy - r["jobs_per_s"]["min"] for yy, r in zip(y, rounds, strict=True)]
    high = [r["jobs_per_s"]["max"] - yy for yy, r in zip(y, rounds, strict=True)]
    ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label="Chronos, PostgreSQL")
    if (old := results.get("_before", {}).get("w1_drain")) is not None:
        ax.plot(
            [r["finished_rows_before"] for r in old["rounds"]],
            [median(r["jobs_per_s"]) for r in old["rounds"]],
            marker=".",
            linestyle=":",
            color="gray",
            label="Chronos before this work",
        )
    if (w6 := results.get("w6_sqlite_drain")) is not None:
        before = w6["runs"][0]["finished_rows_before"]
        ax.plot([before], [w6["jobs_per_s"]["median"]], "s", label="Chronos, SQLite (W6)")
    for record in (p for p in peers if p["workload"] == "w1" and "jobs_per_s" in p):
        ax.axhline(record["jobs_per_s"], linestyle="--", linewidth=1, color="gray")
        ax.annotate(
            peer_label(record),
            (0.01, record["jobs_per_s"]),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            va="bottom",
            color="dimgray",
        )
    ax.set_xlabel("finished rows already in the tables")
    ax.set_ylabel("jobs/s (claim 100, 4 workers)")
    ax.set_ylim(bottom=0)
    ax.set_title("W1 drain throughput vs table size")
    ax.legend(fontsize=8)


def plot_w2(results: dict[str, Data], peers: list[Data], ax: Axes) -> None:
    backends = results["w2_pickup"]["backends"]
    bars: list[tuple[str, list[float]]] = [
        (f"Chronos {name}", [median(b["pickup_ms"][p]) for p in ("p50", "p95", "p99")])
        for name, b in backends.items()
    ]
    for record in (p for p in peers if p["workload"] == "w2" and "p50_ms" in p):
        values = [record.get(k, 0.0) for k in ("p50_ms", "p95_ms", "p99_ms")]
        bars.append((peer_label(record), values))
    width = 0.8 / len(bars)
    for index, (label, values) in enumerate(bars):
        xs = [i + index * width for i in range(3)]
        ax.bar(xs, values, width, label=label)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(3)], ["p50", "p95", "p99"])
    ax.set_ylabel("create sent → worker has the job (ms)")
    ax.set_title("W2 idle pickup latency (lower is better)")
    ax.legend(fontsize=8)


def plot_w4(results: dict[str, Data], peers: list[Data], axes: Any) -> None:
    lag_ax, cpu_ax = axes
    if (w4a := results.get("w4a_fire_burst")) is not None:
        n = w4a["params"]["schedules"]
        for key, label in (("received_lag", "slot → worker"), ("created_lag", "slot → created")):
            p50, p99 = median(w4a[f"{key}_p50_ms"]), median(w4a[f"{key}_p99_ms"])
            lag_ax.plot([n, n], [p50, p99], marker="o", label=f"W4a burst, {label} (p50, p99)")
    if (w4b := results.get("w4b_many_schedules")) is not None:
        sizes = w4b["sizes"]
        xs = [s["schedules"] for s in sizes]
        for p in ("p50", "p99"):
            lag_ax.plot(xs, [s["lag_ms"][p] for s in sizes], marker="^", label=f"W4b spread {p}")
        cpu_ax.plot(xs, [s["server_cpu_ms_per_fire"] for s in sizes], marker="o", label="server")
        cpu_ax.plot(
            xs, [s["postgres_cpu_ms_per_fire"] for s in sizes], marker="s", label="postgres"
        )
    for record in (p for p in peers if p["workload"] == "w4a" and "p50_ms" in p):
        n = record.get("schedules") or 1000
        lag_ax.plot([n, n], [record["p50_ms"], record.get("p99_ms", record["p50_ms"])], "x--")
        lag_ax.annotate(peer_label(record), (n, record["p50_ms"]), fontsize=7)
    lag_ax.set_xscale("log")
    lag_ax.set_yscale("symlog", linthresh=1)
    lag_ax.set_ylim(0, lag_ax.get_ylim()[1] * 2)
    lag_ax.set_xlabel("schedules")
    lag_ax.set_ylabel("fire lag (ms)")
    lag_ax.set_title("Fire lag vs number of schedules")
    lag_ax.legend(fontsize=7)
    cpu_ax.set_xscale("log")
    cpu_ax.set_xlabel("schedules (W4b)")
    cpu_ax.set_ylabel("CPU ms per fired slot")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.set_title("W4b CPU per fire (flat = ∝ due schedules)")
    cpu_ax.legend(fontsize=8)


def plot_w5(results: dict[str, Data], _peers: list[Data], ax: Axes) -> None:
    labels, values = [], []
    for backend, variants in results["w5_push"]["results"].items():
        for variant, block in variants.items():
            labels.append(f"{backend}\n{variant}")
            values.append(median(block["jobs_per_s"]))
    ax.bar(labels, values)
    ax.set_ylabel("push jobs/s (create → delivered → recorded)")
    ax.set_title("W5 push throughput, one node")


def plot_w7(results: dict[str, Data], _peers: list[Data], axes: Any) -> None:
    samples = results["w7_soak"]["samples"]
    t = [s["t_s"] / 60 for s in samples]
    rss_ax, size_ax, rate_ax = axes
    rss_ax.plot(t, [s["rss_bytes"] / 2**20 for s in samples], marker=".")
    rss_ax.set_ylabel("server RSS (MiB)")
    size_ax.plot(t, [s["db_bytes"] / 2**20 for s in samples], marker=".", label="database")
    if samples and "jobs_bytes" in samples[0]:
        size_ax.plot(t, [s["jobs_bytes"] / 2**20 for s in samples], label="jobs")
        size_ax.plot(t, [s["executions_bytes"] / 2**20 for s in samples], label="executions")
    size_ax.set_ylabel("size (MiB)")
    size_ax.legend(fontsize=8)
    rate_ax.plot(t, [s["drain_per_s"] for s in samples], marker=".", label="drained")
    rate_ax.plot(t, [s["produce_per_s"] for s in samples], linestyle="--", label="produced")
    rate_ax.set_ylabel("jobs/s")
    rate_ax.set_xlabel("minutes")
    rate_ax.legend(fontsize=8)
    for ax in axes:
        ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    rss_ax.set_title("W7 soak with retention")


# Before/after panels: (title, result name, how to read the headline figure, higher is better).
HEADLINES: tuple[tuple[str, str, Callable[[Data], float], bool], ...] = (
    (
        "W1 PostgreSQL drain\njobs/s",
        "w1_drain",
        lambda d: median(d["rounds"][0]["jobs_per_s"]),
        True,
    ),
    (
        "W2 pickup p50, PostgreSQL\nms",
        "w2_pickup",
        lambda d: median(d["backends"]["postgresql"]["pickup_ms"]["p50"]),
        False,
    ),
    (
        "W4a slot → worker p50\nms",
        "w4a_fire_burst",
        lambda d: median(d["received_lag_p50_ms"]),
        False,
    ),
    (
        "W5 push, PostgreSQL\njobs/s",
        "w5_push",
        lambda d: median(d["results"]["postgresql"]["default"]["jobs_per_s"]),
        True,
    ),
    ("W6 SQLite drain\njobs/s", "w6_sqlite_drain", lambda d: median(d["jobs_per_s"]), True),
)


def plot_before_after(results: dict[str, Data], _peers: list[Data], axes: Any) -> None:
    before = results.get("_before", {})
    for ax, (title, name, read, higher_is_better) in zip(axes, HEADLINES, strict=True):
        values, labels = [], []
        for label, source in (("before", before), ("after", results)):
            if name in source:
                values.append(read(source[name]))
                labels.append(label)
        ax.bar(labels, values, color=["gray", "tab:blue"][-len(values) :])
        for x, value in enumerate(values):
            text = f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
            ax.annotate(text, (x, value), ha="center", va="bottom", fontsize=8)
        ax.set_title(title + ("" if higher_is_better else " (lower is better)"), fontsize=8)
        ax.set_ylim(0, max(values, default=1) * 1.2)


Plotter = Callable[[dict[str, Data], list[Data], Any], None]
# name → (needed results (any of), figure layout (rows, cols), size, plotter)
PLOTS: dict[str, tuple[tuple[str, ...], tuple[int, int], tuple[float, float], Plotter]] = {
    "w1_throughput": (("w1_drain",), (1, 1), (7, 4.5), plot_w1),
    "w2_pickup": (("w2_pickup",), (1, 1), (7, 4.5), plot_w2),
    "w4_fire_lag": (("w4a_fire_burst", "w4b_many_schedules"), (1, 2), (12, 4.5), plot_w4),
    "w5_push": (("w5_push",), (1, 1), (7, 4.5), plot_w5),
    "w7_soak": (("w7_soak",), (3, 1), (7, 8), plot_w7),
    "before_after": (("_before",), (1, len(HEADLINES)), (13, 3.2), plot_before_after),
}


def render(results: dict[str, Data], peers: list[Data], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (needs, (rows, cols), size, plotter) in PLOTS.items():
        if not any(n in results for n in needs):
            print(f"skip {name}: no {' or '.join(f'{n}.json' for n in needs)}")
            continue
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=True)
        plotter(results, peers, axes)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        print(f"wrote {path}")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--peers", type=Path, help="peer JSON folder (default <results>/peers)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR.parent / "docs" / "img")
    parser.add_argument(
        "--before", type=Path, help="results of an earlier commit (default <results>/before)"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        p.stem: d for p in sorted(args.results.glob("*.json")) if (d := load(p))
    }
    before_dir = args.before or args.results / "before"
    before = {p.stem: d for p in sorted(before_dir.glob("*.json")) if (d := load(p))}
    if before:
        results["_before"] = before
    peers = load_peers(args.peers or args.results / "peers")
    render(results, peers, args.out)


if __name__ == "__main__":
    main()
