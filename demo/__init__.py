"""ferroloop's showcase: `python -m demo` runs the asyncio examples in demo/examples/
on asyncio, on ferroloop and (when installed) on uvloop, and compares them."""
