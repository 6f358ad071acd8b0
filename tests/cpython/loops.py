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
import inspect
import re

STDLIB = "asyncio"
_STDLIB_LOOP = asyncio.SelectorEventLoop  # taken before anything replaces it


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
        """`test_utils.TestCase.close_loop` shuts the default executor down if
        the private `loop._default_executor` is set, then asks the policy for
        a child watcher. For the loop under test: the same, except that a loop
        without that attribute gets `shutdown_default_executor()` always, and
        no child watcher is involved."""
        original = test_utils.TestCase.close_loop
        missing = object()

        def close_loop(loop):
            if isinstance(loop, asyncio.base_events.BaseEventLoop):
                return original(loop)
            executor = getattr(loop, "_default_executor", missing)
            if executor is not None and not loop.is_closed():
                loop.run_until_complete(loop.shutdown_default_executor())
            elif executor not in (None, missing):
                executor.shutdown(wait=True)
            loop.close()

        test_utils.TestCase.close_loop = staticmethod(close_loop)


# What a test may use that only CPython's virtual-clock TestLoop has.
_TEST_LOOP_ONLY = re.compile(
    r"advance_time|assert_(no_)?(reader|writer)|reset_counters|remove_(reader|writer)_count"
    r"|\.readers\b|\.writers\b|loop\._\w|TestLoop|\.time\(\)|base_events\.BaseEventLoop"
)


def _needs_test_loop(case) -> bool:
    """True if the running test (or a helper method it calls) uses a feature
    of TestLoop itself, rather than only the loop API."""
    cls = type(case)
    seen, todo, sources = set(), [case._testMethodName], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            source = inspect.getsource(getattr(cls, name))
        except (AttributeError, OSError, TypeError):
            continue
        sources.append(source)
        todo += re.findall(r"\bself\.(\w+)\(", source)
    return any(_TEST_LOOP_ONLY.search(s) for s in sources)


def _run_test_loop_tests_on_real_loops(test_utils, factory) -> None:
    """`test_utils.TestCase.new_test_loop()` gives CPython's TestLoop, a
    BaseEventLoop with a virtual clock. Most of test_tasks and test_futures
    take it in setUp without a clock generator and never let time pass, so any
    real loop serves as well; give them a real one (the loop under test, or
    the stdlib's for the oracle run), so those tests exercise the loop and not
    only the Task and Future classes. Tests that pass a clock generator or use
    TestLoop's own helpers keep TestLoop."""
    original = test_utils.TestCase.new_test_loop

    def new_test_loop(self, gen=None):
        if gen is not None or _needs_test_loop(self):
            return original(self, gen)
        loop = factory()
        self.set_event_loop(loop)
        return loop

    test_utils.TestCase.new_test_loop = new_test_loop


class Setup:
    """What the child installed: the loop under test (None for the stdlib
    run), the factory of real loops, and whether tests that asked for a mocked
    or virtual-clock stdlib loop get a real one."""

    def __init__(self, lut: LoopUnderTest | None, factory, real_loops: bool) -> None:
        self.lut = lut
        self.factory = factory
        self.real_loops = real_loops


def install(name: str, real_loops: bool = True) -> Setup:
    """Called before the test module is imported."""
    _count_stdlib_loops()
    from test.test_asyncio import utils as test_utils

    if name == STDLIB:
        lut = None

        def factory():
            # not asyncio.new_event_loop(): tests install policies of their own
            return _STDLIB_LOOP()

    else:
        lut = LoopUnderTest(name)
        lut.install_policy()
        lut.install_test_utils(test_utils)
        factory = lut.new_loop
    if real_loops:
        _run_test_loop_tests_on_real_loops(test_utils, factory)
    return Setup(lut, factory, real_loops)


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


# -- adapters for a loop under test -------------------------------------------

# The stdlib runs its event-loop test mixins once per selector; the loop under
# test has one poller, so they run once, in a class named after it.
_SELECTOR_VARIANTS = (
    "KqueueEventLoopTests",
    "EPollEventLoopTests",
    "PollEventLoopTests",
    "SelectEventLoopTests",
)


def _collapse_selector_variants(module, setup: Setup) -> None:
    lut = setup.lut
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


def _adapt_subprocess(module, setup: Setup) -> None:
    """test_subprocess runs SubprocessMixin once per stdlib child watcher; run
    it once on the loop under test, as the stdlib does on Windows."""
    lut = setup.lut
    mixin = getattr(module, "SubprocessWatcherMixin", None)
    if mixin is None:
        return
    watcher_classes = [
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, mixin) and obj is not mixin
    ]
    _drop(module, watcher_classes)
    # Tests ask `isinstance(self, SubprocessFastWatcherTests)`: leave each name
    # bound to a plain class (not collected), which no test instance is.
    for name in watcher_classes:
        setattr(module, name, type(name, (), {}))

    class LoopSubprocessTests(module.SubprocessMixin, module.test_utils.TestCase):
        def setUp(self):
            super().setUp()
            self.loop = lut.new_loop()
            self.set_event_loop(self.loop)

    _rename(LoopSubprocessTests, module, f"{lut.title}SubprocessTests")


# -- real loops for tests written against a mocked BaseEventLoop --------------
# Applied on both loops, so the stdlib run checks the adapted tests still pass.


def _runners_on_real_loops(module, setup: Setup) -> None:
    """test_runners gives asyncio.run a BaseEventLoop whose selector, wake-up
    and process-events methods are mocks (BaseEventLoop alone cannot poll),
    and whose shutdown_asyncgens records that it ran. Give it a real loop
    with the same recording shutdown_asyncgens instead."""
    base = getattr(module, "BaseTest", None)
    if base is None or "new_loop" not in vars(base):
        return

    def new_loop(self):
        loop = setup.factory()
        loop.shutdown_ag_run = False

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True

        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop

    base.new_loop = new_loop


def _pep492_on_real_loops(module, setup: Setup) -> None:
    """test_pep492's BaseTest runs on a BaseEventLoop with a mocked selector;
    nothing in its tests needs the mocks."""
    base = getattr(module, "BaseTest", None)
    if base is None or "setUp" not in vars(base):
        return
    parent = base.__mro__[1]

    def setUp(self):
        parent.setUp(self)
        self.loop = setup.factory()
        self.set_event_loop(self.loop)

    base.setUp = setUp


def _sock_sendfile_on_real_loops(module, setup: Setup) -> None:
    """test_base_events' BaseLoopSockSendfileTests builds a bare
    BaseSelectorEventLoop, which has no native sendfile, to reach the
    read-and-send fallback. Its argument checks and fallback transfers hold
    for any loop; the two tests that need the loop to lack native sendfile are
    not applicable."""
    cls = getattr(module, "BaseLoopSockSendfileTests", None)
    if cls is None or "setUp" not in vars(cls):
        return
    import test.support.os_helper as os_helper

    def setUp(self):
        self.loop = setup.factory()
        self.set_event_loop(self.loop)
        self.file = open(os_helper.TESTFN, "rb")
        self.addCleanup(self.file.close)
        super(cls, self).setUp()

    cls.setUp = setUp


_ADAPTERS = {
    "test_events": [_collapse_selector_variants],
    "test_sendfile": [_collapse_selector_variants],
    "test_sock_lowlevel": [_collapse_selector_variants],
    "test_subprocess": [_adapt_subprocess],
}

_REAL_LOOP_ADAPTERS = {
    "test_runners": [_runners_on_real_loops],
    "test_pep492": [_pep492_on_real_loops],
    "test_base_events": [_sock_sendfile_on_real_loops],
}


def adapt(module, short_name: str, setup: Setup) -> None:
    """Called after the test module is imported, before its tests load."""
    if setup.real_loops:
        for adapter in _REAL_LOOP_ADAPTERS.get(short_name, ()):
            adapter(module, setup)
    if setup.lut is None:
        return
    for adapter in _ADAPTERS.get(short_name, ()):
        adapter(module, setup)
    setup.lut.install_loop_classes()
