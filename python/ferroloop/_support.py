"""Cold-path helpers the native loop calls: error reports, reprs, checks.

Nothing here runs per callback unless something went wrong or debug mode is on.
"""

import inspect
import sys
from asyncio import base_events, coroutines, format_helpers, selector_events, tasks, unix_events


class AsyncioLogger:
    """asyncio's logger, fetched from one of asyncio's modules on every use.

    asyncio logs through each module's ``logger`` name, and code and tests
    replace those names (``mock.patch('asyncio.base_events.logger')``);
    ferroloop's messages must reach whatever is there at the time.
    """

    __slots__ = ("_module",)

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module.logger, name)


# Where asyncio itself logs the same messages.
logger = AsyncioLogger(base_events)
unix_logger = AsyncioLogger(unix_events)
transport_logger = AsyncioLogger(selector_events)

# 3.13 renders callbacks differently in debug mode.
_FORMAT_TAKES_DEBUG = "debug" in inspect.signature(format_helpers._format_callback_source).parameters


def _format_callback(handle, debug):
    if _FORMAT_TAKES_DEBUG:
        return format_helpers._format_callback_source(handle._callback, handle._args, debug=debug)
    return format_helpers._format_callback_source(handle._callback, handle._args)


def _loop_debug(handle):
    loop = handle._loop
    return bool(loop is not None and loop.get_debug())


def handle_repr(handle):
    parts = [type(handle).__name__]
    if handle.cancelled():
        parts.append("cancelled")
    when = getattr(handle, "_when", None)
    if when is not None:
        parts.append(f"when={when}")
    if handle._callback is not None:
        parts.append(_format_callback(handle, _loop_debug(handle)))
    tb = handle._source_traceback
    if tb:
        frame = tb[-1]
        parts.append(f"created at {frame[0]}:{frame[1]}")
    return "<" + " ".join(parts) + ">"


def callback_error(loop, handle, exc):
    """A callback raised: report it to the loop's exception handler."""
    source = _format_callback(handle, _loop_debug(handle)) if handle._callback is not None else repr(handle)
    context = {"message": f"Exception in callback {source}", "exception": exc, "handle": handle}
    tb = handle._source_traceback
    if tb:
        context["source_traceback"] = tb
    if loop is not None:
        loop.call_exception_handler(context)


def describe_handle(handle):
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, tasks.Task):
        return repr(owner)
    return str(handle)


def slow_callback(loop, handle, seconds):
    logger.warning("Executing %s took %.3f seconds", describe_handle(handle), seconds)


def extract_stack():
    # Frame 0 is this helper; frame 1 is whoever called the loop method.
    return format_helpers.extract_stack(sys._getframe(1))


def check_callback(callback, method):
    if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
        raise TypeError(f"coroutines cannot be used with {method}()")
    if not callable(callback):
        raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")


if sys.version_info >= (3, 13):

    def set_task_name(task, name):
        task.set_name(name)

else:

    def set_task_name(task, name):
        tasks._set_task_name(task, name)
