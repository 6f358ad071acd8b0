"""``python -m ferroloop script.py [args]``: run an asyncio script on ferroloop."""

import asyncio
import os
import runpy
import sys

import ferroloop


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m ferroloop script.py [args ...]", file=sys.stderr)
        return 2
    script = argv[0]
    if not os.path.exists(script):
        print(f"ferroloop: can't open file {script!r}", file=sys.stderr)
        return 2
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    # asyncio.run, asyncio.Runner and new_event_loop all take their loop from
    # the policy when no loop_factory is given.
    asyncio.set_event_loop_policy(ferroloop.EventLoopPolicy())
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
