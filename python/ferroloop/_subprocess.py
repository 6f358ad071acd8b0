"""Child processes: ``subprocess_exec`` and ``subprocess_shell``.

The process transport is asyncio's own (``unix_events._UnixSubprocessTransport``:
``subprocess.Popen`` plus the loop's pipe transports), so ``asyncio.subprocess``
behaves exactly as on the stdlib loop. What the loop adds is noticing that a
child exited: a pidfd (Linux 5.3+) watched like any other fd, so no thread and
no SIGCHLD handler are involved; where pidfds are missing, a thread waits.
"""

import os
import subprocess
import threading
from asyncio import unix_events

from ._support import logger, unix_logger

__all__ = ("SubprocessMixin",)

_pidfd_open = getattr(os, "pidfd_open", None)  # Linux only


def _describe_stdio(value):
    if value == subprocess.PIPE:
        return "<pipe>"
    if value == subprocess.STDOUT:
        return "<stdout>"
    return repr(value)


def _refuse_popen_options(bufsize, text, encoding, errors):
    """The Popen options asyncio's byte pipes cannot honour (after
    ``universal_newlines`` and ``shell``, which the callers check first)."""
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


def _reap(pid):
    """The exit code of child `pid`, which has ended (or is about to)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        # Someone else called waitpid() for it: its status is gone.
        unix_logger.warning("child process pid %d exit status already read:  will report returncode 255", pid)
        return 255
    return os.waitstatus_to_exitcode(status)


class SubprocessMixin:
    __slots__ = ()

    async def subprocess_exec(
        self,
        protocol_factory,
        program,
        *args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=False,
        shell=False,
        bufsize=0,
        encoding=None,
        errors=None,
        text=None,
        **kwargs,
    ):
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if shell:
            raise ValueError("shell must be False")
        _refuse_popen_options(bufsize, text, encoding, errors)
        # Only the program is logged: arguments may hold secrets.
        what = f"execute program {program!r}"
        return await self._start_process(
            protocol_factory, (program, *args), False, stdin, stdout, stderr, bufsize, what, kwargs
        )

    async def subprocess_shell(
        self,
        protocol_factory,
        cmd,
        *,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=False,
        shell=True,
        bufsize=0,
        encoding=None,
        errors=None,
        text=None,
        **kwargs,
    ):
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if not shell:
            raise ValueError("shell must be True")
        _refuse_popen_options(bufsize, text, encoding, errors)
        what = f"run shell command {cmd!r}"
        return await self._start_process(protocol_factory, cmd, True, stdin, stdout, stderr, bufsize, what, kwargs)

    async def _start_process(self, protocol_factory, args, shell, stdin, stdout, stderr, bufsize, what, kwargs):
        protocol = protocol_factory()
        if self.get_debug():
            parts = [what]
            if stdin is not None:
                parts.append(f"stdin={_describe_stdio(stdin)}")
            if stdout is not None and stderr == subprocess.STDOUT:
                parts.append(f"stdout=stderr={_describe_stdio(stdout)}")
            else:
                if stdout is not None:
                    parts.append(f"stdout={_describe_stdio(stdout)}")
                if stderr is not None:
                    parts.append(f"stderr={_describe_stdio(stderr)}")
            logger.debug(" ".join(parts))
        transport = await self._make_subprocess_transport(protocol, args, shell, stdin, stdout, stderr, bufsize, **kwargs)
        if self.get_debug():
            logger.info("%s: %r", what, transport)
        return transport, protocol

    async def _make_subprocess_transport(
        self, protocol, args, shell, stdin, stdout, stderr, bufsize, extra=None, **kwargs
    ):
        waiter = self.create_future()
        transport = unix_events._UnixSubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize, waiter=waiter, extra=extra, **kwargs
        )
        self._watch_child(transport.get_pid(), transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        return transport

    def _watch_child(self, pid, transport):
        try:
            if _pidfd_open is None:
                raise OSError("no pidfd_open")
            pidfd = _pidfd_open(pid)
        except OSError:
            # No pidfd here (an old kernel, a seccomp filter): wait in a thread.
            threading.Thread(
                target=self._wait_child_in_thread, args=(pid, transport), name=f"ferroloop-waitpid-{pid}", daemon=True
            ).start()
            return

        watched = self._child_pidfds()

        def exited():
            watched.discard(pidfd)
            self.remove_reader(pidfd)
            os.close(pidfd)
            transport._process_exited(_reap(pid))

        watched.add(pidfd)
        self.add_reader(pidfd, exited)

    def _child_pidfds(self):
        """The pidfds of running children, closed with the loop."""
        return self.__dict__.setdefault("_pidfds", set())

    def _close_child_watches(self):
        watched = self._child_pidfds()
        while watched:
            pidfd = watched.pop()
            self.remove_reader(pidfd)
            os.close(pidfd)

    def _wait_child_in_thread(self, pid, transport):
        returncode = _reap(pid)
        try:
            self.call_soon_threadsafe(transport._process_exited, returncode)
        except RuntimeError:
            pass  # the loop was closed first: nobody is left to tell
