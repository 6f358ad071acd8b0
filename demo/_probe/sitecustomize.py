"""Loaded into every example process that `python -m demo` starts (the demo puts
this directory on PYTHONPATH): it notes the class of the event loop that runs the
script, so the demo can show which loop really ran it, and can refuse a
"ferroloop" run that quietly fell back to asyncio's own loop.

It wraps only names of the asyncio package that the scripts call (`sleep`,
`get_running_loop`, the stream and subprocess helpers); asyncio's internals are
not touched.
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

    for name in ("sleep", "get_running_loop", "open_connection", "start_server",
                 "create_subprocess_exec", "create_subprocess_shell"):
        setattr(asyncio, name, watch(getattr(asyncio, name)))

    @atexit.register
    def write_report():
        with open(REPORT, "w") as out:
            out.write("".join(name + "\n" for name in seen.values()))
