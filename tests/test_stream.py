"""Streaming equals one forward call, over any split of the sequence (trap 6)."""

import numpy as np
import pytest

from cwfast import ClockworkRNN, ParameterError, Stream


@pytest.fixture(scope="module")
def model():
    return ClockworkRNN(1, 2, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16], seed=7)


@pytest.fixture(scope="module")
def signal():
    return np.random.default_rng(440).normal(size=(9000, 1)).astype(np.float32)


@pytest.mark.parametrize("block", [1, 2, 63, 64, 65, 8193])
def test_fixed_block_sizes(model, signal, block):
    x = signal[:1500] if block < 8 else signal  # keep the sample-at-a-time loops short
    expected = model.forward(x)
    stream = Stream(model)
    got = np.concatenate([stream.process(x[i : i + block]) for i in range(0, len(x), block)])
    np.testing.assert_array_equal(got, expected)
    assert stream.t == len(x)


def test_random_splits_and_out_buffer(model, signal, rng):
    expected = model.forward(signal)
    cuts = np.sort(rng.choice(np.arange(1, len(signal)), size=40, replace=False))
    stream = Stream(model)
    out = np.empty_like(expected)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(signal)]):
        got = stream.process(signal[a:b], out=out[a:b])
        assert got is not None and np.shares_memory(got, out)
    np.testing.assert_array_equal(out, expected)


def test_reset_restarts_clock_and_state(model, signal):
    stream = Stream(model)
    first = stream.process(signal[:100]).copy()
    stream.process(signal[100:300])
    stream.reset()
    assert stream.t == 0 and not stream.state.h.any()
    np.testing.assert_array_equal(stream.process(signal[:100]), first)


def test_stream_continues_from_forward_state(model, signal):
    y, state = model.forward(signal[:77], return_state=True)
    stream = Stream(model, state=state)
    np.testing.assert_array_equal(stream.process(signal[77:500]), model.forward(signal[:500])[77:])


def test_stream_rejects_bad_blocks(model):
    stream = Stream(model)
    with pytest.raises(ParameterError, match="a stream takes"):
        stream.process(np.zeros((2, 5, 1)))
    with pytest.raises(ParameterError, match="out must be"):
        stream.process(np.zeros((5, 1)), out=np.zeros((4, 2), dtype=np.float32))
    assert stream.t == 0  # nothing was consumed by the failed calls
