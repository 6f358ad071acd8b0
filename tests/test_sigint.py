"""Ctrl-C: SIGINT interrupts a loop blocked in its poll, promptly, and the loop stays usable.

Each scenario runs in a child Python (parametrized by loop name).  The child prints READY
from inside the running loop, then blocks (a 30 s sleep or an idle poll).  The parent waits
a little so the child is surely in the poll, notes the time and sends SIGINT.  The child
notes when KeyboardInterrupt reached it (CLOCK_MONOTONIC is shared by all processes),
checks the loop still works and prints a JSON report.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from loophelpers import child_env

CHILD = r'''
import asyncio, json, signal, sys, time

# A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored;
# put back what an interactive Python has, so Ctrl-C raises KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)

loop_name, scenario = sys.argv[1], sys.argv[2]
if loop_name == "asyncio":
    factory = asyncio.new_event_loop
    run_fn = asyncio.run
else:
    import ferroloop
    factory = ferroloop.new_event_loop
    run_fn = ferroloop.run

report = {"kbi": False}

def ready():
    report["ready_at"] = time.monotonic()
    print("READY", flush=True)

def caught():
    report["kbi"] = True
    report["caught_at"] = time.monotonic()

if scenario == "run_forever":
    loop = factory()
    loop.call_soon(ready)
    guard = loop.call_later(30, loop.stop)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        caught()
    guard.cancel()
    report["running_after"] = loop.is_running()
    report["usable"] = loop.run_until_complete(asyncio.sleep(0.01, "ok"))
    loop.close()

elif scenario == "run_until_complete":
    loop = factory()
    task = loop.create_task(asyncio.sleep(30))
    loop.call_soon(ready)
    try:
        loop.run_until_complete(task)
    except KeyboardInterrupt:
        caught()
    report["running_after"] = loop.is_running()
    report["task_done_after"] = task.done()
    report["usable"] = loop.run_until_complete(asyncio.sleep(0.01, "ok"))
    task.cancel()
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        report["task_cancelled"] = True
    loop.close()

elif scenario == "busy":
    # The loop is not blocked: it is busy running short callbacks, pass after pass.
    loop = factory()
    spins = [0]

    def spin():
        spins[0] += 1
        sum(range(200))
        loop.call_soon(spin)

    loop.call_soon(ready)
    loop.call_soon(spin)
    guard = loop.call_later(30, loop.stop)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        caught()
    guard.cancel()
    report["running_after"] = loop.is_running()
    report["spins"] = spins[0]
    report["usable"] = loop.run_until_complete(asyncio.sleep(0.01, "ok"))
    loop.close()

elif scenario == "handler":
    # With a loop SIGINT handler, Ctrl-C runs the handler instead of raising.
    loop = factory()

    def on_sigint():
        report["handler_at"] = time.monotonic()
        loop.stop()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    loop.call_soon(ready)
    guard = loop.call_later(30, loop.stop)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        caught()
    guard.cancel()
    report["running_after"] = loop.is_running()
    report["usable"] = loop.run_until_complete(asyncio.sleep(0.01, "ok"))
    report["removed"] = loop.remove_signal_handler(signal.SIGINT)
    report["restored"] = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    loop.close()

elif scenario in ("runner", "run"):
    async def main():
        ready()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            report["main_cancelled"] = True
            raise
        return "finished"

    if scenario == "runner":
        with asyncio.Runner(loop_factory=factory) as runner:
            try:
                runner.run(main())
            except KeyboardInterrupt:
                caught()
            report["usable"] = runner.run(asyncio.sleep(0.01, "ok"))
    else:
        try:
            run_fn(main())
        except KeyboardInterrupt:
            caught()
        report["usable"] = run_fn(asyncio.sleep(0.01, "ok"))

print(json.dumps(report), flush=True)
'''

SCENARIOS = ["run_forever", "run_until_complete", "busy", "runner", "run"]


def run_child(loop_name, scenario, tmp_path):
    script = tmp_path / "sigint_child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), loop_name, scenario],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "child never became ready"
        line = proc.stdout.readline()
        assert line.strip() == b"READY", (line, proc.stderr.read() if proc.poll() is not None else b"")
        time.sleep(0.1)  # the child is now blocked in its poll
        sent_at = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")
    report = json.loads(out.decode().strip().splitlines()[-1])
    return report, sent_at


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sigint_interrupts_blocked_loop(loop_name, scenario, tmp_path):
    report, sent_at = run_child(loop_name, scenario, tmp_path)
    assert report["kbi"] is True, report
    latency = report["caught_at"] - sent_at
    assert 0 <= latency < 0.1, f"KeyboardInterrupt took {latency * 1000:.1f} ms"
    assert report["usable"] == "ok"
    if scenario in ("run_forever", "run_until_complete", "busy"):
        assert report["running_after"] is False
    if scenario == "busy":
        assert report["spins"] > 100  # it really was busy
    if scenario == "run_until_complete":
        assert report["task_done_after"] is False  # the sleeping task is untouched
        assert report["task_cancelled"] is True
    if scenario in ("runner", "run"):
        assert report["main_cancelled"] is True  # the main task was cancelled first


def test_sigint_runs_loop_signal_handler(loop_name, tmp_path):
    report, sent_at = run_child(loop_name, "handler", tmp_path)
    assert report["kbi"] is False, report
    latency = report["handler_at"] - sent_at
    assert 0 <= latency < 0.1, f"the SIGINT handler ran after {latency * 1000:.1f} ms"
    assert report["running_after"] is False
    assert report["usable"] == "ok"
    assert report["removed"] is True
    assert report["restored"] is True
