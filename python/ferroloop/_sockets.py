"""The Python side of socket operations and DNS (``sock_*``, ``getaddrinfo``).

``sock_sendfile`` lives here whole: the kernel moves the bytes (``os.sendfile``),
and the Python around it runs once per chunk, after the socket was writable.

The operations themselves are native (``LoopCore``, ``src/sock_ops`` and
``src/dns.rs``); this module holds what runs once per call and never on a data
path: address resolution with its IP-literal shortcut (``_ensure_resolved``,
shared by ``sock_connect`` and the connection methods), and the executor path
lookups take in debug mode or when ``socket.getaddrinfo`` has been patched.
"""

import errno
import io
import os
import socket
from asyncio import constants, exceptions

from ._support import logger

__all__ = ("SocketMixin",)

_HAS_IPV6 = hasattr(socket, "AF_INET6")
_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)


def _literal_addrinfo(host, port, family, type, proto, flowinfo=0, scopeid=0):
    """The addrinfo of an address that is already an IP literal, else None.

    asyncio skips ``getaddrinfo`` for those (``base_events._ipaddr_info``);
    ``sock_connect`` must too, so a literal never waits for a thread.
    """
    if host is None or proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return None
    if type == socket.SOCK_STREAM:
        proto = socket.IPPROTO_TCP
    elif type == socket.SOCK_DGRAM:
        proto = socket.IPPROTO_UDP
    else:
        return None
    if port is None or port == b"" or port == "":
        port = 0
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            return None  # a service name such as "http"
    if isinstance(host, bytes):
        host = host.decode("idna")
    if "%" in host:
        return None  # inet_pton refuses IPv6 zone indices
    families = _IP_FAMILIES if family == socket.AF_UNSPEC else (family,)
    for af in families:
        try:
            socket.inet_pton(af, host)
        except OSError:
            continue
        if _HAS_IPV6 and af == socket.AF_INET6:
            return af, type, proto, "", (host, port, flowinfo, scopeid)
        return af, type, proto, "", (host, port)
    return None


def _getaddrinfo_logged(loop, host, port, family, type, proto, flags):
    """``socket.getaddrinfo`` with asyncio's debug-mode log lines."""
    parts = [f"{host}:{port!r}"]
    for name, value in (("family", family), ("type", type), ("proto", proto), ("flags", flags)):
        if value:
            parts.append(f"{name}={value!r}")
    what = ", ".join(parts)
    logger.debug("Get address info %s", what)
    started = loop.time()
    infos = socket.getaddrinfo(host, port, family, type, proto, flags)
    took = loop.time() - started
    line = f"Getting address info {what} took {took * 1e3:.3f}ms: {infos!r}"
    if took >= loop.slow_callback_duration:
        logger.info(line)
    else:
        logger.debug(line)
    return infos


def _lookup_in_executor(name, loop, *args):
    """asyncio's way: the lookup in the default executor (returns its future)."""
    if name == "getaddrinfo":
        func = _getaddrinfo_logged if loop.get_debug() else socket.getaddrinfo
        if func is _getaddrinfo_logged:
            args = (loop, *args)
        return loop.run_in_executor(None, func, *args)
    return loop.run_in_executor(None, socket.getnameinfo, *args)


def _check_sendfile_args(sock, file, offset, count):
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


class SocketMixin:
    __slots__ = ()

    def sock_connect(self, sock, address):
        """Connect ``sock`` to ``address``, resolving a host name first.

        Checks the socket when called; returns the coroutine that connects.
        """
        self._check_sock(sock)
        return self._sock_connect_resolving(sock, address)

    async def _sock_connect_resolving(self, sock, address):
        if sock.family in _IP_FAMILIES:
            infos = await self._ensure_resolved(address, family=sock.family, type=sock.type, proto=sock.proto)
            address = infos[0][4]
        return await self._sock_connect(sock, address)

    async def _ensure_resolved(self, address, *, family=0, type=socket.SOCK_STREAM, proto=0, flags=0, loop=None):
        """``base_events._ensure_resolved``: an IP literal's addrinfo at once, else ``getaddrinfo``'s."""
        host, port = address[:2]
        info = _literal_addrinfo(host, port, family, type, proto, *address[2:])
        if info is not None:
            return [info]
        return await self.getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)

    # -- sock_sendfile ------------------------------------------------------

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        """Send ``file`` (from ``offset``, ``count`` bytes or to its end) over a
        connected stream socket; returns the bytes sent. ``os.sendfile`` where the
        file allows it; otherwise, if ``fallback``, read and ``sock_sendall``."""
        self._check_sock(sock)
        _check_sendfile_args(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except exceptions.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_native(self, sock, file, offset, count):
        try:
            src = file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        try:
            size = os.fstat(src).st_size
        except OSError:
            raise exceptions.SendfileNotAvailableError("not a regular file")
        if not (count or size):
            return 0  # an empty file
        fd = sock.fileno()
        total = 0
        waited = False
        while not count or total < count:
            want = count - total if count else size
            try:
                sent = os.sendfile(fd, src, offset + total, want)
            except (BlockingIOError, InterruptedError):
                await self._sock_writable(fd)
                waited = True
                continue
            except OSError as exc:
                self._sendfile_seek(src, offset, total)
                if total == 0:
                    # Not a file sendfile can read (a pipe, a socket...), or a
                    # socket it cannot write: the caller may fall back.
                    raise exceptions.SendfileNotAvailableError("os.sendfile call failed")
                if waited and exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                    # The peer went away mid-transfer: the same error on every POSIX system.
                    raise ConnectionError("socket is not connected", errno.ENOTCONN) from exc
                raise
            except BaseException:
                self._sendfile_seek(src, offset, total)
                raise
            if sent == 0:
                break  # end of file
            total += sent
            # The next chunk goes once the socket is writable again.
            await self._sock_writable(fd)
            waited = True
        self._sendfile_seek(src, offset, total)
        return total

    @staticmethod
    def _sendfile_seek(src, offset, total):
        # os.sendfile with an offset leaves the file position alone; like
        # asyncio, leave it after what was sent.
        if total > 0:
            os.lseek(src, offset + total, os.SEEK_SET)

    def _sock_writable(self, fd):
        """A future done when ``fd`` is writable; cancelling it stops watching."""
        fut = self.create_future()

        def ready():
            self.remove_writer(fd)
            if not fut.done():
                fut.set_result(None)

        def done(f):
            if f.cancelled():
                self.remove_writer(fd)

        self.add_writer(fd, ready)
        fut.add_done_callback(done)
        return fut

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        blocksize = constants.SENDFILE_FALLBACK_READBUFFER_SIZE

        async def send(view):
            await self.sock_sendall(sock, view)

        return await self._send_file_by_reading(file, offset, count, blocksize, send)

    async def _send_file_by_reading(self, file, offset, count, blocksize, send):
        """sendfile's fallback: read the file in the executor, ``await send(view)``
        each chunk; the file is left positioned after what was sent."""
        if offset:
            file.seek(offset)
        if count:
            blocksize = min(count, blocksize)
        buf = bytearray(blocksize)
        total = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        return total
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total  # end of file
                await send(view[:read])
                total += read
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)
