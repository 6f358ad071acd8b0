"""Awaiting two coroutines one after another takes the sum of their delays;
wrapping them in tasks first runs them concurrently, so it takes the max.

The say_after example: 'hello' after 1 s and 'world' after 2 s take about 3 s
awaited in turn, and about 2 s as two tasks.

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


async def say_after(delay, what):
    await asyncio.sleep(delay * SCALE)
    print(f"t={now():.1f}  {what}")


async def main():
    print(f"t={now():.1f}  awaiting say_after(1, 'hello') then say_after(2, 'world')")
    begin = now()
    await say_after(1, "hello")
    await say_after(2, "world")
    print(f"t={now():.1f}  took about {round(now() - begin)} s: the sum of 1 s and 2 s")

    print(f"t={now():.1f}  the same two as tasks, started together")
    begin = now()
    task1 = asyncio.create_task(say_after(1, "hello"))
    task2 = asyncio.create_task(say_after(2, "world"))
    await task1
    await task2
    print(f"t={now():.1f}  took about {round(now() - begin)} s: the max of 1 s and 2 s")


asyncio.run(main())
