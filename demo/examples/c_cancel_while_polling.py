"""A 10 s task, polled once a second and cancelled at the fifth poll, ends
cancelled: the cancellation lands at its next await, so the loop that waits
for task.done() sees it done at the sixth poll, about 6 s in.

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


async def long_job():
    print(f"t={now():.1f}  job: working for 10 s")
    try:
        await asyncio.sleep(10 * SCALE)
    except asyncio.CancelledError:
        print(f"t={now():.1f}  job: got CancelledError, cleaning up")
        raise
    print(f"t={now():.1f}  job: finished (should not happen)")


async def main():
    task = asyncio.create_task(long_job())
    polls = 0
    while not task.done():
        await asyncio.sleep(1 * SCALE)
        polls += 1
        print(f"t={now():.1f}  poll {polls}: done={task.done()}")
        if polls == 5:
            print(f"t={now():.1f}  poll {polls}: task.cancel() -> {task.cancel()}")
    print(f"t={now():.1f}  stopped after {polls} polls; cancelled={task.cancelled()}")
    try:
        await task
    except asyncio.CancelledError:
        print(f"t={now():.1f}  awaiting the task raises CancelledError")


asyncio.run(main())
