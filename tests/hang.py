"""A guard against hangs, not a speed assertion.

``with no_hang(seconds):`` raises ``Hung`` only if the block runs for
``seconds``, a limit chosen far above its normal run time, so that a hang
fails the test instead of blocking CI.  Speed itself is measured in
``benchmarks/``, never asserted here.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Hung(Exception):
    pass


@contextmanager
def no_hang(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise Hung(f"still running after {seconds:g} s: a hang")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
