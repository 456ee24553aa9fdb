"""The clock time budgets are charged by stands still while numba compiles (cwfast._clock)."""

import numba
import numpy as np

import cwfast
from cwfast import _clock
from cwfast.train import fit


def test_compiling_is_left_out_of_the_clock(monkeypatch):
    """The clock moves by the time less the compiling. Time here is a counter that moves by 1 at
    each read (the listener reads it as a compilation starts and ends), not the wall clock: a check
    of real seconds to within 1 ms failed whenever the test's process was descheduled between two reads."""
    compiled = numba.njit(lambda x: np.tanh(x) * 2.0 + np.sum(np.arange(3.0)))  # not cached: compiles here
    reads = [1000.0]

    def perf_counter():
        reads[0] += 1.0
        return reads[0]

    monkeypatch.setattr(_clock, "time", type("T", (), {"perf_counter": staticmethod(perf_counter)}))
    compiling = _clock.compiling_seconds()
    clock = _clock.clock()  # read 1
    compiled(1.0)  # reads 2 and 3: one second of compiling, whatever it compiled inside
    assert _clock.compiling_seconds() - compiling == 1.0
    assert _clock.clock() - clock == 3.0 - 1.0  # read 4: three seconds on, one of them compiling
    compiled(2.0)  # compiled already: nothing more to leave out
    assert _clock.compiling_seconds() - compiling == 1.0 and _clock.clock() - clock == 4.0 - 1.0


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
