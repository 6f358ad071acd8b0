"""call_soon and the ready queue: order, passes, contexts, handles."""

import asyncio
import contextvars
import re

import pytest

from loophelpers import run_forever_bounded

var = contextvars.ContextVar("var", default="unset")

# Handle.get_context() is new in Python 3.12.
needs_get_context = pytest.mark.skipif(
    not hasattr(asyncio.Handle, "get_context"), reason="Handle.get_context is 3.12+"
)


def stop_after(loop, order, tag):
    def cb():
        order.append(tag)
        loop.stop()

    return cb


# ------------------------------------------------------------------ order and passes


def test_call_soon_fifo_with_args(loop):
    order = []
    for i in range(100):
        loop.call_soon(order.append, (i, "x"))
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == [(i, "x") for i in range(100)]


def test_call_soon_passes_positional_args(loop):
    got = []

    def cb(*args):
        got.append(args)

    loop.call_soon(cb)
    loop.call_soon(cb, 1)
    loop.call_soon(cb, 1, "two", None, [3])
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert got == [(), (1,), (1, "two", None, [3])]


def test_call_soon_many_callbacks_fifo(loop):
    order = []
    n = 20000
    for i in range(n):
        loop.call_soon(order.append, i)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == list(range(n))


def test_one_pass_runs_only_callbacks_ready_at_its_start(loop):
    order = []

    def a():
        order.append("a")
        loop.call_soon(c)  # goes to the next pass

    def b():
        order.append("b")

    def c():
        order.append("c")

    loop.call_soon(a)
    loop.call_soon(loop.stop)  # stop() in between proves where the pass ends
    loop.call_soon(b)
    run_forever_bounded(loop)
    assert order == ["a", "b"]
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == ["a", "b", "c"]


def test_chain_of_callbacks_one_per_pass(loop):
    """A callback that re-schedules itself runs once per pass, interleaved with others."""
    order = []

    def chain(n):
        order.append(("chain", n))
        if n < 3:
            loop.call_soon(chain, n + 1)

    def other(n):
        order.append(("other", n))
        if n < 3:
            loop.call_soon(other, n + 1)

    loop.call_soon(chain, 0)
    loop.call_soon(other, 0)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert order == [
        ("chain", 0), ("other", 0),
        ("chain", 1), ("other", 1),
        ("chain", 2), ("other", 2),
        ("chain", 3), ("other", 3),
    ]


def test_cancel_later_callback_in_same_pass(loop):
    order = []
    handles = {}

    def first():
        order.append("first")
        handles["second"].cancel()

    loop.call_soon(first)
    handles["second"] = loop.call_soon(order.append, "second")
    loop.call_soon(order.append, "third")
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == ["first", "third"]
    assert handles["second"].cancelled()


def test_cancelled_handle_never_runs(loop):
    order = []
    h = loop.call_soon(order.append, "cancelled")
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    h.cancel()  # twice is fine
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == []


def test_cancel_after_run_is_harmless(loop):
    order = []
    h = loop.call_soon(order.append, 1)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    h.cancel()
    assert h.cancelled()
    assert order == [1]


def test_call_soon_from_task_runs_after_current_step(loop):
    order = []

    async def main():
        loop.call_soon(order.append, "callback")
        order.append("task before await")
        await asyncio.sleep(0)
        order.append("task after await")

    loop.run_until_complete(main())
    assert order == ["task before await", "callback", "task after await"]


# ------------------------------------------------------------------ contexts


def test_default_context_is_copy_at_call_time(loop):
    seen = []

    def cb():
        seen.append(var.get())
        var.set("changed in callback")

    token = var.set("at schedule")
    try:
        loop.call_soon(cb)
        loop.call_soon(cb)
        var.set("after schedule")
        loop.call_soon(loop.stop)
        run_forever_bounded(loop)
        # Each callback had its own copy taken when call_soon was called.
        assert seen == ["at schedule", "at schedule"]
        # Changes made in the callback do not leak out.
        assert var.get() == "after schedule"
    finally:
        var.reset(token)


def test_explicit_context(loop):
    seen = []
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in ctx")

    def cb(tag):
        seen.append((tag, var.get()))
        var.set(f"set by {tag}")

    loop.call_soon(cb, "one", context=ctx)
    loop.call_soon(cb, "two", context=ctx)
    loop.call_soon(cb, "default")
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    # The same Context object is entered each time, so changes persist in it.
    assert seen == [("one", "in ctx"), ("two", "set by one"), ("default", "unset")]
    assert ctx[var] == "set by two"
    assert var.get() == "unset"


def test_context_none_means_copy(loop):
    seen = []
    token = var.set("outer")
    try:
        loop.call_soon(lambda: seen.append(var.get()), context=None)
        loop.call_soon(loop.stop)
        run_forever_bounded(loop)
    finally:
        var.reset(token)
    assert seen == ["outer"]


@needs_get_context
def test_handle_get_context(loop):
    ctx = contextvars.Context()
    h1 = loop.call_soon(lambda: None, context=ctx)
    h2 = loop.call_soon(lambda: None)
    assert h1.get_context() is ctx
    assert isinstance(h2.get_context(), contextvars.Context)
    assert h2.get_context() is not ctx
    h1.cancel()
    h2.cancel()


@needs_get_context
def test_handle_default_context_holds_values(loop):
    token = var.set("captured")
    try:
        h = loop.call_soon(lambda: None)
    finally:
        var.reset(token)
    assert h.get_context()[var] == "captured"
    h.cancel()


def test_context_entered_while_callback_runs_only(loop):
    """The context is left after the callback, even when it raises."""
    seen = []
    ctx = contextvars.Context()
    ctx.run(var.set, "inside")

    def check_outside():
        seen.append(var.get())
        loop.stop()

    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(check_outside)
    run_forever_bounded(loop)
    assert seen == ["inside", "unset"]


def test_callback_rescheduling_itself_in_same_context(loop):
    """A callback running in ctx schedules itself in ctx: entered one at a time, it works."""
    seen = []
    ctx = contextvars.Context()

    def cb(n):
        seen.append(n)
        if n < 3:
            loop.call_soon(cb, n + 1, context=ctx)
        else:
            loop.stop()

    loop.call_soon(cb, 0, context=ctx)
    run_forever_bounded(loop)
    assert seen == [0, 1, 2, 3]


# ------------------------------------------------------------------ handles and repr


def a_callback(*args):
    pass


def strip_locations(text):
    """Drop ' at file:line' and ' created at file:line' parts of a handle repr."""
    return re.sub(r"( created)? at \S+:\d+", "", text)


@pytest.mark.parametrize("debug", [False, True])
def test_handle_repr_like_asyncio(loop, ref_loop, debug):
    """Same shape as asyncio's repr on this Python (3.13 hides args unless debug)."""
    loop.set_debug(debug)
    ref_loop.set_debug(debug)
    h = loop.call_soon(a_callback, 1, "two")
    ref = ref_loop.call_soon(a_callback, 1, "two")
    r = repr(h)
    assert re.match(r"^<Handle a_callback\(.*\)( at \S+:\d+)?( created at \S+:\d+)?>$", r), r
    assert strip_locations(r) == strip_locations(repr(ref))
    h.cancel()
    ref.cancel()
    r = repr(h)
    assert re.match(r"^<Handle cancelled( .*)?>$", r), r
    # Debug mode keeps the callback in the repr of a cancelled handle.
    assert strip_locations(r) == strip_locations(repr(ref))
    if not debug:
        assert r == "<Handle cancelled>"


def test_handle_repr_no_args(loop):
    h = loop.call_soon(a_callback)
    assert re.match(r"^<Handle a_callback\(\)( at \S+:\d+)?>$", repr(h)), repr(h)
    h.cancel()


def test_handle_repr_builtin_callback(loop, ref_loop):
    """Both loops' reprs match the same patterns."""
    for lp in (ref_loop, loop):
        h = lp.call_soon(print)
        assert re.match(r"^<Handle print\(\)>$", repr(h)), repr(h)
        h.cancel()
        assert repr(h).startswith("<Handle cancelled")


def test_call_soon_returns_handle_like_object(loop):
    h = loop.call_soon(a_callback)
    names = ["cancel", "cancelled"]
    if hasattr(asyncio.Handle, "get_context"):
        names.append("get_context")
    for name in names:
        assert callable(getattr(h, name))
    assert h.cancelled() is False
    h.cancel()
    assert h.cancelled() is True


def test_call_soon_threadsafe_from_loop_thread(loop):
    order = []
    ctx = contextvars.Context()
    ctx.run(var.set, "ts")
    loop.call_soon(order.append, "soon")
    h = loop.call_soon_threadsafe(lambda: order.append(("ts", var.get())), context=ctx)
    if hasattr(asyncio.Handle, "get_context"):
        assert h.get_context() is ctx
    loop.call_soon_threadsafe(loop.stop)
    run_forever_bounded(loop)
    assert order == ["soon", ("ts", "ts")]


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_handle_cancel_releases_callback(loop, method):
    """A cancelled handle drops its callback and arguments (asyncio does so too)."""
    import gc
    import weakref

    class Payload:
        pass

    payload = Payload()
    ref = weakref.ref(payload)
    h = getattr(loop, method)(a_callback, payload)
    del payload
    h.cancel()
    gc.collect()
    assert ref() is None
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)


def test_callable_kinds(loop):
    import functools

    got = []

    class CallMe:
        def __call__(self, x):
            got.append(("object", x))

        def method(self, x):
            got.append(("method", x))

    obj = CallMe()
    loop.call_soon(obj, 1)
    loop.call_soon(obj.method, 2)
    loop.call_soon(functools.partial(got.append, ("partial", 3)))
    loop.call_soon(got.append, ("builtin", 4))
    loop.call_soon(lambda: got.append(("lambda", 5)))
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert got == [("object", 1), ("method", 2), ("partial", 3), ("builtin", 4), ("lambda", 5)]
