"""Two 3 s tasks and a loop printing every second interleave on one thread.

Both tasks start when main() first awaits, sleep side by side, and finish
together at about t=3 (in the order they were created), while main's ticks at
t=0.5, 1.5 and 2.5 run in between (half a second off, so no tick ties with the
tasks' end).

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


async def worker(name, seconds):
    print(f"t={now():.1f}  {name}: start, sleeping {seconds} s")
    await asyncio.sleep(seconds * SCALE)
    print(f"t={now():.1f}  {name}: done")
    return now()


async def main():
    task_a = asyncio.create_task(worker("A", 3))
    task_b = asyncio.create_task(worker("B", 3))
    await asyncio.sleep(0.5 * SCALE)
    ticks = 0
    while not (task_a.done() and task_b.done()):
        ticks += 1
        print(f"t={now():.1f}  main: tick {ticks}, tasks still running")
        await asyncio.sleep(1 * SCALE)
    print(f"t={now():.1f}  main: the tasks are done after {ticks} ticks")
    finished = max(await task_a, await task_b)
    print(f"t={now():.1f}  main: both had finished at about t={round(finished)}, not t=6")


asyncio.run(main())
