"""The basic asyncio examples, delays scaled down (1 s of the original becomes U seconds).

Each checks order, results and elapsed time; where events interleave, the recorded
sequence is compared with the same scenario run on asyncio's own loop.
"""

import asyncio
import time

import pytest

U = 0.1  # one "second" of the original examples
SLACK = 0.5  # generous upper bound on top of the expected time


def elapsed_since(t0):
    return time.monotonic() - t0


# ------------------------------------------------------------------ sum of delays vs max


async def say_after(delay, what, events):
    await asyncio.sleep(delay)
    events.append(what)
    return what


def test_awaited_coroutines_take_the_sum(loop):
    events = []

    async def main():
        await say_after(1 * U, "hello", events)
        await say_after(2 * U, "world", events)

    t0 = time.monotonic()
    loop.run_until_complete(main())
    elapsed = elapsed_since(t0)
    assert events == ["hello", "world"]
    assert 3 * U <= elapsed < 3 * U + SLACK


def test_tasks_take_the_max(loop):
    events = []

    async def main():
        t1 = asyncio.create_task(say_after(1 * U, "hello", events))
        t2 = asyncio.create_task(say_after(2 * U, "world", events))
        return await t1, await t2

    t0 = time.monotonic()
    assert loop.run_until_complete(main()) == ("hello", "world")
    elapsed = elapsed_since(t0)
    assert events == ["hello", "world"]
    assert 2 * U <= elapsed < 3 * U - 0.02  # the max, clearly below the sum


# ------------------------------------------------------------------ interleaving


def interleaving_scenario(lp):
    """Two 3-second tasks and a loop printing every second (offset by half a second so
    no two events are due at the same instant)."""
    events = []

    async def work(name):
        events.append(f"{name} start")
        await asyncio.sleep(3 * U)
        events.append(f"{name} end")
        return name

    async def ticker():
        await asyncio.sleep(0.5 * U)
        for i in range(4):
            events.append(f"tick {i}")
            await asyncio.sleep(U)

    async def main():
        t1 = asyncio.create_task(work("A"))
        t2 = asyncio.create_task(work("B"))
        await ticker()
        return await asyncio.gather(t1, t2)

    t0 = time.monotonic()
    result = lp.run_until_complete(main())
    return result, events, elapsed_since(t0)


def test_tasks_and_ticker_interleave_like_asyncio(loop, ref_loop):
    result, events, elapsed = interleaving_scenario(loop)
    ref_result, ref_events, _ = interleaving_scenario(ref_loop)
    assert result == ref_result == ["A", "B"]
    assert events == ref_events
    assert events.index("A end") > events.index("tick 2")
    assert 4.5 * U <= elapsed < 4.5 * U + SLACK


# ------------------------------------------------------------------ polling then cancelling


def test_long_task_polled_and_cancelled(loop):
    polls = []

    async def main():
        task = asyncio.create_task(asyncio.sleep(10 * U))
        for _ in range(20):  # bounded
            await asyncio.sleep(U)
            polls.append(task.done())
            if len(polls) == 5:
                task.cancel()
            if task.done():
                break
        return task

    t0 = time.monotonic()
    task = loop.run_until_complete(main())
    elapsed = elapsed_since(t0)
    assert task.cancelled()
    assert polls == [False] * 5 + [True]  # ends after six polls
    assert 6 * U <= elapsed < 6 * U + SLACK


# ------------------------------------------------------------------ wait_for and shield


def test_wait_for_timeout_cancels_the_task(loop):
    async def main():
        task = asyncio.create_task(say_after(2 * U, "late", []))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(task, timeout=1 * U)
        return task

    t0 = time.monotonic()
    task = loop.run_until_complete(main())
    elapsed = elapsed_since(t0)
    assert task.cancelled()
    assert 1 * U <= elapsed < 2 * U


def test_wait_for_through_shield_leaves_task_running(loop):
    events = []

    async def main():
        task = asyncio.create_task(say_after(2 * U, "result", events))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout=1 * U)
        timed_out_at = time.monotonic()
        assert not task.done()
        return await task, timed_out_at

    t0 = time.monotonic()
    result, timed_out_at = loop.run_until_complete(main())
    elapsed = elapsed_since(t0)
    assert result == "result" and events == ["result"]
    assert 1 * U <= timed_out_at - t0 < 2 * U
    assert 2 * U <= elapsed < 2 * U + SLACK


# ------------------------------------------------------------------ a future set by a task


def test_future_resolved_by_another_task(loop):
    async def set_after(fut, delay, value):
        await asyncio.sleep(delay)
        fut.set_result(value)

    async def main():
        fut = asyncio.get_running_loop().create_future()
        asyncio.create_task(set_after(fut, 1 * U, "... world"))
        return await fut

    t0 = time.monotonic()
    assert loop.run_until_complete(main()) == "... world"
    assert 1 * U <= elapsed_since(t0) < 1 * U + SLACK


# ------------------------------------------------------------------ gather


def test_gather_results_in_argument_order(loop):
    finished = []

    async def factorial(name, n):
        f = 1
        for i in range(2, n + 1):
            await asyncio.sleep(0.1 * U)
            f *= i
        finished.append(name)
        return f

    async def main():
        return await asyncio.gather(factorial("A", 4), factorial("B", 2), factorial("C", 3))

    t0 = time.monotonic()
    assert loop.run_until_complete(main()) == [24, 2, 6]
    assert finished == ["B", "C", "A"]
    assert elapsed_since(t0) < 0.3 * U + SLACK


def test_gather_propagates_first_exception(loop):
    async def fail(delay, exc):
        await asyncio.sleep(delay)
        raise exc

    async def main():
        slow = asyncio.create_task(say_after(2 * U, "slow", []))
        t0 = time.monotonic()
        with pytest.raises(ValueError, match="first"):
            await asyncio.gather(slow, fail(0.5 * U, ValueError("first")),
                                 fail(1 * U, KeyError("second")))
        raised_after = elapsed_since(t0)
        # gather does not cancel the others: the slow one still finishes.
        return raised_after, await slow

    raised_after, slow_result = loop.run_until_complete(main())
    assert 0.5 * U <= raised_after < 2 * U  # did not wait for the slow task
    assert slow_result == "slow"


# ------------------------------------------------------------------ blocking work in threads


def test_blocking_sleeps_in_executor_finish_together(loop):
    def blocking(n):
        time.sleep(2 * U)
        return n

    async def main():
        lp = asyncio.get_running_loop()
        return await asyncio.gather(*(lp.run_in_executor(None, blocking, i) for i in range(5)))

    t0 = time.monotonic()
    assert loop.run_until_complete(main()) == [0, 1, 2, 3, 4]
    elapsed = elapsed_since(t0)
    assert 2 * U <= elapsed < 2 * U + 0.25  # five in a row would take 10 U


# ------------------------------------------------------------------ background task set


def test_background_tasks_set_emptied_by_discard(loop):
    background = set()
    done_order = []

    async def job(i):
        await asyncio.sleep((5 - i) * 0.1 * U)
        done_order.append(i)
        return i

    async def main():
        for i in range(5):
            task = asyncio.create_task(job(i))
            background.add(task)
            task.add_done_callback(background.discard)
        assert len(background) == 5
        for _ in range(100):  # bounded wait until the set empties
            if not background:
                break
            await asyncio.sleep(0.1 * U)
        return len(background)

    assert loop.run_until_complete(main()) == 0
    assert done_order == [4, 3, 2, 1, 0]


# ------------------------------------------------------------------ compute / print_sum


def test_compute_print_sum_chain(loop):
    events = []

    async def compute(x, y):
        events.append(f"Compute {x} + {y} ...")
        await asyncio.sleep(1 * U)
        return x + y

    async def print_sum(x, y):
        result = await compute(x, y)
        events.append(f"{x} + {y} = {result}")
        return result

    t0 = time.monotonic()
    assert loop.run_until_complete(print_sum(1, 2)) == 3
    assert events == ["Compute 1 + 2 ...", "1 + 2 = 3"]
    assert 1 * U <= elapsed_since(t0) < 1 * U + SLACK
