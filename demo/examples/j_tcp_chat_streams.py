"""A line-based TCP server written with asyncio streams (start_server), and three
clients (open_connection) talking to it at once. Each client sends its lines with
a short pause between them; the server answers every line with a numbered echo,
so the replies of the three clients interleave while each one's stay in order.
"""
import asyncio
import os

SCALE = float(os.environ.get("DEMO_SCALE", "1"))


async def serve(reader, writer):
    count = 0
    while line := await reader.readline():
        count += 1
        writer.write(b"%d: %s" % (count, line.upper()))
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(name, port, lines):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for line in lines:
        writer.write(f"{name} says {line}\n".encode())
        await writer.drain()
        replies.append((await reader.readline()).decode().strip())
        await asyncio.sleep(0.1 * SCALE)
    writer.close()
    await writer.wait_closed()
    return replies


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print("server listening on 127.0.0.1 (an ephemeral port)")
    results = await asyncio.gather(
        client("ann", port, ["hello", "how are you", "bye"]),
        client("bob", port, ["hi", "bye"]),
        client("cid", port, ["hey", "what's new", "nothing much", "bye"]),
    )
    for replies in results:
        for reply in replies:
            print("  ", reply)
    server.close()
    await server.wait_closed()
    print("server closed; every client got its replies in order")


asyncio.run(main())
