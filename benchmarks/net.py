"""Network servers on the loop under test, driven by a native load generator.

The server runs in the measured process; the client is a separate native process
(benchmarks/loadgen, or wrk for HTTP), the same for every loop. The server's CPU time is
bracketed by the client's measured period, so `cpu_us_per_op` is the server's CPU time
per request. Nothing is pinned to a core: on a shared two-core machine a pinned server
waits whenever another process holds its core.
"""

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import threading

from .measure import ENV, bench

CONNECTIONS = 10
RECV_SIZE = 64 * 1024
HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nHello"
)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class DatagramEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


class HttpHello(asyncio.Protocol):
    """Keep-alive HTTP/1.1: every request (up to its blank line) gets the same reply."""

    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            self.pending = self.pending[end + 4 :]
            self.transport.write(HTTP_RESPONSE)


# Each start_* starts an echo server on the running loop and returns its address.


async def start_sock_server():
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)

    async def echo(conn):
        with conn:
            while data := await loop.sock_recv(conn, RECV_SIZE):
                await loop.sock_sendall(conn, data)

    async def accept():
        with listener:
            while True:
                conn, _ = await loop.sock_accept(listener)
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                loop.create_task(echo(conn))

    loop.create_task(accept())
    return "%s:%d" % listener.getsockname()


async def start_streams_server():
    async def echo(reader, writer):
        while data := await reader.read(RECV_SIZE):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return "%s:%d" % server.sockets[0].getsockname()


async def start_protocol_server(protocol=Echo):
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    return "%s:%d" % server.sockets[0].getsockname()


TCP_SERVERS = {"sock": start_sock_server, "streams": start_streams_server, "protocol": start_protocol_server}


async def tcp_echo(m, n, api, size):
    await drive(m, "tcp", await TCP_SERVERS[api](), size, n)


for _api, _how in [("sock", "loop.sock_recv/sock_sendall"), ("streams", "asyncio streams"),
                   ("protocol", "a Protocol")]:
    for _kib in (1, 10, 100):
        bench(f"tcp_echo_{_api}_{_kib}k", n=1.0, unit="request", warmup=False, driver="loadgen",
              api=_api, size=_kib * 1024,
              doc=f"TCP echo of {_kib} KiB messages, {CONNECTIONS} connections, via {_how}")(tcp_echo)


@bench("unix_echo_protocol_1k", n=1.0, unit="request", warmup=False, driver="loadgen", size=1024,
       doc=f"Unix-socket echo of 1 KiB messages, {CONNECTIONS} connections, via a Protocol")
async def unix_echo(m, n, size):
    with tempfile.TemporaryDirectory(prefix="ferroloop-bench-") as tmp:
        path = os.path.join(tmp, "echo.sock")
        await asyncio.get_running_loop().create_unix_server(Echo, path)
        await drive(m, "unix", path, size, n)


@bench("udp_echo_1k", n=1.0, unit="datagram", warmup=False, driver="loadgen", size=1024,
       doc=f"UDP echo of 1 KiB datagrams, {CONNECTIONS} client sockets, via a DatagramProtocol")
async def udp_echo(m, n, size):
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        DatagramEcho, local_addr=("127.0.0.1", 0)
    )
    await drive(m, "udp", "%s:%d" % transport.get_extra_info("sockname"), size, n)


@bench("http_hello", n=1.0, unit="request", warmup=False, driver="http",
       doc=f"HTTP/1.1 keep-alive 'Hello' server on the Protocol API, {CONNECTIONS} connections")
async def http_hello(m, n):
    await drive(m, "http", await start_protocol_server(HttpHello), 0, n)


async def drive(m, mode, addr, size, seconds):
    """Runs the load generator against `addr` and fills the meter from its report."""
    if mode == "http" and ENV.get("wrk"):
        # wrk has no warm-up phase and takes whole seconds: the whole run is measured.
        argv = [ENV["wrk"], "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s",
                "-s", ENV["wrk_script"], f"http://{addr}/"]
        says_go = False
    else:  # loadgen says `go` when its warm-up is over
        argv = [ENV["loadgen"], mode, addr, "--conns", str(CONNECTIONS), "--size", str(size),
                "--warmup", str(min(0.2, seconds / 4)), "--duration", str(seconds)]
        says_go = True
    report = await in_thread(run_client, m, argv, says_go)
    m.p50_us, m.p99_us = report["p50_us"], report["p99_us"]
    m.extra["client"] = os.path.basename(argv[0])
    m.extra["client_errors"] = report.get("errors", 0)
    if not report["requests"]:
        raise RuntimeError(f"{m.extra['client']} completed no request: {report}")
    if mode == "http" and report["errors"]:
        raise RuntimeError(f"{m.extra['client']} saw {report['errors']} errors: {report}")


def run_client(m, argv, says_go):
    """Blocking: runs the client; the meter runs from `go` (or the start) to its report."""
    if not says_go:
        m.start()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report, other = None, []
    for line in proc.stdout:
        if line == "go\n":
            m.start()
        elif line.startswith("{"):
            report = json.loads(line)
            m.stop(report["requests"], wall=report["seconds"])
        else:
            other.append(line.strip())
    if proc.wait() or report is None:
        name = os.path.basename(argv[0])
        raise RuntimeError(f"{name} failed (status {proc.returncode}): {' '.join(other)[-300:]}")
    return report


async def in_thread(fn, *args):
    """Runs fn in a plain thread; needs only call_soon_threadsafe from the loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def target():
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(done.set_exception, exc)
        else:
            loop.call_soon_threadsafe(done.set_result, result)

    threading.Thread(target=target, daemon=True).start()
    return await done
