"""wait_for() with a 1 s timeout on a 2 s task raises TimeoutError and cancels
the task; through shield() the timeout still fires, but the task keeps running
and can be awaited for its result.

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


async def job(name, seconds):
    try:
        await asyncio.sleep(seconds * SCALE)
    except asyncio.CancelledError:
        print(f"t={now():.1f}  {name}: cancelled")
        raise
    print(f"t={now():.1f}  {name}: finished")
    return f"{name} result"


async def main():
    print(f"t={now():.1f}  wait_for(a 2 s task, timeout=1)")
    task = asyncio.create_task(job("plain", 2))
    try:
        await asyncio.wait_for(task, timeout=1 * SCALE)
    except TimeoutError:
        print(f"t={now():.1f}  wait_for(task, 1) raised TimeoutError")
    print(f"t={now():.1f}  task cancelled? {task.cancelled()}")

    print(f"t={now():.1f}  wait_for(shield(a 2 s task), timeout=1)")
    task = asyncio.create_task(job("shielded", 2))
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=1 * SCALE)
    except TimeoutError:
        print(f"t={now():.1f}  wait_for(shield(task), 1) raised TimeoutError")
    print(f"t={now():.1f}  task still running? {not task.done()}")
    result = await task
    print(f"t={now():.1f}  awaiting it anyway gives {result!r}")


asyncio.run(main())
