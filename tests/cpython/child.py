"""Runs the tests of one test_asyncio module; started by the runner.

    python -m tests.cpython.child CONFIG.json

CONFIG holds: module (short name, e.g. "test_tasks"), loop ("asyncio",
"ferroloop", ...), events (path of the JSON-lines file to append to),
faulthandler (path for tracebacks), exclude (not-applicable id prefixes),
skip (ids already run by an earlier child that crashed or hung), only
(substrings or patterns: run just the matching tests),
test_timeout (seconds).

Every event is one flushed JSON line, so the runner knows which test was
running if this process dies:

    {"ev": "plan", "ids": [...], "excluded": [...]}
    {"ev": "start", "id": ...}
    {"ev": "result", "id": ..., "outcome": ..., "details": [...], ...}
    {"ev": "fixture", "id": "setUpClass (...)", "outcome": ..., "details": [...]}
    {"ev": "done"}

A test that runs longer than test_timeout makes faulthandler dump every
thread's stack and end the process (exit=True): an asyncio hang cannot be
interrupted from inside the loop.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import re
import sys
import time
import traceback
import unittest
import warnings

from test import support

from . import lists, loops

PACKAGE = "test.test_asyncio"
_MAX_DETAIL = 6000


def short_id(test_id: str) -> str:
    prefix = PACKAGE + "."
    return test_id[len(prefix):] if test_id.startswith(prefix) else test_id


class Events:
    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def emit(self, **event) -> None:
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def _format(err, test) -> str:
    exc_type, exc, tb = err
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL // 3] + "\n[...]\n" + text[-2 * _MAX_DETAIL // 3 :]
    return text


# Module globals some tests swap (test_events' GetEventLoopTestsMixin swaps
# the running-loop functions in setUp and restores them in tearDown, which
# does not run when setUp fails half-way). Restored after every test so one
# failure cannot break every later test of the process.
_SWAPPED_GLOBALS = ("_get_running_loop", "_set_running_loop", "get_running_loop", "get_event_loop")


def _snapshot():
    import asyncio
    import asyncio.events

    return [(m, n, getattr(m, n)) for m in (asyncio, asyncio.events) for n in _SWAPPED_GLOBALS]


class EventResult(unittest.TestResult):
    """Turns unittest's callbacks into one result event per test."""

    def __init__(self, events: Events, watchdog) -> None:
        super().__init__()
        self.events = events
        self.watchdog = watchdog
        self.current = None

    def startTest(self, test):
        super().startTest(test)
        test_id = short_id(test.id())
        self.current = {"id": test_id, "outcome": "passed", "details": []}
        self._t0 = time.monotonic()
        loops.counts.reset()
        support.environment_altered = False
        self._globals = _snapshot()
        self.events.emit(ev="start", id=test_id)
        self.watchdog()

    def _set(self, outcome: str, detail: str | None = None) -> None:
        cur = self.current
        # error beats failed beats everything else
        rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
        if rank.get(outcome, 0) >= rank.get(cur["outcome"], 0):
            cur["outcome"] = outcome
        if detail:
            cur["details"].append(detail)

    def _fixture(self, test, outcome, detail):
        # setUpClass / tearDownModule and friends: unittest reports them
        # through an _ErrorHolder described as "setUpClass (pkg.mod.Class)".
        description = getattr(test, "description", str(test))
        m = re.fullmatch(r"(\w+) \((.+)\)", description)
        test_id = f"{short_id(m.group(2))}.{m.group(1)}" if m else description
        self.events.emit(ev="fixture", id=test_id, outcome=outcome, details=[detail])

    def addError(self, test, err):
        super().addError(test, err)
        if self.current is None or not isinstance(test, unittest.TestCase):
            self._fixture(test, "error", _format(err, test))
        else:
            self._set("error", _format(err, test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set("failed", _format(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if not isinstance(test, unittest.TestCase):
            # a skipped class or module (setUpClass raising SkipTest)
            self._fixture(test, "skipped", reason)
        elif self.current is None:
            # Python 3.12+ skips a test of a skipped class without startTest
            self.events.emit(ev="result", id=short_id(test.id()), outcome="skipped",
                             details=[reason])
        else:
            self._set("skipped", reason)

    def addExpectedFailure(self, test, err):
        # marked @unittest.expectedFailure by CPython itself
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set("failed", "unexpected success of a test CPython marks expectedFailure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcome = "failed" if issubclass(err[0], test.failureException) else "error"
            detail = f"subtest {subtest._subDescription()}:\n" + _format(err, test)
            self._set(outcome, detail)

    def stopTest(self, test):
        super().stopTest(test)
        cur, self.current = self.current, None
        if cur is None:
            return
        for module, name, value in self._globals:
            setattr(module, name, value)
        cur["time"] = round(time.monotonic() - self._t0, 3)
        cur["loops_under_test"] = loops.counts.under_test
        cur["stdlib_loops"] = sorted(set(loops.counts.stdlib))
        # set by test.support when a test leaves threads or child processes
        # behind (threading_cleanup, reap_children), as regrtest reports it
        cur["env_changed"] = bool(support.environment_altered)
        self.events.emit(ev="result", **cur)
        self.watchdog()  # class and module fixtures run between tests


def _select(suite, exclude, skip, only):
    selected, excluded = [], []
    for test in _flatten(suite):
        test_id = short_id(test.id())
        if only and not any(p in test_id or lists.matches(p, test_id) for p in only):
            continue
        if lists.excluded(exclude, test_id):
            excluded.append(test_id)
        elif test_id not in skip:
            selected.append(test)
    return selected, excluded


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    events = Events(config["events"])
    crash_file = open(config["faulthandler"], "w")
    faulthandler.enable(file=crash_file, all_threads=True)

    def watchdog():
        faulthandler.dump_traceback_later(
            config["test_timeout"], exit=True, file=crash_file
        )

    support.verbose = 0
    setup = loops.install(config["loop"], config.get("real_loops", True))
    name = config["module"]
    watchdog()  # covers importing the module, too
    try:
        module = importlib.import_module(f"{PACKAGE}.{name}")
    except unittest.SkipTest as exc:
        events.emit(ev="module_skipped", reason=str(exc))
        events.emit(ev="done")
        return 0
    loops.adapt(module, name, setup)

    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    selected, excluded = _select(
        suite, config["exclude"], set(config["skip"]), config.get("only", [])
    )
    events.emit(
        ev="plan", ids=[short_id(t.id()) for t in selected], excluded=excluded
    )
    result = EventResult(events, watchdog)
    with warnings.catch_warnings():
        # what `python -m unittest` does when no -W option is given
        warnings.simplefilter("default")
        result.startTestRun()
        try:
            unittest.TestSuite(selected)(result)
        finally:
            result.stopTestRun()
    faulthandler.cancel_dump_traceback_later()
    events.emit(ev="done")
    return 0


if __name__ == "__main__":
    # Not sys.exit(): leftover non-daemon threads must not keep the process
    # alive after the last test, and the runner only reads the events file.
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    faulthandler.dump_traceback_later(30, exit=True)  # a stuck interpreter exit
    sys.exit(code)
