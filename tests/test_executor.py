"""run_in_executor, set_default_executor, shutdown_default_executor, to_thread."""

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
import time

import pytest

from loophelpers import run

SLACK = 0.5
var = contextvars.ContextVar("exec_var", default="unset")


def blocking_sleep(seconds, value=None):
    time.sleep(seconds)
    return value


def test_run_in_executor_result(loop):
    async def main():
        fut = loop.run_in_executor(None, blocking_sleep, 0.01, "v")
        assert isinstance(fut, asyncio.Future)
        assert fut.get_loop() is loop
        return await fut

    assert run(loop, main()) == "v"


def test_run_in_executor_runs_in_other_thread(loop):
    async def main():
        return await loop.run_in_executor(None, threading.get_ident)

    assert run(loop, main()) != threading.get_ident()


def test_run_in_executor_exception(loop):
    def fail():
        raise LookupError("from thread")

    async def main():
        with pytest.raises(LookupError, match="from thread"):
            await loop.run_in_executor(None, fail)
        return "ok"

    assert run(loop, main()) == "ok"


def test_five_blocking_sleeps_run_together(loop):
    async def main():
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(loop.run_in_executor(None, blocking_sleep, 0.1, i) for i in range(5))
        )
        return results, time.monotonic() - t0

    results, elapsed = run(loop, main())
    assert results == list(range(5))
    assert 0.1 <= elapsed < 0.1 + SLACK - 0.1  # serial would take 0.5 s


def test_loop_stays_responsive_while_executor_works(loop):
    ticks = []

    async def ticker():
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def main():
        job = loop.run_in_executor(None, blocking_sleep, 0.15, "done")
        await ticker()
        return await job

    assert run(loop, main()) == "done"
    assert len(ticks) == 5
    assert ticks[-1] - ticks[0] < 0.15 + SLACK


def test_explicit_executor(loop):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:

        async def main():
            t0 = time.monotonic()
            await asyncio.gather(
                loop.run_in_executor(ex, blocking_sleep, 0.05),
                loop.run_in_executor(ex, blocking_sleep, 0.05),
            )
            return time.monotonic() - t0

        # One worker: the two jobs run one after the other.
        assert run(loop, main()) >= 0.1


def test_set_default_executor(loop):
    seen_names = []

    def name():
        seen_names.append(threading.current_thread().name)
        return threading.current_thread().name

    ex = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mine")
    try:
        loop.set_default_executor(ex)

        async def main():
            return await loop.run_in_executor(None, name)

        assert run(loop, main()).startswith("mine")
    finally:
        ex.shutdown(wait=True)


class NotAThreadPool(concurrent.futures.Executor):
    def submit(self, fn, *args, **kwargs):
        raise AssertionError("must not be used")


def test_set_default_executor_rejects_other_executors(loop, ref_loop):
    """asyncio 3.11-3.13 raises TypeError for anything but a ThreadPoolExecutor."""
    bad = NotAThreadPool()
    with pytest.raises(TypeError):
        ref_loop.set_default_executor(bad)
    with pytest.raises(TypeError):
        loop.set_default_executor(bad)
    with pytest.raises(TypeError):
        loop.set_default_executor("executor")


def test_shutdown_default_executor_waits_for_jobs(loop):
    finished = threading.Event()

    def job():
        time.sleep(0.05)
        finished.set()

    async def main():
        loop.run_in_executor(None, job)
        await asyncio.sleep(0)
        await loop.shutdown_default_executor()
        return finished.is_set()

    assert run(loop, main()) is True


def test_shutdown_default_executor_then_run_in_executor_fails(loop):
    async def main():
        await loop.run_in_executor(None, blocking_sleep, 0)
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError):
            loop.run_in_executor(None, blocking_sleep, 0)
        # An explicit executor still works.
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return await loop.run_in_executor(ex, blocking_sleep, 0, "explicit")

    assert run(loop, main()) == "explicit"


def test_shutdown_default_executor_never_used(loop):
    async def main():
        await loop.shutdown_default_executor()
        return "ok"

    assert run(loop, main()) == "ok"


@pytest.mark.skipif(
    "timeout" not in inspect.signature(asyncio.BaseEventLoop.shutdown_default_executor).parameters,
    reason="shutdown_default_executor(timeout=) is 3.12+",
)
def test_shutdown_default_executor_timeout_param(loop):
    async def main():
        job = loop.run_in_executor(None, blocking_sleep, 0.05, "job")
        await asyncio.sleep(0)
        t0 = time.monotonic()
        await loop.shutdown_default_executor(timeout=5)
        return await job, time.monotonic() - t0

    value, elapsed = run(loop, main())
    assert value == "job"
    assert elapsed < 5


def test_run_in_executor_after_close(loop):
    loop.close()
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, blocking_sleep, 0)


def test_to_thread_copies_context(loop):
    async def main():
        var.set("copied to thread")
        return await asyncio.to_thread(var.get)

    assert run(loop, main()) == "copied to thread"


def test_many_executor_jobs(loop):
    async def main():
        futs = [loop.run_in_executor(None, pow, i, 2) for i in range(500)]
        return await asyncio.gather(*futs)

    assert run(loop, main()) == [i * i for i in range(500)]


def test_cancel_executor_future(loop):
    release = threading.Event()

    async def main():
        fut = loop.run_in_executor(None, release.wait, 5)
        await asyncio.sleep(0.01)
        fut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fut
        release.set()
        return fut.cancelled()

    try:
        assert run(loop, main()) is True
    finally:
        release.set()
