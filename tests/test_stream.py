"""Streaming equals one forward call, over any split of the sequence (trap 6)."""

import os
import subprocess
import sys
from pathlib import Path

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


# ---------------------------------------------------------------------- real time

REALTIME_SCRIPT = """
import tracemalloc
import numpy as np
from numba.core import event
from numba.core.runtime import rtsys
from cwfast import ClockworkRNN, Stream

model = ClockworkRNN(1, 3, n_hidden=24, n_modules=4, seed=0)
rng = np.random.default_rng(0)
stream = Stream(model, max_block=64)
out = np.empty((200, 3), dtype=np.float32)
wide = rng.normal(size=(200, 2))            # float64, and column 0 of it is not contiguous
blocks = [wide[:64, :1], wide[64:65, :1], wide[65:200, :1]]  # the last is longer than max_block
stream.process(blocks[0], out=out[:64])     # the first call may allocate; none after it
before = rtsys.get_allocation_stats()
tracemalloc.start()
snap0 = tracemalloc.take_snapshot()
with event.install_recorder("numba:compile") as compiles:
    for _ in range(3):
        a = 0
        for block in blocks:
            stream.process(block, out=out[a : a + len(block)])
            a += len(block)
snap1 = tracemalloc.take_snapshot()
after = rtsys.get_allocation_stats()
numpy_only = [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]
grown = sum(s.size_diff for s in snap1.filter_traces(numpy_only).compare_to(snap0.filter_traces(numpy_only), "lineno"))
print(after.alloc - before.alloc, after.mi_alloc - before.mi_alloc, grown, len(compiles.buffer))
"""


def test_process_with_out_allocates_nothing_and_compiles_nothing():
    """NRT statistics (numba), tracemalloc's NumPy domain, and numba's compile events, in a fresh process."""
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", REALTIME_SCRIPT], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    nrt_alloc, nrt_meminfo, numpy_bytes, compiles = map(int, run.stdout.split())
    assert (nrt_alloc, nrt_meminfo, numpy_bytes, compiles) == (0, 0, 0, 0)


def test_prepare_compiles_warms_and_leaves_state_alone(model, signal):
    state = model.forward(signal[:50], return_state=True)[1]
    stream = Stream(model, state=state)
    assert stream.max_block == 0
    assert stream.prepare(128) is stream
    assert stream.max_block == 128 and stream.t == 50
    np.testing.assert_array_equal(stream.state.h, state.h)
    entry = stream._entry
    # Blocks shorter, equal and longer than max_block (run in pieces), all equal to one forward call.
    got = np.concatenate([stream.process(signal[a:b]) for a, b in [(50, 60), (60, 188), (188, 700)]])
    np.testing.assert_array_equal(got, model.forward(signal[:700])[50:])
    assert stream._entry is entry  # process did not prepare again


def test_stream_refuses_other_architectures():
    class NotAClockwork:
        n_hidden, n_in, n_out = 4, 1, 1

    with pytest.raises(ParameterError, match="a Stream runs Clockwork RNNs"):
        Stream(NotAClockwork())


def test_constructor_max_block_prepares(model):
    stream = Stream(model, max_block=32)
    assert stream.max_block == 32
    with pytest.raises(ParameterError, match="max_block=0 must be a positive integer"):
        Stream(model, max_block=0)


def test_out_must_be_writeable_and_input_finite(model, signal):
    stream = Stream(model, max_block=16)
    frozen = np.zeros((5, 2), dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ParameterError, match="writeable"):
        stream.process(signal[:5], out=frozen)
    bad = signal[:40].copy()
    bad[3] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(bad[:10])
    bad[3], bad[35] = 0.0, np.inf  # in a later piece of a block longer than max_block
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(bad)
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(np.full((3, 1), 1e300))  # finite, but infinite once cast to float32
    assert stream.t == 0 and not stream.state.h.any()


def test_softmax_stream_equals_forward(signal):
    model = ClockworkRNN(1, 5, n_hidden=12, n_modules=3, output="softmax", seed=1)
    stream = Stream(model, max_block=50)
    got = np.concatenate([stream.process(signal[a : min(a + 77, 1000)]) for a in range(0, 1000, 77)])
    np.testing.assert_array_equal(got, model.forward(signal[:1000]))


# ---------------------------------------------------------------------- sample rate


def test_stream_refuses_another_sample_rate():
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, sample_rate=44100, seed=0)
    assert Stream(model).sample_rate == 44100
    assert Stream(model, sample_rate=44100).sample_rate == 44100
    with pytest.raises(ParameterError, match="sample_rate=48000 differs from the model's sample_rate=44100"):
        Stream(model, sample_rate=48000)
    with pytest.raises(ParameterError, match="sample_rate=0 must be a positive integer"):
        Stream(model, sample_rate=0)
    unknown = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    assert Stream(unknown, sample_rate=48000).sample_rate == 48000  # nothing to compare with
    assert Stream(unknown).sample_rate is None
    softmax = ClockworkRNN(1, 4, n_hidden=8, n_modules=2, sample_rate=16000, output="softmax", seed=0)
    with pytest.raises(ParameterError, match="linear-output"):
        Stream(softmax, sample_rate=8000, resample=True)


def _near_identity(sample_rate):
    """A model whose output is its input to about 1e-6: tanh(eps x) / eps."""
    eps = 1e-3
    arrays = {
        "W_in": np.array([[eps]]), "W_h": np.zeros((1, 1)), "b_h": np.zeros(1),
        "W_out": np.array([[1 / eps]]), "b_out": np.zeros(1), "periods": [1], "module_sizes": [1],
    }
    return ClockworkRNN.from_dense(arrays, dtype=np.float64, sample_rate=sample_rate)


def test_resampling_stream_returns_the_input_delayed_by_its_latency(rng):
    model = _near_identity(44100)
    stream = Stream(model, sample_rate=48000, resample=True, max_block=256)
    assert stream.latency == pytest.approx(10 * 160 / 147 + 10 * 48000 / 44100)
    t = np.arange(9600) / 48000
    x = np.sin(2 * np.pi * 1000 * t)[:, None]
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, 9600), size=30, replace=False)), 9600]
    y = np.concatenate([stream.process(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    assert y.shape == x.shape
    delayed = np.sin(2 * np.pi * 1000 * (t - stream.latency / 48000))[:, None]
    np.testing.assert_allclose(y[2000:], delayed[2000:], atol=2e-3)  # past the filters' start-up
    # Any split gives the same output.
    stream.reset()
    np.testing.assert_allclose(stream.process(x), y, rtol=0, atol=1e-12)
    assert stream.t == -(-9600 * 147 // 160)  # the model ran at its own rate


def test_entry_point_releases_the_gil():
    """ctypes releases the GIL around CFUNCTYPE calls (not PYFUNCTYPE ones): an audio thread in
    process() does not block Python elsewhere, nor is it blocked by it."""
    import ctypes

    from cwfast import _realtime

    assert not _realtime.PROTOTYPE._flags_ & ctypes._FUNCFLAG_PYTHONAPI
