import asyncio
import concurrent.futures
import socket
import ssl
import sys
from _typeshed import ReadableBuffer, StrPath
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import IO, Any, TypeVar, TypeVarTuple, Unpack

from ._ferroloop import LoopCore

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_ProtocolT = TypeVar("_ProtocolT", bound=asyncio.BaseProtocol)
_SSL = ssl.SSLContext | bool | None

class Loop(LoopCore, asyncio.AbstractEventLoop):  # type: ignore[misc]
    def __init__(self) -> None: ...
    def run_forever(self) -> None: ...
    def run_until_complete(self, future: Generator[Any, None, _T] | Awaitable[_T]) -> _T: ...
    def close(self) -> None: ...
    async def shutdown_asyncgens(self) -> None: ...
    if sys.version_info >= (3, 12):
        async def shutdown_default_executor(self, timeout: float | None = None) -> None: ...
    else:
        async def shutdown_default_executor(self) -> None: ...
    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]: ...
    def set_default_executor(self, executor: concurrent.futures.ThreadPoolExecutor) -> None: ...  # type: ignore[override]
    def get_exception_handler(self) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None: ...
    def set_exception_handler(
        self, handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
    ) -> None: ...
    def default_exception_handler(self, context: dict[str, Any]) -> None: ...
    def call_exception_handler(self, context: dict[str, Any]) -> None: ...
    def add_signal_handler(self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None: ...
    def remove_signal_handler(self, sig: int) -> bool: ...
    # -- SocketMixin (_sockets.py); the other sock_* methods are LoopCore's --
    def sock_connect(self, sock: socket.socket, address: tuple[Any, ...] | str | ReadableBuffer) -> Coroutine[Any, Any, None]: ...
    # -- NetworkMixin (_network.py) --
    if sys.version_info >= (3, 12):
        async def create_connection(
            self,
            protocol_factory: Callable[[], _ProtocolT],
            host: str | None = None,
            port: int | str | None = None,
            *,
            ssl: _SSL = None,
            family: int = 0,
            proto: int = 0,
            flags: int = 0,
            sock: socket.socket | None = None,
            local_addr: tuple[str, int] | None = None,
            server_hostname: str | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            happy_eyeballs_delay: float | None = None,
            interleave: int | None = None,
            all_errors: bool = False,
        ) -> tuple[asyncio.Transport, _ProtocolT]: ...
    else:
        async def create_connection(
            self,
            protocol_factory: Callable[[], _ProtocolT],
            host: str | None = None,
            port: int | str | None = None,
            *,
            ssl: _SSL = None,
            family: int = 0,
            proto: int = 0,
            flags: int = 0,
            sock: socket.socket | None = None,
            local_addr: tuple[str, int] | None = None,
            server_hostname: str | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            happy_eyeballs_delay: float | None = None,
            interleave: int | None = None,
        ) -> tuple[asyncio.Transport, _ProtocolT]: ...
    if sys.version_info >= (3, 13):
        async def create_server(
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: str | Sequence[str] | None = None,
            port: int | str | None = None,
            *,
            family: int = ...,
            flags: int = ...,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: _SSL = None,
            reuse_address: bool | None = None,
            reuse_port: bool | None = None,
            keep_alive: bool | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True,
        ) -> asyncio.Server: ...
    else:
        async def create_server(
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: str | Sequence[str] | None = None,
            port: int | str | None = None,
            *,
            family: int = ...,
            flags: int = ...,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: _SSL = None,
            reuse_address: bool | None = None,
            reuse_port: bool | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True,
        ) -> asyncio.Server: ...
    async def connect_accepted_socket(
        self,
        protocol_factory: Callable[[], _ProtocolT],
        sock: socket.socket,
        *,
        ssl: _SSL = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, _ProtocolT]: ...
    async def start_tls(
        self,
        transport: asyncio.BaseTransport,
        protocol: asyncio.BaseProtocol,
        sslcontext: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> asyncio.Transport | None: ...
    async def sock_sendfile(
        self,
        sock: socket.socket,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool | None = True,
    ) -> int: ...
    async def sendfile(
        self,
        transport: asyncio.WriteTransport,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> int: ...
    async def create_unix_connection(
        self,
        protocol_factory: Callable[[], _ProtocolT],
        path: str | None = None,
        *,
        ssl: _SSL = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, _ProtocolT]: ...
    if sys.version_info >= (3, 13):
        async def create_unix_server(
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            path: StrPath | None = None,
            *,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: _SSL = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True,
            cleanup_socket: bool = True,
        ) -> asyncio.Server: ...
    else:
        async def create_unix_server(
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            path: StrPath | None = None,
            *,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: _SSL = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True,
        ) -> asyncio.Server: ...
    # No reuse_address, like asyncio's BaseEventLoop (AbstractEventLoop still lists it).
    async def create_datagram_endpoint(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], _ProtocolT],
        local_addr: tuple[str, int] | str | None = None,
        remote_addr: tuple[str, int] | str | None = None,
        *,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        reuse_port: bool | None = None,
        allow_broadcast: bool | None = None,
        sock: socket.socket | None = None,
    ) -> tuple[asyncio.DatagramTransport, _ProtocolT]: ...
