"""Servers and connections: create_server, create_connection, Unix sockets,
connect_accepted_socket, the Server object, errors and fd hygiene.

Every test runs on asyncio's loop and on ferroloop; where an OS error is
checked, the same call is also made on a reference asyncio loop and the two
errors must agree (class, errno, message).
"""

import asyncio
import errno
import gc
import os
import socket
import sys

import pytest

from loophelpers import run

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Proto(asyncio.Protocol):
    def __init__(self, loop, echo=False, close_on_data=False):
        self.loop = loop
        self.echo = echo
        self.close_on_data = close_on_data
        self.transport = None
        self.data = bytearray()
        self.made = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data):
        self.data += data
        if self.echo:
            self.transport.write(data)
        if self.close_on_data:
            self.transport.close()

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


class Accepting:
    """A protocol factory that remembers what it made."""

    def __init__(self, loop, **kw):
        self.loop = loop
        self.kw = kw
        self.made = []

    def __call__(self):
        p = Proto(self.loop, **self.kw)
        self.made.append(p)
        return p

    async def first(self, timeout=5):
        for _ in range(int(timeout / 0.005)):
            if self.made:
                await self.made[0].made
                return self.made[0]
            await asyncio.sleep(0.005)
        raise AssertionError("no connection was accepted")


def port_of(server):
    return server.sockets[0].getsockname()[1]


def error_of(lp, coro_fn):
    """The exception ``coro_fn()`` raises on loop ``lp`` (run to completion there)."""

    async def main():
        try:
            await coro_fn(lp)
        except BaseException as exc:  # noqa: B902 - the test inspects it
            return exc
        raise AssertionError("no exception")

    return run(lp, main())


def same_error(a, b):
    assert type(a) is type(b), (a, b)
    assert getattr(a, "errno", None) == getattr(b, "errno", None)
    assert str(a) == str(b)


# -- the Server object ----------------------------------------------------------


def test_server_object(loop):
    async def main():
        server = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0)
        assert isinstance(server, asyncio.AbstractServer)
        assert isinstance(server, asyncio.Server)
        assert server.get_loop() is loop
        assert server.is_serving()
        (sock,) = server.sockets
        port = sock.getsockname()[1]
        assert type(sock).__name__ == "TransportSocket"
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
        assert repr(server).startswith("<Server sockets=(")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        server.close()  # twice is harmless
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)

    run(loop, main())


def test_start_serving_false(loop):
    async def main():
        factory = Accepting(loop)
        server = await loop.create_server(factory, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        # Not listening yet: the socket is bound only.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port_of(server)), timeout=5)
        await server.start_serving()
        assert server.is_serving()
        await server.start_serving()  # again: no-op
        t, p = await loop.create_connection(lambda: Proto(loop), "127.0.0.1", port_of(server))
        await factory.first()
        t.close()
        factory.made[0].transport.close()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_serve_forever_and_cancel(loop):
    async def main():
        server = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0, start_serving=False)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        with pytest.raises(RuntimeError, match="is already being awaited on serve_forever"):
            await server.serve_forever()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()

    run(loop, main())


def test_async_with_closes(loop):
    async def main():
        async with await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0) as server:
            assert server.is_serving()
        assert not server.is_serving()
        assert server.sockets == ()

    run(loop, main())


def test_wait_closed_waits_for_connections(loop):
    async def main():
        factory = Accepting(loop)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        t, p = await loop.create_connection(lambda: Proto(loop), "127.0.0.1", port_of(server))
        peer = await factory.first()
        server.close()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.02)
        # 3.12.1+ waits for the last connection; 3.11 returns at once.
        assert waiter.done() is (not PY312)
        peer.transport.close()
        await asyncio.wait_for(waiter, 5)
        await asyncio.wait_for(p.lost, 5)
        t.close()

    run(loop, main())


@pytest.mark.skipif(not PY313, reason="close_clients/abort_clients are new in 3.13")
@pytest.mark.parametrize("how", ["close_clients", "abort_clients"])
def test_close_and_abort_clients(loop, how):
    async def main():
        factory = Accepting(loop)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        clients = [await loop.create_connection(lambda: Proto(loop), "127.0.0.1", port_of(server)) for _ in range(3)]
        while len(factory.made) < 3:
            await asyncio.sleep(0.005)
        for p in factory.made:
            await p.made
        server.close()
        getattr(server, how)()
        for p in factory.made:
            assert await asyncio.wait_for(p.lost, 5) is None
        await asyncio.wait_for(server.wait_closed(), 5)
        for t, p in clients:
            await asyncio.wait_for(p.lost, 5)

    run(loop, main())


def test_several_hosts_port_zero(loop):
    hosts = ["127.0.0.1", "localhost"] + (["::1"] if ipv6_loopback() else [])

    async def main():
        server = await loop.create_server(lambda: Proto(loop), hosts, 0)
        families = sorted(s.family for s in server.sockets)
        expected = [socket.AF_INET] + ([socket.AF_INET6] if "::1" in hosts else [])
        assert families == expected  # 127.0.0.1 and localhost bind once
        for s in server.sockets:
            if s.family == socket.AF_INET6:
                assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            t, p = await loop.create_connection(lambda: Proto(loop), *s.getsockname()[:2])
            t.close()
            await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_reuse_port(loop):
    async def main():
        a = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0, reuse_port=True)
        assert a.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        b = await loop.create_server(lambda: Proto(loop), "127.0.0.1", port_of(a), reuse_port=True)
        assert port_of(b) == port_of(a)
        for s in (a, b):
            s.close()
            await s.wait_closed()

    run(loop, main())


@pytest.mark.skipif(not PY313, reason="keep_alive is new in 3.13")
def test_keep_alive(loop):
    async def main():
        server = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0, keep_alive=True)
        assert server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_backlog_and_sock_argument(loop):
    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        factory = Accepting(loop, echo=True)
        server = await loop.create_server(factory, sock=sock, backlog=5)
        assert server.sockets[0].fileno() == sock.fileno()
        assert not sock.getblocking()
        t, p = await loop.create_connection(lambda: Proto(loop), *sock.getsockname())
        t.write(b"ping")
        while bytes(p.data) != b"ping":
            await asyncio.sleep(0.005)
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()
        assert sock.fileno() == -1  # closed by the server

    run(loop, main())


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(host="127.0.0.1", port=0, sock="SOCK"), ValueError, "host/port and sock can not be specified at the same time"),
        (dict(), ValueError, "Neither host/port nor sock were specified"),
        (dict(sock="UDP"), ValueError, "A Stream Socket was expected"),
        (dict(host="127.0.0.1", port=0, ssl=True), TypeError, "ssl argument must be an SSLContext or None"),
        (dict(host="127.0.0.1", port=0, ssl_handshake_timeout=1), ValueError, "ssl_handshake_timeout is only meaningful with ssl"),
        (dict(host="127.0.0.1", port=0, ssl_shutdown_timeout=1), ValueError, "ssl_shutdown_timeout is only meaningful with ssl"),
    ],
)
def test_create_server_bad_arguments(loop, kwargs, exc, message):
    async def main():
        socks = []
        if kwargs.get("sock") == "SOCK":
            kwargs["sock"] = socks.append(socket.socket()) or socks[-1]
        elif kwargs.get("sock") == "UDP":
            kwargs["sock"] = socks.append(socket.socket(type=socket.SOCK_DGRAM)) or socks[-1]
        try:
            with pytest.raises(exc, match=message):
                await loop.create_server(lambda: Proto(loop), **kwargs)
        finally:
            for s in socks:
                s.close()

    run(loop, main())


def test_address_in_use(loop, ref_loop):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:

        async def attempt(lp):
            await lp.create_server(lambda: Proto(lp), "127.0.0.1", port, reuse_address=False)

        got = error_of(loop, attempt)
        assert isinstance(got, OSError) and got.errno == errno.EADDRINUSE
        assert str(got).startswith(f"[Errno {errno.EADDRINUSE}] error while attempting to bind on address ('127.0.0.1', {port})")
        same_error(got, error_of(ref_loop, attempt))
    finally:
        holder.close()


# -- create_connection ------------------------------------------------------------


def test_create_connection_host_port(loop):
    async def main():
        factory = Accepting(loop, echo=True)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        t, p = await loop.create_connection(lambda: Proto(loop), "localhost", port_of(server), family=socket.AF_INET)
        assert isinstance(t, asyncio.Transport) and p.transport is t
        assert t.get_extra_info("peername") == ("127.0.0.1", port_of(server))
        # create_connection's sockets come from getaddrinfo (proto IPPROTO_TCP).
        assert t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        t.write(b"abc")
        while bytes(p.data) != b"abc":
            await asyncio.sleep(0.005)
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_create_connection_local_addr(loop):
    async def main():
        server = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local_port = probe.getsockname()[1]
        t, p = await loop.create_connection(
            lambda: Proto(loop), "127.0.0.1", port_of(server), local_addr=("127.0.0.1", local_port)
        )
        assert t.get_extra_info("sockname") == ("127.0.0.1", local_port)
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_create_connection_local_addr_in_use(loop, ref_loop):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:

        async def attempt(lp):
            await lp.create_connection(asyncio.Protocol, "127.0.0.1", port, local_addr=("127.0.0.1", port))

        got = error_of(loop, attempt)
        assert isinstance(got, OSError) and got.errno == errno.EADDRINUSE
        assert "error while attempting to bind on address ('127.0.0.1', %d)" % port in str(got)
        same_error(got, error_of(ref_loop, attempt))
    finally:
        holder.close()


def test_connection_refused(loop, ref_loop):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def attempt(lp):
        await lp.create_connection(asyncio.Protocol, "127.0.0.1", port)

    got = error_of(loop, attempt)
    assert isinstance(got, ConnectionRefusedError) and got.errno == errno.ECONNREFUSED
    same_error(got, error_of(ref_loop, attempt))


@pytest.mark.skipif(not ipv6_loopback(), reason="needs an IPv6 loopback")
@pytest.mark.parametrize("all_errors", [False, True])
def test_connection_refused_on_every_address(loop, ref_loop, all_errors):
    if all_errors and not PY312:
        pytest.skip("all_errors is new in 3.12")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def attempt(lp):
        real = lp.getaddrinfo

        async def two_addresses(host, port, **kw):
            v4 = await real("127.0.0.1", port, family=socket.AF_INET, type=socket.SOCK_STREAM)
            v6 = await real("::1", port, family=socket.AF_INET6, type=socket.SOCK_STREAM)
            return v6 + v4

        lp.getaddrinfo = two_addresses
        try:
            kw = {"all_errors": True} if all_errors else {}
            await lp.create_connection(asyncio.Protocol, "somewhere", port, **kw)
        finally:
            del lp.getaddrinfo

    got = error_of(loop, attempt)
    ref = error_of(ref_loop, attempt)
    if all_errors:
        assert isinstance(got, ExceptionGroup) and type(ref) is ExceptionGroup
        assert [type(e) for e in got.exceptions] == [ConnectionRefusedError] * 2
        assert [str(e) for e in got.exceptions] == [str(e) for e in ref.exceptions]
    else:
        assert str(got).startswith("Multiple exceptions: ")
        same_error(got, ref)


@pytest.mark.skipif(not ipv6_loopback(), reason="needs an IPv6 loopback")
def test_happy_eyeballs(loop):
    async def main():
        server = await loop.create_server(lambda: Proto(loop), "127.0.0.1", 0)
        port = port_of(server)
        real = loop.getaddrinfo

        async def both(host, port, **kw):
            v6 = await real("::1", port, family=socket.AF_INET6, type=socket.SOCK_STREAM)
            v4 = await real("127.0.0.1", port, family=socket.AF_INET, type=socket.SOCK_STREAM)
            return v6 + v4

        loop.getaddrinfo = both
        try:
            t, p = await loop.create_connection(
                lambda: Proto(loop), "dual", port, happy_eyeballs_delay=0.05, interleave=1
            )
        finally:
            del loop.getaddrinfo
        assert t.get_extra_info("peername") == ("127.0.0.1", port)  # ::1 refused, then IPv4
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()

    run(loop, main())


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(host="127.0.0.1", port=1, server_hostname="x"), ValueError, "server_hostname is only meaningful with ssl"),
        (dict(host="127.0.0.1", port=1, ssl_handshake_timeout=1), ValueError, "ssl_handshake_timeout is only meaningful with ssl"),
        (dict(host="127.0.0.1", port=1, ssl_shutdown_timeout=1), ValueError, "ssl_shutdown_timeout is only meaningful with ssl"),
        (dict(sock="TCP", ssl=True), ValueError, "You must set server_hostname when using ssl without a host"),
        (dict(host="127.0.0.1", port=1, sock="TCP"), ValueError, "host/port and sock can not be specified at the same time"),
        (dict(), ValueError, "host and port was not specified and no sock specified"),
        (dict(sock="UDP"), ValueError, "A Stream Socket was expected"),
    ],
)
def test_create_connection_bad_arguments(loop, kwargs, exc, message):
    async def main():
        socks = []
        if kwargs.get("sock") == "TCP":
            kwargs["sock"] = socks.append(socket.socket()) or socks[-1]
        elif kwargs.get("sock") == "UDP":
            kwargs["sock"] = socks.append(socket.socket(type=socket.SOCK_DGRAM)) or socks[-1]
        try:
            with pytest.raises(exc, match=message):
                await loop.create_connection(asyncio.Protocol, **kwargs)
        finally:
            for s in socks:
                s.close()

    run(loop, main())


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # asyncio leaves the socket to the GC
def test_server_protocol_factory_error(loop):
    async def main():
        def broken():
            raise ZeroDivisionError

        server = await loop.create_server(broken, "127.0.0.1", 0)
        client = Proto(loop)
        t, p = await loop.create_connection(lambda: client, "127.0.0.1", port_of(server))
        assert await asyncio.wait_for(p.lost, 5) is None  # the server dropped it
        server.close()
        await server.wait_closed()

    run(loop, main())


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # asyncio leaves the socket to the GC
def test_server_protocol_factory_error_debug(loop, handler_calls):
    loop.set_debug(True)

    def reported():
        return [c for c in handler_calls.contexts if "incoming connection" in c.get("message", "")]

    async def main():
        def broken():
            raise ZeroDivisionError

        server = await loop.create_server(broken, "127.0.0.1", 0)
        t, p = await loop.create_connection(lambda: Proto(loop), "127.0.0.1", port_of(server))
        for _ in range(1000):
            if reported():
                break
            await asyncio.sleep(0.005)
        t.close()
        server.close()
        await server.wait_closed()

    run(loop, main())
    (ctx,) = reported()
    assert ctx["message"] == "Error on transport creation for incoming connection"
    assert isinstance(ctx["exception"], ZeroDivisionError)
    handler_calls.calls.clear()
    gc.collect()


def test_connect_accepted_socket(loop):
    async def main():
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
        listener.close()
        t, p = await loop.connect_accepted_socket(lambda: Proto(loop, echo=True), conn)
        assert isinstance(t, asyncio.Transport)
        assert t.get_extra_info("peername") == client.getsockname()
        client.setblocking(False)
        await loop.sock_sendall(client, b"hi")
        assert await asyncio.wait_for(loop.sock_recv(client, 10), 5) == b"hi"
        client.close()
        assert await asyncio.wait_for(p.lost, 5) is None
        assert conn.fileno() == -1

    run(loop, main())


def test_connect_accepted_socket_bad_arguments(loop):
    async def main():
        with socket.socket(type=socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.connect_accepted_socket(asyncio.Protocol, udp)
        with socket.socket() as tcp:
            with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful with ssl"):
                await loop.connect_accepted_socket(asyncio.Protocol, tcp, ssl_handshake_timeout=1)

    run(loop, main())


# -- Unix sockets -------------------------------------------------------------------


def test_unix_server_and_connection(loop, tmp_path):
    path = str(tmp_path / "sock")

    async def main():
        factory = Accepting(loop, echo=True)
        server = await loop.create_unix_server(factory, path)
        assert server.sockets[0].family == socket.AF_UNIX
        assert server.sockets[0].getsockname() == path
        t, p = await loop.create_unix_connection(lambda: Proto(loop), path)
        assert t.get_extra_info("peername") == path
        assert t.get_extra_info("sockname") == ""
        t.write(b"unix")
        while bytes(p.data) != b"unix":
            await asyncio.sleep(0.005)
        peer = await factory.first()
        assert peer.transport.get_extra_info("sockname") == path
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()
        # 3.13 removes the socket file on close (cleanup_socket=True).
        assert os.path.exists(path) is (not PY313)

    run(loop, main())


def test_unix_abstract_name(loop):
    name = b"\0ferroloop-abstract-%d" % os.getpid()

    async def main():
        server = await loop.create_unix_server(lambda: Proto(loop, echo=True), name)
        assert server.sockets[0].getsockname() == name
        t, p = await loop.create_unix_connection(lambda: Proto(loop), name)
        assert t.get_extra_info("peername") == name
        t.write(b"abstract")
        while bytes(p.data) != b"abstract":
            await asyncio.sleep(0.005)
        t.close()
        await asyncio.wait_for(p.lost, 5)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_unix_stale_socket_replaced(loop, tmp_path):
    path = str(tmp_path / "stale")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays behind

    async def main():
        server = await loop.create_unix_server(lambda: Proto(loop), path)
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_unix_address_in_use(loop, ref_loop, tmp_path):
    path = str(tmp_path / "file")
    with open(path, "w"):
        pass

    async def attempt(lp):
        await lp.create_unix_server(asyncio.Protocol, path)

    got = error_of(loop, attempt)
    assert isinstance(got, OSError) and got.errno == errno.EADDRINUSE
    assert str(got) == f"[Errno {errno.EADDRINUSE}] Address {path!r} is already in use"
    same_error(got, error_of(ref_loop, attempt))


@pytest.mark.skipif(not PY313, reason="cleanup_socket is new in 3.13")
def test_unix_cleanup_socket_false(loop, tmp_path):
    path = str(tmp_path / "keep")

    async def main():
        server = await loop.create_unix_server(asyncio.Protocol, path, cleanup_socket=False)
        server.close()
        await server.wait_closed()
        assert os.path.exists(path)

    run(loop, main())


def test_unix_connection_refused(loop, ref_loop, tmp_path):
    path = str(tmp_path / "nobody")

    async def attempt(lp):
        await lp.create_unix_connection(asyncio.Protocol, path)

    got = error_of(loop, attempt)
    assert isinstance(got, FileNotFoundError) and got.errno == errno.ENOENT
    same_error(got, error_of(ref_loop, attempt))


def test_unix_bad_arguments(loop, tmp_path):
    async def main():
        with socket.socket() as tcp:
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_connection(asyncio.Protocol, sock=tcp)
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_server(asyncio.Protocol, sock=tcp)
            with pytest.raises(ValueError, match="path and sock can not be specified at the same time"):
                await loop.create_unix_connection(asyncio.Protocol, str(tmp_path / "x"), sock=tcp)
        with pytest.raises(ValueError, match="no path and sock were specified"):
            await loop.create_unix_connection(asyncio.Protocol)
        with pytest.raises(ValueError, match="path was not specified, and no sock specified"):
            await loop.create_unix_server(asyncio.Protocol)
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_unix_connection(asyncio.Protocol, "x", server_hostname="h")
        with pytest.raises(TypeError, match="ssl argument must be an SSLContext or None"):
            await loop.create_unix_server(asyncio.Protocol, "x", ssl=True)

    run(loop, main())


# -- many connections ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_2000_short_connections_no_fd_growth(loop, kind, tmp_path):
    total, parallel = 2000, 50

    async def one(connect):
        t, p = await connect()
        t.write(b"x" * 100)
        for _ in range(5000):
            if len(p.data) >= 100 or p.lost.done():
                break
            await asyncio.sleep(0.001)
        assert bytes(p.data) == b"x" * 100
        t.close()
        await asyncio.wait_for(p.lost, 5)

    async def main():
        factory = lambda: Proto(loop, echo=True)  # noqa: E731
        if kind == "tcp":
            server = await loop.create_server(factory, "127.0.0.1", 0)
            port = port_of(server)
            connect = lambda: loop.create_connection(lambda: Proto(loop), "127.0.0.1", port)  # noqa: E731
        else:
            path = str(tmp_path / "many")
            server = await loop.create_unix_server(factory, path)
            connect = lambda: loop.create_unix_connection(lambda: Proto(loop), path)  # noqa: E731
        # Warm up once so lazily created resources exist before counting.
        await one(connect)
        await asyncio.sleep(0.05)
        gc.collect()
        before = len(os.listdir("/proc/self/fd"))
        for start in range(0, total, parallel):
            await asyncio.gather(*(one(connect) for _ in range(parallel)))
        await asyncio.sleep(0.05)
        gc.collect()
        after = len(os.listdir("/proc/self/fd"))
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        return before, after

    before, after = run(loop, main(), timeout=120)
    assert after <= before, (before, after)
