"""What users type: ferroloop.run, asyncio.Runner / asyncio.run with loop_factory, the
policy, and ``python -m ferroloop script.py``.  Each runs beside its asyncio counterpart."""

import asyncio
import contextvars
import json
import subprocess
import sys
import types
import warnings

import pytest

from loophelpers import child_env

var = contextvars.ContextVar("entry_var", default="unset")


@pytest.fixture
def flavor(loop_name):
    """The asyncio way and the ferroloop way of doing the same thing."""
    if loop_name == "asyncio":
        return types.SimpleNamespace(
            name="asyncio",
            run=asyncio.run,
            new_event_loop=asyncio.new_event_loop,
            loop_class=asyncio.BaseEventLoop,
            policy_class=getattr(asyncio, "DefaultEventLoopPolicy", None),
            launcher=[sys.executable],
        )
    import ferroloop

    return types.SimpleNamespace(
        name="ferroloop",
        run=ferroloop.run,
        new_event_loop=ferroloop.new_event_loop,
        loop_class=ferroloop.Loop,
        policy_class=getattr(ferroloop, "EventLoopPolicy", None),
        launcher=[sys.executable, "-m", "ferroloop"],
    )


# ------------------------------------------------------------------ the loop class


def test_loop_class_is_abstract_event_loop(flavor):
    assert issubclass(flavor.loop_class, asyncio.AbstractEventLoop)
    lp = flavor.new_event_loop()
    try:
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert isinstance(lp, flavor.loop_class)
    finally:
        lp.close()


def test_new_event_loop_gives_fresh_loops(flavor):
    a, b = flavor.new_event_loop(), flavor.new_event_loop()
    try:
        assert a is not b
        assert not a.is_running() and not a.is_closed()
        a.close()
        assert a.is_closed() and not b.is_closed()
        assert b.run_until_complete(asyncio.sleep(0, "b works")) == "b works"
    finally:
        a.close()
        b.close()


def test_all_abstract_methods_exist(flavor):
    """Every public method of AbstractEventLoop exists on the loop and is not the stub."""
    names = [
        n for n, v in vars(asyncio.AbstractEventLoop).items()
        if not n.startswith("_") and callable(v)
    ]
    lp = flavor.new_event_loop()
    cls = type(lp)
    lp.close()
    missing = []
    for n in names:
        impl = getattr(cls, n, None)
        if impl is None or impl is getattr(asyncio.AbstractEventLoop, n):
            missing.append(n)
    assert missing == [], f"not implemented: {missing}"


# ------------------------------------------------------------------ run()


def test_run_returns_result_and_closes_loop(flavor):
    seen = []

    async def main(x):
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0.001)
        return x * 2

    assert flavor.run(main(21)) == 42
    assert isinstance(seen[0], flavor.loop_class)
    assert seen[0].is_closed()


def test_run_propagates_exception(flavor):
    async def main():
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        flavor.run(main())


@pytest.mark.parametrize("debug", [True, False])
def test_run_debug(flavor, debug):
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert flavor.run(main(), debug=debug) is debug


def test_run_from_running_loop_refused(flavor):
    async def inner():
        return 1

    async def main():
        coro = inner()
        try:
            flavor.run(coro)
        except RuntimeError:
            return "refused"
        finally:
            coro.close()
        return "accepted"

    assert asyncio.run(main()) == "refused"


def test_run_cleans_up_tasks_and_asyncgens(flavor):
    events = []

    async def leftover():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("leftover cancelled")
            raise

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append("agen closed")

    keep = []

    async def main():
        asyncio.get_running_loop().create_task(leftover())
        g = agen()
        keep.append(g)
        await g.__anext__()
        await asyncio.sleep(0)
        return "main done"

    assert flavor.run(main()) == "main done"
    assert sorted(events) == ["agen closed", "leftover cancelled"]


# ------------------------------------------------------------------ asyncio.Runner / asyncio.run


def test_runner_with_loop_factory(flavor):
    async def first():
        var.set("kept between runs")
        return asyncio.get_running_loop()

    async def second():
        return asyncio.get_running_loop(), var.get()

    with asyncio.Runner(loop_factory=flavor.new_event_loop) as runner:
        lp = runner.get_loop()
        assert isinstance(lp, flavor.loop_class)
        assert runner.run(first()) is lp
        lp2, value = runner.run(second())
        assert lp2 is lp
        assert value == "kept between runs"
    assert lp.is_closed()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_with_loop_factory(flavor):
    async def main():
        return asyncio.get_running_loop()

    lp = asyncio.run(main(), loop_factory=flavor.new_event_loop)
    assert isinstance(lp, flavor.loop_class)
    assert lp.is_closed()


@pytest.mark.skipif(
    not hasattr(asyncio, "DefaultEventLoopPolicy"), reason="no event loop policies here"
)
def test_event_loop_policy(flavor):
    assert flavor.policy_class is not None, "no EventLoopPolicy on a Python with policies"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # policies are deprecated in 3.14
        policy = flavor.policy_class()
        assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
        lp = policy.new_event_loop()
        try:
            assert isinstance(lp, flavor.loop_class)
        finally:
            lp.close()

        async def main():
            return asyncio.get_running_loop()

        old = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(policy)
        try:
            used = asyncio.run(main())
            made = asyncio.new_event_loop()
            made.close()
        finally:
            asyncio.set_event_loop_policy(old)
    assert isinstance(used, flavor.loop_class)
    assert isinstance(made, flavor.loop_class)


# ------------------------------------------------------------------ python -m ferroloop script.py


SCRIPT = """
import asyncio, json, sys
import sibling_helper  # a module beside the script

async def main():
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.001)
    kind = "other"
    if isinstance(loop, asyncio.BaseEventLoop):
        kind = "asyncio"
    try:
        import ferroloop
        if isinstance(loop, ferroloop.Loop):
            kind = "ferroloop"
    except ImportError:
        pass
    return {
        "argv": sys.argv,
        "name": __name__,
        "file": __file__,
        "kind": kind,
        "helper": sibling_helper.VALUE,
    }

if __name__ == "__main__":
    report = asyncio.run(main())
    print(json.dumps(report), flush=True)
    mode = sys.argv[-1]
    if mode == "raise":
        raise ValueError("script failed on purpose")
    if mode.isdigit():
        sys.exit(int(mode))
"""


@pytest.fixture
def script(tmp_path):
    (tmp_path / "sibling_helper.py").write_text("VALUE = 'from sibling'\n")
    path = tmp_path / "user_script.py"
    path.write_text(SCRIPT)
    return path


def launch(flavor, script, *args):
    return subprocess.run(
        [*flavor.launcher, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        cwd=str(script.parent.parent),  # not the script's directory
    )


def test_script_runs_like_python_script(flavor, script):
    proc = launch(flavor, script, "a", "b c", "0")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["argv"][0].endswith("user_script.py")
    assert report["argv"][1:] == ["a", "b c", "0"]
    assert report["name"] == "__main__"
    assert report["file"].endswith("user_script.py")
    assert report["helper"] == "from sibling"
    assert report["kind"] == flavor.name


@pytest.mark.parametrize("code", [3, 7])
def test_script_exit_code_propagates(flavor, script, code):
    proc = launch(flavor, script, str(code))
    assert proc.returncode == code, proc.stderr


def test_script_exception_exit_code(flavor, script):
    proc = launch(flavor, script, "raise")
    assert proc.returncode == 1
    assert "ValueError: script failed on purpose" in proc.stderr
    assert proc.stdout.strip()  # the report was printed before the failure
