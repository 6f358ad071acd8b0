"""The exception handler family: what it receives, what the default one logs, what escapes."""

import asyncio
import gc
import logging
import re

import pytest

from loophelpers import run_forever_bounded


def strip_locations(text):
    return re.sub(r"( created)? at \S+:\d+", "", text)


def failing(tag):
    raise ValueError(f"failing {tag}")


# ------------------------------------------------------------------ set / get


def test_get_set_exception_handler(loop):
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None

    def handler(lp, context):
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


@pytest.mark.parametrize("bad", [42, "handler", object()])
def test_set_exception_handler_not_callable(loop, bad):
    before = loop.get_exception_handler()
    with pytest.raises(TypeError):
        loop.set_exception_handler(bad)
    assert loop.get_exception_handler() is before


# ------------------------------------------------------------------ failing callbacks


def test_failing_callback_context(loop, ref_loop, handler_calls):
    h = loop.call_soon(failing, 1)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)

    assert len(handler_calls.calls) == 1
    got_loop, ctx = handler_calls.calls[0]
    assert got_loop is loop
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["message"].startswith("Exception in callback ")
    assert isinstance(ctx["exception"], ValueError)
    assert str(ctx["exception"]) == "failing 1"
    assert ctx["handle"] is h

    # The same message as asyncio's, apart from source locations.
    ref_calls = []
    ref_loop.set_exception_handler(lambda lp, c: ref_calls.append(c))
    ref_loop.call_soon(failing, 1)
    ref_loop.call_soon(ref_loop.stop)
    run_forever_bounded(ref_loop)
    assert strip_locations(ctx["message"]) == strip_locations(ref_calls[0]["message"])


def test_failing_timer_context(loop, handler_calls):
    h = loop.call_later(0.01, failing, "timer")
    loop.call_later(0.02, loop.stop)
    run_forever_bounded(loop)
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["message"].startswith("Exception in callback ")
    assert ctx["handle"] is h
    assert str(ctx["exception"]) == "failing timer"


def test_failing_threadsafe_callback_context(loop, handler_calls):
    h = loop.call_soon_threadsafe(failing, "ts")
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert [set(c) for c in handler_calls.contexts] == [{"message", "exception", "handle"}]
    assert handler_calls.contexts[0]["handle"] is h


def test_loop_keeps_running_after_errors(loop, handler_calls):
    order = []
    for i in range(100):
        loop.call_soon(failing, i)
        loop.call_soon(order.append, i)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == list(range(100))
    assert [str(c["exception"]) for c in handler_calls.contexts] == [
        f"failing {i}" for i in range(100)
    ]
    # And it still runs coroutines.
    assert loop.run_until_complete(asyncio.sleep(0.001, "fine")) == "fine"


def test_failing_done_callback(loop, handler_calls):
    fut = loop.create_future()

    def bad_done(f):
        raise RuntimeError("in done callback")

    fut.add_done_callback(bad_done)
    fut.set_result(1)
    loop.run_until_complete(asyncio.sleep(0.001))
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert isinstance(ctx["exception"], RuntimeError)


def test_task_exception_never_retrieved(loop, handler_calls):
    async def fail():
        raise ValueError("never retrieved")

    task = loop.create_task(fail())
    loop.run_until_complete(asyncio.sleep(0.01))
    assert task.done()
    del task
    gc.collect()
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "future"}
    assert ctx["message"] == "Task exception was never retrieved"
    assert str(ctx["exception"]) == "never retrieved"
    assert isinstance(ctx["future"], asyncio.Task)


def test_future_exception_never_retrieved(loop, handler_calls):
    fut = loop.create_future()
    fut.set_exception(KeyError("lost"))
    del fut
    gc.collect()
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert ctx["message"] == "Future exception was never retrieved"
    assert isinstance(ctx["exception"], KeyError)


# ------------------------------------------------------------------ call_exception_handler


def test_call_exception_handler_passes_context(loop, handler_calls):
    ctx = {"message": "custom", "extra": 123}
    loop.call_exception_handler(ctx)
    assert handler_calls.calls == [(loop, ctx)]


def test_handler_that_raises_is_logged(loop, caplog):
    def bad_handler(lp, context):
        raise RuntimeError("handler broke")

    loop.set_exception_handler(bad_handler)
    caplog.set_level(logging.ERROR, logger="asyncio")
    order = []
    loop.call_soon(failing, "x")
    loop.call_soon(order.append, "still running")
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == ["still running"]
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "Unhandled error in exception handler" in records[0].getMessage()
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_handler_raising_keyboard_interrupt_propagates(loop):
    def kbd_handler(lp, context):
        raise KeyboardInterrupt

    loop.set_exception_handler(kbd_handler)
    loop.call_soon(failing, "x")
    with pytest.raises(KeyboardInterrupt):
        run_forever_bounded(loop)
    assert not loop.is_running()
    loop.set_exception_handler(None)
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


# ------------------------------------------------------------------ default handler


def test_default_handler_logs_failing_callback(loop, ref_loop, caplog):
    loop.set_exception_handler(None)
    caplog.set_level(logging.DEBUG, logger="asyncio")

    def messages_for(lp):
        caplog.clear()
        lp.call_soon(failing, "logged")
        lp.call_soon(lp.stop)
        run_forever_bounded(lp)
        recs = [r for r in caplog.records if r.name == "asyncio"]
        assert len(recs) == 1
        rec = recs[0]
        assert rec.levelno == logging.ERROR
        assert isinstance(rec.exc_info[1], ValueError)
        return rec.getMessage()

    got = messages_for(loop)
    ref = messages_for(ref_loop)
    assert got.startswith("Exception in callback ")
    # The first line names the callback like asyncio; further lines list context keys.
    assert strip_locations(got.splitlines()[0]) == strip_locations(ref.splitlines()[0])
    assert [line.split(":")[0] for line in got.splitlines()[1:]] == [
        line.split(":")[0] for line in ref.splitlines()[1:]
    ]


@pytest.mark.parametrize(
    "context",
    [
        {"message": "plain message"},
        {"message": "with extras", "alpha": 1, "beta": "two", "zeta": [3]},
        {},
        {"message": "with exception", "exception": ZeroDivisionError("zde")},
    ],
    ids=["plain", "extras", "empty", "exception"],
)
def test_default_exception_handler_like_asyncio(loop, ref_loop, caplog, context):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    out = {}
    for key, lp in (("ref", ref_loop), ("loop", loop)):
        caplog.clear()
        lp.default_exception_handler(dict(context))
        recs = [r for r in caplog.records if r.name == "asyncio"]
        assert len(recs) == 1
        rec = recs[0]
        exc = rec.exc_info[1] if rec.exc_info else None
        out[key] = (rec.levelno, rec.getMessage(), exc)
    assert out["loop"] == out["ref"]
    assert out["loop"][0] == logging.ERROR


def test_call_exception_handler_without_custom_uses_default(loop, caplog):
    loop.set_exception_handler(None)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.call_exception_handler({"message": "via call_exception_handler", "k": "v"})
    recs = [r for r in caplog.records if r.name == "asyncio"]
    assert len(recs) == 1
    assert recs[0].getMessage() == "via call_exception_handler\nk: 'v'"


# ------------------------------------------------------------------ what escapes the loop


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_from_callback_propagate(loop, exc_type):
    order = []

    def boom():
        raise exc_type()

    loop.call_soon(boom)
    loop.call_soon(order.append, "after")
    with pytest.raises(exc_type):
        run_forever_bounded(loop)
    assert order == []  # raised at once, before the rest of the pass
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None
    # The loop stays usable, and the rest of that pass runs next time.
    assert loop.run_until_complete(asyncio.sleep(0.001, "ok")) == "ok"
    assert order == ["after"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_from_task_propagate(loop, exc_type):
    async def main():
        await asyncio.sleep(0)
        raise exc_type()

    with pytest.raises(exc_type):
        loop.run_until_complete(main())
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0.001, "ok")) == "ok"


def test_base_exception_from_timer_propagates(loop):
    def boom():
        raise KeyboardInterrupt

    loop.call_later(0.01, boom)
    with pytest.raises(KeyboardInterrupt):
        run_forever_bounded(loop)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)


class CustomBaseException(BaseException):
    pass


@pytest.mark.parametrize(
    "exc_type", [CustomBaseException, asyncio.CancelledError, GeneratorExit]
)
def test_other_base_exceptions_go_to_handler(loop, handler_calls, exc_type):
    """Only KeyboardInterrupt and SystemExit escape; other BaseExceptions are handled."""
    order = []

    def boom():
        raise exc_type()

    loop.call_soon(boom)
    loop.call_soon(order.append, "after")
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert order == ["after"]
    assert [type(c["exception"]) for c in handler_calls.contexts] == [exc_type]


def test_context_left_when_callback_raises(loop, handler_calls):
    import contextvars

    var = contextvars.ContextVar("raising_ctx_var", default="outside")
    ctx = contextvars.Context()
    seen = []

    def raising():
        var.set("inside")
        raise ValueError("after set")

    loop.call_soon(raising, context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)
    assert seen == ["outside"]
    assert ctx[var] == "inside"
    assert len(handler_calls.contexts) == 1
