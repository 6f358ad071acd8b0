"""TLS: ssl= on clients and servers (TCP and Unix), start_tls, connect_accepted_socket,
verification failures, handshake timeouts and bulk data. Runs on asyncio and ferroloop.

The certificates in tests/certs are a test CA and a server certificate it signed for
localhost, 127.0.0.1 and ::1 (regenerate with tests/certs/make.sh)."""

import asyncio
import hashlib
import os
import socket
import ssl

import pytest

from loophelpers import run

CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "certs")


def server_context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server.key"))
    return ctx


def client_context():
    return ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))


async def upper_echo(reader, writer):
    """Answers each line in upper case until EOF."""
    try:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    finally:
        writer.close()


def test_tcp_client_and_server(loop):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0, ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(), server_hostname="localhost"
        )
        for word in (b"one\n", b"two\n", b"three\n"):
            writer.write(word)
            assert await reader.readline() == word.upper()
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        assert transport.get_extra_info("peercert")["subject"] == ((("commonName", "localhost"),),)
        assert transport.get_extra_info("cipher")[1].startswith("TLS")
        assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject)
        assert isinstance(transport.get_extra_info("sslcontext"), ssl.SSLContext)
        assert transport.get_extra_info("peername")[1] == port
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_unix_client_and_server(loop, tmp_path):
    async def main():
        path = str(tmp_path / "tls.sock")
        server = await asyncio.start_unix_server(upper_echo, path, ssl=server_context())
        reader, writer = await asyncio.open_unix_connection(path, ssl=client_context(), server_hostname="localhost")
        writer.write(b"over unix\n")
        assert await reader.readline() == b"OVER UNIX\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


@pytest.mark.parametrize(
    "context, hostname",
    [(ssl.create_default_context, "localhost"), (client_context, "not-this-host.example")],
    ids=["unknown-ca", "wrong-hostname"],
)
def test_verification_failure_raises_and_server_goes_on(loop, context, hostname):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0, ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", port, ssl=context(), server_hostname=hostname)
        # The server is unharmed and the next client gets through.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(), server_hostname="localhost"
        )
        writer.write(b"after\n")
        assert await reader.readline() == b"AFTER\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_start_tls_upgrades_a_plain_connection(loop):
    async def main():
        upgraded = loop.create_future()

        async def serve(reader, writer):
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"go ahead\n")
            await writer.drain()
            await writer.start_tls(server_context())
            upgraded.set_result(writer.get_extra_info("ssl_object") is not None)
            await upper_echo(reader, writer)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert writer.get_extra_info("ssl_object") is None
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"go ahead\n"
        await writer.start_tls(client_context(), server_hostname="localhost")
        assert await upgraded is True
        writer.write(b"secret\n")
        assert await reader.readline() == b"SECRET\n"
        assert writer.get_extra_info("peercert") is not None
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_start_tls_refuses_bad_arguments(loop):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        lost = loop.create_future()

        class Plain(asyncio.Protocol):
            def connection_lost(self, exc):
                lost.set_result(exc)

        transport, protocol = await loop.create_connection(Plain, "127.0.0.1", port)
        with pytest.raises(TypeError, match="sslcontext is expected"):
            await loop.start_tls(transport, protocol, object())
        assert not transport.is_closing()  # refused before touching the connection
        transport.close()
        assert await lost is None
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_connect_accepted_socket_with_tls(loop):
    async def main():
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        port = listener.getsockname()[1]
        client = loop.create_task(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context(), server_hostname="localhost")
        )
        conn, _ = await loop.sock_accept(listener)
        listener.close()
        stream = asyncio.StreamReader()
        transport, _ = await loop.connect_accepted_socket(
            lambda: asyncio.StreamReaderProtocol(stream), conn, ssl=server_context()
        )
        assert transport.get_extra_info("ssl_object").server_side
        reader, writer = await client
        writer.write(b"ping")
        assert await asyncio.wait_for(stream.readexactly(4), 5) == b"ping"
        transport.close()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()

    run(loop, main())


def test_handshake_timeout_closes_a_silent_client(loop):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0, ssl=server_context(), ssl_handshake_timeout=0.2)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # never says hello
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.1 < loop.time() - started < 3
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main())


def test_bulk_data_both_ways_intact(loop):
    total = 4 * 1024 * 1024

    async def echo_all(reader, writer):
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(echo_all, "127.0.0.1", 0, ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(), server_hostname="localhost"
        )
        payload = hashlib.sha256(b"seed").digest() * (total // 32)

        async def send():
            for i in range(0, total, 100_000):
                writer.write(payload[i : i + 100_000])
                await writer.drain()

        sender = loop.create_task(send())
        got = bytearray()
        while len(got) < total:
            chunk = await reader.read(1 << 20)
            assert chunk, "connection ended early"
            got += chunk
        await sender
        assert bytes(got) == payload
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(loop, main(), timeout=60)


def test_ssl_true_uses_a_verifying_default_context(loop):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0, ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        # The test CA is unknown to the default context: verification must fail.
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(asyncio.Protocol, "localhost", port, ssl=True)
        server.close()
        await server.wait_closed()

    run(loop, main())
