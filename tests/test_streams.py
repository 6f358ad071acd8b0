"""asyncio streams (open_connection, start_server and the Unix variants) on top of
the loop's transports, unchanged. Every test runs on asyncio's loop and on ferroloop."""

import asyncio
import hashlib
import os
import socket
import struct

import pytest

from loophelpers import run


async def echo_handler(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def tcp_echo_server():
    server = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_open_connection_echo(loop):
    async def main():
        server, port = await tcp_echo_server()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert isinstance(writer.transport, asyncio.Transport)
        assert writer.get_extra_info("peername") == ("127.0.0.1", port)
        assert writer.can_write_eof()
        writer.write(b"line one\nline two\npartial")
        await writer.drain()
        assert await reader.readline() == b"line one\n"
        assert await reader.readuntil(b"two\n") == b"line two\n"
        assert await reader.readexactly(7) == b"partial"
        writer.write_eof()
        assert await reader.read() == b""
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()
        assert writer.is_closing()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_incomplete_read_error(loop):
    async def main():
        async def handler(reader, writer):
            writer.write(b"short")
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readexactly(10)
        assert info.value.partial == b"short"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_large_transfer_with_drain(loop):
    """8 MiB each way through drain(): flow control on both sides, nothing lost."""
    total = 8 * 1024 * 1024

    async def main():
        server, port = await tcp_echo_server()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=16 * 1024)
        sent = hashlib.sha256()

        async def produce():
            for i in range(total // 16384):
                chunk = struct.pack(">I", i) * 4096
                sent.update(chunk)
                writer.write(chunk)
                await writer.drain()
                assert writer.transport.get_write_buffer_size() <= 64 * 1024 + 16384
            writer.write_eof()

        async def consume():
            got = hashlib.sha256()
            n = 0
            while True:
                data = await reader.read(10000)
                if not data:
                    return n, got.digest()
                n += len(data)
                got.update(data)

        _, (n, digest) = await asyncio.gather(produce(), consume())
        assert n == total and digest == sent.digest()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main(), timeout=60)


def test_reader_pauses_transport_at_limit(loop):
    async def main():
        release = asyncio.Event()
        seen = {}

        async def handler(reader, writer):
            await release.wait()
            seen["paused"] = not writer.transport.is_reading()
            data = await reader.read()
            seen["n"] = len(data)
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handler, "127.0.0.1", 0, limit=1024)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"a" * 100_000)
        await asyncio.sleep(0.1)
        release.set()
        writer.write_eof()
        await writer.drain()
        assert await reader.read() == b""
        assert seen == {"paused": True, "n": 100_000}
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_many_stream_clients(loop):
    async def main():
        server, port = await tcp_echo_server()

        async def client(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            msg = f"client {i}\n".encode()
            writer.write(msg)
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line == msg

        assert all(await asyncio.gather(*(client(i) for i in range(100))))
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_connection_reset_reaches_reader(loop):
    async def main():
        accepted = asyncio.Event()

        async def handler(reader, writer):
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            accepted.set()
            writer.transport.abort()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        await accepted.wait()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        with pytest.raises(ConnectionResetError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_serve_forever_with_streams(loop):
    async def main():
        server = await asyncio.start_server(echo_handler, "127.0.0.1", 0, start_serving=False)
        port = server.sockets[0].getsockname()[1]
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)  # let serve_forever start listening
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        await writer.wait_closed()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()

    run(loop, main())


def test_unix_streams(loop, tmp_path):
    path = str(tmp_path / "s")

    async def main():
        server = await asyncio.start_unix_server(echo_handler, path)
        reader, writer = await asyncio.open_unix_connection(path)
        assert writer.get_extra_info("peername") == path
        writer.write(b"over unix\n")
        assert await reader.readline() == b"over unix\n"
        writer.write_eof()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_unix_streams_with_sock(loop):
    async def main():
        a, b = socket.socketpair()
        r1, w1 = await asyncio.open_unix_connection(sock=a)
        r2, w2 = await asyncio.open_unix_connection(sock=b)
        w1.write(b"pair\n")
        assert await r2.readline() == b"pair\n"
        for w in (w1, w2):
            w.close()
            await w.wait_closed()

    run(loop, main())


def test_writer_after_close(loop):
    async def main():
        server, port = await tcp_echo_server()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        writer.write(b"ignored")  # asyncio counts and ignores it
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_fd_count_stable_over_stream_connections(loop):
    async def main():
        server, port = await tcp_echo_server()

        async def once():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x\n")
            await reader.readline()
            writer.close()
            await writer.wait_closed()

        await once()
        await asyncio.sleep(0.05)
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(10):
            await asyncio.gather(*(once() for _ in range(20)))
        await asyncio.sleep(0.05)
        after = len(os.listdir("/proc/self/fd"))
        server.close()
        await server.wait_closed()
        return before, after

    before, after = run(loop, main())
    assert after <= before
