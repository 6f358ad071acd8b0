"""sock_recv, sock_recv_into, sock_recvfrom(_into), sock_sendall, sock_sendto, sock_connect, sock_accept.

Every test runs on asyncio's loop (the oracle) and on ferroloop. asyncio refuses blocking
sockets only in debug mode, so the tests that check that refusal turn debug mode on.
"""

import asyncio
import errno
import os
import socket
import ssl
import tempfile

import pytest

from loophelpers import run


def _has_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6()
STREAM_KINDS = ["tcp4", pytest.param("tcp6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no ::1")), "unix"]
DGRAM_KINDS = ["udp4", pytest.param("udp6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no ::1")), "unix"]


@pytest.fixture
def closing():
    """Collects sockets (and paths) and closes them after the test."""
    socks = []
    yield socks
    for s in socks:
        if isinstance(s, str):
            try:
                os.unlink(s)
            except OSError:
                pass
        else:
            s.close()


def nonblocking(*socks):
    for s in socks:
        s.setblocking(False)
    return socks


def listener(kind, closing, backlog=128):
    """A listening, non-blocking socket of the given kind, and its address."""
    if kind == "unix":
        path = tempfile.mktemp(prefix="ferroloop-", suffix=".sock")
        closing.append(path)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
    elif kind == "tcp6":
        lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        lsock.bind(("::1", 0))
    else:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
    closing.append(lsock)
    lsock.listen(backlog)
    lsock.setblocking(False)
    return lsock, lsock.getsockname()


def client_for(kind, closing):
    family = {"unix": socket.AF_UNIX, "tcp6": socket.AF_INET6, "tcp4": socket.AF_INET}[kind]
    sock = socket.socket(family, socket.SOCK_STREAM)
    closing.append(sock)
    sock.setblocking(False)
    return sock


def stream_pair(loop, kind, closing):
    """A connected (client, server) pair, both non-blocking, made with sock_connect/sock_accept."""
    lsock, addr = listener(kind, closing)
    client = client_for(kind, closing)

    async def connect():
        accepted = asyncio.ensure_future(loop.sock_accept(lsock))
        await loop.sock_connect(client, addr)
        conn, _ = await accepted
        closing.append(conn)
        return client, conn

    return run(loop, connect())


def dgram_pair(kind, closing):
    """Two bound datagram sockets (a, b) and their addresses."""
    if kind == "unix":
        a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        tag = os.urandom(6).hex()
        a.bind(f"\0ferroloop-a-{tag}")  # abstract names
        path = tempfile.mktemp(prefix="ferroloop-", suffix=".dgram")
        closing.append(path)
        b.bind(path)
    else:
        family, host = (socket.AF_INET6, "::1") if kind == "udp6" else (socket.AF_INET, "127.0.0.1")
        a = socket.socket(family, socket.SOCK_DGRAM)
        b = socket.socket(family, socket.SOCK_DGRAM)
        a.bind((host, 0))
        b.bind((host, 0))
    closing.extend([a, b])
    nonblocking(a, b)
    return a, b


def assert_unwatched(loop, sock):
    """Nothing watches the socket's fd any more (on ferroloop: its fd table has no entry)."""
    assert loop.remove_reader(sock.fileno()) is False
    assert loop.remove_writer(sock.fileno()) is False


# -- recv / recv_into -------------------------------------------------------


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_recv_data_already_there(loop, kind, closing):
    a, b = stream_pair(loop, kind, closing)
    b.send(b"ready")

    async def main():
        data = b""
        while len(data) < 5:
            data += await loop.sock_recv(a, 100)
        return data

    assert run(loop, main()) == b"ready"
    assert_unwatched(loop, a)


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_recv_waits_for_data(loop, kind, closing):
    a, b = stream_pair(loop, kind, closing)
    loop.call_later(0.05, b.send, b"later")
    assert run(loop, loop.sock_recv(a, 100)) == b"later"
    assert_unwatched(loop, a)


def test_recv_ready_data_does_not_suspend(loop, closing):
    """A recv that can complete at once completes without letting other callbacks run."""
    a, b = stream_pair(loop, "tcp4", closing)
    b.send(b"x")
    while not select_readable(a):
        pass
    ran = []

    async def main():
        loop.call_soon(ran.append, 1)
        data = await loop.sock_recv(a, 10)
        return data, list(ran)

    assert run(loop, main()) == (b"x", [])


def select_readable(sock):
    import select

    return bool(select.select([sock], [], [], 0.01)[0])


def test_recv_returns_at_most_n_bytes(loop, closing):
    a, b = stream_pair(loop, "unix", closing)
    b.sendall(b"abcdefgh")

    async def main():
        first = await loop.sock_recv(a, 3)
        rest = b""
        while len(rest) < 5:
            rest += await loop.sock_recv(a, 100)
        return first, rest

    assert run(loop, main()) == (b"abc", b"defgh")


def test_recv_zero_bytes(loop, closing):
    a, b = stream_pair(loop, "tcp4", closing)
    assert run(loop, loop.sock_recv(a, 0)) == b""


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_recv_eof(loop, kind, closing):
    a, b = stream_pair(loop, kind, closing)
    loop.call_later(0.02, b.close)
    assert run(loop, loop.sock_recv(a, 100)) == b""


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_recv_into(loop, kind, closing):
    a, b = stream_pair(loop, kind, closing)
    buf = bytearray(10)
    loop.call_later(0.02, b.send, b"into")

    async def main():
        n = await loop.sock_recv_into(a, buf)
        return n

    n = run(loop, main())
    assert buf[:n] == b"into"[:n] and n > 0
    assert_unwatched(loop, a)


def test_recv_into_memoryview_slice(loop, closing):
    a, b = stream_pair(loop, "unix", closing)
    buf = bytearray(b"........")
    b.send(b"abcdef")

    async def main():
        return await loop.sock_recv_into(a, memoryview(buf)[2:5])

    assert run(loop, main()) == 3
    assert buf == b"..abc..."


def test_recv_into_readonly_buffer_is_type_error(loop, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        await loop.sock_recv_into(a, b"immutable")

    with pytest.raises(TypeError):
        run(loop, main())


def test_recv_negative_size_is_value_error(loop, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        await loop.sock_recv(a, -1)

    with pytest.raises(ValueError):
        run(loop, main())


def test_recv_connection_reset(loop, closing):
    a, b = stream_pair(loop, "tcp4", closing)
    # SO_LINGER 0: close() sends RST.
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    loop.call_later(0.02, b.close)
    with pytest.raises(ConnectionResetError) as info:
        run(loop, loop.sock_recv(a, 100))
    assert info.value.errno == errno.ECONNRESET


# -- sendall ----------------------------------------------------------------


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_sendall_large_to_slow_reader(loop, kind, closing):
    """A send far beyond the socket buffer waits for writability, chunk after chunk."""
    a, b = stream_pair(loop, kind, closing)
    payload = os.urandom(4 * 1024 * 1024)

    async def slow_reader():
        got = bytearray()
        while len(got) < len(payload):
            chunk = await loop.sock_recv(b, 65536)
            if not chunk:
                break
            got += chunk
            if len(got) < 512 * 1024:
                await asyncio.sleep(0.001)
        return bytes(got)

    async def main():
        reader = asyncio.ensure_future(slow_reader())
        await asyncio.sleep(0.01)
        result = await loop.sock_sendall(a, payload)
        return result, await reader

    result, got = run(loop, main())
    assert result is None
    assert got == payload
    assert_unwatched(loop, a)
    assert_unwatched(loop, b)


@pytest.mark.parametrize("data", [b"", bytearray(b"bytearray"), memoryview(b"--view--")[2:6]])
def test_sendall_bytes_like(loop, data, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        assert await loop.sock_sendall(a, data) is None
        if not len(data):
            return b""
        return await loop.sock_recv(b, 100)

    assert run(loop, main()) == bytes(data)


def test_sendall_str_is_type_error(loop, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        await loop.sock_sendall(a, "text")

    with pytest.raises(TypeError):
        run(loop, main())


def test_sendall_to_closed_peer(loop, closing):
    a, b = stream_pair(loop, "tcp4", closing)
    b.close()

    async def main():
        for _ in range(200):
            await loop.sock_sendall(a, b"x" * 65536)
            await asyncio.sleep(0.001)

    with pytest.raises((BrokenPipeError, ConnectionResetError)) as info:
        run(loop, main())
    assert info.value.errno in (errno.EPIPE, errno.ECONNRESET)


def test_recv_and_sendall_on_one_socket_at_once(loop, closing):
    """A pending recv (reader side) and a pending sendall (writer side) on the same fd."""
    a, b = stream_pair(loop, "unix", closing)
    payload = os.urandom(2 * 1024 * 1024)

    async def drain(sock, n):
        got = bytearray()
        while len(got) < n:
            got += await loop.sock_recv(sock, 65536)
        return bytes(got)

    async def main():
        incoming = asyncio.ensure_future(loop.sock_recv(a, 100))
        sending = asyncio.ensure_future(loop.sock_sendall(a, payload))
        await asyncio.sleep(0.01)
        assert not incoming.done() and not sending.done()
        received = await drain(b, len(payload))
        await sending
        await loop.sock_sendall(b, b"reply")
        return received, await incoming

    received, reply = run(loop, main())
    assert received == payload
    assert reply == b"reply"
    assert_unwatched(loop, a)


# -- accept / connect --------------------------------------------------------


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_accept_returns_nonblocking_socket_and_address(loop, kind, closing):
    lsock, addr = listener(kind, closing)
    client = client_for(kind, closing)

    async def main():
        accepting = asyncio.ensure_future(loop.sock_accept(lsock))
        await asyncio.sleep(0.01)
        assert not accepting.done()
        await loop.sock_connect(client, addr)
        return await accepting

    conn, address = run(loop, main())
    closing.append(conn)
    assert type(conn) is socket.socket
    assert conn.gettimeout() == 0.0
    assert conn.family == lsock.family
    assert address == client.getsockname()
    assert conn.getpeername() == client.getsockname()
    assert_unwatched(loop, lsock)


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_connect_and_exchange(loop, kind, closing):
    a, b = stream_pair(loop, kind, closing)

    async def main():
        await loop.sock_sendall(a, b"ping")
        got = await loop.sock_recv(b, 10)
        await loop.sock_sendall(b, got.replace(b"i", b"o"))
        return await loop.sock_recv(a, 10)

    assert run(loop, main()) == b"pong"
    assert a.getpeername() == b.getsockname()


def test_connect_resolves_host_name(loop, closing):
    lsock, (host, port) = listener("tcp4", closing)
    client = client_for("tcp4", closing)

    async def main():
        accepting = asyncio.ensure_future(loop.sock_accept(lsock))
        await loop.sock_connect(client, ("localhost", port))
        conn, _ = await accepting
        closing.append(conn)

    run(loop, main())
    assert client.getpeername() == (host, port)


def test_connect_accepts_bytes_host_and_str_port(loop, closing):
    lsock, (host, port) = listener("tcp4", closing)
    client = client_for("tcp4", closing)

    async def main():
        accepting = asyncio.ensure_future(loop.sock_accept(lsock))
        await loop.sock_connect(client, (host.encode(), str(port)))
        closing.append((await accepting)[0])

    run(loop, main())
    assert client.getpeername() == (host, port)


@pytest.mark.parametrize("kind", ["tcp4", pytest.param("tcp6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no ::1"))])
def test_connect_refused(loop, kind, closing):
    lsock, addr = listener(kind, closing)
    lsock.close()  # nothing listens on that port any more
    client = client_for(kind, closing)
    with pytest.raises(ConnectionRefusedError) as info:
        run(loop, loop.sock_connect(client, addr))
    assert info.value.errno == errno.ECONNREFUSED
    assert_unwatched(loop, client)


def test_connect_unix_missing_path(loop, closing):
    client = client_for("unix", closing)
    with pytest.raises(FileNotFoundError) as info:
        run(loop, loop.sock_connect(client, "/nonexistent/ferroloop.sock"))
    assert info.value.errno == errno.ENOENT


def test_connect_unresolvable_host(loop, closing):
    client = client_for("tcp4", closing)
    with pytest.raises(socket.gaierror):
        run(loop, loop.sock_connect(client, ("nonexistent.invalid", 80)))


def test_accept_on_socket_not_listening(loop, closing):
    sock = socket.socket()
    closing.append(sock)
    sock.setblocking(False)
    with pytest.raises(OSError) as info:
        run(loop, loop.sock_accept(sock))
    assert info.value.errno == errno.EINVAL


def test_many_connections(loop, closing):
    lsock, addr = listener("tcp4", closing)

    async def one(i):
        client = client_for("tcp4", closing)
        await loop.sock_connect(client, addr)
        await loop.sock_sendall(client, b"%d" % i)
        return await loop.sock_recv(client, 10)

    async def server(n):
        for _ in range(n):
            conn, _ = await loop.sock_accept(lsock)
            closing.append(conn)
            data = await loop.sock_recv(conn, 10)
            await loop.sock_sendall(conn, data + b"!")

    async def main():
        srv = asyncio.ensure_future(server(30))
        replies = await asyncio.gather(*(one(i) for i in range(30)))
        await srv
        return replies

    assert run(loop, main()) == [b"%d!" % i for i in range(30)]


# -- datagrams ---------------------------------------------------------------


@pytest.mark.parametrize("kind", DGRAM_KINDS)
def test_sendto_recvfrom(loop, kind, closing):
    a, b = dgram_pair(kind, closing)

    async def main():
        sent = await loop.sock_sendto(a, b"datagram", b.getsockname())
        data, addr = await loop.sock_recvfrom(b, 100)
        return sent, data, addr

    sent, data, addr = run(loop, main())
    assert sent == 8
    assert data == b"datagram"
    assert addr == a.getsockname()


@pytest.mark.parametrize("kind", DGRAM_KINDS)
def test_recvfrom_waits_for_datagram(loop, kind, closing):
    a, b = dgram_pair(kind, closing)
    loop.call_later(0.03, a.sendto, b"late", b.getsockname())
    data, addr = run(loop, loop.sock_recvfrom(b, 100))
    assert (data, addr) == (b"late", a.getsockname())
    assert_unwatched(loop, b)


@pytest.mark.parametrize("kind", DGRAM_KINDS)
def test_recvfrom_into(loop, kind, closing):
    a, b = dgram_pair(kind, closing)
    buf = bytearray(16)
    loop.call_later(0.02, a.sendto, b"0123456789", b.getsockname())
    nbytes, addr = run(loop, loop.sock_recvfrom_into(b, buf))
    assert nbytes == 10 and buf[:10] == b"0123456789"
    assert addr == a.getsockname()


def test_recvfrom_into_nbytes(loop, closing):
    a, b = dgram_pair("udp4", closing)
    buf = bytearray(16)
    a.sendto(b"0123456789", b.getsockname())
    nbytes, addr = run(loop, loop.sock_recvfrom_into(b, buf, 4))
    assert (nbytes, bytes(buf[:5])) == (4, b"0123\0")
    assert addr == a.getsockname()


def test_recvfrom_into_nbytes_too_large(loop, closing):
    a, b = dgram_pair("udp4", closing)

    async def main():
        await loop.sock_recvfrom_into(b, bytearray(4), 10)

    with pytest.raises(ValueError):
        run(loop, main())


def test_recvfrom_truncates_to_bufsize(loop, closing):
    a, b = dgram_pair("udp4", closing)
    a.sendto(b"abcdefgh", b.getsockname())
    data, _ = run(loop, loop.sock_recvfrom(b, 3))
    assert data == b"abc"


def test_recvfrom_unbound_unix_sender(loop, closing):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    closing.extend([a, b])
    nonblocking(a, b)
    b.send(b"anon")
    assert run(loop, loop.sock_recvfrom(a, 10)) == (b"anon", None)


def test_recvfrom_on_stream_socket(loop, closing):
    """recvfrom on a connected stream socket: the address is what the socket module gives."""
    a, b = stream_pair(loop, "tcp4", closing)
    b.send(b"s")
    loop.run_until_complete(asyncio.sleep(0.01))
    data, addr = run(loop, loop.sock_recvfrom(a, 10))
    assert data == b"s"
    assert addr is None


def test_sendto_resolves_like_the_socket(loop, closing):
    a, b = dgram_pair("udp4", closing)
    port = b.getsockname()[1]

    async def main():
        await loop.sock_sendto(a, b"named", ("localhost", port))
        return await loop.sock_recvfrom(b, 10)

    data, addr = run(loop, main())
    assert data == b"named" and addr == a.getsockname()


def test_sendto_bad_address(loop, closing):
    a, b = dgram_pair("udp4", closing)

    async def main():
        await loop.sock_sendto(a, b"x", ("127.0.0.1", 70000))

    with pytest.raises(OverflowError):
        run(loop, main())


# -- argument checks ---------------------------------------------------------


def _blocking_calls(loop, sock, peer_addr):
    return [
        lambda: loop.sock_recv(sock, 10),
        lambda: loop.sock_recv_into(sock, bytearray(10)),
        lambda: loop.sock_recvfrom(sock, 10),
        lambda: loop.sock_recvfrom_into(sock, bytearray(10)),
        lambda: loop.sock_sendall(sock, b"x"),
        lambda: loop.sock_sendto(sock, b"x", peer_addr),
        lambda: loop.sock_connect(sock, peer_addr),
        lambda: loop.sock_accept(sock),
    ]


@pytest.mark.parametrize("op", range(8))
def test_blocking_socket_is_refused(loop, op, closing):
    # asyncio checks only in debug mode; ferroloop always does.
    loop.set_debug(True)
    sock = socket.socket()
    closing.append(sock)
    assert sock.gettimeout() is None
    call = _blocking_calls(loop, sock, ("127.0.0.1", 1))[op]

    async def main():
        await call()

    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(loop, main())

    sock.settimeout(1.0)
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(loop, main())


@pytest.mark.parametrize("op", range(8))
def test_closed_socket_is_os_error(loop, op, closing):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if op in (2, 3, 5) else socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.close()
    call = _blocking_calls(loop, sock, ("127.0.0.1", 1))[op]

    async def main():
        await call()

    with pytest.raises(OSError) as info:
        run(loop, main())
    assert info.value.errno == errno.EBADF


def test_ssl_socket_is_refused(loop, closing):
    ctx = ssl.create_default_context()
    raw = socket.socket()
    closing.append(raw)
    ssock = ctx.wrap_socket(raw, server_hostname="example.com", do_handshake_on_connect=False)
    closing.append(ssock)

    async def main():
        await loop.sock_recv(ssock, 10)

    with pytest.raises(TypeError, match="SSLSocket"):
        run(loop, main())


def test_socket_of_a_transport_is_refused(loop, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=a)
        try:
            with pytest.raises(RuntimeError, match="is used by transport"):
                await loop.sock_recv(a, 10)
        finally:
            transport.close()
            await asyncio.sleep(0)

    run(loop, main())


def test_methods_return_coroutines(loop, closing):
    """Like asyncio's, each method returns a coroutine that create_task accepts."""
    a, b = stream_pair(loop, "unix", closing)
    coro = loop.sock_recv(a, 10)
    assert asyncio.iscoroutine(coro)
    b.send(b"task")

    async def main():
        return await asyncio.create_task(coro)

    assert run(loop, main()) == b"task"
    unused = loop.sock_sendall(a, b"never")
    assert asyncio.iscoroutine(unused)
    unused.close()


def test_coroutine_protocol(loop, closing):
    """send/throw/close behave as on a Python coroutine."""
    a, b = stream_pair(loop, "unix", closing)
    coro = loop.sock_recv(a, 10)
    assert coro.__name__ == "sock_recv"
    with pytest.raises(TypeError, match="just-started"):
        coro.send(1)
    fut = coro.send(None)  # no data: suspends on a future
    assert asyncio.isfuture(fut) and fut._asyncio_future_blocking
    with pytest.raises(ValueError, match="thrown"):
        coro.throw(ValueError("thrown"))
    with pytest.raises(RuntimeError, match="cannot reuse"):
        coro.send(None)
    coro.close()

    done = loop.sock_sendall(a, b"x")
    with pytest.raises(StopIteration) as info:
        done.send(None)
    assert info.value.value is None
    b.settimeout(1.0)
    assert b.recv(1) == b"x"

    closed = loop.sock_recv(a, 10)
    closed.close()
    with pytest.raises(RuntimeError, match="cannot reuse"):
        closed.send(None)


@pytest.mark.skipif(not hasattr(asyncio, "eager_task_factory"), reason="eager tasks are 3.12+")
def test_eager_task(loop, closing):
    a, b = stream_pair(loop, "unix", closing)
    b.send(b"eager")
    loop.set_task_factory(asyncio.eager_task_factory)

    async def main():
        ready = loop.create_task(loop.sock_recv(a, 10))
        assert ready.done()  # completed during create_task, without suspending
        waiting = loop.create_task(loop.sock_recv(a, 10))
        assert not waiting.done()
        b.send(b"later")
        return ready.result(), await waiting

    assert run(loop, main()) == (b"eager", b"later")


def test_closed_loop(loop, closing):
    """On a closed loop an operation that can finish at once still does; waiting is refused."""
    a, b = socket.socketpair()
    closing.extend([a, b])
    nonblocking(a, b)
    b.send(b"now")
    loop.close()
    ready = loop.sock_recv(a, 10)
    with pytest.raises(StopIteration) as info:
        ready.send(None)
    assert info.value.value == b"now"
    waiting = loop.sock_recv(a, 10)
    with pytest.raises(RuntimeError, match="closed"):
        waiting.send(None)


def test_wait_for_timeout_unregisters(loop, closing):
    a, b = stream_pair(loop, "unix", closing)

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_recv(a, 10), 0.02)
        await asyncio.sleep(0)

    run(loop, main())
    assert_unwatched(loop, a)


# -- cancellation --------------------------------------------------------------


def _pending(loop, kind, closing):
    """(description, socket watched, coroutine that waits) for each operation."""
    if kind in ("recv", "recv_into"):
        a, b = stream_pair(loop, "unix", closing)
        coro = loop.sock_recv(a, 10) if kind == "recv" else loop.sock_recv_into(a, bytearray(10))
        return a, b, coro
    if kind in ("recvfrom", "recvfrom_into"):
        a, b = dgram_pair("udp4", closing)
        coro = loop.sock_recvfrom(b, 10) if kind == "recvfrom" else loop.sock_recvfrom_into(b, bytearray(10))
        return b, a, coro
    if kind == "accept":
        lsock, _ = listener("tcp4", closing)
        return lsock, None, loop.sock_accept(lsock)
    if kind == "sendall":
        a, b = stream_pair(loop, "unix", closing)
        return a, b, loop.sock_sendall(a, b"x" * (16 * 1024 * 1024))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["recv", "recv_into", "recvfrom", "recvfrom_into", "accept", "sendall"])
def test_cancel_pending_op_unregisters_fd(loop, kind, closing):
    sock, peer, coro = _pending(loop, kind, closing)

    async def main():
        task = asyncio.ensure_future(coro)
        await asyncio.sleep(0.02)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    run(loop, main())
    assert_unwatched(loop, sock)
    # The fd is free for the next user.
    fired = []
    loop.add_reader(sock.fileno(), fired.append, 1)
    assert loop.remove_reader(sock.fileno()) is True


def test_cancelled_recv_leaves_socket_usable(loop, closing):
    a, b = stream_pair(loop, "tcp4", closing)

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(a, 10))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        loop.call_later(0.01, b.send, b"after")
        return await loop.sock_recv(a, 10)

    assert run(loop, main()) == b"after"
    assert_unwatched(loop, a)


def test_cancel_pending_connect(loop, closing):
    """A connect still in progress (the listener's backlog is full) can be cancelled."""
    lsock, addr = listener("tcp4", closing, backlog=0)
    fillers = []
    for _ in range(4):
        s = client_for("tcp4", closing)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        fillers.append(s)
    client = client_for("tcp4", closing)

    async def main():
        task = asyncio.ensure_future(loop.sock_connect(client, addr))
        await asyncio.sleep(0.05)
        if task.done():
            return False
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return True

    if not run(loop, main()):
        pytest.skip("the kernel completed the connect at once")
    assert_unwatched(loop, client)


def test_cancel_keeps_a_reader_that_replaced_the_op(loop, closing):
    """add_reader on the fd replaces the pending op's watcher; cancelling the op must not remove it."""
    a, b = stream_pair(loop, "unix", closing)
    fired = []

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(a, 10))
        await asyncio.sleep(0.01)
        loop.add_reader(a.fileno(), lambda: fired.append(a.recv(10)))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        b.send(b"mine")
        for _ in range(50):
            if fired:
                break
            await asyncio.sleep(0.005)

    run(loop, main())
    assert fired == [b"mine"]
    assert loop.remove_reader(a.fileno()) is True
