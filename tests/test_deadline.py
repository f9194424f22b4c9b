"""``deadline``: the one module that runs work in a forked child under a deadline
(``call`` for one result, ``stream`` for results as they come)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from derivcmp import deadline

pytestmark = pytest.mark.skipif(not deadline.can_fork(), reason="needs os.fork")


def _sleep_forever():
    time.sleep(60)


def test_call_returns_the_value_and_a_timeout_past_the_deadline():
    assert deadline.call(lambda: sum(range(10)), 30) == 45
    assert deadline.call(_sleep_forever, 0.2) == deadline.Timeout(0.2)


def test_without_a_timeout_the_work_runs_here():
    pid = os.getpid()
    assert deadline.call(os.getpid, None) == pid
    assert deadline.call(os.getpid, 30) != pid


def test_exceptions_come_back_raised_or_as_crashed():
    def boom():
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        deadline.call(boom, 30)
    assert deadline.call(boom, 30, reraise=False) == deadline.Crashed("ValueError: boom")


class _Unrebuildable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}{b}")      # pickles, but cannot be rebuilt from its args


def test_results_that_cannot_travel_are_crashed_not_a_hang():
    got = deadline.call(lambda: (lambda: 1), 30)                       # a lambda does not pickle
    assert isinstance(got, deadline.Crashed) and got.message.startswith("result could not be sent back")

    def raise_it():
        raise _Unrebuildable(1, 2)
    got = deadline.call(raise_it, 30)
    assert got == deadline.Crashed("the result could not be read back: TypeError")


def test_a_dying_child_is_described():
    assert deadline.call(lambda: os._exit(3), 30) == deadline.Crashed("the worker process exited with status 3")
    got = deadline.call(lambda: os.kill(os.getpid(), signal.SIGKILL), 30)
    assert got == deadline.Crashed("the worker process died (SIGKILL)")


def test_calls_nest():
    """A step inside work that already has a deadline gets its own (what sympy's
    simplify does inside the symbolic-simplified method)."""
    def outer():
        inner = deadline.call(_sleep_forever, 0.2)
        return inner, deadline.call(lambda: os.getpid(), 30) != os.getpid()
    assert deadline.call(outer, 30) == (deadline.Timeout(0.2), True)


def test_stream_yields_as_it_goes_then_the_timeout():
    def rows():
        yield 1
        yield 2
        _sleep_forever()
    assert list(deadline.stream(rows, 0.5)) == [1, 2, deadline.Timeout(0.5)]


def test_stream_reports_a_crash_after_the_rows_so_far():
    def rows():
        yield "a"
        raise RuntimeError("lost")
    assert list(deadline.stream(rows, 30)) == ["a", deadline.Crashed("RuntimeError: lost")]

    def dies():
        yield "a"
        os.kill(os.getpid(), signal.SIGKILL)
    assert list(deadline.stream(dies, 30)) == ["a", deadline.Crashed("the worker process died (SIGKILL)")]


def test_the_memory_cap_is_on_top_of_what_the_parent_has_mapped():
    """A parent that mapped gigabytes (a framework peer's libraries and arenas: torch, TensorFlow)
    still leaves its children room to work; a runaway child still fails with MemoryError."""
    import mmap
    gib = 1024 ** 3
    reserved = mmap.mmap(-1, deadline.MEMORY_LIMIT_BYTES + gib)   # mapped, never touched
    try:
        assert deadline.mapped_bytes() >= deadline.MEMORY_LIMIT_BYTES + gib
        assert deadline.call(lambda: len(bytearray(64 * 1024 ** 2)), 60) == 64 * 1024 ** 2
    finally:
        reserved.close()
    got = deadline.call(lambda: len(bytearray(deadline.MEMORY_LIMIT_BYTES + gib)), 60)
    assert isinstance(got, deadline.Crashed)
    assert got.message == f"ran out of memory (limit {deadline.MEMORY_LIMIT_BYTES // gib} GiB)"
