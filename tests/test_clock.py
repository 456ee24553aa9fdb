"""The clock time budgets are charged by stands still while numba compiles (cwfast._clock)."""

import time

import numba
import numpy as np
import pytest

import cwfast
from cwfast import _clock
from cwfast.train import fit


def test_compiling_is_left_out_of_the_clock():
    compiled = numba.njit(lambda x: np.tanh(x) * 2.0 + np.sum(np.arange(3.0)))  # not cached: compiles here
    wall, clock, compiling = time.perf_counter(), _clock.clock(), _clock.compiling_seconds()
    compiled(1.0)
    spent = _clock.compiling_seconds() - compiling
    assert spent > 0.0
    # The clock moved by the wall time less the compiling, to within what the reads themselves take.
    assert (time.perf_counter() - wall) - (_clock.clock() - clock) == pytest.approx(spent, abs=1e-3)
    compiling = _clock.compiling_seconds()
    compiled(2.0)  # compiled already: nothing more to leave out
    assert _clock.compiling_seconds() == compiling


def test_a_time_budget_does_not_count_compiling(monkeypatch):
    """fit charges its budget by that clock: with every second counted as compiling, a 1-ms budget
    does not stop a run (the first update of a new installation compiled for 15 s and spent a
    20-s budget, training one update)."""
    from cwfast.train import gradient

    monkeypatch.setattr(gradient, "clock", lambda: 0.0)  # all the time spent is compiling
    model = cwfast.ClockworkRNN(0, 1, module_sizes=[2, 2], periods=[1, 2], seed=0, dtype=np.float64)
    result = fit(model, np.zeros((16, 0)), np.sin(np.arange(16.0))[:, None], epochs=3, time_budget=0.001)
    assert result.stopped == "completed" and result.epochs == 3 and result.wall_time == 0.0


def test_an_end_without_its_start_does_not_stop_the_clock(monkeypatch):
    """numba sends a compilation's end even when its start did not reach this listener (a listener
    registered before it raised in on_start): the depth went to -1 and the clock stood still for
    good, so that no time budget of the process ever ran out."""
    now = [100.0]
    monkeypatch.setattr(_clock, "time", type("T", (), {"perf_counter": staticmethod(lambda: now[0])}))
    monkeypatch.setattr(_clock, "_compiling", _clock._Compiling())
    _clock._compiling.on_end(None)  # unmatched
    before = _clock.clock()
    now[0] += 5.0
    assert _clock.clock() == before + 5.0
    _clock._compiling.on_start(None)  # a compilation after it is still left out
    now[0] += 2.0
    _clock._compiling.on_end(None)
    assert _clock.clock() == before + 5.0 and _clock.compiling_seconds() == 2.0
