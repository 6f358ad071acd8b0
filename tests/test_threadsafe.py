"""call_soon_threadsafe from other threads: nothing lost, order per thread, prompt wake-up."""

import asyncio
import contextvars
import threading
import time

from loophelpers import run, run_forever_bounded

var = contextvars.ContextVar("ts_var", default="unset")


def test_eight_threads_nothing_lost_order_kept(loop):
    n_threads = 8
    per_thread = 5000
    total = n_threads * per_thread
    received = {t: [] for t in range(n_threads)}
    count = [0]
    done = loop.create_future()
    barrier = threading.Barrier(n_threads)

    def record(tid, i):
        received[tid].append(i)
        count[0] += 1
        if count[0] == total and not done.done():
            done.set_result(None)

    def producer(tid):
        barrier.wait(timeout=10)
        for i in range(per_thread):
            loop.call_soon_threadsafe(record, tid, i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]

    async def main():
        for t in threads:
            t.start()
        await asyncio.wait_for(done, 30)

    t0 = time.monotonic()
    try:
        loop.run_until_complete(main())
    finally:
        for t in threads:
            t.join(10)
    assert time.monotonic() - t0 < 30
    assert count[0] == total
    for tid in range(n_threads):
        assert received[tid] == list(range(per_thread)), f"thread {tid} out of order"


def test_threads_call_while_loop_not_running(loop):
    """Callbacks queued from threads before the loop runs are kept for the next run."""
    got = []

    def producer(tid):
        for i in range(100):
            loop.call_soon_threadsafe(got.append, (tid, i))

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    # Everything queued before the stop callback has run (threads were joined first).
    assert sorted(got) == sorted((t, i) for t in range(4) for i in range(100))
    for tid in range(4):
        assert [i for t, i in got if t == tid] == list(range(100))


def test_wakes_from_long_poll_promptly(loop):
    """The loop sleeps in the poll (only a 30 s timer pending); a thread wakes it."""
    latencies = []
    loop.call_later(30, lambda: None)  # keeps the poll long

    def cb(sent):
        latencies.append(time.monotonic() - sent)
        if len(latencies) == 5:
            loop.stop()

    def producer():
        for _ in range(5):
            time.sleep(0.05)  # by now the loop is blocked in its poll
            loop.call_soon_threadsafe(cb, time.monotonic())

    thread = threading.Thread(target=producer)
    loop.call_soon(thread.start)
    t0 = time.monotonic()
    run_forever_bounded(loop)
    thread.join(10)
    assert time.monotonic() - t0 < 5
    assert len(latencies) == 5
    # Generous for a noisy 2-core machine; a loop that never wakes would wait 30 s.
    assert max(latencies) < 0.25, latencies
    assert sorted(latencies)[2] < 0.05, latencies


def test_wakes_from_poll_with_no_timers(loop):
    def producer():
        time.sleep(0.1)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=producer)
    t0 = time.monotonic()
    thread.start()
    try:
        run_forever_bounded(loop)
    finally:
        thread.join(10)
    assert 0.1 <= time.monotonic() - t0 < 0.6


def test_threadsafe_context(loop):
    seen = []
    ctx = contextvars.Context()
    ctx.run(var.set, "from thread ctx")

    def producer():
        loop.call_soon_threadsafe(lambda: seen.append(var.get()), context=ctx)
        token = var.set("thread default")
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        var.reset(token)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=producer)
    loop.call_soon(thread.start)
    run_forever_bounded(loop)
    thread.join(10)
    # The default context is a copy of the calling thread's context.
    assert seen == ["from thread ctx", "thread default"]


def test_threadsafe_handle_cancel_from_thread(loop):
    order = []
    handles = []
    ready = threading.Event()

    def producer():
        handles.append(loop.call_soon_threadsafe(order.append, "cancelled"))
        handles[0].cancel()
        loop.call_soon_threadsafe(order.append, "kept")
        loop.call_soon_threadsafe(loop.stop)
        ready.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert ready.wait(10)
    run_forever_bounded(loop)
    thread.join(10)
    assert order == ["kept"]
    assert handles[0].cancelled()


def test_future_resolved_from_thread(loop):
    async def main():
        fut = loop.create_future()

        def worker():
            time.sleep(0.02)
            loop.call_soon_threadsafe(fut.set_result, threading.get_ident())

        t = threading.Thread(target=worker)
        t.start()
        try:
            return await asyncio.wait_for(fut, 10), t.ident
        finally:
            t.join(10)

    got, ident = run(loop, main())
    assert got == ident


def test_run_coroutine_threadsafe(loop):
    results = []

    async def double(x):
        await asyncio.sleep(0.001)
        assert asyncio.get_running_loop() is loop
        return 2 * x

    def worker():
        futs = [asyncio.run_coroutine_threadsafe(double(i), loop) for i in range(50)]
        results.extend(f.result(10) for f in futs)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=worker)
    loop.call_soon(thread.start)
    run_forever_bounded(loop)
    thread.join(10)
    assert results == [2 * i for i in range(50)]


def test_callbacks_run_on_loop_thread(loop):
    idents = []

    def producer():
        for _ in range(10):
            loop.call_soon_threadsafe(lambda: idents.append(threading.get_ident()))
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=producer)
    loop.call_soon(thread.start)
    run_forever_bounded(loop)
    thread.join(10)
    assert idents == [threading.get_ident()] * 10


def test_loop_running_in_other_thread(loop):
    """The loop runs in a worker thread; the main thread feeds it."""
    got = []
    started = threading.Event()

    def runner():
        asyncio.set_event_loop(None)
        loop.call_soon(started.set)
        run_forever_bounded(loop)

    thread = threading.Thread(target=runner)
    thread.start()
    try:
        assert started.wait(10)
        fut = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01, "slept"), loop)
        got.append(fut.result(10))
        for i in range(100):
            loop.call_soon_threadsafe(got.append, i)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert not thread.is_alive()
    assert got == ["slept"] + list(range(100))
