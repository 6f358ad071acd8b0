"""The Python side of socket operations and DNS (``sock_*``, ``getaddrinfo``).

The operations themselves are native (``LoopCore``); this mixin holds only
argument handling that runs once per call and never on a data path.
"""


class SocketMixin:
    __slots__ = ()
