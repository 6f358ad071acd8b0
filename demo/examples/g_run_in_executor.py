"""Five blocking time.sleep(2) calls sent through loop.run_in_executor() run in
the default thread pool side by side: all five finish together in about 2 s,
not 10 s, and the event loop stays free meanwhile.

Delays are multiplied by $DEMO_SCALE (default 1.0, the original delays);
printed times t=... are in original seconds (wall seconds / DEMO_SCALE).
"""
import asyncio
import os
import threading
import time

SCALE = float(os.environ.get("DEMO_SCALE", "1"))
START = time.monotonic()


def now():
    """Time since start, in original (unscaled) seconds."""
    return (time.monotonic() - START) / SCALE


def blocking_sleep(n):
    time.sleep(2 * SCALE)
    return n, threading.current_thread() is not threading.main_thread()


async def main():
    loop = asyncio.get_running_loop()
    print(f"t={now():.1f}  five blocking 2 s sleeps through run_in_executor(None, ...)")
    begin = now()
    futures = [loop.run_in_executor(None, blocking_sleep, n) for n in range(5)]
    await asyncio.sleep(1 * SCALE)
    print(f"t={now():.1f}  the loop still runs while the threads sleep")
    results = await asyncio.gather(*futures)
    print(f"t={now():.1f}  results (n, ran in a worker thread): {results}")
    print(f"t={now():.1f}  five 2 s sleeps took about {round(now() - begin)} s, not 10 s")


asyncio.run(main())
