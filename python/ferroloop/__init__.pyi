import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._loop import Loop as Loop

_T = TypeVar("_T")

__version__: str

def new_event_loop() -> Loop: ...
def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T: ...

if sys.version_info < (3, 16):
    class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,name-defined]
        def _loop_factory(self) -> Loop: ...
