"""Loaded into every example process that `python -m demo` starts (the demo puts
this directory on PYTHONPATH): it notes the class of the event loop that runs the
script, so the demo can show which loop really ran it, and can refuse a
"ferroloop" run that quietly fell back to asyncio's own loop.

It wraps only the names `asyncio.sleep` and `asyncio.get_running_loop` in the
asyncio package (what the scripts call); asyncio's internals are not touched.
At exit it writes the loop classes seen, one per line, to $DEMO_LOOP_REPORT.
"""
import os

REPORT = os.environ.get("DEMO_LOOP_REPORT")

if REPORT:
    import asyncio
    import atexit
    import functools

    seen = {}

    def note_running_loop():
        try:
            loop = asyncio.events.get_running_loop()
        except RuntimeError:
            return
        cls = type(loop)
        if cls not in seen:
            seen[cls] = f"{cls.__module__}.{cls.__qualname__}"

    def watch(func):
        @functools.wraps(func)
        def watched(*args, **kwargs):
            note_running_loop()
            return func(*args, **kwargs)

        return watched

    asyncio.sleep = watch(asyncio.sleep)
    asyncio.get_running_loop = watch(asyncio.get_running_loop)

    @atexit.register
    def write_report():
        with open(REPORT, "w") as out:
            out.write("".join(name + "\n" for name in seen.values()))
