"""connect_read_pipe / connect_write_pipe: data in order, EOF, flow control, the peer
closing, refusal of non-pipes. Runs on asyncio and ferroloop."""

import asyncio
import os

import pytest

from loophelpers import run


class Recorder(asyncio.Protocol):
    def __init__(self, loop):
        self.events = []
        self.data = bytearray()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport

    def data_received(self, data):
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


@pytest.fixture
def pipe_files():
    r, w = os.pipe()
    rf, wf = open(r, "rb", buffering=0), open(w, "wb", buffering=0)
    yield rf, wf
    rf.close()
    wf.close()


def test_read_pipe_delivers_data_then_eof(loop, pipe_files):
    rf, wf = pipe_files

    async def main():
        transport, proto = await loop.connect_read_pipe(lambda: Recorder(loop), rf)
        assert transport.get_extra_info("pipe") is rf
        assert proto.events == ["made"] and transport.is_reading()
        os.write(wf.fileno(), b"first ")
        os.write(wf.fileno(), b"second")
        wf.close()
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert bytes(proto.data) == b"first second"
        assert proto.events == ["made", "data", "eof", "lost"]
        assert transport.is_closing()

    run(loop, main())


def test_read_pipe_pause_and_resume(loop, pipe_files):
    rf, wf = pipe_files

    async def main():
        transport, proto = await loop.connect_read_pipe(lambda: Recorder(loop), rf)
        transport.pause_reading()
        assert not transport.is_reading()
        os.write(wf.fileno(), b"held back")
        for _ in range(10):
            await asyncio.sleep(0)
        assert proto.data == b""
        transport.resume_reading()
        for _ in range(100):
            if proto.data:
                break
            await asyncio.sleep(0.001)
        assert proto.data == b"held back"
        transport.close()
        assert await asyncio.wait_for(proto.lost, 5) is None

    run(loop, main())


def test_write_pipe_buffers_flow_controls_and_flushes_on_close(loop, pipe_files):
    rf, wf = pipe_files
    payload = bytes(range(256)) * 4096  # 1 MiB: far more than a pipe holds

    async def main():
        transport, proto = await loop.connect_write_pipe(lambda: Recorder(loop), wf)
        transport.set_write_buffer_limits(high=64 * 1024)
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        assert proto.events == ["made", "pause"]
        assert transport.can_write_eof()
        transport.close()  # ends the pipe once the buffer has gone out
        reader, rproto = await loop.connect_read_pipe(lambda: Recorder(loop), rf)
        assert await asyncio.wait_for(rproto.lost, 10) is None
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert bytes(rproto.data) == payload
        assert proto.events == ["made", "pause", "resume", "lost"]

    run(loop, main())


def test_write_pipe_sees_the_reader_go_away(loop, pipe_files):
    rf, wf = pipe_files

    async def main():
        transport, proto = await loop.connect_write_pipe(lambda: Recorder(loop), wf)
        transport.write(b"x" * 1000)
        assert os.read(rf.fileno(), 2000) == b"x" * 1000
        rf.close()
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert transport.is_closing()
        transport.write(b"ignored after the end")  # counted, not raised

    run(loop, main())


def test_write_pipe_with_pending_data_loses_with_broken_pipe(loop, pipe_files):
    rf, wf = pipe_files

    async def main():
        transport, proto = await loop.connect_write_pipe(lambda: Recorder(loop), wf)
        transport.write(b"y" * (4 << 20))  # more than the pipe holds: some stays queued
        assert transport.get_write_buffer_size() > 0
        rf.close()
        exc = await asyncio.wait_for(proto.lost, 5)
        assert isinstance(exc, BrokenPipeError)

    run(loop, main())


def test_regular_files_are_refused(loop, tmp_path):
    path = tmp_path / "plain"
    path.write_bytes(b"data")

    async def main():
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="Pipe transport is for pipes/sockets only"):
                await loop.connect_read_pipe(asyncio.Protocol, f)
        with open(path, "wb") as f:
            with pytest.raises(ValueError, match="Pipe transport is only for pipes, sockets and character devices"):
                await loop.connect_write_pipe(asyncio.Protocol, f)

    run(loop, main())


def test_streams_over_pipes(loop, pipe_files):
    rf, wf = pipe_files

    async def main():
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), rf)
        wtransport, wproto = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wf)
        writer = asyncio.StreamWriter(wtransport, wproto, None, loop)
        writer.write(b"line one\nline two\n")
        await writer.drain()
        writer.close()
        assert await reader.readline() == b"line one\n"
        assert await reader.read() == b"line two\n"

    run(loop, main())
