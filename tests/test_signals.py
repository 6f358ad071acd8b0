"""add_signal_handler / remove_signal_handler."""

import asyncio
import os
import signal
import threading
import time

import pytest

from loophelpers import run_forever_bounded

WATCHED = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGHUP)


@pytest.fixture(autouse=True)
def restore_signals():
    """Whatever a loop does to signal dispositions, put them back after the test."""
    saved = {sig: signal.getsignal(sig) for sig in WATCHED}
    saved_wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(saved_wakeup)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
        signal.set_wakeup_fd(saved_wakeup)


def kill_self(sig):
    # Never deliver a signal whose default action would kill the test process.
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN), (
        f"no handler installed for {sig!r}: refusing to send it"
    )
    os.kill(os.getpid(), sig)


def test_handler_runs_in_loop_with_args(loop):
    got = []

    def handler(a, b):
        got.append((a, b, threading.get_ident(), asyncio.get_running_loop()))
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, handler, "x", 2)
    loop.call_soon(kill_self, signal.SIGUSR1)
    run_forever_bounded(loop)
    assert got == [("x", 2, threading.get_ident(), loop)]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True


def test_handler_not_run_inside_signal_context(loop):
    """The handler is a loop callback: it runs after the callback that raised the signal."""
    order = []

    def send():
        kill_self(signal.SIGUSR1)
        order.append("after kill")

    loop.add_signal_handler(signal.SIGUSR1, order.append, "handler")
    loop.call_soon(send)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert order == ["after kill", "handler"]
    loop.remove_signal_handler(signal.SIGUSR1)


def test_signal_wakes_blocked_loop(loop):
    got = []
    sent = []
    loop.call_later(30, lambda: None)

    def handler():
        got.append(time.monotonic())
        loop.stop()

    def sender():
        time.sleep(0.05)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGUSR1)

    loop.add_signal_handler(signal.SIGUSR1, handler)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN)
    thread = threading.Thread(target=sender)
    thread.start()
    try:
        run_forever_bounded(loop)
    finally:
        thread.join(10)
    assert got and got[0] - sent[0] < 0.25
    loop.remove_signal_handler(signal.SIGUSR1)


def test_several_signals_each_handled(loop):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "usr1")
    loop.add_signal_handler(signal.SIGUSR2, got.append, "usr2")

    async def main():
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGUSR1):
            kill_self(sig)
            await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert got == ["usr1", "usr2", "usr1"]
    assert loop.remove_signal_handler(signal.SIGUSR1)
    assert loop.remove_signal_handler(signal.SIGUSR2)


def test_replacing_signal_handler(loop):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "first")
    loop.add_signal_handler(signal.SIGUSR1, got.append, "second")

    async def main():
        kill_self(signal.SIGUSR1)
        await asyncio.sleep(0.02)

    loop.run_until_complete(main())
    assert got == ["second"]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True


def test_remove_returns_bool_and_restores_default(loop):
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_remove_sigint_restores_default_int_handler(loop):
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    assert loop.remove_signal_handler(signal.SIGINT) is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_close_removes_handlers(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_handler_exception_goes_to_handler(loop, handler_calls):
    def bad():
        raise RuntimeError("in signal handler")

    loop.add_signal_handler(signal.SIGUSR1, bad)

    async def main():
        kill_self(signal.SIGUSR1)
        await asyncio.sleep(0.02)
        return "still running"

    assert loop.run_until_complete(main()) == "still running"
    loop.remove_signal_handler(signal.SIGUSR1)
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert isinstance(ctx["exception"], RuntimeError)


@pytest.mark.parametrize("sig", [0, -1, 1000], ids=["zero", "negative", "too-big"])
def test_invalid_signal_number(loop, sig):
    with pytest.raises(ValueError):
        loop.add_signal_handler(sig, lambda: None)
    with pytest.raises(ValueError):
        loop.remove_signal_handler(sig)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_uncatchable_signal(loop, sig):
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(sig, lambda: None)
    assert loop.remove_signal_handler(sig) is False


@pytest.mark.parametrize("sig", ["SIGUSR1", 3.5, None], ids=["str", "float", "None"])
def test_signal_not_an_int(loop, sig):
    with pytest.raises(TypeError):
        loop.add_signal_handler(sig, lambda: None)


def test_coroutine_function_as_signal_handler(loop):
    async def coro_handler():
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro_handler)
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_add_signal_handler_from_other_thread(loop):
    errors = []

    def other():
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        except Exception as exc:  # noqa: BLE001 - the type is the check
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_add_signal_handler_after_close(loop):
    loop.close()
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_wakeup_fd_released(loop):
    """Once the loop has no signal handler left (or is closed), no wakeup fd stays set."""
    assert signal.set_wakeup_fd(-1) == -1
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    fd = signal.set_wakeup_fd(-1)
    assert fd != -1  # the loop wakes through it
    signal.set_wakeup_fd(fd)
    assert loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.set_wakeup_fd(-1) == -1
    loop.add_signal_handler(signal.SIGUSR2, lambda: None)
    loop.close()
    assert signal.set_wakeup_fd(-1) == -1
