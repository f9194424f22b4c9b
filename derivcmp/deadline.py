"""Run a call under a wall-clock deadline and a memory cap, in a forked child.

sympy can run for minutes or exhaust memory on innocent-looking input, and a
Python thread cannot be interrupted inside a long C call.  So a call with a
deadline runs in a forked child process: on time it sends its result back
through a pipe; past the deadline the child is killed and the caller gets a
``Timeout``.  Fork is cheap (copy-on-write; a few milliseconds with sympy
loaded), and nothing needs to be pickled on the way in.  What the parent has
imported and initialised before forking every child shares, so callers warm
up first (``compare.warm_up``) rather than let each child import sympy again.  Where fork does not
exist the call runs in-process without a deadline.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: address-space cap for a child, so a runaway expansion fails with MemoryError
MEMORY_LIMIT_BYTES = 4 * 1024 ** 3


@dataclass(frozen=True)
class Timeout:
    seconds: float


@dataclass(frozen=True)
class Crashed:
    message: str


def can_fork() -> bool:
    return hasattr(os, "fork") and "fork" in multiprocessing.get_all_start_methods()


def call(fn: Callable[[], Any], timeout: float | None) -> Any:
    """``fn()``, or ``Timeout`` / ``Crashed``.  Exceptions of ``fn`` propagate."""
    if not timeout or timeout <= 0 or not can_fork():
        return fn()
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, send), daemon=True)
    proc.start()
    send.close()
    deadline = time.monotonic() + timeout
    try:
        if recv.poll(max(0.0, deadline - time.monotonic())):
            try:
                kind, payload = recv.recv()
            except (EOFError, OSError):
                proc.join(1.0)
                return Crashed(_death(proc))
            proc.join(1.0)
            if kind == "ok":
                return payload
            if kind == "raise":
                raise payload
            return Crashed(payload)
        return Timeout(timeout)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
        recv.close()


def cap_memory() -> None:  # pragma: no cover - runs in a child
    """Cap this (child) process's address space at ``MEMORY_LIMIT_BYTES``."""
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def _child(fn: Callable[[], Any], send) -> None:  # pragma: no cover - runs in the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C
    cap_memory()
    try:
        result = fn()
        message = ("ok", result)
    except MemoryError:
        message = ("crash", f"ran out of memory (limit {MEMORY_LIMIT_BYTES // 1024 ** 3} GiB)")
    except Exception as err:  # noqa: BLE001 - re-raised in the parent
        try:
            import pickle
            pickle.dumps(err)
            message = ("raise", err)
        except Exception:  # noqa: BLE001
            message = ("crash", "".join(traceback.format_exception_only(type(err), err)).strip())
    try:
        send.send(message)
    except Exception as err:  # noqa: BLE001
        send.send(("crash", f"result could not be sent back: {type(err).__name__}: {err}"))
    finally:
        send.close()
        os._exit(0)


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the worker process died ({name})"
    return f"the worker process exited with status {code}"
