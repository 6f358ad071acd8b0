"""python -m demo: asyncio programs on ferroloop, side by side with asyncio.

Every script in demo/examples/ is an ordinary asyncio program. Each one runs in a
fresh process on every loop:

    asyncio     python script.py
    ferroloop   python -m ferroloop script.py
    uvloop      python -c <set uvloop's policy, run script.py>   (only when installed)

For each example the demo prints its output once, the wall time on each loop and
whether each loop printed the same lines as asyncio. Numbers with a decimal point
(the timings the scripts print) are ignored when comparing; whole numbers are not,
so "took about 2 s" must agree. A summary table closes the run.

Delays are multiplied by DEMO_SCALE (default 0.6 here; 1.0 = the original delays).
Exit status: 0 when every example ran on asyncio and on ferroloop, really on
ferroloop's loop, with the same output; 1 otherwise; 2 when ferroloop cannot be
imported. uvloop is there for reference and does not change the exit status.

    python -m demo [--scale S] [--loops asyncio,ferroloop,uvloop] [--timeout S] [NAME ...]
"""

import argparse
import ast
import difflib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
PROBE = HERE / "_probe"  # its sitecustomize reports which loop class ran a script
DEFAULT_SCALE = "0.6"
ALL_LOOPS = ("asyncio", "ferroloop", "uvloop")
SHOWN_LINES = 16  # the compact view shows at most this many output lines

# Runs a script the way `python script.py` would, with uvloop's policy installed
# first, so asyncio.run() and asyncio.new_event_loop() both give a uvloop loop.
UVLOOP_RUNNER = """\
import asyncio, os, runpy, sys, warnings
import uvloop
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""

COLOUR = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text, style):
    codes = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}
    return f"\033[{codes[style]}m{text}\033[0m" if COLOUR else text


def say(text=""):
    print(text, flush=True)


@dataclass
class Run:
    loop: str
    seconds: float
    returncode: int | None  # None when it timed out
    stdout: str
    stderr: str
    loop_classes: list

    @property
    def ok(self):
        return self.returncode == 0


@dataclass
class Verdict:
    word: str  # what the report shows
    good: bool


def command(loop, script):
    if loop == "asyncio":
        return [sys.executable, str(script)]
    if loop == "ferroloop":
        return [sys.executable, "-m", "ferroloop", str(script)]
    return [sys.executable, "-c", UVLOOP_RUNNER, str(script)]


def as_text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def run_example(loop, script, env, timeout):
    """Run one script on one loop in a fresh process; time it from outside."""
    fd, report = tempfile.mkstemp(prefix="ferroloop-demo-")
    os.close(fd)
    env = dict(env, DEMO_LOOP_REPORT=report)
    start = time.perf_counter()
    try:
        proc = subprocess.run(command(loop, script), env=env, capture_output=True, text=True, timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, as_text(exc.stdout), as_text(exc.stderr)
    seconds = time.perf_counter() - start
    classes = Path(report).read_text().split()
    os.unlink(report)
    return Run(loop, seconds, code, out, err, classes)


def normalise(line):
    """The line without what changes from run to run: timings and addresses."""
    line = re.sub(r"\d+\.\d+", "#", line)
    return re.sub(r"0x[0-9a-fA-F]+", "0x#", line).rstrip()


def same_output(a, b):
    return [normalise(x) for x in a.splitlines()] == [normalise(x) for x in b.splitlines()]


def judge(run, reference):
    """Compare one loop's run with asyncio's."""
    if run.returncode is None:
        return Verdict("TIMED OUT", False)
    if not run.ok:
        return Verdict(f"FAILED (exit {run.returncode})", False)
    if not any(name.split(".")[0] == run.loop for name in run.loop_classes):
        return Verdict("ran on another loop", False)
    if not reference.ok:
        return Verdict("ran (asyncio failed)", True)
    if not same_output(reference.stdout, run.stdout):
        return Verdict("DIFFERENT output", False)
    return Verdict("same output", True)


def describe(script):
    """The first paragraph of a script's docstring, as lines."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return doc.split("\n\n")[0].splitlines()


def compact(lines, limit=SHOWN_LINES):
    if len(lines) <= limit:
        return lines
    head = limit - 4
    return lines[:head] + [f"... {len(lines) - head - 3} more lines ..."] + lines[-3:]


def show_difference(reference, run, limit=20):
    """The lines where a run's output differs from asyncio's (timings ignored)."""
    ref_lines, run_lines = reference.stdout.splitlines(), run.stdout.splitlines()
    matcher = difflib.SequenceMatcher(
        None, [normalise(x) for x in ref_lines], [normalise(x) for x in run_lines], autojunk=False
    )
    shown = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            shown += [paint(f"- {x}", "red") for x in ref_lines[i1:i2]]
            shown += [paint(f"+ {x}", "green") for x in run_lines[j1:j2]]
    say(f"      {run.loop} printed (- asyncio only, + {run.loop} only):")
    for line in compact(shown, limit):
        say(f"        {line}")


def show_failure(run, limit=10):
    say(f"      {run.loop} stderr (last lines):")
    for line in run.stderr.rstrip().splitlines()[-limit:] or ["(empty)"]:
        say(f"        {line}")


def introduce(script):
    """Print what an example is, before it runs."""
    letter, _, name = script.stem.partition("_")
    say(paint(f"({letter}) {name.replace('_', ' ')}", "bold") + paint(f"   examples/{script.name}", "dim"))
    for line in describe(script):
        say(f"    {line}")
    say()


def report_example(runs, timeout):
    """Print an example's output, then each loop's time and verdict."""
    reference = runs["asyncio"]
    for line in compact(reference.stdout.rstrip("\n").splitlines()) or ["(no output)"]:
        say(paint(f"    | {line}", "dim"))
    say()
    verdicts = {}
    for loop, run in runs.items():
        if loop == "asyncio":
            verdict = Verdict("reference" if run.ok else judge(run, run).word, run.ok)
        else:
            verdict = judge(run, reference)
        verdicts[loop] = verdict
        word = paint(f"{verdict.word:<20}", "green" if verdict.good else "red")
        classes = paint(", ".join(run.loop_classes), "dim")
        say(f"    {loop:<10} {run.seconds:6.2f} s  {word} {classes}")
        if run.returncode is None:
            say(f"      killed after {timeout:g} s (--timeout)")
        if not run.ok:
            show_failure(run)
        partial = run.ok or run.stdout.strip()  # a crash before any output needs no diff
        if loop != "asyncio" and reference.ok and partial and not same_output(reference.stdout, run.stdout):
            show_difference(reference, run)
    say()
    return verdicts


def summary(results, loops):
    """The closing table: example | seconds per loop | same output?"""
    names = [script.stem for script, _, _ in results]
    width = max([len("example"), len("total")] + [len(n) for n in names])
    head = f"{'example':<{width}}" + "".join(f"  {loop + ' s':>11}" for loop in loops) + "  same output?"
    say(paint(head, "bold"))
    say("-" * (len(head) + 6))
    totals = dict.fromkeys(loops, 0.0)
    for script, runs, verdicts in results:
        cells = ""
        for loop in loops:
            totals[loop] += runs[loop].seconds
            cells += f"  {runs[loop].seconds:11.2f}"
        others = [loop for loop in loops if loop != "asyncio"]
        if not verdicts["asyncio"].good:
            same = paint(f"asyncio: {verdicts['asyncio'].word}", "red")
        elif all(verdicts[loop].good for loop in others):
            same = paint("yes", "green")
        else:
            bad = [f"{loop}: {verdicts[loop].word}" for loop in others if not verdicts[loop].good]
            same = paint("; ".join(bad), "red")
        say(f"{script.stem:<{width}}{cells}  {same}")
    say("-" * (len(head) + 6))
    say(f"{'total':<{width}}" + "".join(f"  {totals[loop]:11.2f}" for loop in loops))


def pick_examples(wanted):
    scripts = sorted(EXAMPLES.glob("[a-z]_*.py"))
    if not wanted:
        return scripts
    return [s for s in scripts if any(w == s.stem[0] if len(w) == 1 else w in s.stem for w in wanted)]


def check_ferroloop():
    """None when `python -m ferroloop` can work here, else why not."""
    try:
        import ferroloop  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    if importlib.util.find_spec("ferroloop.__main__") is None:
        return "ferroloop is importable but has no __main__ module (python -m ferroloop)"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m demo", description="Run asyncio examples on asyncio, ferroloop and uvloop, side by side."
    )
    parser.add_argument("names", nargs="*", help="only these examples (a letter, or part of a file name)")
    parser.add_argument("--scale", help=f"delay multiplier, DEMO_SCALE (default {DEFAULT_SCALE}; 1.0 = original)")
    parser.add_argument("--loops", default=",".join(ALL_LOOPS), help="comma-separated loops (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run before it counts as hung")
    args = parser.parse_args(argv)

    scale = args.scale or os.environ.get("DEMO_SCALE") or DEFAULT_SCALE
    loops = ["asyncio"] + [x for x in args.loops.split(",") if x and x != "asyncio"]
    unknown = [x for x in loops if x not in ALL_LOOPS]
    if unknown:
        parser.error(f"unknown loop(s): {', '.join(unknown)}; choose from {', '.join(ALL_LOOPS)}")
    scripts = pick_examples(args.names)
    if not scripts:
        parser.error(f"no example matches {' '.join(args.names)}")

    if "ferroloop" in loops:
        problem = check_ferroloop()
        if problem:
            say(paint("ferroloop is not importable, so the demo cannot run on it.", "red"))
            say(f"  {sys.executable} -c 'import ferroloop' says: {problem}")
            say("  Build it first: `make build-release` (or `make demo`, which builds it),")
            say("  or run the examples without it: python -m demo --loops asyncio,uvloop")
            return 2
    notes = []
    if "uvloop" in loops and importlib.util.find_spec("uvloop") is None:
        loops.remove("uvloop")
        notes.append("uvloop is not installed, so it is skipped (pip install uvloop to include it)")

    env = dict(os.environ, DEMO_SCALE=scale)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROBE), os.environ.get("PYTHONPATH")]))
    env.pop("PYTHONSTARTUP", None)

    plural = "s" if len(scripts) > 1 else ""
    say(paint(f"ferroloop demo: {len(scripts)} asyncio example{plural}, each in a fresh process on {', '.join(loops)}", "bold"))
    say(f"python {sys.version.split()[0]} ({sys.executable}); DEMO_SCALE={scale} (1.0 = the original delays)")
    say("t=... in the output is in original seconds; outputs are compared with decimal numbers ignored")
    for note in notes:
        say(paint(note, "yellow"))
    say()

    results = []
    started = time.perf_counter()
    try:
        for script in scripts:
            introduce(script)
            runs = {loop: run_example(loop, script, env, args.timeout) for loop in loops}
            results.append((script, runs, report_example(runs, args.timeout)))
    except KeyboardInterrupt:
        say(paint("interrupted", "red"))
        if not results:
            return 130
    summary(results, loops)

    gate = [loop for loop in loops if loop in ("asyncio", "ferroloop")]
    failed = [script.stem for script, _, verdicts in results if not all(verdicts[loop].good for loop in gate)]
    say()
    elapsed = time.perf_counter() - started
    if len(results) < len(scripts):
        say(paint(f"stopped after {len(results)} of {len(scripts)} examples", "red"))
        return 130
    if failed:
        say(paint(f"{len(failed)} of {len(results)} examples failed on {' or '.join(gate)}: {', '.join(failed)}", "red"))
        return 1
    if "ferroloop" in loops:
        done = "ran on ferroloop with the same output as on asyncio"
    else:
        done = f"ran on {', '.join(loops)} (ferroloop left out)"
    say(paint(f"{len(results)} of {len(scripts)} examples {done} ({elapsed:.0f} s in all)", "green"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
