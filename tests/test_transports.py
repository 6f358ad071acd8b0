"""Stream transports (TCP and Unix): writing, reading, flow control, closing, errors.

Every test runs on asyncio's loop (the oracle) and on ferroloop. Connections are
made over loopback with ``create_server`` plus ``create_connection(sock=...)`` (a
socket connected synchronously), so these tests do not depend on the resolver.
"""

import asyncio
import errno
import gc
import hashlib
import logging
import socket
import struct
import sys
import warnings

import pytest

from loophelpers import run

CHUNK = 64 * 1024


class Recorder(asyncio.Protocol):
    """Records every callback in order and lets a test wait for milestones."""

    def __init__(self, loop, eof_result=None, echo=False):
        self.loop = loop
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.eof_result = eof_result
        self.echo = echo
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self._want = None

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        self.events.append("data")
        self.data += data
        if self.echo:
            self.transport.write(data)
        if self._want is not None and len(self.data) >= self._want[0] and not self._want[1].done():
            self._want[1].set_result(None)

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.eof_result

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    async def received(self, n):
        if len(self.data) < n:
            self._want = (n, self.loop.create_future())
            await self._want[1]
        return bytes(self.data)


async def tcp_pair(loop, server_factory, client_factory, family=socket.AF_INET):
    """A listening server, the client transport/protocol and the server-side protocol."""
    accepted = []

    def factory():
        proto = server_factory()
        accepted.append(proto)
        return proto

    if family == socket.AF_UNIX:
        server = await loop.create_unix_server(factory, sock=_unix_listener())
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(server.sockets[0].getsockname())
    else:
        server = await loop.create_server(factory, "127.0.0.1", 0)
        sock = socket.create_connection(("127.0.0.1", server.sockets[0].getsockname()[1]))
    transport, client = await loop.create_connection(client_factory, sock=sock)
    for _ in range(100):
        if accepted:
            break
        await asyncio.sleep(0.005)
    peer = accepted[0]
    await peer.made
    return server, transport, client, peer


def fill(transport, byte=b"x", limit=64 * 1024 * 1024):
    """Writes until the transport has to queue data (the peer must not be reading)."""
    written = bytearray()
    while transport.get_write_buffer_size() == 0 and len(written) < limit:
        chunk = bytes([len(written) // CHUNK % 251]) * CHUNK if byte is None else byte * CHUNK
        transport.write(chunk)
        written += chunk
    assert transport.get_write_buffer_size() > 0
    return bytes(written)


def _unix_listener():
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("\0ferroloop-test-%d" % id(sock))
    return sock


async def shutdown(server, *transports):
    for t in transports:
        t.close()
    server.close()
    await asyncio.wait_for(server.wait_closed(), 5)


@pytest.fixture(params=["tcp", "unix"])
def family(request):
    return socket.AF_INET if request.param == "tcp" else socket.AF_UNIX


def test_transport_isinstance(loop, family):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop), family)
        for tr in (t, s.transport):
            assert isinstance(tr, asyncio.Transport)
            assert isinstance(tr, asyncio.ReadTransport)
            assert isinstance(tr, asyncio.WriteTransport)
            assert isinstance(tr, asyncio.BaseTransport)
            assert not isinstance(tr, asyncio.DatagramTransport)
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_echo_and_callback_order(loop, family):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop, echo=True), lambda: Recorder(loop), family)
        t.write(b"hello ")
        t.write(bytearray(b"world "))
        t.write(memoryview(b"xxabcxx")[2:5])
        t.writelines([b"1", bytearray(b"2"), memoryview(b"3")])
        assert await asyncio.wait_for(c.received(18), 5) == b"hello world abc123"
        t.write_eof()
        await asyncio.wait_for(s.eof, 5)
        await asyncio.wait_for(c.lost, 5)
        await asyncio.wait_for(s.lost, 5)
        assert s.events[0] == "made" and s.events[-2:] == ["eof", "lost"]
        assert set(s.events[1:-2]) == {"data"}
        assert c.events[0] == "made" and c.events[-2:] == ["eof", "lost"]
        await shutdown(server)

    run(loop, main())


def test_connection_made_before_create_connection_returns(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        assert c.made.done() and c.transport is t
        assert s.transport.get_protocol() is s
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_write_type_errors(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
            t.write("text")
        with pytest.raises(TypeError):
            t.write(None)
        with pytest.raises(TypeError):
            t.writelines(["text"])
        t.write(b"")  # nothing to do
        t.writelines([])
        assert t.get_write_buffer_size() == 0
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_write_eof_half_close(loop, family):
    """The peer keeps its side open after EOF and still answers."""

    class Answer(Recorder):
        def eof_received(self):
            super().eof_received()
            self.transport.write(b"got " + bytes(self.data))
            self.transport.close()
            return True

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Answer(loop), lambda: Recorder(loop, eof_result=True), family)
        assert t.can_write_eof()
        t.write(b"question")
        t.write_eof()
        t.write_eof()  # twice is harmless
        assert not t.is_closing()
        with pytest.raises(RuntimeError, match=r"Cannot call write\(\) after write_eof\(\)"):
            t.write(b"more")
        with pytest.raises(RuntimeError, match=r"Cannot call write(lines)?\(\) after write_eof\(\)"):
            t.writelines([b"more"])
        await asyncio.wait_for(c.eof, 5)
        assert bytes(c.data) == b"got question"
        assert await asyncio.wait_for(s.lost, 5) is None
        # eof_received returned True: the client stays open until it closes.
        assert not t.is_closing()
        assert not c.lost.done()
        t.close()
        assert await asyncio.wait_for(c.lost, 5) is None
        await shutdown(server)

    run(loop, main())


def test_write_eof_waits_for_buffer(loop):
    """write_eof with queued data shuts down only once the data is sent."""

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop, eof_result=True), lambda: Recorder(loop))
        s.transport.pause_reading()
        payload = fill(t, None)
        t.write_eof()
        await asyncio.sleep(0.05)
        assert not s.eof.done()
        s.transport.resume_reading()
        await asyncio.wait_for(s.eof, 10)
        assert bytes(s.data) == payload
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_eof_received_none_closes(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop, eof_result=True))
        t.write_eof()
        await asyncio.wait_for(s.eof, 5)
        assert s.transport.is_closing()
        assert await asyncio.wait_for(s.lost, 5) is None
        await asyncio.wait_for(c.eof, 5)
        t.close()
        await asyncio.wait_for(c.lost, 5)
        await shutdown(server)

    run(loop, main())


def test_close_flushes_then_loses_connection(loop, family):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop), family)
        s.transport.pause_reading()
        payload = fill(t)
        t.close()
        assert t.is_closing()
        t.close()  # idempotent
        await asyncio.sleep(0.05)
        assert not c.lost.done()  # still flushing
        s.transport.resume_reading()
        assert await asyncio.wait_for(c.lost, 10) is None
        await asyncio.wait_for(s.eof, 10)
        assert len(s.data) == len(payload)
        assert c.events == ["made", "lost"]
        await shutdown(server, s.transport)

    run(loop, main())


def test_connection_lost_called_soon_not_inside_close(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        t.close()
        assert not c.lost.done()
        assert t.get_protocol() is c
        await asyncio.sleep(0)
        assert c.lost.done()
        await shutdown(server, s.transport)

    run(loop, main())


def test_abort_drops_buffer(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        s.transport.pause_reading()
        payload = fill(t)
        t.abort()
        assert t.is_closing()
        assert t.get_write_buffer_size() == 0
        assert await asyncio.wait_for(c.lost, 5) is None
        s.transport.resume_reading()
        await asyncio.wait_for(s.lost, 10)
        assert len(s.data) < len(payload)
        await shutdown(server)

    run(loop, main())


def test_writes_after_close_are_counted_and_logged(loop, caplog):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        t.abort()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(4):
                t.write(b"late")
            assert not [r for r in caplog.records if "socket.send() raised exception." in r.getMessage()]
            for _ in range(3):
                t.write(b"late")
        warned = [r for r in caplog.records if r.getMessage() == "socket.send() raised exception."]
        assert len(warned) >= 2
        await asyncio.wait_for(c.lost, 5)
        await shutdown(server, s.transport)

    run(loop, main())


def test_extra_info(loop, family):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop), family)
        for tr, other in ((t, s.transport), (s.transport, t)):
            sock = tr.get_extra_info("socket")
            assert type(sock).__name__ == "TransportSocket"
            assert sock.fileno() >= 0
            assert sock.family == family
            assert sock.type == socket.SOCK_STREAM
            assert sock._sock.gettimeout() == 0.0  # the socket object is non-blocking
            assert tr.get_extra_info("sockname") == sock.getsockname()
            assert tr.get_extra_info("peername") == sock.getpeername()
            assert tr.get_extra_info("sockname") == other.get_extra_info("peername") or family == socket.AF_UNIX
            assert tr.get_extra_info("no such key") is None
            assert tr.get_extra_info("no such key", 42) == 42
            assert tr.get_extra_info("socket") is sock or tr.get_extra_info("socket").fileno() == sock.fileno()
        if family == socket.AF_INET:
            host, port = t.get_extra_info("peername")
            assert host == "127.0.0.1" and isinstance(port, int)
        await shutdown(server, t, s.transport)
        # Kept after close, the socket then reports fileno -1.
        await asyncio.wait_for(c.lost, 5)
        assert t.get_extra_info("peername") is not None
        assert t.get_extra_info("socket").fileno() == -1

    run(loop, main())


def test_tcp_nodelay_like_asyncio(loop):
    async def main():
        accepted = []
        server = await loop.create_server(lambda: accepted.append(Recorder(loop)) or accepted[-1], "127.0.0.1", 0)
        # A socket made with proto 0: asyncio sets TCP_NODELAY only when the
        # socket's proto is IPPROTO_TCP, as it is for sockets create_server and
        # create_connection make from getaddrinfo() results.
        raw = socket.socket()
        raw.connect(server.sockets[0].getsockname())
        t, c = await loop.create_connection(lambda: Recorder(loop), sock=raw)
        while not accepted:
            await asyncio.sleep(0.005)
        s = accepted[0]
        await s.made
        client_sock = t.get_extra_info("socket")
        server_sock = s.transport.get_extra_info("socket")
        assert server_sock.proto == socket.IPPROTO_TCP
        assert server_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert not client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_pause_and_resume_reading(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        tr = s.transport
        assert tr.is_reading()
        tr.pause_reading()
        tr.pause_reading()  # no-op
        assert not tr.is_reading()
        t.write(b"while paused")
        await asyncio.sleep(0.05)
        assert s.data == b""
        tr.resume_reading()
        tr.resume_reading()
        assert tr.is_reading()
        assert await asyncio.wait_for(s.received(12), 5) == b"while paused"
        tr.close()
        assert not tr.is_reading()
        tr.resume_reading()
        assert not tr.is_reading()
        await shutdown(server, t)

    run(loop, main())


def test_write_buffer_limits(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        t.set_write_buffer_limits(high=1000)
        assert t.get_write_buffer_limits() == (250, 1000)
        t.set_write_buffer_limits(low=100)
        assert t.get_write_buffer_limits() == (100, 400)
        t.set_write_buffer_limits(high=10, low=10)
        assert t.get_write_buffer_limits() == (10, 10)
        t.set_write_buffer_limits()
        assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
            t.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(ValueError, match=r"high \(-1\) must be >= low \(-1\) must be >= 0"):
            t.set_write_buffer_limits(high=-1)
        assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_pause_and_resume_writing(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        s.transport.pause_reading()
        t.set_write_buffer_limits(high=64 * 1024)
        while "pause" not in c.events:
            t.write(b"z" * CHUNK)
            assert t.get_write_buffer_size() <= 64 * 1024 + CHUNK
        assert t.get_write_buffer_size() > 64 * 1024
        s.transport.resume_reading()
        for _ in range(500):
            if "resume" in c.events:
                break
            await asyncio.sleep(0.01)
        assert c.events[-2:] == ["pause", "resume"]
        assert t.get_write_buffer_size() <= 16 * 1024
        # Lowering the high-water mark below what is queued pauses at once.
        s.transport.pause_reading()
        while t.get_write_buffer_size() == 0:
            t.write(b"q" * CHUNK)
        t.set_write_buffer_limits(high=0)
        assert c.events[-1] == "pause"
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_20mb_through_slow_reader(loop):
    """Nothing lost or reordered; the writer's buffer stays near the high-water mark."""
    total = 20 * 1024 * 1024
    high = 64 * 1024

    class SlowReader(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.pause_reading()
            self.loop.call_later(0.0005, self.transport.resume_reading)

    class Writer(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.can_write = asyncio.Event()
            self.can_write.set()

        def pause_writing(self):
            super().pause_writing()
            self.can_write.clear()

        def resume_writing(self):
            super().resume_writing()
            self.can_write.set()

    async def main():
        server, t, w, r = await tcp_pair(loop, lambda: SlowReader(loop, eof_result=True), lambda: Writer(loop))
        sent = hashlib.sha256()
        largest = 0
        for i in range(total // CHUNK):
            await w.can_write.wait()
            chunk = struct.pack(">I", i) * (CHUNK // 4)
            sent.update(chunk)
            t.write(chunk)
            largest = max(largest, t.get_write_buffer_size())
        t.write_eof()
        await asyncio.wait_for(r.eof, 60)
        assert len(r.data) == total
        assert hashlib.sha256(r.data).digest() == sent.digest()
        assert largest <= high + CHUNK
        assert "pause" in w.events and "resume" in w.events
        await shutdown(server, t, r.transport)

    run(loop, main(), timeout=90)


def test_large_reads_are_bytes_of_at_most_256k(loop, family):
    """A reader that lets megabytes pile up gets them as `bytes` chunks no larger
    than asyncio's 256 KiB read size, in order, then the EOF."""
    total = 3 * 1024 * 1024 + 12345

    class Chunks(Recorder):
        def __init__(self, loop):
            super().__init__(loop, eof_result=True)
            self.chunks = []

        def data_received(self, data):
            self.chunks.append((type(data), len(data)))
            super().data_received(data)

    async def main():
        server, t, c, peer = await tcp_pair(loop, lambda: Chunks(loop), lambda: Recorder(loop), family)
        peer.transport.pause_reading()
        payload = bytes(range(256)) * (total // 256) + bytes(total % 256)
        t.write(payload)
        t.write_eof()
        for _ in range(200):
            if t.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.005)
        peer.transport.resume_reading()
        await asyncio.wait_for(peer.eof, 20)
        assert bytes(peer.data) == payload
        assert all(kind is bytes for kind, _ in peer.chunks)
        assert max(size for _, size in peer.chunks) <= 256 * 1024
        assert peer.events[-1] == "eof"
        await shutdown(server, t, peer.transport)

    run(loop, main())


def test_set_protocol_switches_receiver(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        t.write(b"first")
        await asyncio.wait_for(s.received(5), 5)
        other = Recorder(loop)
        s.transport.set_protocol(other)
        assert s.transport.get_protocol() is other
        t.write(b"second")
        await asyncio.wait_for(other.received(6), 5)
        assert bytes(s.data) == b"first"
        t.close()
        assert await asyncio.wait_for(other.lost, 5) is None
        assert not s.lost.done()
        assert s.transport.get_protocol() is None  # dropped after connection_lost
        await shutdown(server)

    run(loop, main())


class Buffered(asyncio.BufferedProtocol):
    def __init__(self, loop, size=7):
        self.loop = loop
        self.buf = bytearray(size)
        self.data = bytearray()
        self.events = []
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.sizes = []

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(transport)

    def get_buffer(self, sizehint):
        self.sizes.append(sizehint)
        return self.buf

    def buffer_updated(self, nbytes):
        self.events.append("updated")
        assert 0 < nbytes <= len(self.buf)
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def test_buffered_protocol(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Buffered(loop), lambda: Recorder(loop))
        t.write(b"0123456789" * 10)
        t.write_eof()
        assert await asyncio.wait_for(s.lost, 5) is None
        assert bytes(s.data) == b"0123456789" * 10
        assert s.events[0] == "made" and s.events[-2:] == ["eof", "lost"]
        assert set(s.sizes) == {-1}
        await shutdown(server, t)

    run(loop, main())


def test_buffered_protocol_empty_buffer_is_fatal(loop, handler_calls):
    class Empty(Buffered):
        def get_buffer(self, sizehint):
            return bytearray()

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Empty(loop), lambda: Recorder(loop))
        t.write(b"data")
        exc = await asyncio.wait_for(s.lost, 5)
        assert isinstance(exc, RuntimeError)
        assert str(exc) == "get_buffer() returned an empty buffer"
        await shutdown(server, t)

    run(loop, main())
    (ctx,) = handler_calls.contexts
    assert ctx["message"] == "Fatal error: protocol.get_buffer() call failed."
    assert set(ctx) == {"message", "exception", "transport", "protocol"}


@pytest.mark.parametrize("method", ["data_received", "eof_received"])
def test_protocol_exception_reaches_handler_and_closes(loop, handler_calls, method):
    class Boom(Recorder):
        def data_received(self, data):
            super().data_received(data)
            if method == "data_received":
                raise ZeroDivisionError("boom")

        def eof_received(self):
            super().eof_received()
            if method == "eof_received":
                raise ZeroDivisionError("boom")

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Boom(loop), lambda: Recorder(loop))
        t.write(b"trigger")
        if method == "eof_received":
            t.write_eof()
        exc = await asyncio.wait_for(s.lost, 5)
        assert isinstance(exc, ZeroDivisionError)
        await asyncio.wait_for(c.lost, 5)
        await shutdown(server, t)
        return s

    s = run(loop, main())
    (ctx,) = handler_calls.contexts
    assert set(ctx) == {"message", "exception", "transport", "protocol"}
    assert ctx["message"] == f"Fatal error: protocol.{method}() call failed."
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["protocol"] is s
    assert ctx["transport"] is s.transport
    assert isinstance(ctx["transport"], asyncio.Transport)


def test_pause_writing_exception_reaches_handler(loop, handler_calls):
    class BadPause(Recorder):
        def pause_writing(self):
            raise ValueError("no pause")

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: BadPause(loop))
        s.transport.pause_reading()
        t.set_write_buffer_limits(high=0)
        fill(t)
        assert not t.is_closing()
        await shutdown(server, t, s.transport)

    run(loop, main())
    (ctx,) = handler_calls.contexts
    assert ctx["message"] == "protocol.pause_writing() failed"
    assert isinstance(ctx["exception"], ValueError)
    assert set(ctx) == {"message", "exception", "transport", "protocol"}


def test_connection_lost_exception_reaches_handler(loop, handler_calls):
    class BadLost(Recorder):
        def connection_lost(self, exc):
            super().connection_lost(exc)
            raise KeyError("lost")

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: BadLost(loop))
        t.close()
        await asyncio.wait_for(c.lost, 5)
        await asyncio.sleep(0)
        # The socket is closed even though connection_lost raised.
        assert t.get_extra_info("socket").fileno() == -1
        await shutdown(server, s.transport)

    run(loop, main())
    (ctx,) = handler_calls.contexts
    assert isinstance(ctx["exception"], KeyError)


def test_peer_reset_gives_connection_reset_error(loop):
    async def main():
        accepted = []
        server = await loop.create_server(lambda: accepted.append(Recorder(loop)) or accepted[-1], "127.0.0.1", 0)
        sock = socket.create_connection(("127.0.0.1", server.sockets[0].getsockname()[1]))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for _ in range(200):
            if accepted and accepted[0].made.done():
                break
            await asyncio.sleep(0.005)
        sock.close()  # RST
        exc = await asyncio.wait_for(accepted[0].lost, 5)
        assert isinstance(exc, ConnectionResetError)
        assert exc.errno == errno.ECONNRESET
        await shutdown(server)

    run(loop, main())


def test_write_to_closed_peer_loses_connection_with_oserror(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop, eof_result=True))
        s.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.transport.abort()
        await asyncio.wait_for(s.lost, 5)
        for _ in range(200):
            if c.lost.done():
                break
            t.write(b"x" * 1024)
            await asyncio.sleep(0.005)
        exc = await asyncio.wait_for(c.lost, 5)
        assert exc is None or isinstance(exc, (BrokenPipeError, ConnectionResetError))
        await shutdown(server, t)

    run(loop, main())


def test_transport_fd_refused_by_add_reader(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        fd = t.get_extra_info("socket").fileno()
        for call in (
            lambda: loop.add_reader(fd, print),
            lambda: loop.add_writer(fd, print),
            lambda: loop.remove_reader(fd),
            lambda: loop.remove_writer(fd),
        ):
            with pytest.raises(RuntimeError, match="is used by transport"):
                call()
        t.close()
        # A closing transport no longer owns its fd.
        assert loop.remove_reader(fd) is False
        await asyncio.wait_for(c.lost, 5)
        await shutdown(server, s.transport)

    run(loop, main())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio checks this from 3.12")
def test_second_transport_on_same_fd_refused(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        sock = t.get_extra_info("socket")
        dup = socket.socket(fileno=sock.fileno())
        try:
            with pytest.raises(RuntimeError, match="is used by transport"):
                await loop.connect_accepted_socket(lambda: Recorder(loop), dup)
        finally:
            dup.detach()
        await shutdown(server, t, s.transport)

    run(loop, main())


def test_repr(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        fd = t.get_extra_info("socket").fileno()
        r = repr(t)
        assert f"fd={fd}" in r and "read=polling" in r and "write=<idle, bufsize=0>" in r
        t.close()
        assert "closing" in repr(t)
        await asyncio.wait_for(c.lost, 5)
        assert "closed" in repr(t)
        await shutdown(server, s.transport)

    run(loop, main())


def test_unclosed_transport_warns(loop):
    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop, eof_result=True))
        s.transport.close()
        await asyncio.wait_for(c.eof, 5)
        await shutdown(server)
        assert not t.is_closing()
        return t

    t = run(loop, main())
    loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del t
        gc.collect()
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any(m.startswith("unclosed transport <") for m in messages), messages


def test_loop_sendfile(loop, tmp_path):
    path = tmp_path / "payload"
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit
    path.write_bytes(payload)

    async def main():
        server, t, c, s = await tcp_pair(loop, lambda: Recorder(loop), lambda: Recorder(loop))
        with open(path, "rb") as f:
            sent = await loop.sendfile(t, f, 100, 200_000)
            assert sent == 200_000
            assert f.tell() == 200_100
            sent = await loop.sendfile(t, f, 200_100)
            assert sent == len(payload) - 200_100
        assert t.get_protocol() is c  # restored
        assert t.is_reading()
        t.write(b"!")
        expected = payload[100:] + b"!"
        assert await asyncio.wait_for(s.received(len(expected)), 10) == expected
        t.close()
        with pytest.raises(RuntimeError, match="Transport is closing"):
            with open(path, "rb") as f:
                await loop.sendfile(t, f)
        await shutdown(server, s.transport)

    run(loop, main())


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt])
def test_exit_exceptions_propagate_from_data_received(loop, exc_type):
    class Exit(Recorder):
        def data_received(self, data):
            super().data_received(data)
            raise exc_type

    async def setup():
        return await tcp_pair(loop, lambda: Exit(loop), lambda: Recorder(loop))

    server, t, c, s = run(loop, setup())
    t.write(b"bye")
    with pytest.raises(exc_type):
        run(loop, asyncio.sleep(5))
    # Not treated as a protocol error: the transport stays open, the loop usable.
    assert not s.transport.is_closing()
    run(loop, shutdown(server, t, s.transport))
