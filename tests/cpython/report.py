"""The per-module tables: results/<python-version>.md and .json.

The JSON keeps, for each loop that ran, each module's counts and every test
that did not pass with a one-line reason. Runs of a subset of modules or of
one loop update only those rows; the markdown is rendered from the merged
JSON, the stdlib loop and the loop under test side by side.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path

STDLIB = "asyncio"
# Modules that need no networking, TLS, pipes or subprocesses: a failure here
# is a bug in the loop's core, whatever else is still missing.
CORE_MODULES = (
    "test_context", "test_eager_task_factory", "test_futures", "test_futures2", "test_locks",
    "test_pep492", "test_queues", "test_runners", "test_staggered", "test_taskgroups",
    "test_tasks", "test_threads", "test_timeouts", "test_waitfor",
)
COUNT_KEYS = ("passed", "failed", "error", "skipped", "xfail", "fixed", "na", "no_loop", "hang", "crash")


def load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def count(run, expected: dict) -> dict:
    c = dict.fromkeys(COUNT_KEYS, 0)
    c["na"] = len(run.excluded)
    for t in run.tests.values():
        listed = t.id in expected
        if t.outcome in ("failed", "error"):
            c["xfail" if listed else t.outcome] += 1
            if t.kind:
                c[t.kind] += 1
        elif t.outcome == "passed":
            c["passed"] += 1
            if listed and not expected[t.id].flaky:
                c["fixed"] += 1
            if run.loop != STDLIB and not t.loops_under_test:
                c["no_loop"] += 1
        else:
            c["skipped"] += 1
    return c


def total(runs, expected: dict) -> dict:
    c = dict.fromkeys(COUNT_KEYS, 0)
    for run in runs:
        for k, v in count(run, expected).items():
            c[k] += v
    return c


def counts_line(c: dict) -> str:
    parts = [f"{c['passed']} passed"]
    if c["failed"]:
        parts.append(f"{c['failed']} failed")
    if c["error"]:
        parts.append(f"{c['error']} errors")
    parts.append(f"{c['skipped']} skipped")
    if c["xfail"]:
        parts.append(f"{c['xfail']} expected failures")
    if c["fixed"]:
        parts.append(f"{c['fixed']} FIXED")
    if c["hang"] or c["crash"]:
        parts.append(f"({c['hang']} hangs, {c['crash']} crashes)")
    return ", ".join(parts)


def _describe_loop(loop: str) -> str:
    if loop == STDLIB:
        return "the stdlib loop"
    try:
        module = __import__(loop)
        version = getattr(module, "__version__", "")
    except ImportError:
        version = ""
    try:
        # the last commit that touched ferroloop itself, not this runner
        commit = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", "src", "crates", "python", "Cargo.toml"],
            cwd=Path(__file__).parent, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    if loop == "ferroloop" and commit:
        return f"ferroloop {version} at commit {commit}".replace("  ", " ")
    return f"{loop} {version}".strip()


def write(results_dir: Path, full_version: str, runs, summaries, na_modules):
    json_path = results_dir / f"{full_version}.json"
    md_path = results_dir / f"{full_version}.md"
    data = load_json(json_path)
    data["python"] = full_version
    data["platform"] = f"{platform.system()} {platform.machine()}"
    loops = data.setdefault("loops", {})
    today = datetime.date.today().isoformat()
    for loop, by_module in runs.items():
        expected = summaries[loop][3]
        entry = loops.setdefault(loop, {"modules": {}})
        entry["description"] = _describe_loop(loop)
        entry["date"] = today
        if loop != STDLIB:
            features: dict[str, int] = {}
            for e in expected.values():
                features[e.feature or "unclassified"] = features.get(e.feature or "unclassified", 0) + 1
            entry["expected_failures_by_feature"] = dict(sorted(features.items()))
        for module, run in by_module.items():
            problems = []
            for t in sorted(run.tests.values(), key=lambda t: t.id):
                fixed = t.outcome == "passed" and t.id in expected and not expected[t.id].flaky
                if t.outcome in ("failed", "error") or fixed:
                    problems.append({
                        "id": t.id,
                        "outcome": "fixed" if t.outcome == "passed" else t.outcome,
                        "kind": t.kind,
                        "expected": t.id in expected,
                        "summary": t.summary,
                        "reason": expected[t.id].reason if t.id in expected else "",
                    })
            entry["modules"][module] = {
                "counts": count(run, expected),
                "elapsed": run.elapsed,
                "restarts": run.restarts,
                "module_skipped": run.module_skipped,
                "problems": problems,
            }
    data["not_applicable_modules"] = dict(sorted(na_modules.items()))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    md_path.write_text(render(data))
    return md_path, json_path


def _cells(c: dict | None, under_test: bool) -> list[str]:
    if c is None:
        return ["", "", "", ""] + (["", ""] if under_test else [])
    cells = [str(c["passed"]), str(c["failed"] or ""), str(c["error"] or ""), str(c["skipped"] or "")]
    if under_test:
        cells[0] = f"{c['passed']}"
        cells.append(str(c["xfail"] or ""))
        cells.append(str(c["no_loop"] or ""))
    return cells


def render(data: dict) -> str:
    loops = data.get("loops", {})
    others = sorted(name for name in loops if name != STDLIB)
    order = ([STDLIB] if STDLIB in loops else []) + others
    version = data["python"]
    lines = [
        f"# CPython's test_asyncio on Python {version}",
        "",
        "Generated by `python -m tests.cpython` (see tests/cpython/README.md) on "
        f"{data.get('platform', '')}. Every module of the interpreter's own "
        "`test.test_asyncio` runs in its own process, once on each loop:",
        "",
    ]
    for loop in order:
        lines.append(f"- **{loop}**: {loops[loop].get('description', loop)}, run {loops[loop].get('date', '')}")
    lines += [
        "",
        "Failures and errors of a loop under test count only tests missing from its "
        "expected-failures list; listed tests that fail are under *expected failures*. "
        "Hangs and crashes count as errors. *No loop* counts passing tests that never "
        "created a loop of that kind (CPython's virtual-clock `TestLoop` tests of futures "
        "and tasks, or tests of plain classes); *not applicable* tests exercise the "
        "stdlib loop's private machinery (not_applicable.txt) and run on neither loop. "
        "The stdlib runs its event-loop test mixins once per selector and per child "
        "watcher; a loop under test runs them once.",
        "",
    ]
    header = ["module"]
    align = ["---"]
    for loop in order:
        under_test = loop != STDLIB
        names = ["passed", "failed", "errors", "skipped"]
        if under_test:
            names += ["expected failures", "no loop"]
        header += [f"{loop} {names[0]}"] + names[1:]
        align += ["--:"] * len(names)
    header.append("not applicable")
    align.append("--:")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(align) + "|")

    modules = sorted({m for loop in order for m in loops[loop].get("modules", {})}
                     | set(data.get("not_applicable_modules", {})))
    totals = {loop: dict.fromkeys(COUNT_KEYS, 0) for loop in order}
    na_total = 0
    for module in modules:
        na_reason = data.get("not_applicable_modules", {}).get(module)
        if na_reason:
            span = len(header) - 2
            lines.append(f"| {module} |" + " |" * span + " whole module |")
            continue
        row = [module]
        na = 0
        for loop in order:
            info = loops[loop].get("modules", {}).get(module)
            c = info["counts"] if info else None
            if info and info.get("module_skipped"):
                row += [f"skipped: {info['module_skipped']}"] + [""] * (len(_cells(None, loop != STDLIB)) - 1)
                continue
            row += _cells(c, loop != STDLIB)
            if c:
                for k in COUNT_KEYS:
                    totals[loop][k] += c[k]
                na = max(na, c["na"])
        na_total += na
        row.append(str(na or ""))
        lines.append("| " + " | ".join(row) + " |")
    row = ["**total**"]
    for loop in order:
        row += [f"**{x}**" if x else "" for x in _cells(totals[loop], loop != STDLIB)]
    row.append(f"**{na_total}**")
    lines.append("| " + " | ".join(row) + " |")

    for loop in others:
        info = loops[loop]
        lines += ["", f"## {loop}: why tests fail", ""]
        features = info.get("expected_failures_by_feature", {})
        if features:
            lines.append("Expected failures (expected_failures.txt) by the feature they wait for:")
            lines.append("")
            lines.append("| feature | tests |")
            lines.append("|---|--:|")
            for name, n in sorted(features.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"| {name} | {n} |")
        else:
            lines.append("No expected failures are listed.")
        bugs: dict[str, list[str]] = {}
        for m, mod in sorted(info.get("modules", {}).items()):
            for p in mod.get("problems", []):
                if m in CORE_MODULES or "[bug:" in p["reason"]:
                    bugs.setdefault(p["reason"] or p["summary"], []).append(p["id"])
        count = sum(len(v) for v in bugs.values())
        lines += ["", f"### Bugs: failures in the core modules and failures marked as bugs ({count})", ""]
        if bugs:
            lines.append("Futures, tasks, locks, queues, task groups, timeouts, wait_for, runners, "
                         "threads, contexts and coroutines need nothing but the loop's core.")
            lines.append("")
            for why, ids in sorted(bugs.items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(f"`{i}`" for i in ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
                lines.append(f"- {why} ({len(ids)}: {shown})")
        else:
            lines.append("None.")
        hangs = [p["id"] for mod in info.get("modules", {}).values() for p in mod.get("problems", [])
                 if p.get("kind") in ("hang", "crash")]
        if hangs:
            lines += ["", f"Tests that hung or crashed their process ({len(hangs)}): "
                      + ", ".join(f"`{h}`" for h in sorted(hangs)[:40])
                      + (" ..." if len(hangs) > 40 else "")]

    na_mods = data.get("not_applicable_modules", {})
    if na_mods:
        lines += ["", "## Not applicable modules", ""]
        for module, reason in na_mods.items():
            lines.append(f"- `{module}`: {reason}")
    return "\n".join(lines) + "\n"
