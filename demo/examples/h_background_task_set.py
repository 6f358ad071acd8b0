"""Fire-and-forget tasks kept alive in a set: each task is added to the set
and removes itself when done through add_done_callback(set.discard), so the
set shrinks one by one and ends empty.

Delays are multiplied by $DEMO_SCALE (default 1.0, the original delays);
printed times t=... are in original seconds (wall seconds / DEMO_SCALE).
"""
import asyncio
import os
import time

SCALE = float(os.environ.get("DEMO_SCALE", "1"))
START = time.monotonic()

background_tasks = set()


def now():
    """Time since start, in original (unscaled) seconds."""
    return (time.monotonic() - START) / SCALE


async def job(n):
    await asyncio.sleep(0.2 * (n + 1) * SCALE)
    print(f"t={now():.1f}  job {n} done; tasks in the set: {len(background_tasks)}")


async def main():
    for n in range(5):
        task = asyncio.create_task(job(n))
        background_tasks.add(task)
        task.add_done_callback(background_tasks.discard)
    print(f"t={now():.1f}  started 5 background tasks; tasks in the set: {len(background_tasks)}")
    await asyncio.wait(set(background_tasks))
    print(f"t={now():.1f}  all done; tasks in the set: {len(background_tasks)}")


asyncio.run(main())
