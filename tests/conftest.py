"""Shared fixtures: every loop test runs once on asyncio's own loop and once on ferroloop.

The ``loop`` fixture gives a fresh loop whose exception handler records every call.  A test
whose loop handler was called without the test asking for it (through the
``handler_calls`` fixture) fails.  When ferroloop cannot be imported, the ferroloop
parameter ERRORS: it is never skipped.
"""

import asyncio
import gc
import os
import sys

import pytest

# Make ``import loophelpers`` work whether or not tests/ is a package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LOOP_NAMES = ("asyncio", "ferroloop")


def loop_factory_for(name):
    """The zero-argument callable that makes a new loop of the given kind."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "ferroloop":
        import ferroloop  # an ImportError here must make the test ERROR

        return ferroloop.new_event_loop
    raise ValueError(f"unknown loop name {name!r}")


class HandlerRecorder:
    """An exception handler that only records what it is given."""

    def __init__(self):
        self.calls = []  # list of (loop, context)
        self.expected = False

    def __call__(self, loop, context):
        self.calls.append((loop, context))

    @property
    def contexts(self):
        return [ctx for _, ctx in self.calls]


@pytest.fixture(params=LOOP_NAMES)
def loop_name(request):
    if request.param == "ferroloop":
        import ferroloop  # noqa: F401  (ERROR, not skip, when missing)
    return request.param


@pytest.fixture
def loop_factory(loop_name):
    return loop_factory_for(loop_name)


@pytest.fixture
def loop(loop_name, request):
    lp = loop_factory_for(loop_name)()
    recorder = HandlerRecorder()
    lp.set_exception_handler(recorder)
    request.node._loop_handler_recorder = recorder
    try:
        yield lp
    finally:
        if not lp.is_closed() and not lp.is_running():
            _finish_leftover_tasks(lp)
            lp.close()
        # Garbage the test left (e.g. never-awaited coroutines of a failed test) is
        # reported here, against this test, not against the next one.
        gc.collect()


def _finish_leftover_tasks(lp):
    """Cancel what a (failed) test left running, so it does not spill into other tests."""
    try:
        pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
        if not pending:
            return
        for t in pending:
            t.cancel()
        lp.run_until_complete(
            asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
        )
    except Exception:
        pass


@pytest.fixture
def handler_calls(loop, request):
    """The list of contexts given to the loop's exception handler (the test expects calls)."""
    recorder = request.node._loop_handler_recorder
    recorder.expected = True
    return recorder


@pytest.fixture
def ref_loop():
    """A reference asyncio loop, to compare the loop under test against."""
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    recorder = getattr(item, "_loop_handler_recorder", None)
    if recorder is not None and not recorder.expected and recorder.calls:
        raise AssertionError(
            "the loop's exception handler was called unexpectedly: "
            + "; ".join(repr(ctx) for ctx in recorder.contexts)
        )
    return result
