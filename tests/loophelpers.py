"""Small helpers shared by the loop tests (imported as ``loophelpers``)."""

import asyncio
import os
import sys

# Where the tests live, so child processes can import helpers from here.
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PY_VERSION = sys.version_info[:2]


def run(loop, coro, timeout=20.0):
    """run_until_complete with an upper bound on time."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def run_forever_bounded(loop, limit=10.0):
    """run_forever, with a safety timer that stops the loop after ``limit`` seconds.

    Fails when only the safety timer stopped the loop."""
    fired = []

    def guard():
        fired.append(True)
        loop.stop()

    handle = loop.call_later(limit, guard)
    try:
        loop.run_forever()
    finally:
        handle.cancel()
    assert not fired, f"run_forever was only stopped by the {limit} s safety timer"


def child_env(**extra):
    """Environment for a child Python: no inherited asyncio debug, tests importable."""
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)
    env.pop("PYTHONDEVMODE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [TESTS_DIR, env.get("PYTHONPATH", "")] if p
    )
    env.update(extra)
    return env

