"""Run a call under a wall-clock deadline and a memory cap, in a forked child.

sympy can run for minutes or exhaust memory on innocent-looking input, and a
Python thread cannot be interrupted inside a long C call.  So a call with a
deadline runs in a forked child process: on time it sends its result back
through a pipe; past the deadline the child is killed (never waited for) and
the caller gets a ``Timeout``.  Fork is cheap (copy-on-write; a few
milliseconds with sympy loaded), and nothing needs to be pickled on the way
in.  What the parent has imported and initialised before forking every child
shares, so callers warm up first (``compare.warm_up``) rather than let each
child import sympy again.

The child is a plain ``os.fork`` with a pipe, not a ``multiprocessing``
daemon, so a call with a deadline works at any depth: a method running under
its deadline may give one step its own shorter deadline (sympy's
``simplify``), and a command may read results as they come (``stream``:
``swell``'s rows).  Results travel back pickled; nothing is unpickled that
this process's own child did not write.  Where fork does not exist the call
runs in-process without a deadline.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

#: address-space cap for a child, so a runaway expansion fails with MemoryError
MEMORY_LIMIT_BYTES = 4 * 1024 ** 3

_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class Timeout:
    seconds: float


@dataclass(frozen=True)
class Crashed:
    message: str


def can_fork() -> bool:
    return hasattr(os, "fork")


def call(fn: Callable[[], Any], timeout: float | None, reraise: bool = True) -> Any:
    """``fn()``, or ``Timeout`` / ``Crashed``.  An exception of ``fn`` is raised
    here again when it pickles (``reraise``), otherwise it comes back as ``Crashed``."""
    if not timeout or timeout <= 0 or not can_fork():
        return fn()
    with closing(stream(lambda: (fn(),), timeout, reraise)) as items:
        for item in items:
            return item
    return Crashed("the worker process ended without a result")


def stream(produce: Callable[[], Iterable[Any]], timeout: float | None,
           reraise: bool = False) -> Iterator[Any]:
    """The items of ``produce()`` as the child makes them, until the deadline.

    Past the deadline the child is killed and a final ``Timeout`` is yielded;
    if it fails, a final ``Crashed`` (or, with ``reraise``, its exception is
    raised here when it pickles).
    """
    if not timeout or timeout <= 0 or not can_fork():
        yield from produce()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        _child(produce, write, reraise)
    os.close(write)
    deadline = time.monotonic() + timeout
    buf = b""
    reaped = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                yield Timeout(timeout)
                return
            ready, _, _ = select.select([read], [], [], left)
            if not ready:
                continue
            chunk = os.read(read, 1 << 20)
            if not chunk:
                _, status = os.waitpid(pid, 0)
                reaped = True
                if buf:
                    yield Crashed("the worker process died mid-answer")
                elif status != 0:
                    yield Crashed(_death(status))
                return
            buf += chunk
            while len(buf) >= _HEADER.size:
                (n,) = _HEADER.unpack_from(buf)
                if len(buf) < _HEADER.size + n:
                    break
                try:
                    kind, payload = pickle.loads(buf[_HEADER.size:_HEADER.size + n])
                except Exception as err:  # noqa: BLE001 - e.g. an exception class that cannot be rebuilt
                    kind, payload = "crash", f"the result could not be read back: {type(err).__name__}"
                buf = buf[_HEADER.size + n:]
                if kind == "raise":
                    raise payload
                yield payload if kind == "ok" else Crashed(payload)
    finally:
        os.close(read)
        if not reaped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def cap_memory() -> None:  # pragma: no cover - runs in a child
    """Cap this (child) process's address space at ``MEMORY_LIMIT_BYTES`` beyond what
    it has mapped already: a parent that loaded a framework peer (torch, TensorFlow
    map gigabytes of libraries and reserved arenas) must not leave its children no
    room to allocate at all (``std::bad_alloc``, SIGABRT)."""
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = mapped_bytes() + MEMORY_LIMIT_BYTES
        limit = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def mapped_bytes() -> int:
    """This process's address space now (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child(produce: Callable[[], Iterable[Any]], write: int, reraise: bool) -> None:  # pragma: no cover
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C
    cap_memory()

    def send(kind: str, payload: Any) -> None:
        try:
            data = pickle.dumps((kind, payload))
        except Exception as err:  # noqa: BLE001 - whatever pickling raises, the parent hears of it
            if kind == "raise":
                data = pickle.dumps(("crash", _exception_text(payload)))
            else:
                data = pickle.dumps(("crash", f"result could not be sent back: {type(err).__name__}: {err}"))
        data = _HEADER.pack(len(data)) + data
        while data:
            data = data[os.write(write, data):]

    try:
        for item in produce():
            send("ok", item)
    except MemoryError:
        send("crash", f"ran out of memory (limit {MEMORY_LIMIT_BYTES // 1024 ** 3} GiB)")
    except Exception as err:  # noqa: BLE001 - reported to the parent
        if reraise:
            send("raise", err)
        else:
            send("crash", _exception_text(err))
    except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt in the work itself
        send("crash", _exception_text(err))
    finally:
        os._exit(0)


def _exception_text(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()[:500]


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"the worker process died ({name})"
    return f"the worker process exited with status {os.waitstatus_to_exitcode(status)}"
