"""The event loops under comparison: how to make one, and whether it is installed."""

import asyncio
import importlib
import importlib.metadata
import importlib.util

# name -> the module whose new_event_loop() makes the loop (None: the stdlib's own).
LOOPS = {"asyncio": None, "uvloop": "uvloop", "rloop": "rloop", "ferroloop": "ferroloop"}
BASELINE = "uvloop"


def factory(name: str):
    module = LOOPS[name]
    if module is None:
        return asyncio.new_event_loop
    return importlib.import_module(module).new_event_loop


def available(name: str) -> bool:
    module = LOOPS[name]
    return module is None or importlib.util.find_spec(module) is not None


def version(name: str) -> str | None:
    module = LOOPS[name]
    if module is None:
        import platform

        return "Python " + platform.python_version()
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None
