"""Debug mode: get/set_debug, slow callbacks, thread checks, PYTHONASYNCIODEBUG, -X dev."""

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time

import pytest

from loophelpers import child_env, run_forever_bounded


def test_set_get_debug(loop):
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_debug_seen_by_running_code(loop):
    loop.set_debug(True)

    async def main():
        return asyncio.get_running_loop().get_debug()

    assert loop.run_until_complete(main()) is True


def test_slow_callback_duration_default_and_settable(loop, ref_loop):
    assert loop.slow_callback_duration == ref_loop.slow_callback_duration == 0.1
    loop.slow_callback_duration = 0.25
    assert loop.slow_callback_duration == 0.25


def blocking(seconds):
    time.sleep(seconds)


def asyncio_records(caplog):
    return [r for r in caplog.records if r.name == "asyncio"]


def test_slow_callback_logged_in_debug(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.04
    loop.call_soon(blocking, 0.08)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    # (On a noisy machine another callback may also exceed the limit: look for ours.)
    recs = [r for r in asyncio_records(caplog) if "blocking" in r.getMessage()]
    assert len(recs) == 1, [r.getMessage() for r in asyncio_records(caplog)]
    msg = recs[0].getMessage()
    assert recs[0].levelno == logging.WARNING
    assert msg.startswith("Executing ")
    assert " took " in msg
    seconds = float(msg.rsplit(" took ", 1)[1].split()[0])
    assert 0.08 <= seconds + 0.0005 < 1.0


def test_slow_timer_and_task_step_logged_in_debug(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.04

    async def slow_step():
        time.sleep(0.08)

    loop.call_later(0.001, blocking, 0.08)
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.run_until_complete(slow_step())
    msgs = [r.getMessage() for r in asyncio_records(caplog) if " took " in r.getMessage()]
    assert all(m.startswith("Executing ") for m in msgs), msgs
    # The timer names its callback; a task step names the task (its coroutine), as in
    # asyncio's "Executing <Task ... coro=<slow_step() ...>> took ...".
    assert len([m for m in msgs if "blocking" in m]) == 1, msgs
    assert len([m for m in msgs if "slow_step" in m]) == 1, msgs


def test_fast_callbacks_not_logged(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.5
    for _ in range(10):
        loop.call_soon(blocking, 0)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert [r for r in asyncio_records(caplog) if "took" in r.getMessage()] == []


def test_slow_callback_not_logged_without_debug(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(False)
    loop.slow_callback_duration = 0.01
    loop.call_soon(blocking, 0.03)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert [r for r in asyncio_records(caplog) if "took" in r.getMessage()] == []


@pytest.mark.parametrize(
    "method", ["call_soon", "call_later", "call_at"]
)
def test_debug_non_threadsafe_call_from_other_thread(loop, method):
    loop.set_debug(True)
    errors = []
    ran = []
    args = {
        "call_soon": (ran.append, 1),
        "call_later": (0, ran.append, 1),
        "call_at": (0, ran.append, 1),
    }[method]

    def other_thread():
        try:
            getattr(loop, method)(*args)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=other_thread)
    loop.call_soon(thread.start)
    run_forever_bounded(loop)
    thread.join(10)
    assert len(errors) == 1
    assert ran == []


def test_debug_call_soon_from_other_thread_when_not_running(loop):
    """asyncio only checks the thread while the loop runs."""
    loop.set_debug(True)
    ran = []
    thread = threading.Thread(target=loop.call_soon, args=(ran.append, 1))
    thread.start()
    thread.join(10)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert ran == [1]


def test_runner_debug(loop_factory):
    async def main():
        return asyncio.get_running_loop().get_debug()

    with asyncio.Runner(debug=True, loop_factory=loop_factory) as runner:
        assert runner.run(main()) is True
    with asyncio.Runner(debug=False, loop_factory=loop_factory) as runner:
        assert runner.run(main()) is False


CHILD = """
import asyncio, json, sys
name = sys.argv[1]
if name == "asyncio":
    loop = asyncio.new_event_loop()
else:
    import ferroloop
    loop = ferroloop.new_event_loop()
before = loop.get_debug()
async def main():
    return asyncio.get_running_loop().get_debug()
inside = loop.run_until_complete(main())
loop.close()
print(json.dumps([before, inside]))
"""


@pytest.mark.parametrize(
    "env_extra, flags, expected",
    [
        ({}, [], False),
        ({"PYTHONASYNCIODEBUG": "1"}, [], True),
        ({}, ["-X", "dev"], True),
    ],
    ids=["default", "PYTHONASYNCIODEBUG", "dev-mode"],
)
def test_debug_from_environment(loop_name, env_extra, flags, expected):
    proc = subprocess.run(
        [sys.executable, *flags, "-c", CHILD, loop_name],
        env=child_env(**env_extra),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [expected, expected]


def test_coroutine_origin_tracking_like_asyncio(loop, ref_loop):
    """Debug mode turns on coroutine origin tracking while the loop runs, as asyncio does."""

    async def depth():
        return sys.get_coroutine_origin_tracking_depth()

    results = {}
    for key, lp in (("ref", ref_loop), ("loop", loop)):
        before = sys.get_coroutine_origin_tracking_depth()
        lp.set_debug(True)
        inside_debug = lp.run_until_complete(depth())
        after = sys.get_coroutine_origin_tracking_depth()
        lp.set_debug(False)
        inside_plain = lp.run_until_complete(depth())
        results[key] = (before, inside_debug, after, inside_plain)
    assert results["loop"] == results["ref"]
    assert results["ref"][1] > 0
