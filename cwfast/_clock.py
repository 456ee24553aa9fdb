"""The clock time budgets are charged by: wall time less the seconds numba spends compiling kernels.

A new installation (or a model of a new shape) compiles its kernels the first time they run: 15 s
or more on one core, which a 20-s ``--time-budget`` took for training, leaving the first run one
update. numba announces each compilation (its event API, ``"numba:compile"``); a listener adds up
their durations, outermost only (compiling a kernel compiles the functions it calls inside it).
Loading a kernel from numba's disk cache is not a compilation and is counted as time spent.
"""

from __future__ import annotations

import threading
import time

from numba.core import event


class _Compiling(event.Listener):
    def __init__(self):
        self.depth = 0
        self.seconds = 0.0
        self.began = 0.0
        # The three change together: a reader in another thread between the depth's fall and the
        # seconds' rise counted a finished compilation twice (the clock jumped back by it).
        self.lock = threading.Lock()

    def on_start(self, ev):
        with self.lock:
            if self.depth == 0:
                self.began = time.perf_counter()
            self.depth += 1

    def on_end(self, ev):
        # numba sends the end even where the start did not reach us (a listener before us raised in
        # its on_start): at depth -1 the clock would stand still for good.
        with self.lock:
            if self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.began


_compiling = _Compiling()
event.register("numba:compile", _compiling)  # (numba compiles under one lock: no two at once)


def compiling_seconds():
    """Seconds this process has spent compiling numba kernels, a compilation under way included."""
    with _compiling.lock:
        seconds = _compiling.seconds
        if _compiling.depth:
            seconds += time.perf_counter() - _compiling.began
        return seconds


def clock():
    """``time.perf_counter()`` less :func:`compiling_seconds`: it stands still while kernels compile."""
    return time.perf_counter() - compiling_seconds()
