"""run_forever, run_until_complete, stop, close, is_running, is_closed, time."""

import asyncio
import gc
import os
import threading
import time

import pytest

from loophelpers import run_forever_bounded


async def add_later(a, b, delay=0.0):
    await asyncio.sleep(delay)
    return a + b


async def fail_later(exc, delay=0.0):
    await asyncio.sleep(delay)
    raise exc


# ------------------------------------------------------------------ basic state


def test_new_loop_state(loop):
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert not loop.is_running()
    assert not loop.is_closed()


def test_is_running_inside_and_outside(loop):
    seen = []

    def probe():
        seen.append(loop.is_running())
        loop.stop()

    loop.call_soon(probe)
    run_forever_bounded(loop)
    assert seen == [True]
    assert loop.is_running() is False


def test_close_sets_closed_and_is_idempotent(loop):
    loop.close()
    assert loop.is_closed()
    loop.close()  # a second close is allowed
    assert loop.is_closed()


def test_close_while_running_raises(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.call_soon(try_close)
    run_forever_bounded(loop)
    assert len(errors) == 1
    assert not loop.is_closed()


def test_time_is_monotonic_clock(loop):
    for _ in range(50):
        before = time.monotonic()
        t = loop.time()
        after = time.monotonic()
        assert isinstance(t, float)
        assert before - 0.001 <= t <= after + 0.001


def test_time_advances_like_monotonic(loop):
    t0 = loop.time()
    m0 = time.monotonic()
    time.sleep(0.05)
    t1 = loop.time()
    m1 = time.monotonic()
    assert abs((t1 - t0) - (m1 - m0)) < 0.001
    assert t1 - t0 >= 0.05


def test_running_loop_is_set_only_while_running(loop):
    seen = []

    async def main():
        seen.append(asyncio.get_running_loop())
        seen.append(asyncio._get_running_loop())

    assert asyncio._get_running_loop() is None
    loop.run_until_complete(main())
    assert seen == [loop, loop]
    assert asyncio._get_running_loop() is None
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_running_loop_seen_by_plain_callbacks(loop):
    seen = []

    def cb():
        seen.append(asyncio.get_running_loop())
        loop.stop()

    loop.call_soon(cb)
    run_forever_bounded(loop)
    assert seen == [loop]


# ------------------------------------------------------------------ run_until_complete


def test_run_until_complete_coroutine_result(loop):
    assert loop.run_until_complete(add_later(2, 3, 0.01)) == 5


def test_run_until_complete_future_result(loop):
    fut = loop.create_future()
    loop.call_later(0.01, fut.set_result, "done")
    assert loop.run_until_complete(fut) == "done"
    assert fut.done()


def test_run_until_complete_task_result(loop):
    task = loop.create_task(add_later(20, 22))
    assert loop.run_until_complete(task) == 42
    assert task.done() and task.result() == 42


def test_run_until_complete_awaitable_object(loop):
    class Awaitable:
        def __await__(self):
            return add_later(1, 1).__await__()

    assert loop.run_until_complete(Awaitable()) == 2


def test_run_until_complete_exception_propagates(loop):
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(fail_later(ValueError("boom"), 0.01))
    # The loop is usable afterwards.
    assert loop.run_until_complete(add_later(1, 2)) == 3


def test_run_until_complete_future_exception_propagates(loop):
    fut = loop.create_future()
    loop.call_soon(fut.set_exception, KeyError("k"))
    with pytest.raises(KeyError):
        loop.run_until_complete(fut)


def test_run_until_complete_cancelled_future(loop):
    fut = loop.create_future()
    loop.call_soon(fut.cancel)
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(fut)


def test_run_until_complete_returns_even_with_pending_callbacks(loop):
    order = []

    async def main():
        order.append("main")
        return "r"

    def again():
        order.append("again")
        loop.call_soon(again)

    loop.call_soon(again)
    assert loop.run_until_complete(main()) == "r"
    assert "main" in order
    assert not loop.is_running()


def test_run_until_complete_stopped_before_future_done(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError):
        loop.run_until_complete(fut)
    assert not fut.done()
    fut.cancel()


def test_run_until_complete_nested_raises(loop):
    errors = []

    async def inner():
        return 1

    async def outer():
        coro = inner()
        try:
            loop.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            coro.close()
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(exc)
        return "outer"

    assert loop.run_until_complete(outer()) == "outer"
    assert len(errors) == 2
    assert all("running" in str(e) for e in errors)


def test_run_other_loop_while_this_one_runs(loop, ref_loop):
    """Running another loop inside a running loop's callback is refused."""
    errors = []

    async def nested_on(other):
        coro = asyncio.sleep(0)
        try:
            other.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            coro.close()

    # ref_loop (asyncio) inside the loop under test, then the reverse.
    loop.run_until_complete(nested_on(ref_loop))
    ref_loop.run_until_complete(nested_on(loop))
    assert len(errors) == 2
    assert not loop.is_running() and not ref_loop.is_running()


def test_run_after_close_raises(loop):
    loop.close()
    with pytest.raises(RuntimeError):
        loop.run_forever()
    coro = add_later(1, 2)
    with pytest.raises(RuntimeError):
        loop.run_until_complete(coro)
    coro.close()


def test_run_until_complete_future_of_other_loop(loop, ref_loop):
    other = ref_loop.create_future()
    with pytest.raises(ValueError):
        loop.run_until_complete(other)


def test_loop_reusable_many_times(loop):
    for i in range(20):
        assert loop.run_until_complete(add_later(i, 1)) == i + 1


# ------------------------------------------------------------------ run_forever and stop


def test_stop_finishes_current_pass(loop):
    order = []

    def first():
        order.append("first")
        loop.call_soon(scheduled_in_pass)

    def scheduled_in_pass():
        order.append("scheduled_in_pass")

    def after_stop():
        order.append("after_stop")

    loop.call_soon(first)
    loop.call_soon(loop.stop)
    loop.call_soon(after_stop)  # ready when the pass began: still runs
    run_forever_bounded(loop)
    assert order == ["first", "after_stop"]

    # The callback scheduled during the pass runs in the next one.
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == ["first", "after_stop", "scheduled_in_pass"]


def test_stop_before_run_forever_runs_one_pass(loop):
    order = []

    def cb(n):
        order.append(n)
        loop.call_soon(cb, n + 1)

    loop.call_soon(cb, 0)
    loop.stop()
    t0 = time.monotonic()
    run_forever_bounded(loop)
    assert time.monotonic() - t0 < 1.0
    assert order == [0]
    loop.stop()
    run_forever_bounded(loop)
    assert order == [0, 1]


def test_stop_from_coroutine_and_restart(loop):
    count = []

    async def stopper():
        count.append(1)
        loop.stop()

    loop.create_task(stopper())
    run_forever_bounded(loop)
    loop.create_task(stopper())
    run_forever_bounded(loop)
    assert count == [1, 1]


def test_run_forever_runs_until_stop_timer(loop):
    loop.call_later(0.05, loop.stop)
    t0 = time.monotonic()
    run_forever_bounded(loop)
    elapsed = time.monotonic() - t0
    assert 0.05 <= elapsed < 1.0


def test_stop_twice_in_pass_is_harmless(loop):
    order = []
    loop.call_soon(loop.stop)
    loop.call_soon(loop.stop)
    loop.call_soon(order.append, 1)
    run_forever_bounded(loop)
    assert order == [1]
    loop.run_until_complete(asyncio.sleep(0))


def test_run_forever_after_stop_is_fresh(loop):
    """stop() is consumed by run_forever: the next run_forever is not stopped at once."""
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    loop.call_later(0.05, loop.stop)
    t0 = time.monotonic()
    run_forever_bounded(loop)
    assert time.monotonic() - t0 >= 0.05


# ------------------------------------------------------------------ resources


def open_fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_no_fd_leak_across_many_loops(loop_factory):
    before = open_fd_count()
    for _ in range(200):
        lp = loop_factory()
        lp.run_until_complete(asyncio.sleep(0))
        lp.close()
    assert open_fd_count() <= before


def test_unclosed_loop_warns(loop_factory):
    lp = loop_factory()
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        del lp
        gc.collect()


def test_run_while_running_in_other_thread(loop):
    started = threading.Event()
    errors = []

    def runner():
        loop.call_soon(started.set)
        run_forever_bounded(loop)

    thread = threading.Thread(target=runner)
    thread.start()
    try:
        assert started.wait(10)
        assert loop.is_running()
        coro = asyncio.sleep(0)
        try:
            loop.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            coro.close()
        # Last: on 3.13.0 asyncio's failed run_forever() resets the running state.
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(exc)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert len(errors) == 2
    assert not loop.is_running()


def test_idle_loop_does_not_burn_cpu(loop):
    """Waiting for a timer sleeps in the poll instead of spinning."""
    cpu0 = time.process_time()
    t0 = time.monotonic()
    loop.run_until_complete(asyncio.sleep(0.3))
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    assert wall >= 0.3
    assert cpu < 0.1, f"{cpu:.3f} s of CPU while idle for {wall:.3f} s"


def test_idle_run_forever_does_not_burn_cpu(loop):
    def stopper():
        time.sleep(0.3)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=stopper)
    cpu0 = time.process_time()
    thread.start()
    try:
        run_forever_bounded(loop)
    finally:
        thread.join(10)
    cpu = time.process_time() - cpu0
    assert cpu < 0.1, f"{cpu:.3f} s of CPU while idle"
