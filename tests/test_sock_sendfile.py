"""loop.sock_sendfile: os.sendfile for regular files, the read-and-send fallback for
anything else, argument checks, file positions and cancellation. Runs on asyncio and
ferroloop."""

import asyncio
import hashlib
import io
import socket

import pytest

from loophelpers import run
from test_sock_ops import STREAM_KINDS, assert_unwatched, closing, stream_pair  # noqa: F401

SIZE = 3 * 1024 * 1024 + 777  # more than a socket buffer: the send has to wait


@pytest.fixture
def data_file(tmp_path):
    payload = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(SIZE // 32 + 1))[:SIZE]
    path = tmp_path / "data.bin"
    path.write_bytes(payload)
    with open(path, "rb") as f:
        yield f, payload


async def receive(loop, sock, n):
    got = bytearray()
    while len(got) < n:
        chunk = await loop.sock_recv(sock, 1 << 20)
        if not chunk:
            break
        got += chunk
    return bytes(got)


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_whole_file(loop, kind, closing, data_file):
    f, payload = data_file
    client, server = stream_pair(loop, kind, closing)

    async def main():
        sending = loop.create_task(loop.sock_sendfile(client, f))
        got = await receive(loop, server, SIZE)
        assert await sending == SIZE
        assert got == payload
        assert f.tell() == SIZE
        assert_unwatched(loop, client)

    run(loop, main())


def test_offset_and_count(loop, closing, data_file):
    f, payload = data_file
    client, server = stream_pair(loop, "tcp4", closing)

    async def main():
        sending = loop.create_task(loop.sock_sendfile(client, f, 1000, 2_000_000))
        got = await receive(loop, server, 2_000_000)
        assert await sending == 2_000_000
        assert got == payload[1000:2_001_000]
        assert f.tell() == 2_001_000
        # count past the end: what is there
        sending = loop.create_task(loop.sock_sendfile(client, f, SIZE - 10, 100))
        assert await receive(loop, server, 10) == payload[-10:]
        assert await sending == 10

    run(loop, main())


def test_empty_file(loop, closing, tmp_path):
    client, _ = stream_pair(loop, "tcp4", closing)
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with open(path, "rb") as f:
        assert run(loop, loop.sock_sendfile(client, f)) == 0


def test_a_file_without_fd_falls_back_or_refuses(loop, closing):
    client, server = stream_pair(loop, "tcp4", closing)
    f = io.BytesIO(b"0123456789" * 10_000)

    async def main():
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sock_sendfile(client, f, fallback=False)
        sending = loop.create_task(loop.sock_sendfile(client, f, 5, 50_000))
        assert await receive(loop, server, 50_000) == (b"0123456789" * 10_000)[5:50_005]
        assert await sending == 50_000
        assert f.tell() == 50_005

    run(loop, main())


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"offset": -1}, ValueError, "offset must be a non-negative integer"),
        ({"offset": 1.5}, TypeError, "offset must be a non-negative integer"),
        ({"count": 0}, ValueError, "count must be a positive integer"),
        ({"count": "10"}, TypeError, "count must be a positive integer"),
    ],
)
def test_bad_arguments(loop, closing, data_file, kwargs, exc, match):
    f, _ = data_file
    client, _ = stream_pair(loop, "tcp4", closing)
    with pytest.raises(exc, match=match):
        run(loop, loop.sock_sendfile(client, f, **kwargs))


def test_text_file_and_datagram_socket_refused(loop, closing, tmp_path):
    client, _ = stream_pair(loop, "tcp4", closing)
    path = tmp_path / "t.txt"
    path.write_text("text")
    with open(path, "r") as f:
        with pytest.raises(ValueError, match="binary mode"):
            run(loop, loop.sock_sendfile(client, f))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closing.append(udp)
    udp.setblocking(False)
    with open(path, "rb") as f:
        with pytest.raises(ValueError, match="SOCK_STREAM"):
            run(loop, loop.sock_sendfile(udp, f))


def test_cancel_while_waiting_leaves_the_socket_unwatched(loop, closing, data_file):
    f, _ = data_file
    client, server = stream_pair(loop, "tcp4", closing)

    async def main():
        sending = loop.create_task(loop.sock_sendfile(client, f))
        for _ in range(100):  # until the peer's buffers are full and the send waits
            await asyncio.sleep(0.005)
        assert not sending.done()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert_unwatched(loop, client)

    run(loop, main())
