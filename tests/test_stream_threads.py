"""A stream's failures leave it as it was, its kernel runs without the GIL, and it is used by one
thread at a time (a second thread is refused, never silently interleaved); pickling works."""

import pickle
import threading

import numpy as np
import pytest

from cwfast import ClockworkRNN, CwfastError, LSTM, ParameterError, Stream

MODELS = {
    "clockwork": lambda **kw: ClockworkRNN(1, 2, module_sizes=[3, 2, 3], periods=[1, 2, 8], seed=3, **kw),
    "lstm": lambda **kw: LSTM(1, 2, n_hidden=5, seed=3, **kw),
}


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_a_value_too_large_for_float32_late_in_a_long_block_changes_nothing(arch, rng):
    """A float64 block, longer than max_block, finite but with 1e39 (inf in float32) in a later
    piece: refused before the first piece runs, so t, state and the next outputs are unchanged."""
    model = MODELS[arch]()
    x = rng.normal(size=(300, 1))
    stream = Stream(model, max_block=16)
    stream.process(x[:5])
    state = stream.state
    bad = x[5:205].copy()
    bad[150, 0] = 1e39
    with pytest.raises(ParameterError, match="too large"):
        stream.process(bad)
    assert stream.t == 5
    np.testing.assert_array_equal(stream.state.h, state.h)
    np.testing.assert_array_equal(stream.process(x[5:]), model.forward(x)[5:])


def test_a_bad_block_leaves_a_resampling_stream_as_it_was(rng):
    model = MODELS["clockwork"](sample_rate=8000)
    stream = Stream(model, sample_rate=16000, resample=True, max_block=16)
    x = rng.normal(size=(400, 1))
    expected = stream.process(x).copy()
    stream.reset()
    first = stream.process(x[:100])
    bad = x[100:].copy()
    bad[250, 0] = 1e39
    with pytest.raises(ParameterError):
        stream.process(bad)
    assert stream.t == 50
    np.testing.assert_allclose(np.concatenate([first, stream.process(x[100:])]), expected, rtol=0, atol=1e-6)


def test_another_python_thread_runs_while_process_runs():
    """The kernel writes its output buffer step by step; the main thread, running Python code,
    sees that buffer part-written, which it could not if process() held the GIL (it would only
    ever see the buffer before or after the whole call). Not timed: it counts observations."""
    model = ClockworkRNN(1, 1, n_hidden=64, n_modules=4, seed=0)
    n = 1 << 17
    stream = Stream(model, max_block=n)
    block = np.random.default_rng(0).normal(size=(n, 1)).astype(np.float32)
    y = stream._y[:, 0]  # the buffer the compiled kernel writes, one row per step
    for attempt in range(10):  # a loaded machine may not schedule this thread during one call
        y[:] = np.nan
        started = threading.Event()

        def run():
            started.set()
            stream.process(block)

        worker = threading.Thread(target=run)
        worker.start()
        started.wait()
        partial = counter = 0
        while worker.is_alive():
            counter += 1
            written = n - np.count_nonzero(np.isnan(y))
            partial += 0 < written < n
        worker.join()
        if partial:
            break
    assert partial > 0 and counter > partial
    assert not np.isnan(y).any()
