"""Child processes: spawning them, and moving bytes through their pipes."""

import asyncio
import time

from .measure import bench


@bench("subprocess_spawn", n=300, unit="process",
       doc="sequential create_subprocess_exec('/bin/true') + wait()")
async def subprocess_spawn(m, n):
    clock = time.perf_counter
    m.start()
    for _ in range(n):
        t0 = clock()
        proc = await asyncio.create_subprocess_exec("/bin/true")
        await proc.wait()
        m.latencies.append(clock() - t0)
    m.stop(n)


CHUNK = 64 * 1024
MiB = 1024 * 1024


@bench("subprocess_pipe", n=512, unit="MiB", doc="n MiB through `cat` (stdin pipe -> stdout pipe)")
async def subprocess_pipe(m, n):
    proc = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    chunk = b"x" * CHUNK
    total = n * MiB

    async def feed():
        for _ in range(total // CHUNK):
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()

    async def drain_output():
        received = 0
        while data := await proc.stdout.read(CHUNK * 4):
            received += len(data)
        return received

    m.start()
    _, received = await asyncio.gather(feed(), drain_output())
    m.stop(received / MiB)
    await proc.wait()
    if received != total:
        raise RuntimeError(f"cat returned {received} of {total} bytes")
