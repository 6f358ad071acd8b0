"""Datagram endpoints (UDP and Unix datagrams): create_datagram_endpoint, sendto,
datagram_received, error_received, closing, errors. Runs on asyncio and ferroloop."""

import asyncio
import errno
import os
import socket
import sys

import pytest

from loophelpers import run

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)


class Endpoint(asyncio.DatagramProtocol):
    def __init__(self, loop, echo=False):
        self.loop = loop
        self.echo = echo
        self.transport = None
        self.received = []
        self.errors = []
        self.events = []
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self._want = None

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport
        self.made.set_result(None)

    def datagram_received(self, data, addr):
        self.events.append("datagram")
        self.received.append((data, addr))
        if self.echo:
            self.transport.sendto(data, addr)
        self._check()

    def error_received(self, exc):
        self.events.append("error")
        self.errors.append(exc)
        self._check()

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    def _check(self):
        if self._want and len(self.received) + len(self.errors) >= self._want[0] and not self._want[1].done():
            self._want[1].set_result(None)

    async def wait(self, n, timeout=5):
        if len(self.received) + len(self.errors) < n:
            self._want = (n, self.loop.create_future())
            await asyncio.wait_for(self._want[1], timeout)


def test_udp_echo(loop):
    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Endpoint(loop, echo=True), local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, client = await loop.create_datagram_endpoint(lambda: Endpoint(loop), remote_addr=addr)
        for tr in (st, ct):
            assert isinstance(tr, asyncio.BaseTransport)
            if PY312:
                assert isinstance(tr, asyncio.DatagramTransport)
        assert server.events == ["made"] and client.events == ["made"]
        ct.sendto(b"one")
        ct.sendto(bytearray(b"two"))
        ct.sendto(memoryview(b"three"), addr)
        await client.wait(3)
        assert [d for d, _ in client.received] == [b"one", b"two", b"three"]
        assert all(a == addr for _, a in client.received)
        assert [a for _, a in server.received] == [ct.get_extra_info("sockname")] * 3
        ct.close()
        st.close()
        assert await asyncio.wait_for(client.lost, 5) is None
        assert await asyncio.wait_for(server.lost, 5) is None
        assert client.events[-1] == "lost"

    run(loop, main())


def test_unconnected_sendto_and_order(loop):
    async def main():
        rt, receiver = await loop.create_datagram_endpoint(lambda: Endpoint(loop), local_addr=("127.0.0.1", 0))
        addr = rt.get_extra_info("sockname")
        st, sender = await loop.create_datagram_endpoint(lambda: Endpoint(loop), family=socket.AF_INET)
        assert st.get_extra_info("peername") is None
        for i in range(200):
            st.sendto(b"%d" % i, addr)
        await receiver.wait(200)
        assert [d for d, _ in receiver.received] == [b"%d" % i for i in range(200)]
        # Host names are resolved by the socket module, like asyncio's sendto.
        st.sendto(b"by name", ("localhost", addr[1]))
        await receiver.wait(201)
        assert receiver.received[-1][0] == b"by name"
        st.close()
        rt.close()
        await asyncio.wait_for(sender.lost, 5)
        await asyncio.wait_for(receiver.lost, 5)

    run(loop, main())


def test_sendto_errors(loop):
    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Endpoint(loop), local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, client = await loop.create_datagram_endpoint(lambda: Endpoint(loop), remote_addr=addr)
        with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
            ct.sendto("text")
        with pytest.raises(ValueError, match=r"Invalid address: must be None or \('127\.0\.0\.1', \d+\)"):
            ct.sendto(b"x", ("127.0.0.1", 1))
        assert ct.get_write_buffer_size() == 0
        ct.close()
        st.close()
        await asyncio.wait_for(client.lost, 5)
        await asyncio.wait_for(server.lost, 5)

    run(loop, main())


def test_empty_datagram(loop):
    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Endpoint(loop), local_addr=("127.0.0.1", 0))
        ct, client = await loop.create_datagram_endpoint(lambda: Endpoint(loop), remote_addr=st.get_extra_info("sockname"))
        ct.sendto(b"")
        ct.sendto(b"after")
        await server.wait(1)
        await asyncio.sleep(0.02)
        # 3.13 sends empty datagrams; earlier versions drop them.
        expected = [b"", b"after"] if PY313 else [b"after"]
        assert [d for d, _ in server.received] == expected
        ct.close()
        st.close()
        await asyncio.wait_for(client.lost, 5)

    run(loop, main())


def test_error_received_on_refused(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()
        ct, client = await loop.create_datagram_endpoint(lambda: Endpoint(loop), remote_addr=dead)
        for _ in range(100):
            ct.sendto(b"anyone?")
            await asyncio.sleep(0.01)
            if client.errors:
                break
        assert client.errors, "no error_received"
        exc = client.errors[0]
        assert isinstance(exc, ConnectionRefusedError) and exc.errno == errno.ECONNREFUSED
        assert not ct.is_closing()  # errors do not close a datagram transport
        ct.close()
        await asyncio.wait_for(client.lost, 5)

    run(loop, main())


def test_extra_info_and_repr(loop):
    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Endpoint(loop), local_addr=("127.0.0.1", 0))
        sock = st.get_extra_info("socket")
        assert type(sock).__name__ == "TransportSocket"
        assert sock.type == socket.SOCK_DGRAM
        assert st.get_extra_info("sockname") == sock.getsockname()
        assert st.get_extra_info("peername") is None
        assert st.get_extra_info("missing", "dflt") == "dflt"
        assert f"fd={sock.fileno()}" in repr(st)
        with pytest.raises(RuntimeError, match="is used by transport"):
            loop.add_reader(sock.fileno(), print)
        st.abort()
        assert st.is_closing()
        assert await asyncio.wait_for(server.lost, 5) is None
        assert sock.fileno() == -1

    run(loop, main())


def test_protocol_exception_goes_to_handler(loop, handler_calls):
    class Boom(Endpoint):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            raise ZeroDivisionError

    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Boom(loop), local_addr=("127.0.0.1", 0))
        ct, client = await loop.create_datagram_endpoint(lambda: Endpoint(loop), remote_addr=st.get_extra_info("sockname"))
        ct.sendto(b"a")
        ct.sendto(b"b")
        await server.wait(2)
        assert not st.is_closing()
        ct.close()
        st.close()
        await asyncio.wait_for(server.lost, 5)

    run(loop, main())
    assert len(handler_calls.contexts) == 2
    assert all(isinstance(c["exception"], ZeroDivisionError) for c in handler_calls.contexts)


def test_options(loop):
    async def main():
        st, _ = await loop.create_datagram_endpoint(
            lambda: Endpoint(loop), local_addr=("127.0.0.1", 0), reuse_port=True, allow_broadcast=True
        )
        sock = st.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        st2, _ = await loop.create_datagram_endpoint(
            lambda: Endpoint(loop), local_addr=st.get_extra_info("sockname"), reuse_port=True
        )
        st.close()
        st2.close()
        await asyncio.sleep(0)

    run(loop, main())


def test_bad_arguments(loop):
    async def main():
        with pytest.raises(TypeError, match="reuse_address"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), reuse_address=True)
        with pytest.raises(ValueError, match="unexpected address family"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol)
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr="127.0.0.1")
        with pytest.raises(TypeError, match="string is expected"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("x", 1), family=socket.AF_UNIX)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(
                ValueError,
                match=r"socket modifier keyword arguments can not be used when sock is specified. \(reuse_port=True\)",
            ):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=udp, reuse_port=True)
        with socket.socket() as tcp:
            with pytest.raises(ValueError, match="A (UDP Socket|datagram socket) was expected"):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=tcp)

    run(loop, main())


def test_bind_error_matches_asyncio(loop, ref_loop):
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    addr = holder.getsockname()

    def attempt(lp):
        async def main():
            try:
                await lp.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=addr)
            except OSError as exc:
                return exc

        return run(lp, main())

    try:
        got, ref = attempt(loop), attempt(ref_loop)
        assert type(got) is type(ref) and got.errno == ref.errno == errno.EADDRINUSE
        assert str(got) == str(ref)
    finally:
        holder.close()


def test_sock_argument(loop):
    async def main():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        ta, pa = await loop.create_datagram_endpoint(lambda: Endpoint(loop), sock=a)
        b.send(b"from b")
        await pa.wait(1)
        assert pa.received[0][0] == b"from b"
        ta.close()
        await asyncio.wait_for(pa.lost, 5)
        assert a.fileno() == -1
        b.close()

    run(loop, main())


def test_unix_datagrams(loop, tmp_path):
    server_path = str(tmp_path / "srv")
    client_path = str(tmp_path / "cli")

    async def main():
        st, server = await loop.create_datagram_endpoint(
            lambda: Endpoint(loop, echo=True), local_addr=server_path, family=socket.AF_UNIX
        )
        ct, client = await loop.create_datagram_endpoint(
            lambda: Endpoint(loop), local_addr=client_path, remote_addr=server_path, family=socket.AF_UNIX
        )
        assert st.get_extra_info("sockname") == server_path
        assert ct.get_extra_info("peername") == server_path
        ct.sendto(b"unix dgram")
        await client.wait(1)
        assert client.received == [(b"unix dgram", server_path)]
        assert server.received == [(b"unix dgram", client_path)]
        ct.close()
        st.close()
        await asyncio.wait_for(client.lost, 5)
        await asyncio.wait_for(server.lost, 5)
        # A stale socket file is replaced on the next bind.
        st, server = await loop.create_datagram_endpoint(
            lambda: Endpoint(loop), local_addr=server_path, family=socket.AF_UNIX
        )
        st.close()
        await asyncio.wait_for(server.lost, 5)
        assert os.path.exists(server_path)

    run(loop, main())


def test_flow_control_limits(loop):
    async def main():
        st, server = await loop.create_datagram_endpoint(lambda: Endpoint(loop), local_addr=("127.0.0.1", 0))
        assert st.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        st.set_write_buffer_limits(high=100)
        assert st.get_write_buffer_limits() == (25, 100)
        with pytest.raises(ValueError, match="must be >= low"):
            st.set_write_buffer_limits(high=1, low=5)
        st.close()
        await asyncio.wait_for(server.lost, 5)

    run(loop, main())


def _queued_receiver(loop, protocol_factory, count):
    """An endpoint with `count` datagrams already waiting in its socket."""

    async def make():
        rt, proto = await loop.create_datagram_endpoint(protocol_factory, local_addr=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            for i in range(count):
                out.sendto(b"%d" % i, rt.get_extra_info("sockname"))
        return rt, proto

    return make()


def test_pause_reading_inside_datagram_received_stops_the_burst(loop):
    class PauseAfterThree(Endpoint):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            if len(self.received) == 3:
                self.transport.pause_reading()

    async def main():
        rt, proto = await _queued_receiver(loop, lambda: PauseAfterThree(loop), 10)
        await proto.wait(3)
        for _ in range(20):
            await asyncio.sleep(0)
        assert [d for d, _ in proto.received] == [b"0", b"1", b"2"]
        assert not rt.is_reading()
        rt.resume_reading()
        await proto.wait(10)
        assert [d for d, _ in proto.received] == [b"%d" % i for i in range(10)]
        rt.close()
        await asyncio.wait_for(proto.lost, 5)

    run(loop, main())


def test_close_inside_datagram_received_delivers_nothing_more(loop):
    class CloseAfterTwo(Endpoint):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            if len(self.received) == 2:
                self.transport.close()

    async def main():
        rt, proto = await _queued_receiver(loop, lambda: CloseAfterTwo(loop), 10)
        assert await asyncio.wait_for(proto.lost, 5) is None
        for _ in range(20):
            await asyncio.sleep(0)
        assert [d for d, _ in proto.received] == [b"0", b"1"]
        assert proto.events == ["made", "datagram", "datagram", "lost"]

    run(loop, main())


def test_exception_in_datagram_received_loses_no_datagram(loop, handler_calls):
    class FailOnFirst(Endpoint):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            if len(self.received) == 1:
                raise ZeroDivisionError("first")

    async def main():
        rt, proto = await _queued_receiver(loop, lambda: FailOnFirst(loop), 40)
        await proto.wait(40)
        assert [d for d, _ in proto.received] == [b"%d" % i for i in range(40)]
        assert not rt.is_closing()
        rt.close()
        await asyncio.wait_for(proto.lost, 5)

    run(loop, main())
    assert len(handler_calls.contexts) == 1
    assert isinstance(handler_calls.contexts[0]["exception"], ZeroDivisionError)
