"""``Stream(model, blocked=True)``: the block computed module by module, slowest first
(cwfast/_blocked_kernels.py). Its sums run in another order than the step kernel's, so it is
checked against ``forward`` (the step kernel, itself checked against the naive twins) to within
float rounding, and against itself bit for bit: the same bits however the input is split."""

import pickle

import numpy as np
import pytest

from cwfast import LSTM, SRN, ClockworkRNN, ParameterError, State, Stream

MODELS = {
    # nested periods, two inputs, three outputs (every lane pass: 8/4/2/1 rows, gathers, the p = 1 view)
    "nested": lambda dt: ClockworkRNN(2, 3, n_hidden=72, n_modules=6, seed=0, dtype=dt),
    # periods that do not divide each other nor 16, unequal modules, no input at all
    "odd periods": lambda dt: ClockworkRNN(0, 2, module_sizes=[5, 3, 9, 2], periods=[1, 3, 5, 7], seed=1, dtype=dt),
    # the first module slower than every step: its first active step is not step 0 of every block
    "no period 1": lambda dt: ClockworkRNN(1, 1, module_sizes=[4, 4, 4], periods=[2, 6, 40], seed=2, dtype=dt),
    "srn": lambda dt: SRN(1, 2, n_hidden=20, seed=3, dtype=dt),
    "softmax": lambda dt: ClockworkRNN(1, 5, n_hidden=12, n_modules=3, output="softmax", seed=4, dtype=dt),
}
TOLERANCE = {np.float32: 2e-6, np.float64: 1e-13}


def _inputs(model, steps, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (steps, model.n_in)).astype(model.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_blocked_stream_equals_forward_and_its_own_bits_for_any_split(name, dtype):
    model = MODELS[name](dtype)
    x = _inputs(model, 700)
    want, state = model.forward(x, return_state=True)
    whole = Stream(model, blocked=True, max_block=700).process(x)
    np.testing.assert_allclose(whole, want, rtol=0, atol=TOLERANCE[dtype])
    # Blocks of 1, 15, 16, 17, a block longer than max_block (in pieces), and the rest.
    stream = Stream(model, blocked=True, max_block=64)
    bounds = [0, 1, 16, 32, 49, 250, 700]
    parts = [stream.process(x[a:b]) for a, b in zip(bounds, bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert stream.t == 700
    np.testing.assert_allclose(stream.state.h, state.h, rtol=0, atol=TOLERANCE[dtype])


def test_blocked_stream_starts_from_a_state_and_resets():
    model = MODELS["nested"](np.float32)
    x = _inputs(model, 300, seed=1)
    start = model.forward(x[:37], return_state=True)[1]  # t = 37: every module in another phase
    want = model.forward(x[37:], state=start)
    stream = Stream(model, state=start, blocked=True, max_block=32)
    got = np.concatenate([stream.process(x[a : a + 50]) for a in range(37, 300, 50)])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    stream.reset()
    assert stream.t == 0
    np.testing.assert_allclose(stream.process(x), model.forward(x), rtol=0, atol=2e-6)


def test_blocked_stream_pickles_and_continues_with_the_same_bits():
    model = MODELS["odd periods"](np.float32)
    x = _inputs(model, 400, seed=2)
    stream = Stream(model, blocked=True, max_block=64)
    stream.process(x[:123])
    copy = pickle.loads(pickle.dumps(stream))
    np.testing.assert_array_equal(copy.process(x[123:]), stream.process(x[123:]))


def test_blocked_stream_sees_new_parameter_values_in_place():
    """The blocked entry reads the model's parameters live, like the step-by-step one: it keeps
    no copy of the weights (its products read parts of the model's own packed rows)."""
    model = MODELS["nested"](np.float32)
    x = _inputs(model, 64, seed=3)
    stream = Stream(model, blocked=True, max_block=64)
    stream.process(x)
    model.params[:] *= np.float32(0.5)
    state = stream.state
    np.testing.assert_allclose(stream.process(x), model.forward(x, state=state), rtol=0, atol=2e-6)


def test_blocked_stream_refuses_what_it_cannot_run():
    cw = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    with pytest.raises(ParameterError, match="blocked must be True or False"):
        Stream(cw, blocked="yes")
    with pytest.raises(ParameterError, match="resample must be True or False, not 'yes'"):
        Stream(cw, resample="yes")  # a string is a mistake, not a switch
    with pytest.raises(ParameterError, match="voices cannot be combined"):
        Stream(cw, blocked=True, voices=2)
    with pytest.raises(ParameterError, match="only, not LSTM models"):
        Stream(LSTM(1, 1, n_hidden=4), blocked=True)
    with pytest.raises(ParameterError, match="input windows"):
        Stream(ClockworkRNN(1, 1, n_hidden=8, n_modules=2, input_windows="period"), blocked=True)
    with pytest.raises(ParameterError, match=r"strictly increasing periods .* \[1, 4, 4\]"):
        Stream(ClockworkRNN(1, 1, n_hidden=9, n_modules=3, periods=[1, 4, 4]), blocked=True)


def test_a_refused_block_leaves_the_blocked_stream_as_it_was():
    model = MODELS["nested"](np.float32)
    x = _inputs(model, 64, seed=4)
    stream = Stream(model, blocked=True, max_block=64)
    stream.process(x[:10])
    before = stream.state
    bad = x.copy()
    bad[40, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(bad)
    assert stream.t == before.t == 10
    np.testing.assert_array_equal(stream.state.h, before.h)
    assert isinstance(before, State)


def test_bench_blocked_table_and_json(tmp_path, capsys):
    """``cwfast bench --blocked``: a blocked row for a Clockwork RNN, none for an LSTM (it cannot
    run blocked); well-formed figures, no wall-clock thresholds."""
    import json
    import math

    from cwfast.cli import main

    cw, lstm = tmp_path / "cw.npz", tmp_path / "lstm.npz"
    ClockworkRNN(1, 1, n_hidden=6, n_modules=3, sample_rate=16000, seed=0).save(cw)
    LSTM(1, 1, n_hidden=3, seed=0).save(lstm)
    args = ["bench", "-m", str(cw), "--block", "8", "--seconds", "0.02", "--repeats", "2", "-q", "--blocked"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cw.npz blocked" in out and "speed-up" in out
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["voices"], r["blocked"]) for r in data["results"]] == [(1, False), (1, True)]
    (row,) = data["blocked_ratios"]
    assert (row["model"], row["block"]) == ("cw.npz", 8)
    assert math.isfinite(row["speedup"]) and row["speedup"] == pytest.approx(row["step_us"] / row["blocked_us"])
    assert main(["bench", "-m", str(lstm), "--block", "4", "--seconds", "0.01", "--repeats", "1", "-q", "--blocked",
                 "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [r["blocked"] for r in data["results"]] == [False] and data["blocked_ratios"] == []
    assert "cannot run blocked" in captured.err  # said, even with -q: the user asked for it
