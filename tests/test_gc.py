"""Reference cycles through the loop's handles are freed by the garbage collector."""

import gc
import weakref


class Ticker:
    """Keeps its own handle, whose callback is one of its methods: a cycle."""

    def tick(self):
        self.ticks = getattr(self, "ticks", 0) + 1


def _collected(ref):
    for _ in range(3):
        gc.collect()
    return ref() is None


def test_cycle_through_a_run_handle_is_collected(loop):
    obj = Ticker()
    obj.handle = loop.call_soon(obj.tick)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert obj.ticks == 1
    ref = weakref.ref(obj)
    del obj
    assert _collected(ref)


def test_cycle_through_a_timer_handle_is_collected(loop):
    obj = Ticker()
    obj.handle = loop.call_later(0.001, obj.tick)
    loop.run_until_complete(__import__("asyncio").sleep(0.01))
    assert obj.ticks == 1
    ref = weakref.ref(obj)
    del obj
    assert _collected(ref)


def test_cycle_through_arguments_is_collected(loop):
    box = []
    handle = loop.call_soon(box.append, box)
    box.append(handle)
    loop.call_soon(loop.stop)
    loop.run_forever()
    ref = weakref.ref(handle)
    del handle, box
    assert _collected(ref)


def test_abandoned_pending_handle_does_not_keep_its_callback(loop):
    obj = Ticker()
    handle = loop.call_soon(obj.tick)
    handle.cancel()
    ref = weakref.ref(obj)
    del obj
    # A cancelled handle drops its callback at once, as asyncio's does.
    assert _collected(ref)
    del handle
