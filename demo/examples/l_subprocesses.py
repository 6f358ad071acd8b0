"""Child processes: asyncio.create_subprocess_exec with pipes to both ends
(communicate), three children running at once (each sleeps 1 s: together they take
about 1 s), and create_subprocess_shell with its exit status.
"""
import asyncio
import os
import sys
import time

SCALE = float(os.environ.get("DEMO_SCALE", "1"))


async def main():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; print(sys.stdin.read().title())",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(b"text sent through a pipe")
    print(f"child answered {out.decode().strip()!r}, exit code {proc.returncode}")

    begin = time.monotonic()
    sleepers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", f"import time; time.sleep({SCALE})")
        for _ in range(3)
    ]
    codes = await asyncio.gather(*(p.wait() for p in sleepers))
    took = (time.monotonic() - begin) / SCALE
    print(f"three children sleeping 1 s each: exit codes {codes}, about {round(took)} s in all")

    shell = await asyncio.create_subprocess_shell("echo from a shell; exit 4", stdout=asyncio.subprocess.PIPE)
    print(f"shell said {(await shell.stdout.read()).decode().strip()!r}, exit code {await shell.wait()}")


asyncio.run(main())
