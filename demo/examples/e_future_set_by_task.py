"""A bare future, created with loop.create_future() and awaited by main(), is
resolved after 1 s by another task calling set_result(); its done callback runs
first, then main() wakes up with the value.

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


async def set_after(fut, delay, value):
    await asyncio.sleep(delay * SCALE)
    print(f"t={now():.1f}  setter: set_result({value!r})")
    fut.set_result(value)


def on_done(fut):
    print(f"t={now():.1f}  done callback: result={fut.result()!r}")


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.add_done_callback(on_done)
    print(f"t={now():.1f}  main: future created, done={fut.done()}")
    setter = asyncio.create_task(set_after(fut, 1, "... world"))
    print(f"t={now():.1f}  main: awaiting the future")
    value = await fut
    print(f"t={now():.1f}  main: got {value!r}, done={fut.done()}")
    await setter


asyncio.run(main())
