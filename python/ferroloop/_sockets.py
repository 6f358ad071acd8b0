"""The Python side of socket operations and DNS (``sock_*``, ``getaddrinfo``).

The operations themselves are native (``LoopCore``, ``src/sock_ops`` and
``src/dns.rs``); this module holds what runs once per call and never on a data
path: address resolution with its IP-literal shortcut (``_ensure_resolved``,
shared by ``sock_connect`` and the connection methods), and the executor path
lookups take in debug mode or when ``socket.getaddrinfo`` has been patched.
"""

import socket

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
