"""Bad arguments are refused at call time with asyncio's exception types.

The one deliberate difference: ferroloop always refuses a non-callable callback with
TypeError, while asyncio checks it only in debug mode (without debug it accepts the call
and fails later, inside the loop).
"""

import asyncio
import signal
import socket

import pytest

from loophelpers import run_forever_bounded

SCHEDULERS = ["call_soon", "call_soon_threadsafe", "call_later", "call_at"]


def schedule(loop, method, callback, *args):
    if method in ("call_later", "call_at"):
        when = 10 if method == "call_later" else loop.time() + 10
        return getattr(loop, method)(when, callback, *args)
    return getattr(loop, method)(callback, *args)


async def a_coroutine_function():
    pass


NON_CALLABLES = {
    "None": lambda: None,
    "int": lambda: 42,
    "str": lambda: "not callable",
    "coroutine-object": lambda: a_coroutine_function(),
}


@pytest.mark.parametrize("debug", [False, True], ids=["nodebug", "debug"])
@pytest.mark.parametrize("bad", list(NON_CALLABLES))
@pytest.mark.parametrize("method", SCHEDULERS)
def test_non_callable_callback(loop, loop_name, method, bad, debug):
    loop.set_debug(debug)
    value = NON_CALLABLES[bad]()
    try:
        if loop_name == "asyncio" and not debug:
            # asyncio only checks in debug mode: the call is accepted here.  This is the
            # one place where ferroloop is stricter than asyncio, on purpose.
            schedule(loop, method, value).cancel()
            return
        with pytest.raises(TypeError):
            schedule(loop, method, value)
    finally:
        if asyncio.iscoroutine(value):
            value.close()
    # Nothing was scheduled, and the loop still works.
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)


@pytest.mark.parametrize("method", SCHEDULERS)
def test_coroutine_function_as_callback_debug(loop, method):
    loop.set_debug(True)
    with pytest.raises(TypeError):
        schedule(loop, method, a_coroutine_function)
    loop.call_soon(loop.stop)
    run_forever_bounded(loop)


def test_coroutine_function_in_executor_debug(loop):
    loop.set_debug(True)
    with pytest.raises(TypeError):
        loop.run_in_executor(None, a_coroutine_function)


@pytest.mark.parametrize("bad", ["1", None, object(), [1]], ids=["str", "None", "object", "list"])
@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_non_number_delay(loop, method, bad):
    # With a timer already pending, asyncio's heap must compare the new 'when' and
    # raises TypeError (on an empty heap its call_at does not look at 'when' at all).
    pending = loop.call_later(100, lambda: None)
    with pytest.raises(TypeError):
        getattr(loop, method)(bad, lambda: None)
    pending.cancel()


def test_huge_int_delay_like_asyncio(loop, ref_loop):
    with pytest.raises(OverflowError):
        ref_loop.call_later(10**400, lambda: None)
    with pytest.raises(OverflowError):
        loop.call_later(10**400, lambda: None)


@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_infinite_delay_accepted(loop, method):
    h = getattr(loop, method)(float("inf"), lambda: None)
    assert h.when() == float("inf")
    # An infinite timer does not stop the loop from working.
    assert loop.run_until_complete(asyncio.sleep(0.01, "ok")) == "ok"
    h.cancel()


def test_unknown_keyword(loop):
    with pytest.raises(TypeError):
        loop.call_soon(print, foo=1)
    with pytest.raises(TypeError):
        loop.call_later(1, print, foo=1)


def test_missing_arguments(loop):
    with pytest.raises(TypeError):
        loop.call_soon()
    with pytest.raises(TypeError):
        loop.call_later(1)
    with pytest.raises(TypeError):
        loop.call_at()


@pytest.mark.parametrize("bad", [42, None, "coro"], ids=["int", "None", "str"])
def test_create_task_needs_coroutine(loop, bad):
    with pytest.raises(TypeError):
        loop.create_task(bad)


def test_create_task_refuses_future(loop):
    fut = loop.create_future()
    with pytest.raises(TypeError):
        loop.create_task(fut)
    fut.cancel()


@pytest.mark.parametrize("bad", [42, None, "x"], ids=["int", "None", "str"])
def test_run_until_complete_needs_awaitable(loop, bad):
    with pytest.raises(TypeError):
        loop.run_until_complete(bad)
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"


# ------------------------------------------------------------------ after close()


def _closed_calls():
    def cb():
        pass

    a_sock = {}

    def sock():
        if "s" not in a_sock:
            a_sock["s"] = socket.socketpair()
        return a_sock["s"][0]

    calls = {
        "call_soon": lambda lp: lp.call_soon(cb),
        "call_soon_threadsafe": lambda lp: lp.call_soon_threadsafe(cb),
        "call_later": lambda lp: lp.call_later(1, cb),
        "call_at": lambda lp: lp.call_at(lp.time() + 1, cb),
        "create_task": "coro",
        "run_until_complete": "coro",
        "run_forever": lambda lp: lp.run_forever(),
        "add_reader": lambda lp: lp.add_reader(sock(), cb),
        "add_writer": lambda lp: lp.add_writer(sock(), cb),
        "add_signal_handler": lambda lp: lp.add_signal_handler(signal.SIGUSR1, cb),
        "run_in_executor": lambda lp: lp.run_in_executor(None, cb),
    }
    return calls, a_sock


@pytest.mark.parametrize("method", list(_closed_calls()[0]))
def test_calls_after_close_raise_runtime_error(loop, method):
    calls, socks = _closed_calls()
    loop.close()
    try:
        if calls[method] == "coro":
            coro = a_coroutine_function()
            try:
                with pytest.raises(RuntimeError):
                    getattr(loop, method)(coro)
            finally:
                coro.close()
        else:
            with pytest.raises(RuntimeError):
                calls[method](loop)
    finally:
        for s in socks.get("s", ()):
            s.close()


def test_harmless_calls_after_close(loop, ref_loop):
    """Like asyncio: these still answer on a closed loop."""
    for lp in (ref_loop, loop):
        lp.close()
        lp.close()
        assert lp.is_closed()
        assert not lp.is_running()
        assert isinstance(lp.time(), float)
        lp.set_debug(True)
        assert lp.get_debug()
        lp.stop()
        assert lp.remove_signal_handler(signal.SIGUSR1) is False
