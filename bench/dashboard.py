"""The Grafana dashboard (docs/grafana-dashboard.json), drawn from a real Prometheus that scraped a real run.

Run with `make dashboard` (or `.venv/bin/python bench/dashboard.py [--seconds 90] [--out PATH]`); see
bench/README.md. Grafana is in none of the package indexes the team's machines reach, so this script
does for the dashboard's panels what Grafana would: it starts Prometheus (Debian's `prometheus`)
scraping a daphne that serves a workload for `--seconds`, runs every panel's PromQL through
Prometheus's `query_range` API over the run, and draws the panels on the dashboard's own grid
(matplotlib) to docs/grafana-dashboard.png. The workload touches every panel (sockets that come and
go, replies, stops, tool calls that succeed and fail, a provider that fails for a while so the chain
falls back and its breaker opens, bad frames, a person over the rate limit), so a panel that comes
back empty is a query or a metric that is wrong, and the run fails naming it.

Loopback only; every wait is bounded, the whole run too (SIGALRM); Prometheus and daphne are child
processes that die with the script. Progress goes to stderr; stdout gets one line per panel and, last,
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    HOST,
    ROOT,
    Children,
    close_sockets,
    launch_daphne,
    log,
    on_signal,
    open_socket,
    prepare_database,
    recv_json,
    site_env,
    wait_ready,
)

sys.path.insert(0, str(ROOT))
from tests.support.fake_llm_server import FakeLLMServer, Reply, error_reply, text_reply, tool_call_reply  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
DEFAULT_OUT = ROOT / "docs" / "grafana-dashboard.png"
METRICS_TOKEN = "dashboard-bench"
PEOPLE = 10
SCRAPE_SECONDS = 1
STEP_SECONDS = 2
TURN_BOUND = 30.0  # no turn of this workload takes longer


# --- the providers: a primary that fails for the middle of the run, and a backup -----------------


def answer(body: dict[str, Any]) -> Reply:
    """What both fakes answer: a calculator call for "calc ...", its result in words, or a short streamed reply."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return text_reply("The ", "calculator ", "says ", f"{str(last.get('content'))[:40]}.", delay=0.02)
    text = str(last.get("content", ""))
    if text.startswith("calc "):
        return tool_call_reply("builtin__calculator", {"expression": text[5:]}, delay=0.01)
    return text_reply(*[f"word{n} " for n in range(30)], delay=0.03)


@dataclass
class Phases:
    """The primary provider answers 503 between `fail_from` and `fail_until` (fractions of the run)."""

    started: float
    seconds: float
    fail_from: float = 0.3
    fail_until: float = 0.6

    def failing(self) -> bool:
        elapsed = (time.monotonic() - self.started) / self.seconds
        return self.fail_from <= elapsed < self.fail_until

    def primary(self, body: dict[str, Any]) -> Reply:
        return error_reply(503, "The primary is down for this part of the run.") if self.failing() else answer(body)


# --- Prometheus ------------------------------------------------------------------------------------


def start_prometheus(children: Children, tmp: Path, site_port: int) -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed: `make dashboard` installs Debian's as root, "
                           "or `sudo apt-get install --no-install-recommends prometheus`")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS}s"},
        "scrape_configs": [{
            "job_name": "chatsite", "metrics_path": "/metrics",
            "authorization": {"credentials": METRICS_TOKEN},
            "static_configs": [{"targets": [f"{HOST}:{site_port}"]}],
        }],
    }))
    with (tmp / "prometheus.log").open("w") as out:
        children.start(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address={HOST}:{port}", "--log.level=warn"],
            stdout=out, stderr=out, stdin=None,
        )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer_:
                if answer_.status == 200:
                    return url
        if time.monotonic() > deadline:
            raise RuntimeError(f"Prometheus did not get ready:\n{(tmp / 'prometheus.log').read_text()[-2000:]}")
        time.sleep(0.2)  # allowed-sleep: a bounded poll of another process


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": STEP_SECONDS})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{query}", timeout=30) as answer_:
        body = json.load(answer_)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body}")
    return body["data"]["result"]


def scrapes_so_far(prometheus: str) -> int:
    query = urllib.parse.urlencode({"query": 'count_over_time(up{job="chatsite"}[10m])'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=10) as answer_:
        result = json.load(answer_)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


# --- the workload ----------------------------------------------------------------------------------


@dataclass
class Tally:
    turns: int = 0
    stopped: int = 0
    rate_limited: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0


async def one_turn(ws: Any, text: str, rng: random.Random, tally: Tally, stop: bool = False) -> None:
    """Send a message and read until its turn.finished (or a refusal); a stop after the first text when asked."""
    client_id = f"d{rng.getrandbits(48):012x}"
    await ws.send(json.dumps({"type": "message.send", "client_id": client_id, "text": text}))
    deadline = time.monotonic() + TURN_BOUND
    stopped = False
    while time.monotonic() < deadline:
        frame = await recv_json(ws)
        kind = frame.get("type")
        if kind == "error" and frame.get("client_id") == client_id:
            code = frame.get("code", "?")
            tally.errors[code] = tally.errors.get(code, 0) + 1
            tally.rate_limited += code == "rate_limited"
            return
        if stop and kind == "assistant.delta" and not stopped:
            await ws.send(json.dumps({"type": "generation.stop", "conversation_id": frame["conversation_id"]}))
            stopped = True
        if kind == "turn.finished":
            tally.turns += 1
            tally.stopped += frame.get("status") == "stopped"
            return
    raise RuntimeError(f"no turn.finished for {text!r} within {TURN_BOUND} s")


async def bad_frame(ws: Any, tally: Tally) -> None:
    await ws.send("{this is not json")
    frame = await recv_json(ws)
    while frame.get("type") != "error":
        frame = await recv_json(ws)
    tally.errors[frame["code"]] = tally.errors.get(frame["code"], 0) + 1


async def person(url: str, headers: dict[str, str], index: int, until: float, tally: Tally) -> None:
    """One person's tab: replies, calculations, a failing one, a stop now and then, a bad frame, reconnects.
    Person 0 is hasty: it sends twice a second and runs into the rate limit."""
    rng = random.Random(index)
    hasty = index == 0
    while time.monotonic() < until:
        ws = await open_socket(url, headers)
        try:
            for _ in range(rng.randint(4, 8)):
                if time.monotonic() >= until:
                    break
                roll = rng.random()
                if roll < 0.05:
                    await bad_frame(ws, tally)
                elif roll < 0.35:
                    await one_turn(ws, "calc 12*7", rng, tally)
                elif roll < 0.45:
                    await one_turn(ws, "calc 1/0", rng, tally)
                else:
                    await one_turn(ws, "tell me something", rng, tally, stop=roll > 0.93)
                await asyncio.sleep(0.1 if hasty else rng.uniform(0.5, 2.0))
        finally:
            await close_sockets([ws])
        tally.reconnects += 1


# --- drawing ---------------------------------------------------------------------------------------

BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#37872d", "#c4162a"]
STATES = {0: ("closed", "#73bf69"), 1: ("half-open", "#f2cc0c"), 2: ("open", "#f2495c")}
COLUMN_PX, ROW_PX = 75, 30


@dataclass
class Series:
    label: str
    times: list[float]
    values: list[float]


def legend(template: str, labels: dict[str, str]) -> str:
    if not template:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
    return template


def panel_series(prometheus: str, panel: dict[str, Any], start: float, end: float) -> list[Series]:
    found: list[Series] = []
    for target in panel.get("targets", []):
        for result in query_range(prometheus, target["expr"], start, end):
            points = [(float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")]
            if points:
                times, values = [t for t, _ in points], [v for _, v in points]
                found.append(Series(legend(target.get("legendFormat", ""), result["metric"]), times, values))
    return found


def formatter(unit: str | None) -> Any:
    from matplotlib.ticker import FuncFormatter

    def seconds(value: float, _: Any) -> str:
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"

    def per_second(value: float, _: Any) -> str:
        return f"{value:.2g}/s" if value < 10 else f"{value:.0f}/s"

    return FuncFormatter({"s": seconds, "ops": per_second, "reqps": per_second,
                          "percentunit": lambda v, _: f"{v * 100:.0f}%"}.get(unit or "", lambda v, _: f"{v:g}"))


def draw(panels: list[tuple[dict[str, Any], list[Series]]], title: str, start: float, out: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p, _ in panels)
    width, height = 24 * COLUMN_PX, rows * ROW_PX + 70
    figure = plt.figure(figsize=(width / 100, height / 100), dpi=100, facecolor=BACKGROUND)
    figure.text(12 / width, 1 - 22 / height, title, color=TEXT, fontsize=15, weight="bold", va="center")
    figure.text(12 / width, 1 - 46 / height, note, color="#8e8e8e", fontsize=9, va="center")
    for panel, series in panels:
        grid = panel["gridPos"]
        left, top = grid["x"] * COLUMN_PX / width, 1 - (70 + grid["y"] * ROW_PX) / height
        w, h = grid["w"] * COLUMN_PX / width, grid["h"] * ROW_PX / height
        if panel["type"] == "row":
            figure.text(left + 6 / width, top - h / 2, panel["title"], color=TEXT, fontsize=12, weight="bold", va="center")
            continue
        frame = figure.add_axes((left + 4 / width, top - h + 4 / height, w - 8 / width, h - 8 / height))
        frame.set_facecolor(PANEL)
        frame.set_xticks([]), frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_color(GRID)
        frame.text(0.012, 0.955, panel["title"], transform=frame.transAxes, color=TEXT, fontsize=10, weight="bold", va="top")
        plot = figure.add_axes((left + 58 / width, top - h + 62 / height, w - 74 / width, h - 100 / height))
        plot.set_facecolor(PANEL)
        plot.tick_params(colors="#9fa7b3", labelsize=7)
        for spine in plot.spines.values():
            spine.set_visible(False)
        plot.grid(color=GRID, linewidth=0.6)
        if not series:
            plot.text(0.5, 0.5, "No data", transform=plot.transAxes, color="#f2495c", ha="center", fontsize=11)
        elif panel["type"] == "state-timeline":
            draw_states(plot, series, start)
        else:
            for n, one in enumerate(series[:10]):
                plot.plot([t - start for t in one.times], one.values, color=PALETTE[n % len(PALETTE)], linewidth=1.4, label=one.label)
            plot.yaxis.set_major_formatter(formatter(panel.get("fieldConfig", {}).get("defaults", {}).get("unit")))
            plot.set_ylim(bottom=0)
            plot.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(4, len(series[:10])), fontsize=7,
                        frameon=False, labelcolor=TEXT)
    figure.savefig(out, facecolor=BACKGROUND)
    plt.close(figure)


def draw_states(plot: Any, series: list[Series], start: float) -> None:
    for row, one in enumerate(series):
        times = [t - start for t in one.times]
        for n, (at, value) in enumerate(zip(times, one.values, strict=True)):
            until = times[n + 1] if n + 1 < len(times) else at + STEP_SECONDS
            plot.barh(row, until - at, left=at, color=STATES.get(int(value), ("?", "#8e8e8e"))[1], height=0.6)
    plot.set_yticks(range(len(series)), [one.label for one in series], color=TEXT)
    plot.set_xlim(left=0)
    for name, colour in STATES.values():
        plot.bar(0, 0, color=colour, label=name)
    plot.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=7, frameon=False, labelcolor=TEXT)


# --- the run ---------------------------------------------------------------------------------------


async def workload(url: str, sessions: list[str], seconds: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    origin = url.replace("ws://", "http://").split("/ws/")[0]
    headers = [{"Origin": origin, "Cookie": f"sessionid={key}"} for key in sessions]
    await asyncio.gather(*(person(url, headers[n], n, until, tally) for n in range(len(sessions))))
    return tally


def run(args: argparse.Namespace, tmp: Path, children: Children) -> int:
    phases = Phases(time.monotonic(), args.seconds)
    with FakeLLMServer(default=phases.primary, nodelay=True) as primary, FakeLLMServer(default=answer, nodelay=True) as backup:
        providers = [
            {"name": "primary", "family": "openai", "base_url": primary.base_url, "model": "fake-model",
             "max_retries": 0, "breaker_failure_threshold": 3, "breaker_cooldown_seconds": 6},
            {"name": "backup", "family": "openai", "base_url": backup.base_url, "model": "fake-backup"},
        ]
        metrics_dir = tmp / "metrics"
        metrics_dir.mkdir()
        env = site_env(
            DATABASE_URL=f"sqlite:///{tmp / 'dashboard.sqlite3'}", LLM_PROVIDERS=json.dumps(providers),
            METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), CHAT_RATE_LIMIT_MESSAGES="40",
        )
        log(f"migrating, making {PEOPLE} people, starting daphne")
        sessions = prepare_database(env, PEOPLE)
        daphne = launch_daphne(children, "chatsite.asgi:application", env, tmp / "daphne.log", "/healthz")
        wait_ready(daphne)
        prometheus = start_prometheus(children, tmp, daphne.port)
        log(f"Prometheus at {prometheus} scrapes every {SCRAPE_SECONDS} s; running the workload for {args.seconds:g} s")
        start = time.time()
        phases.started = time.monotonic()
        tally = asyncio.run(workload(f"ws://{HOST}:{daphne.port}/ws/chat/", sessions, args.seconds))
        scraped = scrapes_so_far(prometheus)
        deadline = time.monotonic() + 10
        while scrapes_so_far(prometheus) < scraped + 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # allowed-sleep: two more scrapes after the workload, bounded
        end = time.time()
    log(f"workload done: {tally}")
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [(panel, panel_series(prometheus, panel, start, end) if panel["type"] != "row" else [])
              for panel in dashboard["panels"]]
    note = (f"Drawn by bench/dashboard.py from Prometheus {SCRAPE_SECONDS} s scrapes of one daphne, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(end))}: {PEOPLE} people for {args.seconds:g} s, "
            f"{tally.turns} turns; the primary provider answered 503 from {phases.fail_from:.0%} to {phases.fail_until:.0%} "
            "of the run. x axis: seconds into the run.")
    draw(panels, dashboard.get("title", "dashboard"), start, args.out, note)
    empty = [panel["title"] for panel, series in panels if panel["type"] != "row" and not series]
    for panel, series in panels:
        if panel["type"] != "row":
            print(f"{panel['title']:<45} {len(series):>3} series, {sum(len(s.values) for s in series):>5} points")
    print(json.dumps({
        "bench": "dashboard", "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)),
        "seconds": args.seconds, "people": PEOPLE, "turns": tally.turns, "stopped": tally.stopped,
        "errors": tally.errors, "reconnects": tally.reconnects, "out": str(args.out), "empty_panels": empty,
        "panels": {panel["title"]: len(series) for panel, series in panels if panel["type"] != "row"},
    }))
    log(f"wrote {args.out}")
    if empty:
        log(f"panels with no data: {', '.join(empty)}")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the workload runs (default 90)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the PNG to write (default {DEFAULT_OUT.relative_to(ROOT)})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, Prometheus data)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(int(args.seconds) + 180)
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    try:
        return run(args, tmp, children)
    except KeyboardInterrupt as exc:
        log(f"interrupted: {exc}")
        return 130
    except Exception as exc:
        log(f"failed: {exc}")
        for name in ("daphne.log", "prometheus.log"):
            if (tmp / name).exists():
                log(f"end of {name}:\n{(tmp / name).read_text()[-2000:]}")
        return 1
    finally:
        signal.alarm(0)
        children.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
