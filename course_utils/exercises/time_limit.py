"""Stopping the learner's code when it runs too long, so that a checker always comes back with a verdict.

Jupyter runs a cell in the kernel's main thread. There a SIGALRM timer interrupts even `while True: pass`.
Where there is no SIGALRM (Windows) or the code runs in another thread, a line tracer watches the clock instead.
Either way the previous timer, signal handler or tracer is put back afterwards.
"""

from __future__ import annotations

import signal
import site
import sys
import sysconfig
import threading
import time
import types
from collections.abc import Callable
from typing import Any


class TimeLimitExceeded(BaseException):
    """Raised inside code that ran past its time limit.

    A BaseException, like KeyboardInterrupt, so that an `except Exception:` in that code cannot swallow it.
    """


def alarm_available() -> bool:
    """Whether a SIGALRM timer can interrupt code here: a Unix-like system, in the main thread, and no handler
    installed outside Python (which could not be put back)."""
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) is not None
    )


def call_with_time_limit(fn: Callable, args: tuple, seconds: float) -> Any:
    """`fn(*args)`, or TimeLimitExceeded once it has run for `seconds`."""
    if alarm_available() and not 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= seconds:
        return _with_alarm(fn, args, seconds)
    return _with_tracer(fn, args, seconds)  # (also when an outer timer, a test runner's say, is due first)


def _with_alarm(fn: Callable, args: tuple, seconds: float) -> Any:
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)  # put back afterwards, minus the time used
    armed = True

    def on_alarm(signum: int, frame: object) -> None:
        if armed:
            raise TimeLimitExceeded

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            return fn(*args)
        finally:
            armed = False  # a timer that rings from here on changes nothing
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer_delay > 0:
            left = outer_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), outer_interval)


_LIBRARY_DIRS = tuple(
    {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, site.getusersitepackages()}
    | {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _with_tracer(fn: Callable, args: tuple, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    previous_tracer = sys.gettrace()

    def tracer(frame: types.FrameType, event: str, arg: object) -> Callable | None:
        if time.monotonic() > deadline:
            raise TimeLimitExceeded
        if event == "call" and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            return None  # a library's lines are not watched one by one (too slow); its calls still are
        if event == "call":
            frame.f_trace_opcodes = True  # the learner's code: `while True: pass` runs on one line, watch each step
        return tracer

    sys.settrace(tracer)
    try:
        return fn(*args)
    finally:
        sys.settrace(previous_tracer)
