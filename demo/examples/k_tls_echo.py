"""The same kind of server over TLS: start_server(ssl=...) with a certificate
signed by a test CA, and a client that verifies it (open_connection(ssl=...,
server_hostname="localhost")). The client prints what it learnt about the
connection, then a client that does not trust the CA is refused.
"""
import asyncio
import os
import ssl

CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "certs")


async def serve(reader, writer):
    data = await reader.readline()
    writer.write(b"encrypted echo: " + data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server.key"))
    client_ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]

    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
    print("TLS version:", writer.get_extra_info("ssl_object").version())
    print("server certificate for:", dict(x[0] for x in writer.get_extra_info("peercert")["subject"]))
    writer.write(b"a secret\n")
    print((await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()

    try:
        await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost")
    except ssl.SSLCertVerificationError as exc:
        print("a client without the test CA is refused:", exc.verify_message)

    server.close()
    await server.wait_closed()


asyncio.run(main())
