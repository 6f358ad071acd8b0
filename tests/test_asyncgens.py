"""Async generator hooks and shutdown_asyncgens."""

import asyncio
import gc
import sys

import pytest


def make_agen(log, tag="g", cleanup_awaits=False):
    async def agen():
        try:
            for i in range(10):
                yield i
        finally:
            if cleanup_awaits:
                await asyncio.sleep(0)
            log.append(("finally", tag))

    return agen()


def test_hooks_installed_only_while_running(loop):
    before = sys.get_asyncgen_hooks()
    seen = []

    async def main():
        seen.append(sys.get_asyncgen_hooks())

    loop.run_until_complete(main())
    assert seen[0].firstiter is not None
    assert seen[0].finalizer is not None
    assert seen[0] != before
    assert sys.get_asyncgen_hooks() == before


def test_previous_hooks_restored(loop):
    original = sys.get_asyncgen_hooks()

    def my_firstiter(agen):
        pass

    def my_finalizer(agen):
        pass

    sys.set_asyncgen_hooks(firstiter=my_firstiter, finalizer=my_finalizer)
    try:
        inside = []

        async def main():
            inside.append(sys.get_asyncgen_hooks())

        loop.run_until_complete(main())
        assert inside[0].firstiter is not my_firstiter
        assert sys.get_asyncgen_hooks() == (my_firstiter, my_finalizer)

        # Also restored when the loop exits with an exception.
        async def fail():
            raise ValueError

        with pytest.raises(ValueError):
            loop.run_until_complete(fail())
        assert sys.get_asyncgen_hooks() == (my_firstiter, my_finalizer)
    finally:
        sys.set_asyncgen_hooks(*original)


@pytest.mark.parametrize("cleanup_awaits", [False, True])
def test_shutdown_asyncgens_closes_suspended(loop, cleanup_awaits):
    log = []
    keep = []

    async def main():
        for tag in ("a", "b"):
            g = make_agen(log, tag, cleanup_awaits)
            keep.append(g)
            assert await g.__anext__() == 0

    loop.run_until_complete(main())
    assert log == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert sorted(log) == [("finally", "a"), ("finally", "b")]
    assert all(g.ag_frame is None for g in keep)  # really closed


def test_shutdown_asyncgens_skips_finished(loop):
    log = []

    async def main():
        g = make_agen(log, "done")
        async for _ in g:
            pass
        return g

    g = loop.run_until_complete(main())
    assert log == [("finally", "done")]
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert log == [("finally", "done")]
    del g


def test_collected_suspended_agen_is_closed_by_the_loop(loop):
    log = []

    async def main():
        g = make_agen(log, "collected", cleanup_awaits=True)
        assert await g.__anext__() == 0
        del g
        gc.collect()
        for _ in range(10):
            if log:
                break
            await asyncio.sleep(0.001)
        return log[:]

    assert loop.run_until_complete(main()) == [("finally", "collected")]


def test_firstiter_after_shutdown_warns(loop):
    log = []
    loop.run_until_complete(loop.shutdown_asyncgens())

    async def main():
        g = make_agen(log, "late")
        try:
            await g.__anext__()
        finally:
            await g.aclose()

    with pytest.warns(ResourceWarning, match="shutdown_asyncgens"):
        loop.run_until_complete(main())
    assert log == [("finally", "late")]


def test_shutdown_asyncgens_error_goes_to_handler(loop, handler_calls):
    async def bad_agen():
        try:
            yield 1
        finally:
            raise ZeroDivisionError("in aclose")

    keep = []

    async def main():
        g = bad_agen()
        keep.append(g)
        await g.__anext__()

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "asyncgen"}
    assert ctx["message"].startswith(
        "an error occurred during closing of asynchronous generator"
    )
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["asyncgen"] is keep[0]


def test_shutdown_asyncgens_nothing_to_do(loop):
    assert loop.run_until_complete(loop.shutdown_asyncgens()) is None


def test_async_for_and_comprehension(loop):
    async def gen(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main():
        return [x async for x in gen(20)]

    assert loop.run_until_complete(main()) == list(range(20))
