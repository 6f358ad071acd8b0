"""loop.getaddrinfo / loop.getnameinfo: socket.getaddrinfo's and socket.getnameinfo's results and errors.

The machine may have no network: names are 'localhost' (from /etc/hosts) and
'nonexistent.invalid' (never resolves).
"""

import asyncio
import itertools
import logging
import os
import signal
import socket
import time

import pytest

from loophelpers import run

AF, SK = socket.AF_INET, socket.SOCK_STREAM


def outcome(func, *args):
    """What a call gives: ('ok', result) or ('err', exception type, args)."""
    try:
        return ("ok", func(*args))
    except Exception as exc:  # noqa: BLE001 - compared below
        return ("err", type(exc), exc.args)


async def aoutcome(coro_func, *args, **kwargs):
    try:
        return ("ok", await coro_func(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001
        return ("err", type(exc), exc.args)


def expected_addrinfo(host, port, family=0, type=0, proto=0, flags=0):
    return outcome(socket.getaddrinfo, host, port, family, type, proto, flags)


def compare_many(loop, cases):
    """Runs loop.getaddrinfo for every case concurrently; each must equal socket.getaddrinfo."""

    async def main():
        return await asyncio.gather(
            *(
                aoutcome(loop.getaddrinfo, h, p, family=f, type=t, proto=pr, flags=fl)
                for (h, p, f, t, pr, fl) in cases
            )
        )

    got = run(loop, main(), timeout=120)
    for case, result in zip(cases, got):
        assert result == expected_addrinfo(*case), case


NUMERIC_HOSTS = ["127.0.0.1", "::1", "10.1.2.3", "::ffff:127.0.0.1", "fe80::1", "::", b"127.0.0.1", "0.0.0.0"]
PORTS = [None, 0, 80, "80", b"443", "0080", 65535]
FAMILIES = [0, socket.AF_INET, socket.AF_INET6]
TYPES = [0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW]
PROTOS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP]
FLAGS = [0, socket.AI_PASSIVE, socket.AI_NUMERICHOST, socket.AI_NUMERICSERV, socket.AI_PASSIVE | socket.AI_NUMERICSERV]


@pytest.mark.parametrize("host", NUMERIC_HOSTS)
def test_numeric_hosts_match_socket_getaddrinfo(loop, host):
    cases = [
        (host, port, f, t, pr, fl)
        for port, f, t, pr, fl in itertools.product(PORTS, FAMILIES, TYPES, PROTOS, FLAGS)
    ]
    compare_many(loop, cases)


@pytest.mark.parametrize(
    "flags",
    [socket.AI_CANONNAME, socket.AI_V4MAPPED, socket.AI_V4MAPPED | socket.AI_ALL, socket.AI_ADDRCONFIG],
)
def test_numeric_hosts_other_flags(loop, flags):
    cases = [
        (host, port, f, t, 0, flags)
        for host, port, f, t in itertools.product(["127.0.0.1", "::1"], [None, 80], FAMILIES, TYPES)
    ]
    compare_many(loop, cases)


def test_odd_ports_and_hosts(loop):
    cases = [
        ("127.0.0.1", p, 0, socket.SOCK_STREAM, 0, 0)
        for p in ["", b"", " 80", "+80", "65536", 70000, -1, 2**40, "http", b"domain", "nonexistent-service"]
    ] + [
        (h, 80, 0, socket.SOCK_STREAM, 0, 0)
        for h in ["127.1", "0x7f.1", "127.0.0.1.", "::1%lo", "1.2.3.4 ", "", b"", "LOCALHOST", "localhost."]
    ]
    compare_many(loop, cases)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("type", TYPES)
@pytest.mark.parametrize("flags", [0, socket.AI_PASSIVE, socket.AI_CANONNAME, socket.AI_NUMERICSERV, socket.AI_ADDRCONFIG])
def test_localhost_matches_socket_getaddrinfo(loop, family, type, flags):
    cases = [("localhost", port, family, type, 0, flags) for port in (None, 0, 8080, "8080", "http")]
    compare_many(loop, cases)


def test_none_host(loop):
    cases = [
        (None, port, f, t, 0, fl)
        for port, f, t, fl in itertools.product([0, 80, "443"], FAMILIES, [0, socket.SOCK_STREAM], [0, socket.AI_PASSIVE])
    ] + [(None, None, 0, 0, 0, 0)]
    compare_many(loop, cases)


def test_result_types_are_socket_enums(loop):
    infos = run(loop, loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert infos == [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]
    family, kind, proto, canon, addr = infos[0]
    assert type(family) is socket.AddressFamily and type(kind) is socket.SocketKind
    assert type(proto) is int and type(canon) is str and type(addr) is tuple
    infos6 = run(loop, loop.getaddrinfo("::1", "443", family=socket.AF_INET6, type=socket.SOCK_DGRAM))
    assert infos6 == [(socket.AF_INET6, socket.SOCK_DGRAM, 17, "", ("::1", 443, 0, 0))]


def test_keywords_and_enum_arguments(loop):
    got = run(loop, loop.getaddrinfo(host="localhost", port=80, family=socket.AddressFamily.AF_INET, type=socket.SocketKind.SOCK_STREAM))
    assert got == socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)


def test_unknown_host_is_gaierror(loop):
    with pytest.raises(socket.gaierror) as info:
        run(loop, loop.getaddrinfo("nonexistent.invalid", 80))
    with pytest.raises(socket.gaierror) as ref:
        socket.getaddrinfo("nonexistent.invalid", 80)
    assert info.value.errno == ref.value.errno
    assert info.value.args == ref.value.args


@pytest.mark.parametrize(
    "host, port",
    [(12345, 80), (["127.0.0.1"], 80), ("127.0.0.1", 1.5), ("127.0.0.1", True), ("127.0.0.1", object())],
)
def test_bad_argument_types(loop, host, port):
    expected = expected_addrinfo(host, port)
    assert expected[0] == "err"
    got = run(loop, aoutcome(loop.getaddrinfo, host, port))
    assert got == expected


def test_bad_family_type(loop):
    with pytest.raises(TypeError):
        run(loop, loop.getaddrinfo("127.0.0.1", 80, family=None))
    with pytest.raises(TypeError):
        run(loop, loop.getaddrinfo("127.0.0.1", 80, type=1.0))


def test_non_ascii_host_uses_idna(loop):
    compare_many(loop, [("bücher.invalid", 80, 0, 0, 0, 0), ("a" * 70 + ".invalid", 80, 0, 0, 0, 0)])


def test_getaddrinfo_is_a_coroutine(loop):
    coro = loop.getaddrinfo("127.0.0.1", 80)
    assert asyncio.iscoroutine(coro)

    async def main():
        return await asyncio.create_task(coro)

    assert run(loop, main()) == socket.getaddrinfo("127.0.0.1", 80)


def test_many_concurrent_lookups(loop):
    async def main():
        return await asyncio.gather(*(loop.getaddrinfo("localhost", 1000 + i, type=socket.SOCK_STREAM) for i in range(64)))

    results = run(loop, main())
    assert results == [socket.getaddrinfo("localhost", 1000 + i, type=socket.SOCK_STREAM) for i in range(64)]


def _open_fds():
    return set(os.listdir("/proc/self/fd"))


def test_lookups_leave_no_fd_behind(loop):
    run(loop, loop.getaddrinfo("localhost", 80))  # warm up the executor / pool
    before = _open_fds()

    async def main():
        await asyncio.gather(*(loop.getaddrinfo("localhost", 80) for _ in range(8)))
        await loop.getnameinfo(("127.0.0.1", 80))
        for _ in range(5):
            await asyncio.sleep(0)

    run(loop, main())
    # A worker may still hold the last reference to the answer channel for a moment.
    for _ in range(200):
        if not _open_fds() - before:
            break
        loop.run_until_complete(asyncio.sleep(0.005))
    assert not _open_fds() - before  # (fds other code closed meanwhile do not matter)


def test_cancel_lookup(loop):
    async def main():
        task = asyncio.ensure_future(loop.getaddrinfo("localhost", 80))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The loop and later lookups are unaffected.
        return await loop.getaddrinfo("localhost", 81)

    assert run(loop, main()) == socket.getaddrinfo("localhost", 81)


def test_close_with_lookup_in_flight_leaks_nothing(loop_factory):
    before = _open_fds()
    lp = loop_factory()
    lp.run_until_complete(lp.getaddrinfo("localhost", 80))
    task = lp.create_task(lp.getaddrinfo("nonexistent.invalid", 80))
    lp.run_until_complete(asyncio.sleep(0))  # the (slow) lookup is now running
    task.cancel()
    lp.run_until_complete(asyncio.sleep(0))
    lp.close()
    for _ in range(200):
        if not _open_fds() - before:
            break
        time.sleep(0.005)
    assert not _open_fds() - before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lookup_in_forked_child(loop, loop_factory):
    run(loop, loop.getaddrinfo("localhost", 80))  # the parent's lookup threads exist
    pid = os.fork()
    if pid == 0:  # child: a new loop must resolve names too
        code = 1
        try:
            signal.alarm(10)
            child_loop = loop_factory()
            got = child_loop.run_until_complete(child_loop.getaddrinfo("localhost", 80))
            child_loop.close()
            code = 0 if got == socket.getaddrinfo("localhost", 80) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_closed_loop_refuses_lookups(loop):
    coro = loop.getaddrinfo("127.0.0.1", 80)
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        coro.send(None)
    coro.close()


def test_patched_socket_getaddrinfo_is_used(loop, monkeypatch):
    """Like asyncio, the loop calls whatever socket.getaddrinfo is (tests mock it)."""
    fake = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 80))]
    calls = []

    def fake_getaddrinfo(*args, **kwargs):
        calls.append(args)
        return fake

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert run(loop, loop.getaddrinfo("example.com", 80)) == fake
    assert calls == [("example.com", 80, 0, 0, 0, 0)]


def test_debug_mode_logs_lookups(loop, caplog):
    loop.set_debug(True)
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        got = run(loop, loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    assert got == socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Get address info localhost:80, type=") for m in messages), messages
    assert any(m.startswith("Getting address info localhost:80, type=") for m in messages), messages


# -- getnameinfo ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sockaddr",
    [("127.0.0.1", 80), ("127.0.0.1", 0), ("::1", 443, 0, 0), ("::1", 22), ("10.255.255.1", 8080), ("::1", 53, 5, 1)],
)
@pytest.mark.parametrize(
    "flags",
    [0, socket.NI_NUMERICHOST, socket.NI_NUMERICSERV, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV, socket.NI_DGRAM, socket.NI_NAMEREQD],
)
def test_getnameinfo_matches_socket(loop, sockaddr, flags):
    expected = outcome(socket.getnameinfo, sockaddr, flags)
    got = run(loop, aoutcome(loop.getnameinfo, sockaddr, flags))
    assert got == expected


@pytest.mark.parametrize(
    "sockaddr",
    [
        "127.0.0.1",
        ("127.0.0.1",),
        ("127.0.0.1", "80"),
        ("127.0.0.1", 80, 0, 0),
        ("localhost", 80),
        ("nonexistent.invalid", 80),
        (b"127.0.0.1", 80),
        ("::1", 80, 2**20),
        ("::1", 80, 0, 0, 0),
        ("127.0.0.1", 2**40),
    ],
)
def test_getnameinfo_errors_match_socket(loop, sockaddr):
    expected = outcome(socket.getnameinfo, sockaddr, 0)
    assert expected[0] == "err"
    got = run(loop, aoutcome(loop.getnameinfo, sockaddr, 0))
    assert got == expected


def test_getnameinfo_default_flags(loop):
    assert run(loop, loop.getnameinfo(("127.0.0.1", 80))) == socket.getnameinfo(("127.0.0.1", 80), 0)


def test_getnameinfo_is_a_coroutine(loop):
    coro = loop.getnameinfo(("127.0.0.1", 80))
    assert asyncio.iscoroutine(coro)
    assert run(loop, coro) == socket.getnameinfo(("127.0.0.1", 80), 0)
