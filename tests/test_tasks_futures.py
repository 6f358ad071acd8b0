"""create_future / create_task give CPython's C Future and Task; the asyncio toolbox on top."""

import asyncio
import contextvars
import inspect
import re
import sys
import time

import _asyncio  # CPython's C Future and Task

import pytest

from loophelpers import run

var = contextvars.ContextVar("task_var", default="unset")

SLACK = 0.5


async def value_after(value, delay=0.0):
    await asyncio.sleep(delay)
    return value


async def raise_after(exc, delay=0.0):
    await asyncio.sleep(delay)
    raise exc


# ------------------------------------------------------------------ types


def test_create_future_is_c_future(loop):
    fut = loop.create_future()
    assert type(fut) is _asyncio.Future
    assert fut.get_loop() is loop
    assert not fut.done()
    fut.cancel()


def test_create_task_is_c_task(loop):
    coro = value_after(1)
    task = loop.create_task(coro)
    assert type(task) is _asyncio.Task
    assert task.get_loop() is loop
    assert task.get_coro() is coro
    assert loop.run_until_complete(task) == 1


def test_task_of_run_until_complete_is_c_task(loop):
    async def main():
        return type(asyncio.current_task())

    assert loop.run_until_complete(main()) is _asyncio.Task


def test_ensure_future_uses_loop(loop):
    task = asyncio.ensure_future(value_after(5), loop=loop)
    assert type(task) is _asyncio.Task
    assert task.get_loop() is loop
    assert loop.run_until_complete(task) == 5


# ------------------------------------------------------------------ names and contexts


def test_task_names(loop):
    named = loop.create_task(value_after(1), name="my-task")
    unnamed = loop.create_task(value_after(2))
    assert named.get_name() == "my-task"
    assert re.fullmatch(r"Task-\d+", unnamed.get_name()), unnamed.get_name()
    loop.run_until_complete(asyncio.gather(named, unnamed))
    assert named.result() == 1 and unnamed.result() == 2


def test_task_explicit_context(loop):
    ctx = contextvars.Context()
    ctx.run(var.set, "given")

    async def body():
        seen = var.get()
        var.set("set in task")
        await asyncio.sleep(0)
        return seen, var.get()

    task = loop.create_task(body(), context=ctx)
    if hasattr(task, "get_context"):  # 3.12+
        assert task.get_context() is ctx
    assert loop.run_until_complete(task) == ("given", "set in task")
    assert ctx[var] == "set in task"
    assert var.get() == "unset"


def test_task_default_context_is_copy(loop):
    async def body():
        seen = var.get()
        var.set("inside")
        return seen

    token = var.set("creator")
    try:
        task = loop.create_task(body())
        var.set("changed after create")
        assert loop.run_until_complete(task) == "creator"
        assert var.get() == "changed after create"
    finally:
        var.reset(token)


def test_context_flows_through_awaits(loop):
    async def child():
        await asyncio.sleep(0)
        return var.get()

    async def main():
        var.set("main value")
        return await child(), await loop.create_task(child())

    assert loop.run_until_complete(main()) == ("main value", "main value")


# ------------------------------------------------------------------ task factory


def recording_factory(log):
    def factory(lp, coro, **kwargs):
        log.append((lp, coro, dict(kwargs)))
        return asyncio.Task(coro, loop=lp, **kwargs)

    return factory


@pytest.mark.parametrize(
    "variant", ["plain", "name", "context", "name+context"]
)
def test_task_factory_gets_what_asyncio_passes(loop, ref_loop, variant):
    """The factory receives exactly the arguments asyncio's own loop gives it here."""
    ctx = contextvars.Context()
    kwargs = {
        "plain": {},
        "name": {"name": "n1"},
        "context": {"context": ctx},
        "name+context": {"name": "n2", "context": ctx},
    }[variant]

    results = {}
    for key, lp in (("ref", ref_loop), ("loop", loop)):
        log = []
        factory = recording_factory(log)
        lp.set_task_factory(factory)
        assert lp.get_task_factory() is factory
        coro = value_after(key)
        task = lp.create_task(coro, **kwargs)
        assert len(log) == 1
        got_loop, got_coro, got_kwargs = log[0]
        assert got_loop is lp
        assert got_coro is coro
        if "name" in kwargs:
            assert task.get_name() == kwargs["name"]
        assert lp.run_until_complete(task) == key
        results[key] = got_kwargs
        lp.set_task_factory(None)
        assert lp.get_task_factory() is None

    assert results["loop"].keys() == results["ref"].keys()
    for k, v in results["ref"].items():
        assert results["loop"][k] == v
    if "context" in results["ref"]:
        assert results["loop"]["context"] is ctx


def test_task_factory_result_is_returned(loop):
    made = []

    class MyTask(asyncio.Task):
        pass

    def factory(lp, coro, **kwargs):
        t = MyTask(coro, loop=lp, **kwargs)
        made.append(t)
        return t

    loop.set_task_factory(factory)
    task = loop.create_task(value_after(3))
    assert task is made[0] and isinstance(task, MyTask)
    assert loop.run_until_complete(task) == 3
    # run_until_complete on a coroutine goes through the factory too.
    assert loop.run_until_complete(value_after(4)) == 4
    assert len(made) == 2


def test_task_factory_must_be_callable(loop):
    with pytest.raises(TypeError):
        loop.set_task_factory(42)
    assert loop.get_task_factory() is None


def _create_task_takes_eager_start():
    sig = inspect.signature(asyncio.BaseEventLoop.create_task)
    return "eager_start" in sig.parameters or any(
        p.kind is p.VAR_KEYWORD for p in sig.parameters.values()
    )


@pytest.mark.skipif(
    not _create_task_takes_eager_start(),
    reason="create_task has no eager_start on this Python",
)
def test_create_task_eager_start(loop):
    order = []

    async def body():
        order.append("body")
        return "eager"

    async def main():
        t = loop.create_task(body(), eager_start=True)
        order.append("after create_task")
        return await t

    assert loop.run_until_complete(main()) == "eager"
    assert order == ["body", "after create_task"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is 3.12+")
def test_eager_task_factory(loop):
    order = []

    async def quick():
        order.append("quick body")
        return 7

    async def slow():
        order.append("slow start")
        await asyncio.sleep(0)
        order.append("slow end")
        return 8

    async def main():
        t1 = loop.create_task(quick())
        done_at_once = t1.done()
        t2 = loop.create_task(slow())
        order.append("created")
        return done_at_once, await t1, await t2

    loop.set_task_factory(asyncio.eager_task_factory)
    assert loop.run_until_complete(main()) == (True, 7, 8)
    assert order == ["quick body", "slow start", "created", "slow end"]


# ------------------------------------------------------------------ current_task / all_tasks


def test_current_task(loop):
    async def main():
        me = asyncio.current_task()
        assert asyncio.current_task(loop) is me
        child = loop.create_task(who_am_i())
        return me, await child, child

    async def who_am_i():
        return asyncio.current_task()

    main_task = loop.create_task(main())
    me, child_seen, child = loop.run_until_complete(main_task)
    assert me is main_task
    assert child_seen is child
    assert asyncio.current_task(loop) is None


def test_current_task_none_in_plain_callback(loop):
    seen = []

    def cb():
        seen.append(asyncio.current_task())
        loop.stop()

    loop.call_soon(cb)
    loop.run_forever()
    assert seen == [None]


def test_all_tasks(loop):
    async def main():
        sleepers = [loop.create_task(asyncio.sleep(10)) for _ in range(3)]
        await asyncio.sleep(0)
        tasks = asyncio.all_tasks()
        assert asyncio.all_tasks(loop) == tasks
        for s in sleepers:
            s.cancel()
        await asyncio.gather(*sleepers, return_exceptions=True)
        return tasks, set(sleepers), asyncio.current_task()

    tasks, sleepers, me = run(loop, main())
    assert sleepers <= tasks
    assert len(tasks) >= 4  # the three sleepers, main, and the run() wrapper
    assert asyncio.all_tasks(loop) == set()


# ------------------------------------------------------------------ cancellation


def test_cancel_sleeping_task(loop):
    events = []

    async def sleeper():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            events.append(("cancelled", exc.args))
            raise

    async def main():
        t = loop.create_task(sleeper())
        await asyncio.sleep(0.01)
        assert t.cancel("stop it")
        t0 = loop.time()
        with pytest.raises(asyncio.CancelledError):
            await t
        return loop.time() - t0, t

    elapsed, task = loop.run_until_complete(main())
    assert elapsed < SLACK
    assert task.cancelled()
    assert events == [("cancelled", ("stop it",))]


def test_cancel_message_reaches_run_until_complete(loop, ref_loop):
    def scenario(lp):
        t = lp.create_task(asyncio.sleep(10))
        lp.call_soon(t.cancel, "the message")
        with pytest.raises(asyncio.CancelledError) as info:
            lp.run_until_complete(t)
        return info.value.args

    assert scenario(loop) == scenario(ref_loop)


def test_cancel_done_task_returns_false(loop):
    t = loop.create_task(value_after(1))
    loop.run_until_complete(t)
    assert t.cancel() is False
    assert not t.cancelled()


def test_cancelling_and_uncancel(loop):
    async def main():
        t = loop.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        t.cancel()
        t.cancel()
        counts = [t.cancelling()]
        with pytest.raises(asyncio.CancelledError):
            await t
        return counts

    assert loop.run_until_complete(main()) == [2]


def test_task_suppressing_cancel(loop):
    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
            return "kept going"

    async def main():
        t = loop.create_task(stubborn())
        await asyncio.sleep(0)
        t.cancel()
        return await t

    assert loop.run_until_complete(main()) == "kept going"


def test_cancel_future_runs_callbacks(loop):
    seen = []
    fut = loop.create_future()
    fut.add_done_callback(lambda f: seen.append(f.cancelled()))
    fut.cancel(msg="m")
    assert seen == []  # callbacks are scheduled, not called at once
    loop.run_until_complete(asyncio.sleep(0))
    assert seen == [True]


# ------------------------------------------------------------------ futures


def test_future_done_callbacks_scheduled_in_order(loop):
    order = []
    fut = loop.create_future()
    for i in range(5):
        fut.add_done_callback(lambda f, i=i: order.append((i, f.result())))
    fut.set_result("r")
    assert order == []
    loop.run_until_complete(asyncio.sleep(0))
    assert order == [(i, "r") for i in range(5)]


def test_future_done_callback_context(loop):
    seen = []
    ctx = contextvars.Context()
    ctx.run(var.set, "cb ctx")
    fut = loop.create_future()
    fut.add_done_callback(lambda f: seen.append(var.get()), context=ctx)
    fut.add_done_callback(lambda f: seen.append(var.get()))
    fut.set_result(None)
    loop.run_until_complete(asyncio.sleep(0))
    assert seen == ["cb ctx", "unset"]


def test_future_set_result_twice(loop):
    fut = loop.create_future()
    fut.set_result(1)
    with pytest.raises(asyncio.InvalidStateError):
        fut.set_result(2)
    assert loop.run_until_complete(fut) == 1


def test_future_resolved_by_other_task(loop):
    async def setter(fut):
        await asyncio.sleep(0.02)
        fut.set_result("from setter")

    async def main():
        fut = loop.create_future()
        t = loop.create_task(setter(fut))
        t0 = loop.time()
        value = await fut
        await t
        return value, loop.time() - t0

    value, elapsed = run(loop, main())
    assert value == "from setter"
    assert 0.02 <= elapsed < 0.02 + SLACK


def test_wrap_future_from_executor(loop):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        cf = ex.submit(lambda: "threaded")

        async def main():
            return await asyncio.wrap_future(cf)

        assert run(loop, main()) == "threaded"


# ------------------------------------------------------------------ the asyncio toolbox


def test_gather_results_in_argument_order(loop):
    async def main():
        return await asyncio.gather(
            value_after("a", 0.03), value_after("b", 0.01), value_after("c", 0.02)
        )

    assert run(loop, main()) == ["a", "b", "c"]


def test_gather_propagates_first_exception(loop):
    async def main():
        t0 = loop.time()
        with pytest.raises(KeyError):
            await asyncio.gather(value_after(1, 0.2), raise_after(KeyError("x"), 0.01))
        return loop.time() - t0

    assert run(loop, main()) < 0.2


def test_gather_return_exceptions(loop):
    async def main():
        return await asyncio.gather(
            value_after(1), raise_after(ValueError("v")), return_exceptions=True
        )

    res = run(loop, main())
    assert res[0] == 1 and isinstance(res[1], ValueError)


def test_wait_for_timeout_cancels_inner(loop):
    async def main():
        inner = loop.create_task(asyncio.sleep(10))
        t0 = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(inner, 0.03)
        return loop.time() - t0, inner

    elapsed, inner = run(loop, main())
    assert 0.03 <= elapsed < 0.03 + SLACK
    assert inner.cancelled()


def test_wait_for_result_in_time(loop):
    async def main():
        return await asyncio.wait_for(value_after("quick", 0.01), 5)

    assert run(loop, main()) == "quick"


def test_shield(loop):
    async def main():
        inner = loop.create_task(value_after("survived", 0.05))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(inner), 0.01)
        assert not inner.cancelled()
        return await inner

    assert run(loop, main()) == "survived"


def test_sleep_result_and_zero(loop):
    async def main():
        order = []

        async def other():
            order.append("other")

        t = loop.create_task(other())
        order.append("before sleep(0)")
        await asyncio.sleep(0)
        order.append("after sleep(0)")
        await t
        return order, await asyncio.sleep(0.001, result="res")

    order, res = run(loop, main())
    assert order == ["before sleep(0)", "other", "after sleep(0)"]
    assert res == "res"


def test_asyncio_timeout(loop):
    async def main():
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.03):
                await asyncio.sleep(10)
        elapsed = loop.time() - t0
        async with asyncio.timeout(5) as cm:
            cm.reschedule(loop.time() + 10)
            await asyncio.sleep(0.01)
        async with asyncio.timeout_at(loop.time() + 5):
            await asyncio.sleep(0)
        return elapsed

    elapsed = run(loop, main())
    assert 0.03 <= elapsed < 0.03 + SLACK


def test_task_group_results(loop):
    async def main():
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(value_after(i, 0.01 * (5 - i))) for i in range(5)]
        return [t.result() for t in tasks]

    assert run(loop, main()) == list(range(5))


def test_task_group_failure_cancels_siblings(loop):
    cancelled = []

    async def sibling():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        t0 = loop.time()
        with pytest.raises(ExceptionGroup) as info:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sibling())
                tg.create_task(sibling())
                tg.create_task(raise_after(ValueError("tg"), 0.01))
        return info.value, loop.time() - t0

    group, elapsed = run(loop, main())
    assert [type(e) for e in group.exceptions] == [ValueError]
    assert cancelled == [True, True]
    assert elapsed < SLACK


def test_wait_first_completed(loop):
    async def main():
        fast = loop.create_task(value_after("fast", 0.01))
        slow = loop.create_task(value_after("slow", 10))
        done, pending = await asyncio.wait({fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
        return done == {fast}, pending == {slow}

    assert run(loop, main()) == (True, True)


def test_as_completed_order(loop):
    async def main():
        coros = [value_after(d, d) for d in (0.03, 0.01, 0.02)]
        return [await f for f in asyncio.as_completed(coros)]

    assert run(loop, main()) == [0.01, 0.02, 0.03]


def test_queue_event_lock(loop):
    async def main():
        q = asyncio.Queue()
        ev = asyncio.Event()
        lock = asyncio.Lock()
        got = []

        async def consumer():
            while True:
                item = await q.get()
                if item is None:
                    break
                async with lock:
                    got.append(item)
            ev.set()

        c = loop.create_task(consumer())
        for i in range(10):
            await q.put(i)
        await q.put(None)
        await asyncio.wait_for(ev.wait(), 5)
        await c
        return got

    assert run(loop, main()) == list(range(10))


def test_many_tasks(loop):
    async def main():
        tasks = [loop.create_task(value_after(i)) for i in range(5000)]
        return await asyncio.gather(*tasks)

    t0 = time.monotonic()
    assert run(loop, main()) == list(range(5000))
    assert time.monotonic() - t0 < 10
