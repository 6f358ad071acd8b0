"""gather() returns its results in argument order, whatever order the
awaitables finish in; the first exception propagates to the awaiting caller at
once, while the other awaitables keep running; with return_exceptions=True the
exceptions come back in the result list instead.

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


async def job(name, seconds, fail=False):
    await asyncio.sleep(seconds * SCALE)
    if fail:
        print(f"t={now():.2f}  {name}: raising ValueError")
        raise ValueError(f"{name} failed")
    print(f"t={now():.2f}  {name}: done")
    return name.upper()


async def main():
    print(f"t={now():.2f}  gather(slow 1.5 s, fast 0.5 s, middle 1 s)")
    results = await asyncio.gather(job("slow", 1.5), job("fast", 0.5), job("middle", 1))
    print(f"t={now():.2f}  results in argument order: {results}")

    print(f"t={now():.2f}  gather(a 1 s, b fails at 0.5 s, c fails at 0.75 s)")
    try:
        await asyncio.gather(job("a", 1), job("b", 0.5, fail=True), job("c", 0.75, fail=True))
    except ValueError as exc:
        print(f"t={now():.2f}  gather raised the first exception: {exc!r}")
    await asyncio.sleep(0.75 * SCALE)
    print(f"t={now():.2f}  (a and c went on running after that)")

    print(f"t={now():.2f}  the same with return_exceptions=True")
    results = await asyncio.gather(
        job("a", 1), job("b", 0.5, fail=True), job("c", 0.75, fail=True), return_exceptions=True
    )
    print(f"t={now():.2f}  results: {results}")


asyncio.run(main())
