"""Child processes through the loop: subprocess_exec / subprocess_shell and
asyncio.subprocess on top, exit codes, signals, pipes, argument checks, and no fd
left behind. Runs on asyncio and ferroloop."""

import asyncio
import gc
import os
import signal
import subprocess
import sys

import pytest

from loophelpers import run

PY = sys.executable


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def test_exec_with_pipes_and_exit_code(loop):
    async def main():
        code = "import sys; data = sys.stdin.buffer.read(); sys.stdout.buffer.write(data[::-1]); sys.stderr.write('err'); sys.exit(5)"
        proc = await asyncio.create_subprocess_exec(
            PY, "-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate(b"abcdef" * 100_000)
        assert out == (b"abcdef" * 100_000)[::-1]
        assert err == b"err"
        assert proc.returncode == 5

    run(loop, main())


def test_shell_and_stderr_to_stdout(loop):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "echo out; echo err 1>&2; exit 3", stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, err = await proc.communicate()
        assert sorted(out.split()) == [b"err", b"out"] and err is None
        assert proc.returncode == 3

    run(loop, main())


def test_signals_and_negative_returncode(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(PY, "-c", "import time; time.sleep(30)")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGTERM
        proc = await asyncio.create_subprocess_exec(PY, "-c", "import time; time.sleep(30)")
        proc.kill()
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL

    run(loop, main())


def test_protocol_events_in_order(loop):
    events = []

    class Proto(asyncio.SubprocessProtocol):
        def __init__(self):
            self.exited = loop.create_future()
            self.lost = loop.create_future()

        def connection_made(self, transport):
            events.append("made")

        def pipe_data_received(self, fd, data):
            events.append(("data", fd, data))

        def pipe_connection_lost(self, fd, exc):
            events.append(("pipe lost", fd))

        def process_exited(self):
            events.append("exited")
            self.exited.set_result(None)

        def connection_lost(self, exc):
            events.append("lost")
            self.lost.set_result(exc)

    async def main():
        transport, proto = await loop.subprocess_exec(
            Proto, PY, "-c", "print('hi', flush=True)", stdin=None, stderr=None
        )
        assert transport.get_pid() > 0
        assert await asyncio.wait_for(proto.lost, 10) is None
        assert transport.get_returncode() == 0
        transport.close()

    run(loop, main())
    # The output may come in pieces, and the exit may be seen before or after
    # the pipe's end; the rest of the order is fixed.
    assert events[0] == "made"
    data = [e for e in events if e[0] == "data"]
    assert b"".join(d for _, _, d in data) == b"hi\n" and all(fd == 1 for _, fd, _ in data)
    assert events.index(data[-1]) < events.index(("pipe lost", 1))
    assert "exited" in events and events[-1] == "lost"


def test_many_processes_at_once_and_no_fd_left(loop):
    async def one(i):
        proc = await asyncio.create_subprocess_exec(PY, "-c", f"print({i})", stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        return int(out), proc.returncode

    async def main():
        return await asyncio.gather(*(one(i) for i in range(20)))

    run(loop, main())  # warm-up: the executor and the like are made once
    gc.collect()
    before = open_fds()
    assert run(loop, main()) == [(i, 0) for i in range(20)]
    gc.collect()
    assert open_fds() - before == set()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"universal_newlines": True}, "universal_newlines must be False"),
        ({"bufsize": 1}, "bufsize must be 0"),
        ({"text": True}, "text must be False"),
        ({"encoding": "utf-8"}, "encoding must be None"),
        ({"errors": "strict"}, "errors must be None"),
        ({"shell": True}, "shell must be False"),
    ],
)
def test_exec_refuses_text_options(loop, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(loop, loop.subprocess_exec(asyncio.SubprocessProtocol, PY, "-c", "pass", **kwargs))


def test_shell_refuses_non_string_and_shell_false(loop):
    with pytest.raises(ValueError, match="cmd must be a string"):
        run(loop, loop.subprocess_shell(asyncio.SubprocessProtocol, ["echo", "x"]))
    with pytest.raises(ValueError, match="shell must be True"):
        run(loop, loop.subprocess_shell(asyncio.SubprocessProtocol, "echo x", shell=False))


def test_missing_program_raises_file_not_found(loop):
    with pytest.raises(FileNotFoundError):
        run(loop, asyncio.create_subprocess_exec("/nonexistent/ferroloop-test-program"))


@pytest.mark.parametrize("pidfd_open", [None, "raises"], ids=["missing", "refused"])
def test_exit_is_seen_without_pidfds(loop, monkeypatch, pidfd_open):
    """Where pidfds are missing or refused, ferroloop waits for the child in a thread."""
    import ferroloop._subprocess as sub

    def refuse(pid):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(sub, "_pidfd_open", None if pidfd_open is None else refuse)

    async def main():
        proc = await asyncio.create_subprocess_exec(PY, "-c", "import sys; sys.exit(9)", stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        return out, proc.returncode

    assert run(loop, main()) == (b"", 9)
