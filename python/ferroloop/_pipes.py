"""Pipe transports: ``connect_read_pipe`` and ``connect_write_pipe``.

They follow asyncio's Unix pipe transports step for step (the order protocol
callbacks run in, when the pipe is closed, how errors are reported), on the
loop's ``add_reader``/``add_writer``. A pipe moves data between two processes,
so each read or write is a syscall whatever language drives it.
"""

import errno
import os
import stat
import warnings
from asyncio import constants, futures, transports

from ._support import unix_logger as logger

__all__ = ("PipeMixin",)

# Largest read per readiness event, as asyncio's pipe transport reads.
_MAX_READ = 256 * 1024


def _pipe_kind(fileno):
    mode = os.fstat(fileno).st_mode
    return stat.S_ISFIFO(mode), stat.S_ISSOCK(mode), stat.S_ISCHR(mode)


class _PipeBase:
    """What both directions share: the pipe, its protocol and how it ends."""

    def _setup(self, loop, pipe, protocol, refusal):
        self._pipe = None  # until the checks pass: nothing for __del__ to close
        self._extra["pipe"] = pipe
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        self._watching = False
        is_fifo, is_socket, is_char = _pipe_kind(self._fileno)
        if not (is_fifo or is_socket or is_char):
            self._pipe = self._fileno = self._protocol = None
            raise ValueError(refusal)
        os.set_blocking(self._fileno, False)
        return is_fifo, is_socket

    def _watch(self):
        if not self._watching:
            self._watching = True
            self._loop.add_reader(self._fileno, self._read_ready)

    def _unwatch(self):
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fileno)

    def __repr__(self):
        parts = [type(self).__name__]
        if self._pipe is None:
            parts.append("closed")
        elif self._closing:
            parts.append("closing")
        parts.append(f"fd={self._fileno}")
        if self._pipe is None:
            parts.append("closed")
        elif self._loop is None or self._loop.is_closed():
            parts.append("open")  # a closed loop watches nothing
        else:
            parts.append("polling" if self._watching else "idle")
        if isinstance(self, transports.WriteTransport):
            parts.append(f"bufsize={self.get_write_buffer_size()}")
        return "<{}>".format(" ".join(parts))

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def __del__(self, _warn=warnings.warn):
        if self._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _report(self, exc, message, quiet):
        """An OS error the pipe's end explains is only logged in debug mode."""
        if quiet:
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
            )

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None


class ReadPipeTransport(_PipeBase, transports.ReadTransport):
    """The read end of a pipe (or a socket or character device)."""

    max_size = _MAX_READ

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra)
        self._paused = False
        self._setup(loop, pipe, protocol, "Pipe transport is for pipes/sockets only.")
        # Reading starts, and the waiter is woken, after connection_made.
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def _start(self):
        if self.is_reading():
            self._watch()

    def is_reading(self):
        return not self._paused and not self._closing

    def _read_ready(self):
        try:
            data = os.read(self._fileno, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            self._protocol.data_received(data)
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        self._unwatch()
        self._loop.call_soon(self._protocol.eof_received)
        self._loop.call_soon(self._call_connection_lost, None)

    def pause_reading(self):
        if not self.is_reading():
            return
        self._paused = True
        self._unwatch()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._watch()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def close(self):
        if not self._closing:
            self._close(None)

    def _fatal_error(self, exc, message="Fatal error on pipe transport"):
        # EIO: the other side of a pseudo-terminal went away.
        self._report(exc, message, isinstance(exc, OSError) and exc.errno == errno.EIO)
        self._close(exc)

    def _close(self, exc):
        self._closing = True
        self._unwatch()
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeBase, transports._FlowControlMixin, transports.WriteTransport):
    """The write end of a pipe (or a socket or character device)."""

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra, loop)
        self._buffer = bytearray()
        self._conn_lost = 0
        self._writing = False
        is_fifo, is_socket = self._setup(
            loop, pipe, protocol, "Pipe transport is only for pipes, sockets and character devices"
        )
        loop.call_soon(protocol.connection_made, self)
        # The read end of a pipe or socket becomes readable when the reader
        # closes it: that is how the transport learns the peer went away.
        if is_fifo or is_socket:
            loop.call_soon(self._watch)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def get_write_buffer_size(self):
        return len(self._buffer)

    def _read_ready(self):
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._close(BrokenPipeError() if self._buffer else None)

    def _start_writing(self):
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self._fileno, self._write_ready)

    def _stop_writing(self):
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fileno)

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if isinstance(data, bytearray):
            data = memoryview(data)
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                n = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            if n > 0:
                data = memoryview(data)[n:]
            self._start_writing()
        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self):
        try:
            n = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._conn_lost += 1
            self._stop_writing()
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if n < len(self._buffer):
            del self._buffer[:n]
            return
        self._buffer.clear()
        self._stop_writing()
        self._maybe_resume_protocol()  # the protocol may write again here
        if self._closing:
            self._unwatch()
            self._call_connection_lost(None)

    def can_write_eof(self):
        return True

    def write_eof(self):
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._unwatch()
            self._loop.call_soon(self._call_connection_lost, None)

    def close(self):
        if self._pipe is not None and not self._closing:
            self.write_eof()  # closing a write pipe is ending it

    def abort(self):
        self._close(None)

    def _fatal_error(self, exc, message="Fatal error on pipe transport"):
        self._report(exc, message, isinstance(exc, OSError))
        self._close(exc)

    def _close(self, exc=None):
        self._closing = True
        self._stop_writing()
        self._buffer.clear()
        self._unwatch()
        self._loop.call_soon(self._call_connection_lost, exc)


class PipeMixin:
    __slots__ = ()

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        return WritePipeTransport(self, pipe, protocol, waiter, extra)

    async def connect_read_pipe(self, protocol_factory, pipe):
        return await self._connect_pipe(self._make_read_pipe_transport, "Read", protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory, pipe):
        return await self._connect_pipe(self._make_write_pipe_transport, "Write", protocol_factory, pipe)

    async def _connect_pipe(self, make, direction, protocol_factory, pipe):
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = make(pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self.get_debug():
            logger.debug("%s pipe %r connected: (%r, %r)", direction, pipe.fileno(), transport, protocol)
        return transport, protocol
