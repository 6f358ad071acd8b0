"""ferroloop: a drop-in replacement for asyncio's event loop, written in Rust.

    import ferroloop
    ferroloop.run(main())                                      # like asyncio.run
    asyncio.run(main(), loop_factory=ferroloop.new_event_loop)  # Python 3.12+
    asyncio.Runner(loop_factory=ferroloop.new_event_loop)       # Python 3.11+
"""

import asyncio as _asyncio

from ._loop import Loop

__all__ = ("Loop", "new_event_loop", "run", "EventLoopPolicy")
__version__ = "0.1.0"


def new_event_loop():
    """Return a new ferroloop event loop."""
    return Loop()


def run(main, *, debug=None):
    """Run the coroutine ``main`` on a new ferroloop loop, like ``asyncio.run``."""
    if _asyncio.events._get_running_loop() is not None:
        # Refuse before a Runner exists: its clean-up would need a loop too.
        raise RuntimeError("ferroloop.run() cannot be called from a running event loop")
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


if hasattr(_asyncio, "DefaultEventLoopPolicy"):

    class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
        """An event-loop policy whose loops are ferroloop loops."""

        def _loop_factory(self):
            return new_event_loop()

        def __repr__(self):
            return f"<{type(self).__name__}>"
