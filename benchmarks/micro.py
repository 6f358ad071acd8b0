"""The loop's own machinery: callbacks, timers, tasks, futures, the executor."""

import asyncio
import time

from .measure import bench


@bench("call_soon", n=500_000, unit="callback", doc="loop.call_soon of n callbacks, all run")
async def call_soon(m, n):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = n

    def tick():
        nonlocal left
        left -= 1
        if not left:
            done.set_result(None)

    m.start()
    for _ in range(n):
        loop.call_soon(tick)
    await done
    m.stop(n)


FAR_FUTURE = 3600.0  # seconds: timers parked this far away never fire during a run


@bench("call_later_100k_pending", n=200_000, unit="timer", pending=100_000,
       doc="the same with 100k timers already pending")
@bench("call_later_0_pending", n=200_000, unit="timer", pending=0,
       doc="loop.call_later of n short timers, every other one cancelled")  # registered first
async def call_later(m, n, pending):
    loop = asyncio.get_running_loop()
    parked = [loop.call_later(FAR_FUTURE, int) for _ in range(pending)]
    done = loop.create_future()
    left = (n + 1) // 2  # the timers left uncancelled

    def fire():
        nonlocal left
        left -= 1
        if not left:
            done.set_result(None)

    m.start()
    for i in range(n):
        handle = loop.call_later((i % 100) * 1e-5, fire)  # due within 1 ms
        if i % 2:
            handle.cancel()
    await done
    m.stop(n)
    for handle in parked:
        handle.cancel()


@bench("sleep0_1000_tasks", n=300_000, unit="sleep", doc="await asyncio.sleep(0) across 1000 tasks")
async def sleep0(m, n, tasks=1000):
    per_task = max(1, n // tasks)

    async def sleeper():
        for _ in range(per_task):
            await asyncio.sleep(0)

    m.start()
    await asyncio.gather(*[sleeper() for _ in range(tasks)])
    m.stop(per_task * tasks)


async def nothing():
    pass


@bench("gather_100k", n=100_000, unit="task", doc="asyncio.gather of n coroutines (create_task each)")
async def gather(m, n):
    m.start()
    await asyncio.gather(*[nothing() for _ in range(n)])
    m.stop(n)


@bench("future_pingpong", n=150_000, unit="round trip",
       doc="two tasks hand a future result back and forth")
async def future_pingpong(m, n):
    loop = asyncio.get_running_loop()
    box = {"ping": loop.create_future(), "pong": loop.create_future()}
    box["ping"].set_result(None)

    async def player(me, other):
        for _ in range(n):
            await box[me]
            box[me] = loop.create_future()
            box[other].set_result(None)

    m.start()
    await asyncio.gather(player("ping", "pong"), player("pong", "ping"))
    m.stop(n)


@bench("run_in_executor", n=10_000, unit="call",
       doc="sequential loop.run_in_executor(None, f) round trips")
async def run_in_executor(m, n):
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    m.start()
    for _ in range(n):
        t0 = clock()
        await loop.run_in_executor(None, int)
        m.latencies.append(clock() - t0)
    m.stop(n)
