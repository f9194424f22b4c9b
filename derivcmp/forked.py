"""A deadline for one step *inside* a method or a command: a bare forked child.

``deadline.call`` runs a whole method in a ``multiprocessing`` child, which is
a daemon and so may not start children of its own.  A step that needs its own,
shorter deadline within that child (sympy's ``simplify``) or a command that
reads results as they come (``swell``) uses this module instead: a plain
``os.fork`` with a pipe, which works at any depth.  The child gets the same
memory cap; past the deadline it is killed, never waited for.

Results travel back pickled; nothing is unpickled that this process's own
child did not write.  Where fork does not exist the work runs in-process
without a deadline.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .deadline import MEMORY_LIMIT_BYTES, Crashed, Timeout, cap_memory

_HEADER = struct.Struct("!Q")


def can_fork() -> bool:
    return hasattr(os, "fork")


def call(fn: Callable[[], Any], timeout: float | None) -> Any:
    """``fn()``, or ``Timeout`` / ``Crashed``; an exception of ``fn`` comes back as ``Crashed``."""
    if not timeout or timeout <= 0 or not can_fork():
        return fn()
    result: Any = Crashed("the worker process ended without a result")
    for item in stream(lambda: iter([fn()]), timeout):
        result = item
    return result


def stream(produce: Callable[[], Iterable[Any]], timeout: float | None) -> Iterator[Any]:
    """The items of ``produce()`` as the child makes them, until the deadline.

    Past the deadline the child is killed and a final ``Timeout`` is yielded;
    if it fails, a final ``Crashed``.
    """
    if not timeout or timeout <= 0 or not can_fork():
        yield from produce()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        _child(produce, write)
    os.close(write)
    deadline = time.monotonic() + timeout
    buf = b""
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
                if buf:
                    yield Crashed("the worker process died mid-answer")
                return
            buf += chunk
            while len(buf) >= _HEADER.size:
                (n,) = _HEADER.unpack_from(buf)
                if len(buf) < _HEADER.size + n:
                    break
                kind, payload = pickle.loads(buf[_HEADER.size:_HEADER.size + n])
                buf = buf[_HEADER.size + n:]
                yield payload if kind == "ok" else Crashed(payload)
    finally:
        os.close(read)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _child(produce: Callable[[], Iterable[Any]], write: int) -> None:  # pragma: no cover - in the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cap_memory()

    def send(kind: str, payload: Any) -> None:
        try:
            data = pickle.dumps((kind, payload))
        except (pickle.PicklingError, RecursionError, TypeError) as err:
            data = pickle.dumps(("crash", f"result could not be sent back: {type(err).__name__}"))
        data = _HEADER.pack(len(data)) + data
        while data:
            data = data[os.write(write, data):]

    try:
        for item in produce():
            send("ok", item)
    except MemoryError:
        send("crash", f"ran out of memory (limit {MEMORY_LIMIT_BYTES // 1024 ** 3} GiB)")
    except BaseException as err:  # noqa: BLE001 - reported to the parent
        send("crash", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200])
    finally:
        os._exit(0)
