"""Writes a run's results: JSON, a markdown table and a PNG chart.

`python -m benchmarks.report benchmarks/results/latest.json` renders them again from JSON.
"""

import json
import sys
from pathlib import Path

GOAL = 1.25  # the chart's goal line: this many times uvloop
FAILED, UNAVAILABLE = "failed", "n/a"


def write_all(doc, out_base):
    base = Path(out_base)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".json"), base.with_suffix(".md"), base.with_suffix(".png")]
    paths[0].write_text(json.dumps(doc, indent=1) + "\n")
    paths[1].write_text(markdown(doc))
    chart(doc, paths[2])
    return paths


def si(x):
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def median(result, key):
    return (result or {}).get("stats", {}).get(key, {}).get("median")


def ratio(bench, loop, key, baseline):
    """How many times better than the baseline: faster throughput, or less CPU per op."""
    mine, base = median(bench["results"][loop], key), median(bench["results"].get(baseline), key)
    if mine is None or base is None or mine == 0:
        return None
    return mine / base if key == "ops_per_s" else base / mine


def ratio_cell(key, fmt, baseline):
    """A cell renderer: the median, its spread, and the ratio to the baseline."""

    def render(bench, loop):
        stat = bench["results"][loop]["stats"][key]
        spread = (stat["max"] - stat["min"]) / 2 / stat["median"] * 100
        text = f"{fmt(stat['median'])} ±{spread:.0f}%"
        r = ratio(bench, loop, key, baseline)
        return f"{text} ({r:.2f}x)" if r is not None and loop != baseline else text

    return render


def latency_cell(bench, loop):
    r = bench["results"][loop]
    return f"{median(r, 'p50_us'):.0f} / {median(r, 'p99_us'):.0f}"


def markdown(doc):
    loops = list(doc["loops"])
    baseline = doc["settings"]["baseline"]
    m = doc["machine"]
    versions = ", ".join(f"{name} {info['version'] or '(not installed)'}" for name, info in doc["loops"].items())
    lines = [
        "# ferroloop benchmarks",
        "",
        f"{doc['date']} · {m['cpu']}, {m['cores']} cores, Linux {m['kernel']} · Python {m['python']} · "
        f"{versions} · {doc['settings']['rounds']} rounds, scale {doc['settings']['scale']:g} · "
        f"{doc['wall_seconds']:.0f} s" + (" · load average {:.1f} before, {:.1f} after".format(
            *doc["load_average"]) if "load_average" in doc else ""),
        "",
        f"Medians over rounds, each measurement in a fresh process; ± is half the min-max range in "
        f"percent of the median; (N.NNx) is the ratio to {baseline} in the same run, "
        f"above 1 is better than {baseline}.",
        "",
    ]

    def table(title, benches, render):
        lines.extend([f"## {title}", "", "| benchmark | " + " | ".join(loops) + " |",
                      "|---|" + "---:|" * len(loops)])
        for b in benches:
            status = {loop: b["results"][loop]["status"] for loop in loops}
            cells = [render(b, loop) if status[loop] == "ok" else FAILED if status[loop] == "failed"
                     else UNAVAILABLE for loop in loops]
            lines.append(f"| {b['name']} | " + " | ".join(cells) + " |")
        lines.append("")

    benches = doc["benchmarks"]
    table("Throughput (operations/s)", benches, ratio_cell("ops_per_s", lambda x: si(x) + "/s", baseline))
    table(f"CPU time of the loop's process per operation (ratio: {baseline}'s CPU / this loop's CPU)",
          benches, ratio_cell("cpu_us_per_op", lambda x: f"{x:.3g} µs", baseline))
    timed = [b for b in benches if any(median(r, "p99_us") for r in b["results"].values())]
    if timed:
        table("Latency p50 / p99 (µs)", timed, latency_cell)

    lines.extend(["## Benchmarks", ""])
    for b in benches:
        clients = {r.get("client") for r in b["results"].values()} - {None}
        driven = f" (client: {', '.join(sorted(clients))})" if clients else ""
        lines.append(f"- `{b['name']}` ({b['unit']}): {b['doc']}{driven}")
    failures = [(b["name"], loop, r["error"]) for b in benches for loop, r in b["results"].items()
                if r["status"] == "failed"]
    if failures:
        lines.extend(["", "## Failures", ""])
        lines.extend(f"- `{name}` on {loop}: {error}" for name, loop, error in failures)
    unavailable = [name for name, info in doc["loops"].items() if info["status"] != "ok"]
    if unavailable:
        lines.extend(["", f"Not installed: {', '.join(unavailable)}."])
    return "\n".join(lines) + "\n"


COLORS = {"asyncio": "#9e9e9e", "rloop": "#7950f2", "ferroloop": "#e8590c"}


def chart(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    baseline, goal = doc["settings"]["baseline"], doc["settings"]["goal"]
    loops = [name for name in doc["loops"] if name != baseline]
    colors = {loop: COLORS.get(loop, "#1c7ed6") for loop in loops}
    benches = doc["benchmarks"]
    height = 0.8 / max(1, len(loops))
    fig, axes = plt.subplots(1, 2, figsize=(14, 1.5 + 0.42 * len(benches)), sharey=True)
    panels = [("ops_per_s", "throughput ÷ uvloop's"), ("cpu_us_per_op", "uvloop's CPU per op ÷ this loop's")]
    for ax, (key, title) in zip(axes, panels):
        for i, loop in enumerate(loops):
            for j, b in enumerate(benches):
                y = j + (i - (len(loops) - 1) / 2) * height
                r = ratio(b, loop, key, baseline)
                if r is not None:
                    ax.barh(y, r, height, color=colors[loop])
                elif b["results"][loop]["status"] == "failed":
                    ax.text(0.105, y, "failed", color=colors[loop], va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.axvline(goal, color="#2f9e44", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlim(0.1, 10)
        ax.set_xticks([0.1, 0.25, 0.5, 1, 2, 4, 10], ["0.1", "0.25", "0.5", "1", "2", "4", "10"])
        ax.set_title(f"{title} (> 1: better than {baseline})", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(benches)), [b["name"] for b in benches], fontsize=8)
    axes[0].invert_yaxis()
    handles = [Patch(color=colors[loop], label=loop) for loop in loops]
    handles += [plt.Line2D([], [], color="black", label=f"{baseline} = 1"),
                plt.Line2D([], [], color="#2f9e44", linestyle="--", label=f"goal {goal:g}x")]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9,
               bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()))
    m = doc["machine"]
    fig.suptitle(f"ferroloop benchmarks relative to {baseline}: {m['cpu']}, {m['cores']} cores, "
                 f"Python {m['python']}, {doc['date'][:10]}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json")
    print(*write_all(json.loads(source.read_text()), source.with_suffix("")), sep="\n")
