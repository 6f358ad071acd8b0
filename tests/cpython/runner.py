"""CPython's own test_asyncio, run against ferroloop and against the stdlib loop.

    python -m tests.cpython [--loop both|asyncio|ferroloop|uvloop]
                            [--modules tasks,test_events] [--jobs N]
                            [--update-expected]

The running interpreter's `test.test_asyncio` package is imported, never
copied. Each module runs in a child process (tests/cpython/child.py) that puts
the loop under test in place (tests/cpython/loops.py); a test that hangs or
crashes its process is recorded as an error and the module resumes after it.

The stdlib loop must pass every applicable test. The other loop's failures
must all be listed in expected_failures.txt; a listed test that passes is
reported FIXED and fails the run, so the list only shrinks. Tests of the
stdlib's private machinery are listed in not_applicable.txt and run on
neither loop.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import pkgutil
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import lists, report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = HERE / "results"
TMP = RESULTS / "tmp"
NOT_APPLICABLE = HERE / "not_applicable.txt"
STDLIB = "asyncio"
DEFAULT_LOOP = "ferroloop"

# A child that crashed or hung is restarted after the guilty test; past this
# many restarts the rest of the module is recorded as not run.
MAX_RESTARTS = 40
FAILING = ("failed", "error")

EXPECTED_HEADER = """\
# Tests of CPython's test_asyncio that fail on ferroloop today.
#
# One test id per line: module.Class.test_name  # reason [feature: NAME]
# ([bug: core] for a bug; [flaky] when the outcome depends on the tests run
# before, so a pass is not reported FIXED). Lines under a [3.12]-style marker
# apply to those Python versions only.
# The runner (python -m tests.cpython) fails on a failure missing here and on
# a test listed here that passes (FIXED): remove its line, the list only
# shrinks. `python -m tests.cpython --update-expected` rewrites this file from
# the latest run on the running Python, keeping the reasons already written.
"""


def python_version() -> tuple[str, str]:
    full = platform.python_version()
    return full, ".".join(full.split(".")[:2])


def expected_path(loop: str) -> Path:
    if loop == DEFAULT_LOOP:
        return HERE / "expected_failures.txt"
    return HERE / f"expected_failures.{loop}.txt"


def _package_stamp(name: str) -> dict[str, float]:
    """Modification times of the loop package's files: a rebuild in the middle
    of a run (an editable install rewrites the extension in place) crashes or
    changes the children that load it after, so such a run proves nothing."""
    if name == STDLIB:
        return {}
    module = __import__(name)
    folder = Path(module.__file__).parent
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if p.suffix in (".so", ".py")}


def discover_modules() -> list[str]:
    import test.test_asyncio as package

    return sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("test_")
    )


@dataclasses.dataclass
class TestOutcome:
    id: str
    outcome: str  # passed | failed | error | skipped
    details: list[str] = dataclasses.field(default_factory=list)
    kind: str = ""  # "hang" or "crash" when the child process died in it
    time: float = 0.0
    loops_under_test: int = 0
    stdlib_loops: list[str] = dataclasses.field(default_factory=list)
    env_changed: bool = False  # left threads or child processes behind

    @property
    def summary(self) -> str:
        return summarize(self)


_FRAME = re.compile(r'\s*File "(.+)", line (\d+) in (\S+)')


def _where_stuck(dump: str) -> str:
    """From a faulthandler dump: where the main thread was, e.g.
    "test_ssl.py:1628 stop() > threading.py:1139 _wait_for_tstate_lock()"."""
    blocks = [b for b in dump.split("\n\n") if "(most recent call first)" in b]
    main = next((b for b in blocks if "in <module>" in b), blocks[0] if blocks else "")
    frames = [m.groups() for m in map(_FRAME.match, main.splitlines()) if m]
    if not frames:
        return ""

    def fmt(frame):
        return f"{Path(frame[0]).name}:{frame[1]} {frame[2]}()"

    own = next((f for f in frames if "/test_asyncio/" in f[0]), None)
    if own is None or own == frames[0]:
        return fmt(frames[0])
    return f"{fmt(own)} > {fmt(frames[0])}"


def summarize(t: TestOutcome) -> str:
    """One line saying why a test did not pass."""
    if t.kind:
        where = _where_stuck(t.details[0] if t.details else "")
        return f"{t.kind}, main thread at {where}" if where else t.kind
    for detail in t.details:
        lines = [line for line in detail.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if t.outcome == "skipped":
            return lines[0][:200]
        # the exception line: the last one not indented, after the traceback
        for line in reversed(lines):
            if not line.startswith(" ") and not line.startswith("Traceback"):
                return line.strip()[:200]
        return lines[-1].strip()[:200]
    return t.outcome


@dataclasses.dataclass
class ModuleRun:
    module: str
    loop: str
    tests: dict[str, TestOutcome] = dataclasses.field(default_factory=dict)
    excluded: list[str] = dataclasses.field(default_factory=list)
    module_skipped: str | None = None
    elapsed: float = 0.0
    restarts: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def _read_events(path: Path, offset: int) -> tuple[list[dict], int]:
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    events = []
    complete = data.rfind(b"\n") + 1  # a line cut by a crash is dropped
    for line in data[:complete].splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events, offset + complete


def _fixture_covers(fixture_id: str, test_id: str) -> bool:
    scope = fixture_id.rsplit(".", 1)[0]  # "mod.Class" or "mod"
    return test_id.startswith(scope + ".")


_LIVE: set[subprocess.Popen] = set()  # children running now, for Ctrl-C


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_module(module: str, loop: str, exclude: list[str], opts, workdir: Path) -> ModuleRun:
    run = ModuleRun(module, loop)
    events_path = workdir / f"{module}.events.jsonl"
    crash_path = workdir / f"{module}.faulthandler.txt"
    config_path = workdir / f"{module}.config.json"
    log_path = workdir / f"{module}.log"
    # Tests write scratch files (test.support's TESTFN) into the current
    # directory, as under regrtest: give each module its own.
    scratch = workdir / f"{module}.cwd"
    scratch.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    events_path.write_text("")
    log = open(log_path, "w")
    started = time.monotonic()
    deadline = started + opts.module_timeout
    planned: list[str] | None = None
    fixtures: list[dict] = []
    offset = 0
    ended_early = ""
    while True:
        config = {
            "module": module,
            "loop": loop,
            "events": str(events_path),
            "faulthandler": str(crash_path),
            "exclude": exclude,
            "skip": sorted(run.tests),
            "only": opts.only,
            "real_loops": not opts.keep_test_loop,
            "test_timeout": opts.test_timeout,
        }
        config_path.write_text(json.dumps(config))
        log.write(f"--- child start (restart {run.restarts})\n")
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cpython.child", str(config_path)],
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a kill takes its subprocesses too
        )
        _LIVE.add(proc)
        budget_exhausted = False
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            budget_exhausted = True
            _kill_group(proc)
        else:
            # leftovers of the tests (servers, subprocesses) must not outlive it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        finally:
            _LIVE.discard(proc)

        try:
            events, offset = _read_events(events_path, offset)
        except FileNotFoundError:
            events = []
            run.notes.append(f"{events_path} vanished during the run")
        open_test = None
        done = False
        for ev in events:
            kind = ev.pop("ev")
            if kind == "plan":
                if planned is None:
                    planned = ev["ids"]
                    run.excluded = ev["excluded"]
            elif kind == "start":
                open_test = ev["id"]
            elif kind == "result":
                run.tests[ev["id"]] = TestOutcome(**ev)
                open_test = None
            elif kind == "fixture":
                fixtures.append(ev)
            elif kind == "module_skipped":
                run.module_skipped = ev["reason"]
            elif kind == "done":
                done = True
        if done:
            break

        crash = crash_path.read_text(errors="replace") if crash_path.exists() else ""
        if budget_exhausted:
            what, why = "hang", f"module time budget of {opts.module_timeout}s exhausted"
        elif crash.lstrip().startswith("Timeout ("):
            what, why = "hang", f"no progress for {opts.test_timeout}s"
        else:
            what, why = "crash", f"child process died (exit status {proc.returncode})"
        detail = f"{why}\n{crash[:8000]}"
        if open_test is not None:
            run.tests[open_test] = TestOutcome(open_test, "error", [detail], kind=what)
        elif planned is None:
            run.tests[f"{module}.<import>"] = TestOutcome(
                f"{module}.<import>", "error", [detail], kind=what
            )
        else:
            run.tests[f"{module}.<fixture>"] = TestOutcome(
                f"{module}.<fixture>", "error", [detail], kind=what
            )
            ended_early = f"not run: the module's process ended early ({what} outside a test)"
            break
        if budget_exhausted:
            ended_early = f"not run: {why}"
            break
        if run.restarts >= MAX_RESTARTS:
            ended_early = f"not run: more than {MAX_RESTARTS} hangs or crashes in the module"
            break
        run.restarts += 1
    log.close()
    shutil.rmtree(scratch, ignore_errors=True)

    for ev in fixtures:
        if ev["outcome"] == "error" and not any(
            _fixture_covers(ev["id"], t) for t in (planned or []) if t not in run.tests
        ):
            # a tearDownClass/tearDownModule error: reported on its own
            run.tests[ev["id"]] = TestOutcome(ev["id"], "error", ev["details"])
    for test_id in planned or []:
        if test_id in run.tests:
            continue
        cause = next((f for f in fixtures if _fixture_covers(f["id"], test_id)), None)
        if cause is not None:
            outcome = "skipped" if cause["outcome"] == "skipped" else "error"
            details = [f"{cause['id']}: " + cause["details"][0]]
        else:
            outcome, details = "error", [ended_early or "not run: unknown reason"]
        run.tests[test_id] = TestOutcome(test_id, outcome, details)
    run.elapsed = round(time.monotonic() - started, 1)
    return run


def _evaluate(loop: str, ran: dict, minor: str):
    """Failures missing from the loop's expected-failures list, listed tests
    that passed, listed tests that did not run, and the list itself."""
    expected = {}
    if loop != STDLIB:
        entries = lists.for_version(lists.parse(expected_path(loop)), minor)
        expected = {e.test_id: e for e in entries}
    unexpected, fixed = [], []
    for module in sorted(ran):
        for t in sorted(ran[module].tests.values(), key=lambda t: t.id):
            if t.outcome in FAILING and t.id not in expected:
                unexpected.append(t)
            elif t.outcome == "passed" and t.id in expected and not expected[t.id].flaky:
                fixed.append(t)
    seen = {t for run in ran.values() for t in run.tests}
    stale = sorted(i for i in expected if i.split(".")[0] in ran and i not in seen)
    return unexpected, fixed, stale, expected


def _print_loop_notes(loop: str, ran: dict) -> None:
    tests = [t for r in ran.values() for t in r.tests.values()]
    no_loop = [t for t in tests if t.outcome == "passed" and not t.loops_under_test]
    # a stdlib loop other than the virtual-clock TestLoop in a test that never
    # made one of the loop under test: a place the adapters missed
    strays = sorted({(t.id, name) for t in tests if not t.loops_under_test
                     for name in t.stdlib_loops if name != "TestLoop"})
    if no_loop:
        print(f"note: {len(no_loop)} of the passing tests never created a {loop} loop "
              f"(virtual-clock TestLoop or no loop at all)")
    if strays:
        print(f"note: {len(strays)} tests ran on a stdlib loop instead of {loop}:")
        for test_id, name in strays[:10]:
            print(f"        {test_id}: {name}")


def _weight(module: str, previous: dict) -> float:
    # start the slow modules first so the pool ends together
    known = previous.get(module)
    if known is not None:
        return known
    return {"test_tasks": 60, "test_events": 60, "test_subprocess": 40}.get(module, 5)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tests.cpython", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--loop",
        default="both",
        help="asyncio, ferroloop, both (asyncio then ferroloop, the default), "
        "or any loop package with new_event_loop/Loop/EventLoopPolicy, e.g. uvloop; "
        "several may be given separated by commas",
    )
    p.add_argument("--modules", default="", help="comma-separated modules, e.g. tasks,test_events")
    p.add_argument("-k", dest="only", action="append", default=[],
                   help="run only tests whose id contains this string or matches this "
                   "*-pattern (repeatable); implies --no-report")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    p.add_argument("--update-expected", action="store_true",
                   help="rewrite the expected-failures list from this run's failures")
    p.add_argument("--test-timeout", type=float, default=60.0,
                   help="seconds one test may run before it counts as hung (default 60)")
    p.add_argument("--module-timeout", type=float, default=600.0,
                   help="seconds one module may run in all (default 600)")
    p.add_argument("--keep-test-loop", action="store_true",
                   help="leave every test that asks for CPython's virtual-clock TestLoop on it, "
                   "instead of giving those that never let time pass a real loop")
    p.add_argument("--no-report", action="store_true",
                   help="do not write results/<python-version>.md and .json")
    p.add_argument("-v", "--verbose", action="store_true", help="print every failure's traceback")
    return p.parse_args(argv)


def main(argv=None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    full_version, minor = python_version()
    loops_to_run = []
    for name in opts.loop.split(","):
        name = name.strip()
        loops_to_run += [STDLIB, DEFAULT_LOOP] if name == "both" else [name]
    for name in loops_to_run:
        if name != STDLIB:
            try:
                __import__(name)
            except ImportError as exc:
                print(f"cannot import the loop under test {name!r}: {exc}\n"
                      f"build it first (make build-release)", file=sys.stderr)
                return 2

    all_modules = discover_modules()
    if opts.modules:
        wanted = [m if m.startswith("test_") else f"test_{m}" for m in opts.modules.split(",") if m]
        unknown = sorted(set(wanted) - set(all_modules))
        if unknown:
            print(f"unknown modules: {', '.join(unknown)}", file=sys.stderr)
            return 2
        modules = [m for m in all_modules if m in wanted]
    else:
        modules = all_modules

    not_applicable = lists.for_version(lists.parse(NOT_APPLICABLE), minor)
    na_modules = {e.test_id: e.reason for e in not_applicable if "." not in e.test_id.strip("!")}
    na_prefixes = [e.test_id for e in not_applicable if "." in e.test_id]

    previous = report.load_json(RESULTS / f"{full_version}.json")
    jobs = []
    workdirs = {}
    for loop in loops_to_run:
        prev_times = {
            m: v.get("elapsed", 0)
            for m, v in previous.get("loops", {}).get(loop, {}).get("modules", {}).items()
        }
        # private to this run, so runs in parallel cannot trip over each other;
        # becomes results/tmp/<version>-<loop> when the run ends
        workdir = TMP / f"{full_version}-{loop}.run{os.getpid()}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        workdirs[loop] = workdir
        for m in modules:
            if m not in na_modules:
                jobs.append((loop, m, workdir, _weight(m, prev_times)))
    jobs.sort(key=lambda j: -j[3])

    print(f"Python {full_version}: {len(modules) - len(na_modules.keys() & set(modules))} modules "
          f"on {', '.join(loops_to_run)}, {opts.jobs} at a time")
    runs: dict[str, dict[str, ModuleRun]] = {loop: {} for loop in loops_to_run}
    lock = threading.Lock()
    t0 = time.monotonic()

    def work(job):
        loop, module, workdir, _ = job
        run = run_module(module, loop, na_prefixes, opts, workdir)
        with lock:
            runs[loop][module] = run
            counts = report.count(run, {})
            print(f"  [{loop:>9}] {module:<26} {report.counts_line(counts)}  ({run.elapsed:.0f}s"
                  f"{f', {run.restarts} restarts' if run.restarts else ''})", flush=True)
        return run

    stamps = {loop: _package_stamp(loop) for loop in loops_to_run}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs))
    try:
        for f in concurrent.futures.as_completed([pool.submit(work, j) for j in jobs]):
            f.result()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_LIVE):
            _kill_group(proc)
        raise
    pool.shutdown()
    print(f"finished in {time.monotonic() - t0:.0f}s")
    for loop, by_module in runs.items():
        full = {m: [dataclasses.asdict(t) for t in r.tests.values()] for m, r in by_module.items()}
        (workdirs[loop] / "results.json").write_text(json.dumps(full, indent=1))
        latest = TMP / f"{full_version}-{loop}"
        shutil.rmtree(latest, ignore_errors=True)
        try:
            workdirs[loop].rename(latest)
        except OSError:
            pass

    rebuilt = [loop for loop in loops_to_run if _package_stamp(loop) != stamps[loop]]
    if rebuilt:
        print(f"\nERROR: {', '.join(rebuilt)} was rebuilt while the tests ran; "
              "its results are not trustworthy (logs in results/tmp). Run again.", file=sys.stderr)
        return 3

    status = 0
    summaries = {}
    for loop in loops_to_run:
        listed_path = expected_path(loop)
        ran = runs[loop]
        unexpected, fixed, stale, expected = _evaluate(loop, ran, minor)
        print(f"\n== {loop}: {report.counts_line(report.total(ran.values(), expected))}")
        for t in unexpected:
            print(f"FAIL    {t.id}: {t.summary}")
            if opts.verbose:
                for d in t.details:
                    print("        " + d.replace("\n", "\n        "))
        for t in fixed:
            print(f"FIXED   {t.id}  (listed in {listed_path.name}: remove the line)")
        if opts.verbose:
            for r in ran.values():
                for t in sorted(r.tests.values(), key=lambda t: t.id):
                    if t.outcome in FAILING and t.id in expected:
                        print(f"XFAIL   {t.id}: {t.summary}")
                        for d in t.details:
                            print("        " + d.replace("\n", "\n        "))
        for test_id in stale if not opts.only else ():
            print(f"STALE   {test_id}  (listed in {listed_path.name}, no such test ran)")
        if loop != STDLIB:
            _print_loop_notes(loop, ran)
        altered = sorted(t.id for r in ran.values() for t in r.tests.values() if t.env_changed)
        if altered:
            print(f"note: {len(altered)} tests left threads or child processes behind "
                  f"(test.support's environment_altered), e.g. {', '.join(altered[:3])}")

        if opts.update_expected and loop != STDLIB:
            failures = {t.id: "untriaged: " + t.summary for t in unexpected}
            failures.update(
                (t.id, expected[t.id].reason)
                for r in ran.values() for t in r.tests.values()
                if t.outcome in FAILING and t.id in expected
            )
            # a flaky entry stays until someone removes it by hand
            failures.update((i, e.reason) for i, e in expected.items()
                            if e.flaky and i.split(".")[0] in ran and i not in failures)
            entries = lists.regenerate(lists.parse(listed_path), minor, failures, set(ran))
            lists.write(listed_path, EXPECTED_HEADER, entries)
            print(f"wrote {listed_path.relative_to(ROOT)}: {len(failures)} failures "
                  f"in the modules run on {minor}")
            unexpected, fixed, stale, expected = _evaluate(loop, ran, minor)
        elif unexpected or (fixed and loop != STDLIB):
            status = 1
        summaries[loop] = (unexpected, fixed, stale, expected)

    if not opts.no_report and not opts.only:
        # the committed tables compare the stdlib loop and ferroloop only
        kept = {loop: r for loop, r in runs.items() if loop in (STDLIB, DEFAULT_LOOP)}
        path_md, path_json = report.write(RESULTS, full_version, kept, summaries, na_modules)
        print(f"\nwrote {path_md.relative_to(ROOT)} and {path_json.relative_to(ROOT)}")
    return status
