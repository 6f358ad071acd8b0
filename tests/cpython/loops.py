"""Putting the loop under test where CPython's test_asyncio will create loops.

Runs inside the child process that executes one test module. For the stdlib
loop (`asyncio`) nothing is replaced. For any other loop package (ferroloop,
or uvloop as a second opinion) with the usual surface -- `new_event_loop()`,
`Loop`, `EventLoopPolicy` -- this module:

* makes that package's policy the current one *and* the default one, so the
  `asyncio.set_event_loop_policy(None)` in every module's `tearDownModule`
  (and in some tests) brings it back instead of the stdlib's;
* replaces `asyncio.SelectorEventLoop` / `asyncio.EventLoop`, which many test
  classes call directly, by a factory of the loop under test (after the test
  module is imported, so classes the module derives from them stay stdlib);
* rewrites the test classes that the stdlib instantiates once per selector or
  per child watcher into one class for the loop under test (`adapt`);
* counts, per test, the loops of each kind it created, so a test that passes
  without ever touching the loop under test (the virtual-clock `TestLoop`
  tests of futures and tasks) is reported as such.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.unix_events
import importlib
import unittest

STDLIB = "asyncio"


class Counts:
    """Loops created since the current test started."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.under_test = 0
        self.stdlib: list[str] = []


counts = Counts()


def _count_stdlib_loops() -> None:
    original_init = asyncio.base_events.BaseEventLoop.__init__

    def __init__(self, *args, **kwargs):
        counts.stdlib.append(type(self).__name__)
        original_init(self, *args, **kwargs)

    asyncio.base_events.BaseEventLoop.__init__ = __init__


class LoopUnderTest:
    def __init__(self, name: str) -> None:
        self.name = name
        self.package = importlib.import_module(name)
        self.loop_type = self.package.Loop
        self.policy_type = self.package.EventLoopPolicy
        # "Ferroloop", "Uvloop": the prefix of the test classes made for it.
        self.title = name[:1].upper() + name[1:]

    def new_loop(self):
        loop = self.package.new_event_loop()
        counts.under_test += 1
        return loop

    def install_policy(self) -> None:
        policy_type = self.policy_type
        original = policy_type.new_event_loop

        def new_event_loop(policy):
            loop = original(policy)
            if isinstance(loop, self.loop_type):
                counts.under_test += 1
            return loop

        try:
            policy_type.new_event_loop = new_event_loop
        except TypeError:  # a native class: loops made through it go uncounted
            pass
        asyncio.DefaultEventLoopPolicy = policy_type
        asyncio.unix_events.DefaultEventLoopPolicy = policy_type
        asyncio.set_event_loop_policy(policy_type())

    def install_loop_classes(self) -> None:
        """Make `asyncio.SelectorEventLoop()` and `asyncio.EventLoop()` build
        the loop under test. `isinstance(x, asyncio.SelectorEventLoop)` holds
        for its loops, as it does for the stdlib's own."""
        lut = self

        class _Meta(type):
            def __instancecheck__(cls, obj):
                return isinstance(obj, lut.loop_type)

            def __subclasscheck__(cls, sub):
                return issubclass(sub, lut.loop_type)

        class SelectorEventLoop(metaclass=_Meta):
            def __new__(cls, selector=None):
                if selector is not None:
                    selector.close()  # the loop under test polls by itself
                return lut.new_loop()

        SelectorEventLoop.__module__ = asyncio.unix_events.__name__
        asyncio.SelectorEventLoop = SelectorEventLoop
        if hasattr(asyncio, "EventLoop"):
            asyncio.EventLoop = SelectorEventLoop

    def install_test_utils(self, test_utils) -> None:
        """`test_utils.TestCase.close_loop` reads the private
        `loop._default_executor` and asks the policy for a child watcher;
        for the loop under test do the same with public calls."""
        original = test_utils.TestCase.close_loop

        def close_loop(loop):
            if isinstance(loop, asyncio.base_events.BaseEventLoop):
                return original(loop)
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        test_utils.TestCase.close_loop = staticmethod(close_loop)


def install(name: str) -> LoopUnderTest | None:
    """Called before the test module is imported."""
    _count_stdlib_loops()
    if name == STDLIB:
        return None
    lut = LoopUnderTest(name)
    lut.install_policy()
    from test.test_asyncio import utils as test_utils

    lut.install_test_utils(test_utils)
    return lut


def _rename(cls: type, module, name: str) -> type:
    cls.__name__ = cls.__qualname__ = name
    cls.__module__ = module.__name__
    setattr(module, name, cls)
    return cls


def _drop(module, names) -> list[type]:
    dropped = []
    for name in names:
        cls = vars(module).get(name)
        if isinstance(cls, type):
            dropped.append(cls)
            delattr(module, name)
    return dropped


# The stdlib runs its event-loop test mixins once per selector; the loop under
# test has one poller, so they run once, in a class named after it.
_SELECTOR_VARIANTS = (
    "KqueueEventLoopTests",
    "EPollEventLoopTests",
    "PollEventLoopTests",
    "SelectEventLoopTests",
)


def _collapse_selector_variants(module, lut: LoopUnderTest) -> None:
    variants = _drop(module, _SELECTOR_VARIANTS)
    if not variants:
        return
    bases = list(variants[-1].__bases__)
    # test_events' UnixEventLoopTestsMixin only installs a SafeChildWatcher
    # for the stdlib loop; the loop under test reaps its own children.
    unix_mixin = getattr(module, "UnixEventLoopTestsMixin", None)
    if unix_mixin is not None and unix_mixin in bases:
        own = {k for k in vars(unix_mixin) if k.startswith("test")}
        if not own:
            bases[bases.index(unix_mixin)] = unix_mixin.__bases__[0]

    def create_event_loop(self):
        return lut.new_loop()

    cls = type("X", tuple(bases), {"create_event_loop": create_event_loop})
    _rename(cls, module, f"{lut.title}EventLoopTests")


def _adapt_subprocess(module, lut: LoopUnderTest) -> None:
    """test_subprocess runs SubprocessMixin once per stdlib child watcher; run
    it once on the loop under test, as the stdlib does on Windows."""
    mixin = getattr(module, "SubprocessWatcherMixin", None)
    if mixin is None:
        return
    watcher_classes = [
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, mixin) and obj is not mixin
    ]
    _drop(module, watcher_classes)

    class LoopSubprocessTests(module.SubprocessMixin, module.test_utils.TestCase):
        def setUp(self):
            super().setUp()
            self.loop = lut.new_loop()
            self.set_event_loop(self.loop)

    _rename(LoopSubprocessTests, module, f"{lut.title}SubprocessTests")


_ADAPTERS = {
    "test_events": [_collapse_selector_variants],
    "test_sendfile": [_collapse_selector_variants],
    "test_sock_lowlevel": [_collapse_selector_variants],
    "test_subprocess": [_adapt_subprocess],
}


def adapt(module, short_name: str, lut: LoopUnderTest | None) -> None:
    """Called after the test module is imported, before its tests load."""
    if lut is None:
        return
    for adapter in _ADAPTERS.get(short_name, ()):
        adapter(module, lut)
    lut.install_loop_classes()


def is_test_class(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, unittest.TestCase)
