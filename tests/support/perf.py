"""The performance suite's figures: each scenario writes its own JSON file, then one report joins them.

    record("concurrency", {...})                   # from a test: perf-results/concurrency.json
    python -m tests.support.perf perf-results       # perf-results/perf.json and perf-results/perf.png

The suite runs as two pytest processes (communicator and browser), so the figures meet on disk.
Counts come from the environment (`count`), with the issue's numbers as defaults.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.daphne import ROOT

RESULTS_ENV = "PERF_RESULTS_DIR"
REPORT = "perf.json"
CHART = "perf.png"


def results_dir() -> Path:
    path = Path(os.environ.get(RESULTS_ENV) or ROOT / "perf-results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def count(name: str, default: int) -> int:
    """A scenario's size: PERF_<NAME> from the environment, or the issue's number."""
    return int(os.environ.get(f"PERF_{name.upper()}", default))


def counts(name: str, default: str) -> list[int]:
    """A comma-separated list of sizes, e.g. PERF_USERS=1,10,50."""
    return [int(part) for part in os.environ.get(f"PERF_{name.upper()}", default).split(",") if part.strip()]


def record(scenario: str, figures: dict[str, Any]) -> Path:
    """Write one scenario's figures (with when and where they were measured) for the report."""
    path = results_dir() / f"{scenario}.json"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    body = {"scenario": scenario, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": os.cpu_count(), "load_average_at_end": load, **figures}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of a list of seconds, in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p99_ms": round(p99 * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def rss_mb() -> float:
    """This process's resident set, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 2)
    raise RuntimeError("no VmRSS in /proc/self/status")


def report(directory: Path) -> dict[str, Any]:
    """Join every scenario file of the directory into perf.json and draw perf.png; returns the joined figures."""
    scenarios = {}
    for path in sorted(directory.glob("*.json")):
        if path.name != REPORT:
            scenarios[path.stem] = json.loads(path.read_text())
    joined = {"suite": "performance", "scenarios": scenarios}
    (directory / REPORT).write_text(json.dumps(joined, indent=2) + "\n")
    chart(scenarios, directory / CHART)
    return joined


def chart(scenarios: dict[str, Any], path: Path) -> None:
    """Four panels: delay against concurrency, memory against turns, the long session, the browser."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    for ax, (scenario, title, draw) in zip(axes.flat, PANELS, strict=True):
        ax.set_title(title)
        if scenarios.get(scenario):
            draw(ax, scenarios[scenario])
        else:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
    figure.suptitle("chatsite performance suite (make perf): figures of one run, compare ratios, not absolutes")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _concurrency(ax: Any, data: dict[str, Any]) -> None:
    rounds = data["rounds"]
    users = [r["users"] for r in rounds]
    for key, label, style in (("first_token", "time to first token", "o-"), ("turn", "turn duration", "s--")):
        for stat in ("p50_ms", "p99_ms"):
            ax.plot(users, [r[key][stat] for r in rounds], style, label=f"{label} {stat[:3]}")
    ax.set_xscale("log")
    ax.set_xticks(users, [str(u) for u in users])
    ax.set_xticks([], minor=True)
    ax.set(xlabel="concurrent users", ylabel="ms")
    ax.legend(fontsize="small")


def _memory(ax: Any, data: dict[str, Any]) -> None:
    samples = data["samples"]
    turns = [s["turns"] for s in samples]
    ax.plot(turns, [s["rss_mb"] for s in samples], "o-", label="RSS, MB")
    ax.set(xlabel="turns after warm-up", ylabel="RSS, MB")
    right = ax.twinx()
    right.plot(turns, [s["traced_mb"] for s in samples], "s--", color="tab:orange", label="tracemalloc, MB")
    right.set_ylabel("tracemalloc traced since warm-up, MB")
    ax.set_title(f"{ax.get_title()}: {'LEAK' if data.get('leak') else 'no leak'}")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize="small", loc="lower right")


def _long_session(ax: Any, data: dict[str, Any]) -> None:
    points = data["points"]
    messages = [p["messages"] for p in points]
    ax.plot(messages, [p["build_history"]["min_ms"] for p in points], "o-", label="build_history, min ms")
    ax.plot(messages, [p["reopen"]["min_ms"] for p in points], "s--", label="conversation.open replay, min ms")
    ax.set(xlabel="stored messages in the conversation", ylabel="ms")
    ax.legend(fontsize="small")


def _browser(ax: Any, data: dict[str, Any]) -> None:
    keys = {"render_ms": "render", "longest_frame_gap_ms": "longest frame gap",
            "longest_animation_frame_ms": "longest animation frame", "typing_ms_per_char": "typing echo, per char"}
    baseline = data.get("baseline_one_turn", {})
    rows = range(len(keys))
    ax.barh([y + 0.2 for y in rows], [data[k] for k in keys], height=0.4, label=f"{data['messages']:,} messages")
    ax.barh([y - 0.2 for y in rows], [baseline.get(k, 0) for k in keys], height=0.4, label="one turn (baseline)")
    for y, key in zip(rows, keys, strict=True):
        ax.text(data[key], y + 0.2, f" {data[key]:g}", va="center", fontsize="small")
    ax.set_yticks(list(rows), list(keys.values()))
    ax.set_xlabel("ms")
    ax.legend(fontsize="small", loc="upper right")


PANELS = (
    ("concurrency", "Delay against concurrency (turns with a tool call)", _concurrency),
    ("memory", "Memory against turns (after warm-up)", _memory),
    ("long_session", "Long session: reopen and history building against length", _long_session),
    ("browser", "Browser: opening a long conversation", _browser),
)


if __name__ == "__main__":
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else results_dir()
    joined = report(directory)
    print(f"wrote {directory / REPORT} and {directory / CHART} ({', '.join(joined['scenarios']) or 'no scenarios'})")
