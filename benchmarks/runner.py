"""Runs the suite: rounds of every benchmark on every loop, in rotated order."""

import argparse
import datetime
import fnmatch
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from . import loops, report
from .measure import ROOT, load_all, measure

HERE = ROOT / "benchmarks"
LOADGEN_MANIFEST = HERE / "loadgen" / "Cargo.toml"
LOADGEN_BIN = HERE / "loadgen" / "target" / "release" / "loadgen"
STATS = ("ops_per_s", "cpu_us_per_op", "p50_us", "p99_us")
# (rounds, scale of every benchmark's size) for a full and a quick run.
FULL = (5, 1.0)
QUICK = (3, 0.3)


def main(argv=None):
    args = parse_args(argv)
    benches = select(load_all(), args.only)
    if args.list:
        for b in benches.values():
            print(f"{b.name:26} {b.doc}")
        return
    rounds, scale = QUICK if args.quick else FULL
    rounds = args.rounds or rounds
    names = [name.strip() for name in args.loops.split(",")]
    unknown = set(names) - set(loops.LOOPS)
    if unknown:
        sys.exit(f"unknown loop(s) {', '.join(sorted(unknown))}; known: {', '.join(loops.LOOPS)}")
    usable = [name for name in names if loops.available(name)]

    started, load_before = time.monotonic(), os.getloadavg()[0]
    env, env_error = prepare_env(benches.values(), args.http_client)
    results = {b: {name: {"runs": [], "error": None} for name in usable} for b in benches}
    for r in range(rounds):
        order = usable[r % len(usable):] + usable[: r % len(usable)] if usable else []
        for b in benches.values():
            for name in order:
                slot = results[b.name][name]
                if slot["error"]:
                    continue  # failed once: not retried, reported as failed
                if b.driver and env_error.get(b.driver):
                    out = {"ok": False, "error": env_error[b.driver]}
                else:
                    out = measure(b.name, name, scale, timeout=10 + 10 * scale, env=env)
                if out.pop("ok"):
                    slot["runs"].append(out)
                else:
                    slot["error"] = f"{out['error']} (round {r + 1})"
                print_progress(r, rounds, b, name, out)

    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(env),
        "settings": {"rounds": rounds, "scale": scale, "quick": args.quick, "baseline": loops.BASELINE,
                     "goal": args.goal, "command": " ".join(["python -m benchmarks", *sys.argv[1:]])},
        "loops": {name: {"status": "ok" if name in usable else "unavailable",
                         "version": loops.version(name)} for name in names},
        "benchmarks": [
            {"name": b.name, "unit": b.unit, "doc": b.doc,
             "results": {name: summarize(results[b.name].get(name)) for name in names}}
            for b in benches.values()
        ],
    }
    doc["wall_seconds"] = round(time.monotonic() - started, 1)
    # The 1-minute load average before and after: other work on the machine makes noise.
    doc["load_average"] = [load_before, os.getloadavg()[0]]
    paths = report.write_all(doc, args.out)
    print(f"\n{len(benches)} benchmarks x {len(usable)} loops x {rounds} rounds "
          f"in {doc['wall_seconds']:.0f} s; wrote {', '.join(str(p) for p in paths)}")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--loops", default=",".join(loops.LOOPS), help="comma-separated (default: all)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK[0]} rounds at {QUICK[1]:g}x size")
    p.add_argument("--only", help="comma-separated benchmark names or globs (tcp_echo_*)")
    p.add_argument("--rounds", type=int, help=f"rounds (default {FULL[0]}, quick {QUICK[0]})")
    p.add_argument("--goal", type=float, default=report.GOAL, help="the goal line of the chart, x uvloop")
    p.add_argument("--out", default=str(HERE / "results" / "latest"),
                   help="output path without extension (default: benchmarks/results/latest)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    # wrk needs a whole core at ~180k requests/s here, more than the servers it
    # measures, so by default the lighter loadgen drives HTTP too.
    p.add_argument("--http-client", choices=("loadgen", "wrk"), default="loadgen",
                   help="the HTTP load generator (default: loadgen)")
    return p.parse_args(argv)


def select(benches, only):
    if not only:
        return benches
    patterns = [pat.strip() for pat in only.split(",")]
    for pat in patterns:
        if not fnmatch.filter(benches, pat):
            sys.exit(f"no benchmark matches {pat!r}; `python -m benchmarks --list` lists them")
    return {name: b for name, b in benches.items() if any(fnmatch.fnmatch(name, p) for p in patterns)}


def prepare_env(benches, http_client="loadgen"):
    """Finds or builds the load generators the selected benchmarks need.

    Returns the paths for the children, and an error text per driver that is missing.
    """
    wrk = shutil.which("wrk") if http_client == "wrk" else None
    if http_client == "wrk" and not wrk:
        sys.exit("--http-client wrk: wrk is not installed (apt-get install -y wrk)")
    env = {"wrk": wrk, "wrk_script": str(HERE / "wrk_report.lua"), "loadgen": str(LOADGEN_BIN)}
    drivers = {b.driver for b in benches}
    need_loadgen = "loadgen" in drivers or ("http" in drivers and not env["wrk"])
    errors = {}
    if need_loadgen:
        build = subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", str(LOADGEN_MANIFEST)],
                               capture_output=True, text=True)
        if build.returncode:
            errors["loadgen"] = "building benchmarks/loadgen failed: " + build.stderr.strip()[-300:]
            if not env["wrk"]:
                errors["http"] = errors["loadgen"]
    return env, errors


def summarize(slot):
    if slot is None:
        return {"status": "unavailable"}
    out = {"status": "failed" if slot["error"] else "ok", "error": slot["error"], "runs": slot["runs"]}
    if slot["runs"]:
        out["stats"] = {}
        for key in STATS:
            values = [run[key] for run in slot["runs"] if run.get(key) is not None]
            if values:
                out["stats"][key] = {"median": statistics.median(values), "min": min(values),
                                     "max": max(values)}
        out["client"] = slot["runs"][0].get("client")
    return out


def print_progress(r, rounds, b, loop, out):
    head = f"[{r + 1}/{rounds}] {b.name:26} {loop:10}"
    if "error" in out:
        print(f"{head} FAILED: {out['error']}", flush=True)
    else:
        print(f"{head} {report.si(out['ops_per_s']):>7} {b.unit}/s  "
              f"{out['cpu_us_per_op']:8.2f} us CPU/{b.unit}", flush=True)


def machine(env):
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "os": platform.platform(), "python": platform.python_version(),
            "python_build": sys.version.replace("\n", " ")}
    info["ferroloop_commit"] = output_of(["git", "rev-parse", "--short", "HEAD"])
    if env["wrk"]:
        info["wrk"] = output_of([env["wrk"], "-v"]).split("[")[0].strip()  # "wrk 4.1.0 [epoll] ..."
    return info


def output_of(argv):
    """What a command prints (stdout and stderr), or "" if it cannot run."""
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout + done.stderr).strip()
