"""The measuring protocol: the benchmark registry, the meter, and the child process.

Every measurement is one benchmark on one loop in a fresh interpreter:
`python -m benchmarks --child SPEC` runs it and prints one line, `RESULT {json}`.
`measure()` is the parent's side: it starts that child in its own process group,
enforces the time limit, and turns anything that went wrong into an error text.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import loops

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "RESULT "


@dataclass
class Bench:
    name: str
    fn: object  # async def fn(meter, n, **params)
    n: float  # operations (or seconds, for network benchmarks) at full scale
    unit: str  # what one operation is
    doc: str
    params: dict = field(default_factory=dict)
    warmup: bool = True  # run once at a tenth of the size before measuring
    driver: str | None = None  # "loadgen" or "http": needs an external load generator


BENCHES: dict[str, Bench] = {}
# What the parent found for the child (the load generators' paths): see runner.prepare_env.
ENV: dict[str, str] = {}


def bench(name, *, n, unit, doc, warmup=True, driver=None, **params):
    """Registers `fn` as the benchmark `name`; may be stacked for variants."""

    def register(fn):
        assert name not in BENCHES, name
        BENCHES[name] = Bench(name, fn, n, unit, doc, params, warmup, driver)
        return fn

    return register


def load_all() -> dict[str, Bench]:
    from . import micro, net, procs  # noqa: F401  (importing registers them)

    return BENCHES


class Meter:
    """Brackets the measured part of a benchmark: wall time and this process's CPU time.

    CPU time is `time.process_time()`: user + system time of every thread of the loop's
    process, children excluded (the load generator, `cat` and `true` are not counted).
    `start`/`stop` may be called from another thread.
    """

    def __init__(self):
        self.wall = self.cpu = self.ops = None
        self.latencies = []  # seconds, one per operation, when operations have one
        self.p50_us = self.p99_us = None  # or percentiles reported by a load generator
        self.extra = {}

    def start(self):
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def stop(self, ops, wall=None):
        self.wall = wall if wall is not None else time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0
        self.ops = ops

    def result(self) -> dict:
        if not self.ops or not self.wall:
            raise RuntimeError("the benchmark measured no operations")
        if self.latencies:
            lat = sorted(self.latencies)
            self.p50_us = percentile(lat, 50) * 1e6
            self.p99_us = percentile(lat, 99) * 1e6
        return {
            "ops": self.ops,
            "seconds": self.wall,
            "cpu_seconds": self.cpu,
            "ops_per_s": self.ops / self.wall,
            "cpu_us_per_op": self.cpu / self.ops * 1e6,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            **self.extra,
        }


def percentile(sorted_values, p):
    rank = max(1, -(-len(sorted_values) * p // 100))  # nearest-rank
    return sorted_values[int(rank) - 1]


def scaled(n, scale):
    return max(1, int(n * scale)) if isinstance(n, int) else n * scale


def child_main(spec_json: str):
    """Runs one benchmark on one loop; prints `RESULT {json}` whatever happens."""
    spec = json.loads(spec_json)
    # A fresh process has glibc's initial 128 KiB mmap threshold, so every 256 KiB read
    # buffer (asyncio's recv(max_size), and others') costs mmap + mremap + munmap until
    # some large block happens to be freed. A long-running server is past that point;
    # freeing one 1 MiB block puts every loop there from the start.
    bytes(1 << 20)
    loop_errors = []  # what the loop's exception handler saw: often the root cause

    def record(loop, context):
        loop_errors.append(context.get("exception") or context.get("message"))
        loop.default_exception_handler(context)

    try:
        ENV.update(spec["env"])
        b = load_all()[spec["bench"]]
        n = scaled(b.n, spec["scale"])
        meter = Meter()
        with asyncio.Runner(loop_factory=loops.factory(spec["loop"])) as runner:
            runner.get_loop().set_exception_handler(record)
            if b.warmup:
                runner.run(b.fn(Meter(), scaled(n, 0.1), **b.params))
            runner.run(b.fn(meter, n, **b.params))
            out = {"ok": True, **meter.result()}
    except BaseException as exc:  # every failure is a result, with its text
        traceback.print_exc()
        out = {"ok": False, "error": describe(exc)}
        if loop_errors:
            first = loop_errors[0]
            out["error"] += "; the loop reported first: " + (
                describe(first) if isinstance(first, BaseException) else str(first))
    print(RESULT_MARK + json.dumps(out), flush=True)
    # Leftover threads (a stuck executor, a loop's own threads) must not hold the child.
    os._exit(0)


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        f = frames[-1]
        text += f" (in {f.name}, {Path(f.filename).name}:{f.lineno})"
    return text


def measure(bench_name: str, loop: str, scale: float, timeout: float, env: dict) -> dict:
    """Runs one measurement in a fresh child process; returns its result or its error."""
    spec = json.dumps({"bench": bench_name, "loop": loop, "scale": scale, "env": env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--child", spec],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the load generator dies with it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.communicate()
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    finally:
        kill_group(proc.pid)
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    if proc.returncode < 0:
        why = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        why = f"exited with status {proc.returncode}"
    last = err.strip().splitlines()[-1:] or ["no output"]
    return {"ok": False, "error": f"child {why}: {last[0]}"}


def kill_group(pgid: int):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
