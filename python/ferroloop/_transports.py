"""``asyncio.Transport`` twins of ferroloop's native transports.

A native class cannot inherit from ``asyncio.BaseTransport`` (its ``__slots__``
make the instance lay-outs conflict), yet protocols and libraries check
``isinstance(transport, asyncio.Transport)``. So each native transport has a twin
defined here: an ordinary subclass of asyncio's classes whose instances hold the
native object in ``_t`` and, in slots, the bound native methods its class
lists in ``_native_methods``. ``transport.write(data)`` reads a slot and calls
Rust: no Python frame. The methods below are the cold ones; they delegate to
the native object.

Twins are created by the native code (without ``__init__``), never by users.
"""

from asyncio import constants, transports

__all__ = ()


class _TwinBase:
    __slots__ = ()

    def __repr__(self):
        return self._t._repr(type(self).__name__)

    def abort(self):
        self._t.abort()

    def set_protocol(self, protocol):
        self._t.set_protocol(protocol)

    def set_write_buffer_limits(self, high=None, low=None):
        self._t.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self):
        return self._t.get_write_buffer_limits()

    # asyncio's private attributes, read by asyncio itself (sendfile, TLS)
    # and by some libraries.

    @property
    def _loop(self):
        return self._t._loop

    @property
    def _protocol(self):
        return self._t.get_protocol()

    @property
    def _protocol_paused(self):
        return self._t._protocol_paused

    @property
    def _extra(self):
        return self._t._extra

    @property
    def _sock(self):
        return self._t._sock

    @property
    def _sock_fd(self):
        return self._t._sock_fd

    @property
    def _closing(self):
        return self._t._closing

    @property
    def _conn_lost(self):
        return self._t._conn_lost

    @property
    def _server(self):
        return self._t._server


class _SocketTransport(_TwinBase, transports._FlowControlMixin, transports.Transport):
    """A TCP or Unix stream transport."""

    # The hot methods: the native code binds them per instance (make_twin).
    _native_methods = (
        "write",
        "writelines",
        "is_closing",
        "get_extra_info",
        "pause_reading",
        "resume_reading",
        "is_reading",
        "get_write_buffer_size",
        "close",
        "get_protocol",
    )
    __slots__ = ("_t", *_native_methods, "__dict__", "__weakref__")

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def _make_empty_waiter(self):
        return self._t._make_empty_waiter()

    def _reset_empty_waiter(self):
        self._t._reset_empty_waiter()

    @property
    def _empty_waiter(self):
        return self._t._empty_waiter

    def write_eof(self):
        self._t.write_eof()

    def _force_close(self, exc):  # called by asyncio's SSLProtocol
        self._t._force_close(exc)

    def can_write_eof(self):
        return True

    @property
    def _eof(self):
        return self._t._eof

    @property
    def _paused(self):
        return self._t._paused


class _DatagramTransport(_TwinBase, transports._FlowControlMixin, transports.DatagramTransport):
    """A UDP or Unix datagram transport."""

    # The hot methods: the native code binds them per instance (make_twin).
    _native_methods = ("sendto", "is_closing", "get_extra_info", "get_write_buffer_size", "close", "get_protocol")
    __slots__ = ("_t", *_native_methods, "__dict__", "__weakref__")

    def pause_reading(self):
        self._t.pause_reading()

    def resume_reading(self):
        self._t.resume_reading()

    def is_reading(self):
        return self._t.is_reading()

    @property
    def _address(self):
        return self._t._address
