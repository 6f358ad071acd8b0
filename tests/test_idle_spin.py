"""A loop that has just been busy polls for a while before it sleeps (ferroloop's
idle spin, FERROLOOP_IDLE_SPIN_US). Whatever it does in that time, the loop must
behave as one that went straight to sleep: signal handlers, other threads and
timers get through at once. Each test first makes the loop busy with short
round trips, so ferroloop's spin budget has grown to its maximum, set here to
1 ms; on asyncio the same steps must give the same results."""

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

from loophelpers import run_forever_bounded

SPIN_MAX_US = "1000"
ROUND_TRIPS = 300


@pytest.fixture
def busy_loop(loop_factory, monkeypatch):
    """A fresh loop (made with the spin set to 1 ms) and a socket pair it reads."""
    monkeypatch.setenv("FERROLOOP_IDLE_SPIN_US", SPIN_MAX_US)
    lp = loop_factory()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        yield lp, ours, theirs
    finally:
        if not lp.is_closed():
            lp.remove_reader(ours.fileno())
            lp.close()
        ours.close()
        theirs.close()


def ping_pong(loop, ours, theirs, then):
    """ROUND_TRIPS quick request/replies through the loop, then `then()` in the
    peer thread right after the last reply: a moment when the loop has just
    run out of work, where ferroloop spins."""
    got = []

    def on_readable():
        data = ours.recv(64)
        got.append(data)
        ours.send(data)

    def peer():
        for _ in range(ROUND_TRIPS):
            theirs.sendall(b"p")
            assert theirs.recv(64) == b"p"
        then()

    loop.add_reader(ours.fileno(), on_readable)
    thread = threading.Thread(target=peer)
    loop.call_soon(thread.start)
    return thread, got


def test_signal_handler_runs_at_once_after_busy_period(busy_loop):
    loop, ours, theirs = busy_loop
    ran = []

    def on_signal(signum, frame):
        ran.append(time.monotonic())
        loop.call_soon_threadsafe(loop.stop)

    previous = signal.signal(signal.SIGUSR1, on_signal)
    try:
        sent = []

        def send_signal():
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGUSR1)

        thread, got = ping_pong(loop, ours, theirs, send_signal)
        run_forever_bounded(loop, limit=10.0)
        thread.join(5)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert len(got) == ROUND_TRIPS
    assert len(ran) == 1
    assert ran[0] - sent[0] < 0.5


def test_other_thread_wakes_the_loop_after_busy_period(busy_loop):
    loop, ours, theirs = busy_loop
    woken = []

    def wake():
        start = time.monotonic()
        loop.call_soon_threadsafe(lambda: (woken.append(time.monotonic() - start), loop.stop()))

    thread, got = ping_pong(loop, ours, theirs, wake)
    run_forever_bounded(loop, limit=10.0)
    thread.join(5)
    assert len(got) == ROUND_TRIPS
    assert len(woken) == 1 and woken[0] < 0.5


def test_timer_fires_on_time_after_busy_period(busy_loop):
    loop, ours, theirs = busy_loop
    fired = []

    armed = []

    def start_timer():
        armed.append(loop.time())
        loop.call_later(0.0005, lambda: (fired.append(loop.time()), loop.stop()))

    def arm():
        loop.call_soon_threadsafe(start_timer)

    thread, got = ping_pong(loop, ours, theirs, arm)
    run_forever_bounded(loop, limit=10.0)
    thread.join(5)
    assert len(got) == ROUND_TRIPS
    assert len(fired) == 1
    assert 0.0004 <= fired[0] - armed[0] < 0.5


@pytest.mark.parametrize("value", ["-1", "ten", "2000", "1e3"])
def test_bad_spin_setting_is_refused(loop_name, loop_factory, monkeypatch, value):
    monkeypatch.setenv("FERROLOOP_IDLE_SPIN_US", value)
    if loop_name == "asyncio":
        loop_factory().close()  # asyncio has no such setting and ignores it
        return
    with pytest.raises(ValueError, match="FERROLOOP_IDLE_SPIN_US"):
        loop_factory()


def test_spin_setting_zero_is_accepted(loop_factory, monkeypatch):
    monkeypatch.setenv("FERROLOOP_IDLE_SPIN_US", "0")
    loop = loop_factory()
    try:
        assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        loop.close()
