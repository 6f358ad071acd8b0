"""add_reader / remove_reader / add_writer / remove_writer: level-triggered, like selectors."""

import asyncio
import errno
import os
import socket
import time

import pytest

from loophelpers import run_forever_bounded


@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def run_passes(loop, n):
    """Run the loop for n passes (each sleep(0) is one pass)."""

    async def passes():
        for _ in range(n):
            await asyncio.sleep(0)

    loop.run_until_complete(passes())


def test_reader_fires_with_args(loop, sockpair):
    a, b = sockpair
    got = []

    def on_readable(sock, tag):
        got.append((tag, sock.recv(100)))
        loop.stop()

    loop.add_reader(a.fileno(), on_readable, a, "tag")
    loop.call_later(0.01, b.send, b"hello")
    run_forever_bounded(loop)
    assert got == [("tag", b"hello")]
    assert loop.remove_reader(a.fileno()) is True


def test_reader_not_called_without_data(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_reader(a, calls.append, 1)
    run_passes(loop, 5)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == []
    assert loop.remove_reader(a)


def test_reader_level_triggered(loop, sockpair):
    """Unread data makes the reader fire again on every pass."""
    a, b = sockpair
    calls = []

    def on_readable():
        calls.append(1)
        if len(calls) == 5:
            loop.stop()

    b.send(b"x")
    loop.add_reader(a.fileno(), on_readable)
    run_forever_bounded(loop)
    assert len(calls) == 5
    assert loop.remove_reader(a.fileno())
    assert a.recv(10) == b"x"


def test_reader_stops_firing_once_drained(loop, sockpair):
    a, b = sockpair
    calls = []

    def on_readable():
        calls.append(a.recv(100))

    b.send(b"data")
    loop.add_reader(a, on_readable)
    run_passes(loop, 3)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == [b"data"]
    loop.remove_reader(a)


def test_reader_wakes_long_poll(loop, sockpair):
    """Data arriving while the loop blocks in the poll wakes it promptly."""
    a, b = sockpair
    got = []
    loop.call_later(30, lambda: None)

    def on_readable():
        got.append(time.monotonic())
        a.recv(10)
        loop.stop()

    import threading

    sent = []

    def sender():
        time.sleep(0.05)
        sent.append(time.monotonic())
        b.send(b"!")

    loop.add_reader(a, on_readable)
    thread = threading.Thread(target=sender)
    thread.start()
    try:
        run_forever_bounded(loop)
    finally:
        thread.join(10)
    assert got and got[0] - sent[0] < 0.25
    loop.remove_reader(a)


def test_writer_fires_when_writable(loop, sockpair):
    a, b = sockpair
    calls = []

    def on_writable(tag):
        calls.append(tag)
        loop.stop()

    loop.add_writer(a.fileno(), on_writable, "w")
    run_forever_bounded(loop)
    assert calls == ["w"]
    assert loop.remove_writer(a.fileno()) is True
    assert loop.remove_writer(a.fileno()) is False


def test_writer_level_triggered(loop, sockpair):
    a, b = sockpair
    calls = []

    def on_writable():
        calls.append(1)
        if len(calls) == 4:
            loop.stop()

    loop.add_writer(a, on_writable)
    run_forever_bounded(loop)
    assert len(calls) == 4
    assert loop.remove_writer(a)


def test_writer_waits_for_space(loop, sockpair):
    """A full socket is not writable; draining the peer makes the writer fire."""
    a, b = sockpair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    total = 0
    for _ in range(100000):
        try:
            total += a.send(b"x" * 4096)
        except BlockingIOError:
            break
    calls = []
    loop.add_writer(a, lambda: calls.append(time.monotonic()))
    loop.run_until_complete(asyncio.sleep(0.03))
    assert calls == []
    drained = 0
    for _ in range(100000):
        try:
            chunk = b.recv(65536)
        except BlockingIOError:
            break
        drained += len(chunk)
    assert drained == total
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls
    loop.remove_writer(a)


def test_remove_returns_bool(loop, sockpair):
    a, b = sockpair
    assert loop.remove_reader(a.fileno()) is False
    assert loop.remove_writer(a.fileno()) is False
    loop.add_reader(a.fileno(), lambda: None)
    assert loop.remove_writer(a.fileno()) is False
    assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False


def test_replacing_reader(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_reader(a, calls.append, "first")
    loop.add_reader(a, calls.append, "second")
    b.send(b"x")
    run_passes(loop, 3)
    assert calls and set(calls) == {"second"}
    assert loop.remove_reader(a) is True
    assert loop.remove_reader(a) is False


def test_replacing_writer(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_writer(a, calls.append, "first")
    loop.add_writer(a, calls.append, "second")
    run_passes(loop, 3)
    assert calls and set(calls) == {"second"}
    assert loop.remove_writer(a)


def test_reader_and_writer_same_fd(loop, sockpair):
    a, b = sockpair
    reads, writes = [], []
    loop.add_reader(a, reads.append, 1)
    loop.add_writer(a, writes.append, 1)
    b.send(b"x")
    run_passes(loop, 3)
    assert reads and writes
    assert loop.remove_reader(a)
    reads.clear()
    writes.clear()
    run_passes(loop, 3)
    assert reads == [] and writes  # the writer survives the reader's removal
    assert loop.remove_writer(a)
    writes.clear()
    run_passes(loop, 3)
    assert writes == []


def test_reader_removes_itself(loop, sockpair):
    a, b = sockpair
    calls = []

    def once():
        calls.append(1)
        loop.remove_reader(a)

    b.send(b"x")
    loop.add_reader(a, once)
    run_passes(loop, 5)
    assert calls == [1]


def test_file_object_with_fileno(loop, sockpair):
    a, b = sockpair

    class Wrapper:
        def fileno(self):
            return a.fileno()

    calls = []
    w = Wrapper()
    loop.add_reader(w, calls.append, "via fileno")
    b.send(b"x")
    run_passes(loop, 2)
    assert calls and calls[0] == "via fileno"
    # The same fd, given as an int, names the same registration.
    assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(w) is False


def test_socket_object_as_fd(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_writer(b, calls.append, "sock")
    run_passes(loop, 2)
    assert calls
    assert loop.remove_writer(b) is True


def test_pipe_reader_sees_eof(loop):
    r, w = os.pipe()
    try:
        os.set_blocking(r, False)
        got = []

        def on_readable():
            data = os.read(r, 100)
            got.append(data)
            if data == b"":
                loop.remove_reader(r)
                loop.stop()

        loop.add_reader(r, on_readable)
        loop.call_later(0.01, os.write, w, b"abc")
        loop.call_later(0.02, os.close, w)
        run_forever_bounded(loop)
        w = None
        assert got == [b"abc", b""]
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_reader_exception_goes_to_handler(loop, sockpair, handler_calls):
    a, b = sockpair

    def bad():
        a.recv(10)
        raise RuntimeError("reader failed")

    loop.add_reader(a, bad)
    b.send(b"x")
    run_passes(loop, 3)
    loop.remove_reader(a)
    assert len(handler_calls.contexts) == 1
    ctx = handler_calls.contexts[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["message"].startswith("Exception in callback ")
    assert isinstance(ctx["exception"], RuntimeError)


def test_many_fds(loop):
    pairs = [socket.socketpair() for _ in range(100)]
    try:
        got = []
        for i, (a, b) in enumerate(pairs):
            a.setblocking(False)
            loop.add_reader(a, lambda a=a, i=i: got.append((i, a.recv(10))))
        for i, (a, b) in enumerate(pairs):
            if i % 3 == 0:
                b.send(b"%d" % i)
        loop.run_until_complete(asyncio.sleep(0.02))
        assert sorted(got) == [(i, b"%d" % i) for i in range(0, 100, 3)]
        for a, b in pairs:
            assert loop.remove_reader(a)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_fd_reused_after_remove_and_close(loop):
    """Close an fd after removing it; a new socket with the same number works."""
    for _ in range(5):
        a, b = socket.socketpair()
        a.setblocking(False)
        got = []
        loop.add_reader(a, lambda: got.append(a.recv(10)))
        b.send(b"z")
        loop.run_until_complete(asyncio.sleep(0.01))
        assert got == [b"z"]
        assert loop.remove_reader(a)
        a.close()
        b.close()


# ------------------------------------------------------------------ bad fds (asyncio's types)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_negative_fd(loop, method):
    with pytest.raises(ValueError):
        getattr(loop, method)(-1, lambda: None)


@pytest.mark.parametrize("method", ["remove_reader", "remove_writer"])
def test_remove_negative_fd(loop, method):
    with pytest.raises(ValueError):
        getattr(loop, method)(-1)


@pytest.mark.parametrize("bad", ["x", object(), 1.5, None], ids=["str", "object", "float", "None"])
@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_non_fd_objects(loop, ref_loop, method, bad):
    """Objects with no fileno(): asyncio raises ValueError ('Invalid file object')."""
    with pytest.raises(ValueError):
        getattr(ref_loop, method)(bad, lambda: None)
    with pytest.raises(ValueError):
        getattr(loop, method)(bad, lambda: None)


@pytest.mark.parametrize("bad", ["x", object()], ids=["str", "object"])
def test_remove_non_fd_objects(loop, bad):
    with pytest.raises(ValueError):
        loop.remove_reader(bad)
    with pytest.raises(ValueError):
        loop.remove_writer(bad)


def test_fileno_returning_negative(loop):
    class Bad:
        def fileno(self):
            return -1

    with pytest.raises(ValueError):
        loop.add_reader(Bad(), lambda: None)


def test_closed_socket_object(loop):
    a, b = socket.socketpair()
    a.close()
    b.close()
    with pytest.raises(ValueError):  # a closed socket's fileno() is -1
        loop.add_reader(a, lambda: None)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_closed_fd(loop, method):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        getattr(loop, method)(r, lambda: None)
    assert info.value.errno == errno.EBADF
    # A failed registration leaves nothing behind.
    assert loop.remove_reader(r) is False
    assert loop.remove_writer(r) is False


def test_regular_file_refused(loop, tmp_path, ref_loop):
    """epoll refuses regular files: asyncio raises PermissionError (EPERM)."""
    path = tmp_path / "plain.txt"
    path.write_text("data")
    with open(path, "rb") as f:
        with pytest.raises(PermissionError):
            ref_loop.add_reader(f, lambda: None)
        with pytest.raises(PermissionError):
            loop.add_reader(f, lambda: None)
        assert loop.remove_reader(f) is False


def test_remove_after_close_returns_false(loop, sockpair):
    a, b = sockpair
    loop.add_reader(a, lambda: None)
    loop.close()
    assert loop.remove_reader(a) is False
    assert loop.remove_writer(a) is False


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_add_after_close(loop, sockpair, method):
    a, b = sockpair
    loop.close()
    with pytest.raises(RuntimeError):
        getattr(loop, method)(a, lambda: None)
