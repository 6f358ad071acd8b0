"""CPython's test_asyncio as a conformance suite for ferroloop.

Run it with `python -m tests.cpython`; see README.md in this directory. No file
here is named test_*.py, so pytest never collects the runner itself.
"""
