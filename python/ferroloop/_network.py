"""The Python side of connections, servers and datagram endpoints.

Orchestration that runs once per connection (address resolution order, happy
eyeballs, option validation) lives here; transports themselves are native.
"""


class NetworkMixin:
    __slots__ = ()
