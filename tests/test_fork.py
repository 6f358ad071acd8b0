"""After fork(), the child leaves the parent's poller alone and can run a new loop."""

import asyncio
import os
import socket

import pytest

from conftest import loop_factory_for

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


def _run_child(body):
    """Fork; run ``body`` in the child and return its exit code to the parent."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _watch(loop, rsock):
    """Register a reader that records what arrives; returns the record."""
    seen = []
    loop.add_reader(rsock, lambda: seen.append(rsock.recv(100)))
    return seen


def _delivered(loop, rsock, wsock, seen):
    """Send once and let the loop run until the registered reader sees it."""
    wsock.send(b"after fork")

    async def wait_for_data():
        for _ in range(100):
            if seen:
                return
            await asyncio.sleep(0.005)

    loop.run_until_complete(wait_for_data())
    loop.remove_reader(rsock)
    return seen


@pytest.fixture
def pair():
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    yield rsock, wsock
    rsock.close()
    wsock.close()


def test_child_closes_inherited_loop_and_runs_a_new_one(loop, loop_name, pair):
    rsock, wsock = pair
    seen = _watch(loop, rsock)

    def child():
        loop.close()
        fresh = loop_factory_for(loop_name)()
        try:
            return 0 if fresh.run_until_complete(asyncio.sleep(0.01, result=7)) == 7 else 2
        finally:
            fresh.close()

    assert _run_child(child) == 0
    assert _delivered(loop, rsock, wsock, seen) == [b"after fork"]


def test_child_refuses_to_run_the_parents_loop(loop_name, pair):
    if loop_name == "asyncio":
        pytest.skip("asyncio runs the inherited loop on the parent's epoll instance")
    loop = loop_factory_for(loop_name)()
    try:

        def child():
            try:
                loop.run_until_complete(asyncio.sleep(0))
            except RuntimeError as exc:
                return 0 if "fork" in str(exc) else 3
            return 4

        assert _run_child(child) == 0
    finally:
        loop.close()


def test_child_removing_a_reader_leaves_the_parents_registration(loop_name, pair):
    # ferroloop is deliberately safer than asyncio here: asyncio's selector
    # deletes the fd from the epoll instance the child shares with the parent.
    if loop_name == "asyncio":
        pytest.skip("asyncio's remove_reader in a child unregisters the parent's fd")
    rsock, wsock = pair
    loop = loop_factory_for(loop_name)()
    try:
        seen = _watch(loop, rsock)

        def child():
            loop.remove_reader(rsock)
            loop.close()
            return 0

        assert _run_child(child) == 0
        assert _delivered(loop, rsock, wsock, seen) == [b"after fork"]
    finally:
        loop.close()
