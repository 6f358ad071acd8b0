"""The classic compute/print_sum chain driven by hand: a loop made with
asyncio.new_event_loop() and set as the current loop, so get_event_loop()
returns it; loop.run_until_complete() runs print_sum(), which awaits compute();
the same loop then runs a second round before it is closed.

Delays are multiplied by $DEMO_SCALE (default 1.0, the original delays);
printed times t=... are in original seconds (wall seconds / DEMO_SCALE).
"""
import asyncio
import os
import time

SCALE = float(os.environ.get("DEMO_SCALE", "1"))
START = time.monotonic()


def now():
    """Time since start, in original (unscaled) seconds."""
    return (time.monotonic() - START) / SCALE


async def compute(x, y):
    print(f"t={now():.1f}  Compute {x} + {y} ...")
    await asyncio.sleep(1.0 * SCALE)
    return x + y


async def print_sum(x, y):
    result = await compute(x, y)
    print(f"t={now():.1f}  {x} + {y} = {result}")
    return result


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
print(f"t={now():.1f}  get_event_loop() is the new loop: {asyncio.get_event_loop() is loop}")
try:
    total = loop.run_until_complete(print_sum(1, 2))
    print(f"t={now():.1f}  run_until_complete returned {total}; running={loop.is_running()}")
    both = loop.run_until_complete(asyncio.gather(print_sum(3, 4), print_sum(5, 6)))
    print(f"t={now():.1f}  second round on the same loop returned {both}")
finally:
    asyncio.set_event_loop(None)
    loop.close()
print(f"t={now():.1f}  loop closed: {loop.is_closed()}")
