"""Streaming equals one forward call, over any split of the sequence (trap 6), for every architecture.

The tests that take the ``model`` fixture run once for a Clockwork RNN, once for one whose modules
read windows of past inputs (``input_windows="period"``: the stream keeps the last inputs in a
chunk buffer, see cwfast/_realtime.py) and once for an LSTM.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cwfast import LSTM, ClockworkRNN, CwfastError, ParameterError, State, Stream

from naive_lstm import lstm_forward

BUILDERS = {
    "clockwork": lambda **kw: ClockworkRNN(1, 2, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16], seed=7, **kw),
    "lstm": lambda **kw: LSTM(1, 2, n_hidden=6, seed=7, **kw),
    "windowed": lambda **kw: ClockworkRNN(1, 2, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16],
                                          input_windows="period", seed=7, **kw),
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model(request):
    return BUILDERS[request.param]()


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
    for wrong in ("abc", np.zeros((5, 1), dtype=complex), np.array([["a"]])):  # the dtype named, not the shape
        with pytest.raises(ParameterError, match="it must be a real"):
            stream.process(wrong)
    assert stream.t == 0  # nothing was consumed by the failed calls


# ---------------------------------------------------------------------- real time

#: For the scripts below: numba's compile events miss a kernel's first use when numba's disk cache
#: holds it (a load runs no compiler), so a first use inside the audio callback passed unseen
#: whenever the cache was warm (any run after the first). Loads are counted too.
KERNELS_LOADED = """
import gc
from numba.core.dispatcher import Dispatcher


def kernels_loaded():
    return sum(sum(d.stats.cache_hits.values()) for d in gc.get_objects() if isinstance(d, Dispatcher))
"""

REALTIME_SCRIPT = KERNELS_LOADED + """
import sys
import tracemalloc
import numpy as np
from numba.core import event
from numba.core.runtime import rtsys
from cwfast import LSTM, ClockworkRNN, Stream

if sys.argv[1] == "lstm":
    model = LSTM(1, 3, n_hidden=24, seed=0)
else:
    windows = "period" if sys.argv[1] == "windowed" else None
    model = ClockworkRNN(1, 3, n_hidden=24, n_modules=4, input_windows=windows, seed=0)
rng = np.random.default_rng(0)
stream = Stream(model, max_block=64, blocked=sys.argv[1] == "blocked")
out = np.empty((200, 3), dtype=np.float32)
wide = rng.normal(size=(200, 2))            # float64, and column 0 of it is not contiguous
blocks = [wide[:64, :1], wide[64:65, :1], wide[65:200, :1]]  # the last is longer than max_block
stream.process(blocks[0], out=out[:64])     # the first call may allocate; none after it
loaded = kernels_loaded()
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
print(after.alloc - before.alloc, after.mi_alloc - before.mi_alloc, grown,
      len(compiles.buffer) + kernels_loaded() - loaded)
"""


@pytest.mark.parametrize("arch", ["clockwork", "lstm", "windowed", "blocked"])
def test_process_with_out_allocates_nothing_and_compiles_nothing(arch):
    """NRT statistics (numba), tracemalloc's NumPy domain, and numba's compile events, in a fresh process."""
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", REALTIME_SCRIPT, arch], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    nrt_alloc, nrt_meminfo, numpy_bytes, compiles = map(int, run.stdout.split())
    assert (nrt_alloc, nrt_meminfo, numpy_bytes, compiles) == (0, 0, 0, 0)


HEADS_SCRIPT = KERNELS_LOADED + """
import sys
import tracemalloc
import numpy as np
from numba.core import event
from numba.core.runtime import rtsys
from cwfast import ClockworkRNN, Stream
from cwfast.model import Level, Pitch, Surprise

model = ClockworkRNN(1, 30, n_hidden=16, n_modules=4, output="mixture", input_windows=[1, 3, 4, 8], seed=0)
model.level = Level(alpha=1 / 64, start=0.1, floor=0.05, ceiling=0.2)
model.prediction = 8
model.surprise = Surprise(alpha=0.25, beta=0.5, mean=1.4)
# The bundled model's stages: input windows and a pitch predictor (lags 3 to 40, a search every 8 steps).
model.pitch = Pitch.checked([0.05, -0.1, -0.3, 0.9], 3, 40, 50, 8)
model.params[-1] = 0.35  # its gain
voices = int(sys.argv[1]) or None
stream = Stream(model, max_block=64, voices=voices)
x = np.random.default_rng(0).uniform(-0.3, 0.3, (voices or 1, 200, 1)).astype(np.float32)
out = np.empty((voices or 1, 200, 30), np.float32)
loaded = kernels_loaded()
before = rtsys.get_allocation_stats()
tracemalloc.start()
snap0 = tracemalloc.take_snapshot()
with event.install_recorder("numba:compile") as compiles:
    for a, b in [(0, 64), (64, 65), (65, 128), (128, 192), (192, 200)]:
        if voices:
            stream.process(x[:, a:b], out=out[:, a:b])
        else:
            stream.process(x[0, a:b], out=out[0, a:b])
snap1 = tracemalloc.take_snapshot()
after = rtsys.get_allocation_stats()
first_uses = kernels_loaded() - loaded
numpy_only = [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]
grown = sum(s.size_diff for s in snap1.filter_traces(numpy_only).compare_to(snap0.filter_traces(numpy_only), "lineno"))
# What a call allocates and frees before it returns (NumPy's buffers for a ufunc on strided views
# were 34 to 100 kB): the most above the call's start, which only Python's own objects reach.
transient = 0
for a, b in [(0, 64), (64, 65), (65, 128)]:
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    stream.process(x[:, a:b], out=out[:, a:b]) if voices else stream.process(x[0, a:b], out=out[0, a:b])
    transient = max(transient, tracemalloc.get_traced_memory()[1] - start)
tracemalloc.stop()
stream.reset()
for a, b in [(0, 64), (64, 65), (65, 128), (128, 192), (192, 200)]:
    stream.process(x[:, a:b], out=out[:, a:b]) if voices else stream.process(x[0, a:b], out=out[0, a:b])
expected = np.stack([model.forward(v) for v in x])
print(after.alloc - before.alloc, after.mi_alloc - before.mi_alloc, grown, len(compiles.buffer) + first_uses,
      transient, float(np.abs(out - expected).max()))
"""


@pytest.mark.parametrize("voices", [0, 4])
def test_a_mixture_models_stages_allocate_nothing_and_compile_nothing(voices):
    """A level, a linear prediction, a pitch predictor and a surprise-following scale run around the
    network (with input windows, as in the bundled model): called
    as numba functions from Python they made 6 to 13 NRT allocations a call, and before prepare
    warmed them, compiled in the first blocks (11 ms to 2 s in the audio callback). In a fresh
    process, from the first block after prepare, with blocks of 1 step, of max_block and between:
    no NRT allocation, no NumPy byte, no compile; the output is forward's (bit for bit with one
    voice; the voice kernels' products sum in another order)."""
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", HEADS_SCRIPT, str(voices)], env=env, cwd=root, capture_output=True,
                         text=True, check=True)
    *counts, transient, error = run.stdout.split()
    assert tuple(map(int, counts)) == (0, 0, 0, 0)
    assert int(transient) < 1024  # a few Python objects (views, ints), no buffer
    assert float(error) == 0.0 if not voices else float(error) < 1e-6


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


def test_stream_refuses_what_is_not_a_cwfast_model():
    class LooksLikeOne:
        arch, n_hidden, n_in, n_out = "lstm", 4, 1, 1

    with pytest.raises(ParameterError, match=r"a Stream runs cwfast models with a real-time entry, not LooksLikeOne"):
        Stream(LooksLikeOne())


def test_constructor_max_block_prepares(model):
    stream = Stream(model, max_block=32)
    assert stream.max_block == 32
    with pytest.raises(ParameterError, match="max_block=0 must be a positive integer"):
        Stream(model, max_block=0)


def test_an_unprepared_stream_runs_a_long_first_block_in_pieces_of_the_default(model):
    """process before prepare prepares DEFAULT_MAX_BLOCK steps, as documented, not the first
    block's length: a long block allocated its own length of buffers again, unchecked."""
    from cwfast.stream import DEFAULT_MAX_BLOCK

    x = np.random.default_rng(3).uniform(-1, 1, (DEFAULT_MAX_BLOCK * 2 + 100, 1)).astype(np.float32)
    stream = Stream(model)
    np.testing.assert_array_equal(stream.process(x), model.forward(x))
    assert stream.max_block == DEFAULT_MAX_BLOCK


def test_a_wide_model_prepares_fewer_steps_by_default():
    """The default block is held to DEFAULT_BLOCK_BYTES of inputs and outputs: a softmax of 65,536
    classes prepared 8192 steps (2 GiB of outputs, checked against the kernel and warmed: 23 s and
    over 4 GiB before its first sample). Longer blocks run in pieces, with the same outputs."""
    from cwfast.stream import DEFAULT_BLOCK_BYTES, DEFAULT_MAX_BLOCK

    wide = ClockworkRNN(1, 65536, n_hidden=2, n_modules=1, seed=1, output="softmax")
    x = np.random.default_rng(4).uniform(-1, 1, (100, 1)).astype(np.float32)
    stream = Stream(wide)
    np.testing.assert_allclose(stream.process(x), wide.forward(x), rtol=1e-5, atol=1e-9)
    assert stream.max_block == DEFAULT_BLOCK_BYTES // ((1 + 65536) * 4) == 63
    assert Stream(wide).prepare().max_block == 63  # prepare() without a length: the same default
    voices = Stream(wide, voices=3).prepare()
    assert voices.max_block == DEFAULT_BLOCK_BYTES // (voices._clocks.size * (1 + 65536) * 4)
    narrow = ClockworkRNN(1, 256, n_hidden=4, n_modules=2, seed=1, output="softmax")
    assert Stream(narrow).prepare().max_block == DEFAULT_MAX_BLOCK  # 256 classes: the default, as before


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
    with pytest.raises(ParameterError, match=r"too large for the model's dtype float32 \(1e\+300\)"):
        stream.process(np.full((3, 1), 1e300))  # finite, but infinite once cast to float32
    assert stream.t == 0 and not stream.state.h.any()


def _levelled_mixture():
    model = ClockworkRNN(1, 9, n_hidden=8, n_modules=2, input_windows=[3, 2], output="mixture", seed=1)
    model.level = (0.1, 0.05)
    return model


#: Every kind of one-voice work process() does around the entry: plain, windows, an LSTM, a
#: softmax head, a levelled mixture head.
SHORTCUT_MODELS = dict(BUILDERS, softmax=lambda: ClockworkRNN(1, 5, n_hidden=12, n_modules=3, output="softmax",
                                                              seed=1), levelled=_levelled_mixture)


@pytest.mark.parametrize("kind", sorted(SHORTCUT_MODELS))
def test_the_shortcut_of_process_gives_the_bits_of_the_general_path(kind, monkeypatch):
    """process() takes a shortcut for a block and an ``out`` already in the model's dtype, no
    longer than max_block. The same blocks in float64 without ``out`` (converted, in pieces) give
    the same bits, state and clock; a block the shortcut refuses (NaN) changes nothing, the level
    included; and the shortcut is really taken (the general path is made to fail meanwhile)."""
    model = SHORTCUT_MODELS[kind]()
    x = np.random.default_rng(3).uniform(-1, 1, size=(700, 1)).astype(np.float32)
    short, general = Stream(model, max_block=64), Stream(model, max_block=64)
    n_out = model.n_out
    bounds = [0, 1, 64, 65, 128, 190, 254, 700]  # blocks of 1, 63, 1, 63, 62, 64, then 446 > max_block
    for a, b in zip(bounds, bounds[1:]):
        out = np.full((b - a, n_out), np.nan, dtype=np.float32)
        bad = x[a:b].copy()
        bad[-1] = np.nan
        before = short.state
        with monkeypatch.context() as patch:
            if b - a <= 64:
                patch.setattr(short, "_process", None)  # the general path would raise TypeError
            with pytest.raises(ParameterError, match="NaN"):
                short.process(bad, out=out)
            assert short.t == before.t
            np.testing.assert_array_equal(short.state.h, before.h)
            got = short.process(x[a:b], out=out)
        assert got is out
        np.testing.assert_array_equal(got, general.process(x[a:b].astype(np.float64)))
        assert short.t == general.t
        np.testing.assert_array_equal(short.state.h, general.state.h)
    np.testing.assert_array_equal(short.state.h, model.forward(x, return_state=True)[1].h)


def test_the_shortcut_sees_a_replaced_parameter_vector(signal):
    """A stream reads the model's parameters live, by address: a new parameter vector (not new
    values in the old one) must be bound again, on the shortcut too."""
    model = ClockworkRNN(1, 2, n_hidden=12, n_modules=3, seed=2)
    stream = Stream(model, max_block=32)
    out = np.empty((32, 2), dtype=np.float32)
    stream.process(signal[:32], out=out)
    model._params = model._params * np.float32(0.5)
    want = model.forward(signal[32:64], state=stream.state)
    np.testing.assert_array_equal(stream.process(signal[32:64], out=out), want)


@pytest.mark.parametrize("voices", [None, 16])
def test_a_stream_follows_new_periods_and_refuses_a_new_level_or_prediction(voices, signal):
    """set_periods between blocks (the evolution strategy's period search) is seen, on the shortcut
    and with voices; a level or a prediction added afterwards is refused, and nothing moves."""
    from cwfast import CwfastError

    model = ClockworkRNN(1, 6, n_hidden=12, n_modules=3, periods=[1, 2, 4], output="mixture", seed=2)
    stream = Stream(model, max_block=32, voices=voices)
    one = (lambda x: x) if voices is None else (lambda x: np.broadcast_to(x, (voices, *x.shape)).copy())
    out = np.empty(one(np.empty((32, 6), np.float32)).shape, dtype=np.float32)
    stream.process(one(signal[:32]), out=out)
    model.set_periods([1, 3, 7])
    state = State(stream.state.h if voices is None else stream.state.h[0], 32)
    want = model.forward(signal[32:64], state=state)
    got = stream.process(one(signal[32:64]), out=out)
    if voices is None:  # one voice: forward's arithmetic, the same bits
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, one(want), rtol=1e-5, atol=1e-6)
    for change in (lambda m: setattr(m, "level", (0.1, 0.05)), lambda m: setattr(m, "prediction", 4)):
        changed = model.copy()
        stream = Stream(changed, max_block=32, voices=voices)
        stream.process(one(signal[:32]), out=out)
        before = stream.state
        change(changed)
        with pytest.raises(CwfastError, match="build a new Stream"):
            stream.process(one(signal[32:64]), out=out)
        assert np.array_equal(stream.t, before.t)
        np.testing.assert_array_equal(stream.state.h, before.h)


def test_a_long_block_a_levelled_model_would_overflow_is_refused_before_any_piece():
    """3e38 is finite in float32, but divided by the level's gain it is not: the piece holding it
    was refused after the pieces before it had run (t 32, not 0). Now the whole block is refused
    first, and a stream whose model lost its level refuses reset() as process() does (it raised
    AttributeError with the hidden state already zeroed)."""
    from cwfast.model import Level

    model = ClockworkRNN(1, 30, n_hidden=16, n_modules=4, output="mixture", seed=0)
    model.level = Level(alpha=1 / 64, start=0.1, floor=0.05, ceiling=0.2)
    stream = Stream(model, max_block=32)
    stream.process(np.full((40, 1), 0.1, np.float32))
    before = stream.state
    x = np.zeros((100, 1), np.float32)
    x[60] = 3e38
    with pytest.raises(ParameterError, match="too large for the model's level .3e.38; at most 1.7e.37"):
        stream.process(x)
    assert stream.t == before.t
    np.testing.assert_array_equal(stream.state.h, before.h)
    model.level = None
    with pytest.raises(CwfastError, match="build a new Stream"):
        stream.reset()
    np.testing.assert_array_equal(stream.state.h, before.h)


@pytest.mark.parametrize("voices", [None, 2])
@pytest.mark.parametrize("with_out", [False, True])
def test_a_short_block_a_levelled_model_would_overflow_is_refused_as_forward_refuses_it(voices, with_out):
    """forward and longer blocks refused 1e36 (past float32's largest times the level's floor), a
    block of one piece took it: infinite means, and the surprise's state non-finite for good
    (outputs still not finite 2000 ordinary samples later). Refused by the compiled stage before
    anything moves, on every path (the real-time one with ``out`` included)."""
    model = ClockworkRNN(1, 6, n_hidden=16, n_modules=4, seed=0, output="mixture")
    model.surprise = (0.05, 0.5, 1.0)
    model.level = (0.01, 0.1, 1e-3)
    x = np.zeros((40, 1), np.float32)
    x[-1] = 1e36
    with pytest.raises(ParameterError, match="too large for the model's level"):
        model.forward(x)
    shape = (40, 1) if voices is None else (voices, 40, 1)
    stream, fresh = Stream(model, max_block=64, voices=voices), Stream(model, max_block=64, voices=voices)
    ordinary = np.full(shape, 0.1, np.float32)
    stream.process(ordinary)
    fresh.process(ordinary)
    bad = np.broadcast_to(x, shape).copy()
    out = np.empty(shape[:-1] + (6,), np.float32) if with_out else None
    with pytest.raises(ParameterError, match=r"too large for the model's level \(1e\+36; at most 3.4e\+35"):
        stream.process(bad, out=out)
    bad[..., -1, 0] = np.inf  # what it is called: not finite, as forward says
    with pytest.raises(ParameterError, match="NaN or infinite"):
        stream.process(bad, out=out)
    np.testing.assert_array_equal(stream.t, fresh.t)
    after = stream.process(np.full(shape[:-2] + (2000, 1), 0.1, np.float32))
    np.testing.assert_array_equal(after, fresh.process(np.full(shape[:-2] + (2000, 1), 0.1, np.float32)))
    assert np.isfinite(after).all()


def test_the_context_slots_process_writes_are_the_entries():
    from cwfast import _pitch_kernels, _realtime, stream

    assert (stream._N_STEPS, stream._T0, stream._S_STEPS, stream._S_T0) == (_realtime.N_STEPS, _realtime.T0,
                                                                            _realtime.S_STEPS, _realtime.S_T0)
    assert stream.EST_SIZE == _pitch_kernels.EST_SIZE


def test_softmax_stream_equals_forward(signal):
    model = ClockworkRNN(1, 5, n_hidden=12, n_modules=3, output="softmax", seed=1)
    stream = Stream(model, max_block=50)
    got = np.concatenate([stream.process(signal[a : min(a + 77, 1000)]) for a in range(0, 1000, 77)])
    np.testing.assert_array_equal(got, model.forward(signal[:1000]))


# ---------------------------------------------------------------------- input windows


@pytest.mark.parametrize("windows, n_in", [("period", 1), ([2, 1, 5, 3], 2), ("period", 2), ([2, 1, 5, 3], 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_windowed_stream_equals_forward_and_carries_its_history(windows, n_in, dtype, rng):
    """A model whose modules read windows of past inputs, over random splits (blocks of 1 and 2,
    and longer than max_block) of 3000 steps: the chunk buffer (256 + P rows here) moves its last
    P rows to the front a dozen times. Bit for bit against one forward call; the stream's state
    is the model's (hidden units, then the last P inputs), so forward continues it and it
    continues forward; pickling and reset keep or clear the history."""
    model = ClockworkRNN(n_in, 2, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16], input_windows=windows, seed=5,
                         dtype=dtype)
    model.params[:] = model.params * 3  # past inputs then move the outputs visibly
    assert model.max_window > 1
    x = rng.normal(size=(3000, n_in)).astype(dtype)
    expected, final = model.forward(x, return_state=True)
    cuts = np.unique(np.r_[1, 3, np.sort(rng.choice(np.arange(4, 3000), size=120, replace=False))])
    stream = Stream(model, max_block=32)
    out = np.empty((3000, 2), dtype=dtype)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 3000]):
        stream.process(x[a:b], out=out[a:b])
    np.testing.assert_array_equal(out, expected)
    assert stream.t == final.t == 3000
    np.testing.assert_array_equal(stream.state.h, final.h)
    assert stream.state.h.shape == (model.n_hidden + (model.max_window - 1) * n_in,)
    # The history matters: forgetting it (a state with zero past inputs) changes the outputs.
    more = rng.normal(size=(200, n_in)).astype(dtype)
    forgot = State(np.r_[final.h[: model.n_hidden], np.zeros(final.h.size - model.n_hidden)].astype(dtype), 3000)
    assert not np.array_equal(model.forward(more, state=forgot), model.forward(more, state=final))
    copy = pickle.loads(pickle.dumps(stream))
    np.testing.assert_array_equal(copy.process(more), model.forward(more, state=final))
    stream.prepare(2000)  # a longer chunk buffer, which takes the history along
    np.testing.assert_array_equal(stream.process(more[:77]), model.forward(more[:77], state=final))
    continued = Stream(model, state=model.forward(x[:1234], return_state=True)[1], max_block=100)
    np.testing.assert_array_equal(continued.process(x[1234:]), expected[1234:])
    stream.reset()
    assert stream.t == 0 and not stream.state.h.any()
    np.testing.assert_array_equal(stream.process(x[:300]), expected[:300])


# ---------------------------------------------------------------------- LSTM


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_lstm_stream_equals_forward_and_the_naive_twin(dtype, output, rng):
    """Random splits (blocks of 1 and 2 among them, and longer than max_block) against one forward
    call, bit for bit, and against tests/naive_lstm.py, within rounding."""
    model = LSTM(2, 4, n_hidden=5, seed=3, dtype=dtype, output=output)
    x = rng.normal(size=(600, 2)).astype(dtype)
    cuts = np.unique(np.r_[1, 3, np.sort(rng.choice(np.arange(4, 600), size=25, replace=False))])
    stream = Stream(model, max_block=64)
    out = np.empty((600, 4), dtype=dtype)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 600]):
        stream.process(x[a:b], out=out[a:b])
    expected, state = model.forward(x, return_state=True)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(stream.state.h, state.h)
    assert stream.t == state.t == 600

    H, C, _, Y = lstm_forward(model.to_dense(), x.astype(np.float64))
    if output == "softmax":
        Y = np.exp(Y - Y.max(axis=1, keepdims=True))
        Y /= Y.sum(axis=1, keepdims=True)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out, Y, rtol=0, atol=tol)
    np.testing.assert_allclose(stream.state.h, np.r_[H[-1], C[-1]], rtol=0, atol=tol)


def test_lstm_stream_starts_from_h_and_c(rng):
    model = LSTM(1, 2, n_hidden=4, seed=5, dtype=np.float64)
    h0, c0 = rng.uniform(-0.5, 0.5, size=(2, 4))
    x = rng.normal(size=(130, 1))
    stream = Stream(model, state=State(np.r_[h0, c0], 9), max_block=64)
    assert stream.t == 9
    got = np.concatenate([stream.process(x[:65]), stream.process(x[65:])])
    np.testing.assert_array_equal(got, model.forward(x, state=State(np.r_[h0, c0], 9)))
    np.testing.assert_allclose(got, lstm_forward(model.to_dense(), x, h0, c0)[3], rtol=0, atol=1e-12)
    stream.reset()
    assert stream.t == 0 and stream.state.h.shape == (8,) and not stream.state.h.any()
    np.testing.assert_array_equal(stream.process(x), model.forward(x))
    with pytest.raises(ParameterError, match=r"expected \(8,\) \(an LSTM's state is h and c concatenated\)"):
        Stream(model, state=State(h0, 0))


# ---------------------------------------------------------------------- sample rate


def test_a_streams_model_and_sample_rate_cannot_be_reassigned():
    # Assigned, the model ran its weights over the buffers of the first (here 4 units against 64:
    # the kernel read and wrote past them, NaN out); a new sample_rate was a label the resampling
    # filters, built for the first, did not follow.
    small = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000)
    stream = Stream(small, sample_rate=16000, resample=True, max_block=16)
    y = stream.process(np.ones((16, 1), np.float32))
    before = stream.state
    with pytest.raises(CwfastError, match="model cannot be replaced"):
        stream.model = ClockworkRNN(1, 1, n_hidden=64, n_modules=2, seed=0, sample_rate=8000)
    with pytest.raises(CwfastError, match="sample_rate cannot be changed"):
        stream.sample_rate = 8000
    assert stream.model is small and stream.sample_rate == 16000
    np.testing.assert_array_equal(stream.state.h, before.h)
    stream.reset()
    np.testing.assert_array_equal(stream.process(np.ones((16, 1), np.float32)), y)


SMALL = {
    "clockwork": lambda n_out=1, **kw: ClockworkRNN(1, n_out, n_hidden=8, n_modules=2, seed=0, **kw),
    "lstm": lambda n_out=1, **kw: LSTM(1, n_out, n_hidden=4, seed=0, **kw),
}


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_stream_refuses_another_sample_rate(arch):
    make = SMALL[arch]
    model = make(sample_rate=44100)
    assert Stream(model).sample_rate == 44100
    assert Stream(model, sample_rate=44100).sample_rate == 44100
    with pytest.raises(ParameterError, match="sample_rate=48000 differs from the model's sample_rate=44100"):
        Stream(model, sample_rate=48000)
    with pytest.raises(ParameterError, match="sample_rate=0 must be a positive whole number of Hz"):
        Stream(model, sample_rate=0)
    # Hosts report rates as floats (sounddevice's samplerate, a plug-in's double): whole ones pass.
    for rate in (44100.0, np.float64(44100.0), np.int32(44100)):
        stream = Stream(model, sample_rate=rate)
        assert stream.sample_rate == 44100 and type(stream.sample_rate) is int
    with pytest.raises(ParameterError, match=r"sample_rate=44100\.5 must be a positive whole number of Hz"):
        Stream(model, sample_rate=44100.5)
    unknown = make()
    assert Stream(unknown, sample_rate=48000).sample_rate == 48000  # nothing to compare with
    assert Stream(unknown).sample_rate is None
    softmax = make(n_out=4, sample_rate=16000, output="softmax")
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


def test_resampling_lstm_stream_gives_the_same_output_for_any_split(rng):
    model = SMALL["lstm"](sample_rate=16000, dtype=np.float64)
    stream = Stream(model, sample_rate=44100, resample=True, max_block=64)
    assert stream.latency == pytest.approx(2 * 10 * 441 / 160)  # both filters: 10 zero crossings each side
    x = rng.normal(size=(4410, 1))
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, 4410), size=20, replace=False)), 4410]
    y = np.concatenate([stream.process(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    assert y.shape == x.shape and stream.t == 1600
    stream.reset()
    np.testing.assert_allclose(stream.process(x), y, rtol=0, atol=1e-12)


LSTM_CACHE_SCRIPT = """
import numpy as np
from cwfast import _lstm_kernels, _realtime, LSTM, Stream
Stream(LSTM(1, 1, n_hidden=4, seed=0)).process(np.zeros((4, 1), dtype=np.float32))
stats = _lstm_kernels._forward_seq.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), _realtime.entry("lstm", np.float32)[0].cache_hits)
"""


def test_lstm_entry_is_cached_between_processes(two_fresh_processes):
    """The Clockwork entry's twin of tests/test_cache.py: a second process loads the LSTM's entry
    and kernel from numba's cache instead of compiling them."""
    first, second = two_fresh_processes(LSTM_CACHE_SCRIPT)
    assert first == (0, 1, 0)  # kernel: hits, misses; entry: hits
    assert second == (1, 0, 1)


@pytest.mark.parametrize("kind", ["clockwork", "clockwork_windowed", "clockwork_blocked", "lstm"])
def test_each_entry_closes_over_a_hash_of_every_kernel_file(kind):
    """numba keys its cache on the entry's own file and its closure, not on the kernels' files: the
    hash in the closure is what makes an edited kernel file recompile the entry (_realtime.py),
    should numba drop cwfast._jit's family stamps. The hash covers every file that defines compiled
    functions, so the files the entry's kernel calls too."""
    from cwfast import _blocked_kernels, _jit, _kernels, _lstm_kernels, _realtime, _voice_kernels

    compiled = _realtime.entry(kind, np.float32)[0]
    pyfunc = compiled._pyfunc
    closure = dict(zip(pyfunc.__code__.co_freevars, (cell.cell_contents for cell in pyfunc.__closure__)))
    assert closure["stamp"] == _realtime._STAMP == int.from_bytes(_jit.family_stamp()[:7], "little") != 0
    for module in (_blocked_kernels, _kernels, _lstm_kernels, _voice_kernels, _realtime):
        assert module.__file__ in _jit.family_files()


def test_a_prepare_that_runs_out_of_memory_leaves_the_stream_as_it_was(model, signal, monkeypatch):
    stream = Stream(model).prepare(64)
    first = stream.process(signal[:100])
    allocate = Stream._allocate_window

    def short_of_memory(self, max_block, lanes):
        if max_block > 1000:
            raise MemoryError("no room for the buffers")
        allocate(self, max_block, lanes)

    monkeypatch.setattr(Stream, "_allocate_window", short_of_memory)
    with pytest.raises(MemoryError):
        stream.prepare(5000)
    assert stream.max_block == 64 and stream.t == 100
    # It goes on from where it was, as a stream that never saw the failed call.
    np.testing.assert_array_equal(np.concatenate([first, stream.process(signal[100:300])]),
                                  model.forward(signal[:300]))


@pytest.mark.parametrize("value", [1e39, 3e38, -2e38])
def test_a_resampling_stream_refuses_a_value_its_filter_would_carry_out_of_float32(value, rng):
    """A float64 value finite there but past float32 once resampled (1e39; 3e38 and -2e38 fit
    float32, but the filter's gain, about 1.8 here, takes them past it), last in a block, would sit
    in the filter's history and make every later block fail: refused at once, nothing changed."""
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, sample_rate=16000, seed=0)
    stream, twin = (Stream(model, sample_rate=44100, resample=True) for _ in range(2))
    x = rng.normal(size=(400, 1))
    stream.process(x[:50])
    twin.process(x[:50])
    with pytest.raises(ParameterError, match=r"too large for the model's dtype float32 once resampled"):
        stream.process(np.concatenate([np.zeros((50, 1)), [[value]]]))
    assert stream.t == twin.t
    np.testing.assert_array_equal(stream.process(x[50:]), twin.process(x[50:]))


@pytest.mark.parametrize("arch", ["windowed", "clockwork"])
def test_a_value_past_float32_last_in_a_block_is_refused_and_changes_nothing(arch, rng):
    """Without resampling, a block ending in 1e39 (a windowed model keeps its last inputs) is
    refused, and the stream then runs as one that never saw it."""
    stream, twin = Stream(BUILDERS[arch]()), Stream(BUILDERS[arch]())
    x = rng.normal(size=(200, 1))
    stream.process(x[:20])
    twin.process(x[:20])
    with pytest.raises(ParameterError, match=r"too large for the model's dtype float32 \(1e\+39\)"):
        stream.process(np.concatenate([x[20:30], [[1e39]]]))
    assert stream.t == twin.t
    np.testing.assert_array_equal(stream.process(x[20:]), twin.process(x[20:]))


@pytest.mark.parametrize("arch", sorted(BUILDERS))
@pytest.mark.parametrize("voices", [None, 3])
def test_an_out_that_overlaps_a_long_block_gives_the_same_output(arch, signal, voices):
    """A block longer than max_block runs in pieces: an ``out`` that is the block shifted by one
    sample (a ring buffer's way) was written over inputs a later piece had still to read."""
    model = {"clockwork": lambda: ClockworkRNN(1, 1, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16], seed=7),
             "lstm": lambda: LSTM(1, 1, n_hidden=6, seed=7),
             "windowed": lambda: ClockworkRNN(1, 1, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16],
                                              input_windows="period", seed=7)}[arch]()  # out as wide as the block
    x = signal[:3000]
    if voices is None:
        buffer = np.zeros((3001, 1), dtype=model.dtype)
        buffer[:-1] = x
        block, out = buffer[:-1], buffer[1:]
        expected = model.forward(x)
    else:
        buffer = np.zeros((voices, 3001, 1), dtype=model.dtype)
        buffer[:, :-1] = x
        block, out = buffer[:, :-1], buffer[:, 1:]
        expected = np.stack([model.forward(x)] * voices)
    Stream(model, max_block=64, voices=voices).process(block, out=out)
    if voices is None:  # one voice: forward's arithmetic, the same bits
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_a_model_without_inputs_resamples(signal):
    """Stream(memorize model, resample=True) refused every block with NumPy's ValueError (the
    peak of a block of shape (n, 0)); it runs, the same whatever the split."""
    model = ClockworkRNN(0, 1, n_hidden=16, n_modules=4, seed=0, sample_rate=16000)
    whole = Stream(model, sample_rate=48000, resample=True, max_block=256).process(np.zeros((1057, 0)))
    split = Stream(model, sample_rate=48000, resample=True, max_block=256)
    pieces = np.concatenate([split.process(np.zeros((n, 0))) for n in (256, 1, 300, 0, 500)])
    np.testing.assert_array_equal(whole, pieces)
    assert whole.shape == (1057, 1) and np.abs(whole[200:]).max() > 0.01  # past the filter's delay, the clip


def test_a_blocked_streams_work_is_counted_before_it_is_allocated():
    """The blocked kernel's work grows with the block: 2**23 steps of 1024 units asked for 44 GiB,
    which the check did not count (NumPy's MemoryError)."""
    from cwfast import CwfastError

    model = ClockworkRNN(1, 1, n_hidden=4096, n_modules=8, seed=0)  # 2**24 steps: 700 GiB
    with pytest.raises(CwfastError, match=r"blocks of 16,777,216 samples needs about .* GiB of memory"):
        Stream(model, blocked=True, max_block=2**24)


def test_buffers_larger_than_memory_are_refused_in_one_line(model):
    """2**16 voices in blocks of 2**20 samples raised NumPy's MemoryError: refused by name, and a
    prepared stream stays as it was."""
    from cwfast import CwfastError

    with pytest.raises(CwfastError, match=r"blocks of 1,048,576 samples for 65,536 voices needs about .* TiB"):
        Stream(model, voices=2**16, max_block=2**20)
    stream = Stream(model, voices=2**16, max_block=16)
    with pytest.raises(CwfastError, match="prepare for shorter blocks .max_block. or fewer voices"):
        stream.prepare(2**20)
    assert stream.max_block == 16


def test_a_resampler_larger_than_memory_is_refused_in_one_line():
    """Rates with no common factor (2**31 - 1 Hz against 16 kHz) need a filter of a TiB: refused by
    name, not NumPy's MemoryError."""
    from cwfast import CwfastError

    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, sample_rate=16000, metadata={"mode": "effect"})
    with pytest.raises(CwfastError, match="resampling between 2147483647 and 16000 Hz needs about"):
        Stream(model, sample_rate=2**31 - 1, resample=True)


def test_buffers_from_ctypes_take_the_real_time_path(monkeypatch):
    """np.ctypeslib's arrays (an audio callback's buffers) carry a dtype equal to float32 but not
    the same object: they took the general path, with its conversions and slices."""
    import ctypes

    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    stream, reference = Stream(model, max_block=64), Stream(model, max_block=64)
    stream.prepare(64)
    block = np.ctypeslib.as_array((ctypes.c_float * 64)()).reshape(64, 1)
    out = np.ctypeslib.as_array((ctypes.c_float * 64)()).reshape(64, 1)
    assert block.dtype is not np.dtype(np.float32)
    block[:, 0] = np.linspace(-0.5, 0.5, 64)
    monkeypatch.setattr(stream, "_process", lambda *args: pytest.fail("took the general path"))
    assert stream.process(block, out=out) is out
    np.testing.assert_array_equal(out, reference.process(np.array(block)))


def test_inputs_below_the_flush_read_as_zero_in_every_path(signal):
    """A host may send subnormal samples on a fade's tail; a Stream read them as they were and
    ran 25x slower on an Intel Xeon (docs/benchmarks.md). Every path reads a value below
    cwfast.modes.FLUSH as 0, as the exported C does: forward, a Stream (the fast path, the
    general one, voices, blocked), and the caller's array is left as it was."""
    import cwfast
    from cwfast.modes import FLUSH

    model = cwfast.load(Path(cwfast.__file__).parent / "models" / "default.npz")  # windows, pitch, level
    x = signal[:2000].copy() * 0.3
    x[200:1400] *= np.float32(1e-38)  # a fade into the subnormal range and back
    x[700:710] = np.float32(9e-16)  # normal, under the flush
    x[720] = np.float32(-2e-15)  # normal, above it: read as it is
    flushed = np.where(np.abs(x) < FLUSH, 0, x).astype(np.float32)
    assert np.count_nonzero(x != flushed) > 1000 and flushed[720] == x[720]
    before = x.copy()
    want = model.forward(flushed)
    np.testing.assert_array_equal(model.forward(x), want)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(model.forward(x[None])[0], want)
    fast, out = Stream(model, max_block=512), np.empty_like(want)
    for a in range(0, len(x), 512):  # the fast path: out given, in the model's dtype, within max_block
        fast.process(x[a : a + 512], out=out[a : a + 512])
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(Stream(model, max_block=512).process(x), want)  # in pieces
    np.testing.assert_array_equal(x, before)
    voices = Stream(model, voices=2)
    both = voices.process(np.stack([x, flushed]))
    np.testing.assert_array_equal(both[0], both[1])
    np.testing.assert_allclose(both[0], want, rtol=2e-5, atol=2e-6)  # the voices' kernel rounds otherwise
    # Without biases a model carries a tiny input through to its outputs, where the bundled one
    # rounds it away: here reading it as 0 shows.
    dense = ClockworkRNN(1, 2, module_sizes=[3, 2, 2, 3], periods=[1, 3, 4, 16], seed=7).to_dense()
    dense["b_h"][:] = 0
    dense["b_out"][:] = 0
    effect = ClockworkRNN.from_dense(dense)
    tiny = np.full((64, 1), 9e-16, dtype=np.float32)
    assert np.all(effect.forward(tiny * 1e3)[1:] != 0)  # above the flush it reaches the outputs
    for run in (effect.forward, Stream(effect).process, Stream(effect, blocked=True).process,
                lambda block: Stream(effect, voices=1).process(block[None])[0]):
        np.testing.assert_array_equal(run(tiny), np.zeros((64, 2), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_state_that_decays_reaches_zero_rather_than_staying_subnormal(dtype):
    """tanh's result below cwfast.modes.FLUSH is 0, in every Clockwork kernel (they share the one
    tanh) as in the exported C: a state decaying into the subnormal range never reached 0 (0.9 x
    the smallest subnormal rounds back to it), and such a model ran 100x slower for good on an
    Intel Xeon (scripts/bench_denormals.py)."""
    dense = ClockworkRNN(1, 1, module_sizes=[4, 4], periods=[1, 2], seed=3, dtype=dtype).to_dense()
    dense["b_h"][:] = 0
    dense["W_h"][:] = 0.9 * np.eye(8, dtype=dtype)
    model = ClockworkRNN.from_dense(dense)
    tiny = np.finfo(dtype).tiny  # the smallest normal number
    silence_after_a_click = np.zeros((8000, 1), dtype=dtype)
    silence_after_a_click[0] = 0.5
    h = model.forward(silence_after_a_click, return_state=True)[1].h
    assert np.all(h == 0)  # before: subnormal for good, never 0
    y, trace = model.forward(silence_after_a_click[:400], raw=True), []
    stream = Stream(model)
    for block in np.array_split(silence_after_a_click, 13):
        trace.append(stream.process(block))
    np.testing.assert_array_equal(np.concatenate(trace)[:400], y)
    assert np.all(stream.state.h == 0) and not np.any((stream.state.h != 0) & (np.abs(stream.state.h) < tiny))
    voices = Stream(model, voices=3)  # the voices' kernel
    voices.process(np.stack([silence_after_a_click] * 3))
    assert np.all(voices.state.h == 0)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_clockwork_tanh_keeps_nan_and_saturates_infinities(dtype):
    """The one tanh every Clockwork kernel shares: its flush and the float32 path's clamps turned a
    NaN pre-activation into 0 (float64) or -1 (float32), so a model whose weights held a NaN gave
    finite outputs and a finite loss. A NaN stays NaN; +-inf give +-1; below FLUSH gives 0."""
    import numba

    from cwfast._kernels import _tanh_inplace

    @numba.njit
    def tanh(a):
        _tanh_inplace(a)

    a = np.array([np.nan, np.inf, -np.inf, 30.0, -30.0, 1e-20, -1e-20, 0.5], dtype=dtype)
    tanh(a)
    assert np.isnan(a[0])
    np.testing.assert_array_equal(a[1:7], [1.0, -1.0, 1.0, -1.0, 0.0, 0.0])
    np.testing.assert_allclose(a[7], np.tanh(0.5), rtol=1e-6)

def test_an_lstm_cell_and_a_level_that_decay_reach_zero_too():
    """The LSTM's cell and output and the level are flushed below cwfast.modes.FLUSH as the
    exported C flushes them (its LSTM and level code); before, silence left them subnormal."""
    import cwfast

    dense = LSTM(1, 1, n_hidden=4, seed=1).to_dense()
    dense["b_h"][:] = 0
    dense["b_out"][:] = 0
    lstm = LSTM.from_dense(dense)
    click = np.zeros((6000, 1), np.float32)
    click[0] = 0.5
    y, state = lstm.forward(click, return_state=True)
    assert np.all(state.h == 0) and y[-1, 0] == 0  # before: a subnormal cell and output for good
    stream = Stream(lstm)
    np.testing.assert_array_equal(np.concatenate([stream.process(b) for b in np.array_split(click, 7)]), y)
    voices = Stream(lstm, voices=2)
    voices.process(np.stack([click, click]))
    assert np.all(voices.state.h == 0)
    levelled = cwfast.load(Path(cwfast.__file__).parent / "models" / "default.npz")
    silence = np.zeros((8000, 1), np.float32)
    assert levelled.forward(silence, return_state=True)[1].h[-1] == 0  # the level; before: 1.4e-45
    stream = Stream(levelled)
    stream.process(silence)
    assert stream.state.h[-1] == 0


@pytest.mark.parametrize("voices", [None, 3])
def test_a_levelled_stream_reads_inputs_below_flush_as_zero_before_the_level_as_forward_does(voices):
    """forward (and the C export) read an input below cwfast.modes.FLUSH as 0 and then divide it by
    the level's gain; a levelled stream divided first and flushed after, so 3e-16 over a gain of
    0.1 reached the network, the level and the surprise as 3e-15: other bits than forward's."""
    from cwfast.model import Level, Surprise
    from cwfast.modes import FLUSH

    model = ClockworkRNN(1, 9, module_sizes=[3, 6, 5], periods=[1, 3, 7], output="mixture", seed=7,
                         dtype=np.float64)
    model.level = Level(alpha=1 / 16, start=0.1, floor=0.05, ceiling=2.0)
    model.prediction = 2
    model.surprise = Surprise(alpha=0.25, beta=0.5, mean=1.4)
    x = 0.01 * np.random.default_rng(3).normal(size=(3, 200, 1))
    x[:, 20:30] = 0.3 * FLUSH  # below FLUSH, above it once divided by a gain below 0.3
    zeroed = x.copy()
    zeroed[:, 20:30] = 0
    np.testing.assert_array_equal(model.forward(x), model.forward(zeroed))
    if voices is None:
        got, want = Stream(model).process(x[0]), model.forward(x[0])
    else:
        got, want = Stream(model, voices=voices).process(x), Stream(model, voices=voices).process(zeroed)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("voices", [None, 3])
def test_a_levelled_stream_reads_an_input_its_gain_takes_below_flush_as_forward_does(voices):
    """A gain above 1 (a level above 1) takes an input at FLUSH or above below it: forward (and
    the C export) read the quotient as it is, the stream's entries flushed it to 0 after the level.
    Input weights of 1e14 make what the network reads of 2e-15 / 5 visible in its outputs."""
    from cwfast.model import Level

    model = ClockworkRNN(1, 9, module_sizes=[3, 6, 5], periods=[1, 3, 7], output="mixture", seed=7,
                         dtype=np.float64)
    model.level = Level(alpha=1 / 16, start=5.0, floor=0.05, ceiling=10.0)
    params = model.params.copy()
    params[: model._offsets[1]] *= 1e14  # the input weights
    model.params = params
    x = np.full((3, 50, 1), 2e-15)
    want = model.forward(x)
    assert np.abs(want - model.forward(np.zeros_like(x))).max() > 1e-3  # the network reads it
    if voices is None:
        np.testing.assert_array_equal(Stream(model, max_block=16).process(x[0]), want[0])
    else:
        np.testing.assert_allclose(Stream(model, voices=voices, max_block=16).process(x), want, rtol=0, atol=1e-12)


def every_stage_model(arch, rng):
    """An autoregressive mixture model with every stage a stream runs around its network: a level,
    a linear prediction, a surprise-following scale and a pitch predictor (and, a Clockwork RNN,
    input windows); the taps and the pitch gain drawn from ``rng`` (not zero, so that they count)."""
    from cwfast.model import Level, Pitch, Surprise

    if arch == "lstm":
        model = LSTM(1, 30, n_hidden=6, output="mixture", seed=0)
    else:
        model = ClockworkRNN(1, 30, n_hidden=16, n_modules=4, output="mixture", input_windows=[1, 3, 4, 8], seed=0)
    model.level = Level(alpha=1 / 64, start=0.1, floor=0.05, ceiling=0.2)
    model.prediction = 8
    model.surprise = Surprise(alpha=0.25, beta=0.5, mean=1.4)
    model.pitch = Pitch.checked([0.05, -0.1, -0.3, 0.9], 3, 40, 50, 8)
    model.params[-9:] = rng.normal(size=9) * 0.1
    return model


@pytest.mark.parametrize("voices", [None, 3])
def test_preparing_again_mid_sequence_keeps_every_stages_state(voices):
    """prepare() reallocates the buffers (longer or shorter blocks) in the middle of a sequence: the
    input windows' history, the prediction's and the pitch predictor's kept inputs and estimate,
    the level and the surprise go on as if it had not happened."""
    rng = np.random.default_rng(1)
    model = every_stage_model("clockwork", rng)
    x = rng.uniform(-0.3, 0.3, size=(voices or 1, 460, 1)).astype(np.float32)
    stream = Stream(model, voices=voices, max_block=16)
    outputs, a = [], 0
    for n, prepare in [(5, None), (20, 300), (40, None), (20, 2), (7, None), (20, "default"), (348, None)]:
        if prepare is not None:
            stream.prepare(None if prepare == "default" else prepare)
            assert stream.t.tolist() == [a] * voices if voices else stream.t == a
        outputs.append(stream.process(x[:, a : a + n] if voices else x[0, a : a + n]))
        a += n
    got = np.concatenate(outputs, axis=-2).reshape(voices or 1, a, 30)
    want = np.stack([model.forward(lane) for lane in x])
    if voices is None:
        np.testing.assert_array_equal(got, want)
    else:  # the voices' sums run in another order
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stream.state.h.reshape(voices or 1, -1),
                               np.stack([model.forward(lane, return_state=True)[1].h for lane in x]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("voices", [None, 3])
@pytest.mark.parametrize("with_out", [False, True])
def test_a_short_block_is_refused_with_the_reason_a_long_one_gets(voices, with_out):
    """A block of one piece was refused as 'NaN or infinite values (or values too large for the
    model's dtype)' whichever it held, where a longer one (checked before its pieces) is told which:
    1e39 in a float64 block is not NaN. Both now say the same, and change nothing."""
    model = ClockworkRNN(1, 2, n_hidden=6, n_modules=3, seed=2)
    shape = (5, 1) if voices is None else (voices, 5, 1)
    stream = Stream(model, voices=voices, max_block=16)
    stream.process(np.full(shape, 0.1))
    before = stream.state
    out = np.empty(shape[:-1] + (2,), np.float32) if with_out else None
    for value, dtype, said in [(1e39, np.float64, r"block contains values too large for the model's dtype float32 "
                                                  r"\(1e\+39\)$"),
                               (np.nan, np.float32, r"block contains NaN or infinite values$"),
                               (-np.inf, np.float64, r"block contains NaN or infinite values$")]:
        for length in (5, 40):  # one piece, and pieces
            block = np.full(shape[:-2] + (length, 1), 0.1, dtype)
            block[..., 3, 0] = value
            with pytest.raises(ParameterError, match=said):
                stream.process(block, out=None if out is None or length != 5 else out)
    np.testing.assert_array_equal(stream.state.h, before.h)
    np.testing.assert_array_equal(stream.t, before.t)
