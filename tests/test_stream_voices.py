"""``Stream(model, voices=V)``: V independent sequences of one model in one call (Clockwork RNN,
SRN, LSTM).

Each voice is compared with a stream of its own, and with the NumPy twin of tests/naive.py, to
within float rounding: the voice kernels sum each dot product in a different order than the
one-voice kernel (Clockwork: column by column in the voices' SIMD lanes when the voice count
is a multiple of 16, else four voices and four rows per pass; LSTM: four voices and four rows per
pass; see cwfast/_voice_kernels.py), so the bits may differ in the last place, never more. A last
block of one or two voices (counts 4 k + 1 and 4 k + 2 but 13, 14, 29, 30, ..., which run in the
lanes) runs them one by one through the one-voice kernel: those voices give a one-voice stream's
bits. What must hold bit for bit: any split of the blocks gives the same output, and a voice's
output depends on its own input alone (not on the other voices), and on which of the three
computes it.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cwfast
from cwfast import LSTM, SRN, ClockworkRNN, ParameterError, State, Stream

import naive
from naive_lstm import lstm_forward
from test_stream import KERNELS_LOADED, every_stage_model

MODELS = {
    "clockwork": lambda **kw: ClockworkRNN(2, 3, module_sizes=[3, 5, 2, 4], periods=[1, 2, 5, 16], seed=11, **kw),
    "srn": lambda **kw: SRN(2, 3, n_hidden=7, seed=11, **kw),
    "lstm": lambda **kw: LSTM(2, 3, n_hidden=5, seed=11, **kw),
    # Modules reading windows of past inputs: the voices' inputs go through a chunk buffer.
    "windowed": lambda **kw: ClockworkRNN(2, 3, module_sizes=[3, 5, 2, 4], periods=[1, 2, 5, 16],
                                          input_windows=[2, 1, 5, 3], seed=11, **kw),
    # Windows longer than the chunk of steps the window pass copies voice-major at a time
    # (cwfast._voice_kernels.WINDOW_CHUNK): a window reaches back across the chunk's start.
    "long windows": lambda **kw: ClockworkRNN(2, 3, module_sizes=[3, 5, 2, 4], periods=[1, 2, 5, 16],
                                              input_windows=[300, 1, 20, 261], seed=11, **kw),
    # The lane kernel keeps a module's products with a slower module of 16 units or more between
    # steps (cwfast._voice_kernels.KEEP_MIN) and multiplies narrower ones, and those of its own
    # period, at every step: wide modules mixed with narrow ones, read in the order of the columns.
    "wide modules": lambda **kw: ClockworkRNN(2, 3, module_sizes=[32, 3, 33, 34], periods=[1, 2, 5, 16], seed=13,
                                              **kw),
    # Two modules of one period read each other (multiplied at every step), then a kept one.
    "equal periods": lambda **kw: ClockworkRNN(2, 3, module_sizes=[3, 33, 2, 40], periods=[1, 1, 4, 8], seed=12,
                                               **kw),
}
V = 6  # not a multiple of the kernel's voice block: four voices in the 4 x 4 passes, two one by one
#: Voice counts of both Clockwork kernels: the 4 x 4 passes (6), the lane passes (16).
COUNTS = (V, 16)
#: Voice counts around the 4 x 4 passes' blocks: one or two voices alone, three with a padding
#: voice, a block and one voice alone.
SMALL_COUNTS = (1, 2, 3, 5)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(440).normal(size=(V, 700, 2))


@pytest.fixture(scope="module")
def x16():
    return np.random.default_rng(441).normal(size=(16, 700, 2))


def separate(model, x, **kw):
    return np.stack([Stream(model, **kw).process(xv) for xv in x])


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("count", COUNTS)
def test_voices_equal_separate_streams_and_the_numpy_twin(arch, dtype, tol, count, x16):
    model = MODELS[arch](dtype=dtype)
    xs = x16[:count].astype(dtype)
    got = Stream(model, voices=count).process(xs)
    assert got.shape == (count, 700, 3) and got.dtype == dtype
    np.testing.assert_allclose(got, separate(model, xs), rtol=0, atol=tol)
    dense = model.to_dense()
    for v in range(count):
        x64 = xs[v].astype(np.float64)
        twin = lstm_forward(dense, x64)[3] if arch == "lstm" else naive.forward(dense, x64)[1]
        np.testing.assert_allclose(got[v], twin, rtol=0, atol=tol)


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("block", [1, 2, 63, 64, 65])
@pytest.mark.parametrize("count", COUNTS)
def test_any_split_gives_the_same_bits(arch, block, count, x16):
    model = MODELS[arch]()
    xs = x16[:count, :300].astype(np.float32)
    whole = Stream(model, voices=count).process(xs)
    stream = Stream(model, voices=count, max_block=64)
    got = np.concatenate([stream.process(xs[:, a : a + block]) for a in range(0, 300, block)], axis=1)
    np.testing.assert_array_equal(got, whole)
    np.testing.assert_array_equal(stream.t, np.full(count, 300))


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_voices_of_seven_outputs_equal_the_numpy_twin_and_their_own_input_alone(dtype, tol, x):
    """Four outputs or more run through the 4 x 4 passes (voice counts that are not multiples of
    16): seven outputs are a pass of four rows, one of two and one of one."""
    model = ClockworkRNN(2, 7, module_sizes=[3, 5, 2, 4], periods=[1, 2, 5, 16], input_windows=[2, 1, 5, 3],
                         seed=11, dtype=dtype)
    xs = x.astype(dtype)
    got = Stream(model, voices=V).process(xs)
    dense = model.to_dense()
    for v in range(V):
        np.testing.assert_allclose(got[v], naive.forward(dense, xs[v].astype(np.float64))[1], rtol=0, atol=tol)
    np.testing.assert_array_equal(Stream(model, voices=1).process(xs[4:5])[0], got[4])


@pytest.mark.parametrize("count", SMALL_COUNTS)
def test_voices_of_the_default_model_equal_separate_streams(count):
    """Voices of the bundled model (a mixture head, with a level, a linear prediction, a pitch
    predictor, a surprise-following scale, and input windows of 320 inputs), each at its own
    loudness, equal one-voice streams, in blocks that end inside the window pass's chunks and across
    them; so do their states, the last voice restarted half-way."""
    model = cwfast.load(Path(cwfast.__file__).parent / "models" / "default.npz")
    gains = np.array([0.3, 0.05, 0.6, 0.01, 0.2])[:count, None, None]
    xs = (gains * np.random.default_rng(442).normal(size=(count, 1400, 1))).astype(np.float32)
    stream = Stream(model, voices=count, max_block=512)
    singles = [Stream(model, max_block=512) for _ in range(count)]
    got, want = [], []
    for a in range(0, 1400, 350):
        if a == 700:
            stream.reset(voice=count - 1)
            singles[-1].reset()
        got.append(stream.process(xs[:, a : a + 350]))
        want.append(np.stack([s.process(xs[v, a : a + 350]) for v, s in enumerate(singles)]))
    np.testing.assert_allclose(np.concatenate(got, axis=1), np.concatenate(want, axis=1), rtol=0, atol=2e-5)
    np.testing.assert_allclose(stream.state.h, np.stack([s.state.h for s in singles]), rtol=0, atol=2e-5)
    np.testing.assert_allclose(stream.state.surprise, np.stack([s.state.surprise for s in singles]), rtol=0,
                               atol=2e-5)
    np.testing.assert_array_equal(stream.t, [s.t for s in singles])


def test_random_splits_with_out_buffers(x, rng):
    model = MODELS["clockwork"](dtype=np.float64)
    whole = Stream(model, voices=V).process(x)
    stream = Stream(model, voices=V, max_block=64)
    out = np.empty_like(whole)
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, 700), size=30, replace=False)), 700]
    for a, b in zip(cuts[:-1], cuts[1:]):
        got = stream.process(x[:, a:b], out=out[:, a:b])
        assert np.shares_memory(got, out)
    np.testing.assert_array_equal(out, whole)


@pytest.mark.parametrize("arch", ["clockwork", "lstm", "windowed", "long windows"])
def test_a_voice_depends_on_its_own_input_alone(arch, x):
    """Counts that are not multiples of 16 (those, the next test). Voice 1 of six (in the 4 x 4
    passes) equals voice 1 of three (passes with a padding voice) whose other voices hear something
    else; voice 4 of six (the last block's two, one by one) equals the only voice of voices=1, voice
    1 of two whose other voice hears something else, and a one-voice stream: bit for bit."""
    model = MODELS[arch]()
    xs = x.astype(np.float32)
    six = Stream(model, voices=6).process(xs)
    other = np.random.default_rng(1).normal(size=(3, 700, 2)).astype(np.float32)
    other[1] = xs[1]
    np.testing.assert_array_equal(six[1], Stream(model, voices=3).process(other)[1])
    other[:2] = xs[5], xs[4]
    np.testing.assert_array_equal(six[4], Stream(model, voices=2).process(other[:2])[1])
    np.testing.assert_array_equal(six[4], Stream(model, voices=1).process(xs[4:5])[0])
    np.testing.assert_array_equal(six[4], Stream(model).process(xs[4]))


@pytest.mark.parametrize("arch", ["clockwork", "srn", "lstm", "windowed", "long windows"])
@pytest.mark.parametrize("count", SMALL_COUNTS + (14,))  # 14: the lanes, with two padding voices
def test_small_counts_keep_each_voice_its_own_input_state_clock_and_output(arch, count, x16):
    """Each voice starts from its own state and clock, hears its own input (at its own scale), and
    the last one is restarted half-way: every voice's outputs, state and clock are those of a
    one-voice stream given the same, so a voice that read another's input, state, clock or wrote
    another's output fails. The voices run one by one are those streams' bits."""
    model = MODELS[arch](dtype=np.float64)
    rng = np.random.default_rng(count)
    xs = x16[:count, :400] * np.linspace(2.0, 0.25, count)[:, None, None]
    width = model.check_state(None, 1, False)[0].shape[1]
    h0 = rng.uniform(-0.5, 0.5, size=(count, width))
    t0 = np.arange(count) * 7 % 13
    stream = Stream(model, voices=count, state=State(h0, t0), max_block=64)
    singles = [Stream(model, state=State(h0[v], int(t0[v])), max_block=64) for v in range(count)]
    got, want = [], []
    for a, b in [(0, 50), (50, 200), (200, 201), (201, 400)]:  # a block longer than max_block too
        if a == 200:
            stream.reset(voice=count - 1)
            singles[-1].reset()
        got.append(stream.process(xs[:, a:b]))
        want.append(np.stack([s.process(xs[v, a:b]) for v, s in enumerate(singles)]))
    got, want = np.concatenate(got, axis=1), np.concatenate(want, axis=1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(stream.t, [s.t for s in singles])
    np.testing.assert_allclose(stream.state.h, np.stack([s.state.h for s in singles]), rtol=0, atol=1e-12)
    alone = range(count - count % 4, count) if count in (1, 2, 5) else ()
    for v in alone:
        np.testing.assert_array_equal(got[v], want[v])
        np.testing.assert_array_equal(stream.state.h[v], singles[v].state.h)


@pytest.mark.parametrize("arch", ["clockwork", "lstm", "windowed", "long windows"])
def test_a_voice_gives_the_same_bits_in_a_lane_block_of_any_width(arch, x):
    """32 voices run as two lane blocks of 16 (cwfast/_voice_kernels.py): one input at voices 3 and
    20 (one in each) gives the bits of voice 0 of a 16-voice stream whose other voices hear
    something else, in both. (An LSTM's voices have no lanes: the same check.)"""
    model = MODELS[arch]()
    xs = x[:, :300].astype(np.float32)
    many = np.random.default_rng(2).normal(size=(32, 300, 2)).astype(np.float32)
    many[[3, 20]] = xs[4]
    got = Stream(model, voices=32).process(many)
    sixteen = np.random.default_rng(3).normal(size=(16, 300, 2)).astype(np.float32)
    sixteen[0] = xs[4]
    one = Stream(model, voices=16).process(sixteen)
    for v in (3, 20):
        np.testing.assert_array_equal(got[v], one[0])


def test_the_lane_passes_compile_with_the_slp_vectoriser_and_leave_numba_as_it_was(monkeypatch):
    """The lane passes are written for LLVM's SLP vectoriser, which numba leaves off: with this
    numba, cwfast._jit's pipeline turns it on for them, and puts numba's option back after. (The
    lane passes load from numba's cache once compiled, and a load runs no pipeline: a function of
    the test's own, never cached, is lowered through the pipeline here, so that both can fail.)"""
    import numba
    from numba.core.typed_passes import NativeLowering

    from cwfast import _jit, _voice_kernels

    assert _jit.SLP_PIPELINE is not None
    for name in ("_rows_lanes16", "_output_lanes16", "_inputs_lanes16"):
        assert getattr(_voice_kernels, name)._compiler.pipeline_class is _jit.SLP_PIPELINE
    Stream(MODELS["clockwork"](), voices=16).process(np.zeros((16, 5, 2), np.float32))
    default = int(os.environ.get("NUMBA_SLP_VECTORIZE", "0"))
    assert numba.core.config.SLP_VECTORIZE == default
    seen = []  # the option as numba's own lowering (which runs LLVM's passes) finds it
    lower = NativeLowering.run_pass
    monkeypatch.setattr(NativeLowering, "run_pass",
                        lambda self, state: seen.append(numba.core.config.SLP_VECTORIZE) or lower(self, state))
    probe = numba.njit(pipeline_class=_jit.SLP_PIPELINE)(lambda a: a * 2.0 + 1.0)
    assert probe(1.5) == 4.0
    assert seen == [1]  # on while it was lowered...
    assert numba.core.config.SLP_VECTORIZE == default  # ...and put back after


@pytest.mark.parametrize("arch", ["clockwork", "lstm", "windowed"])
def test_reset_one_voice_restarts_it_and_leaves_the_others_alone(arch, x):
    """Voice 2 restarted at step 250 of 700: from then on it is a fresh stream (its own clock at
    0, out of phase with the others: the Clockwork kernel's masked path), and the others are
    unchanged."""
    model = MODELS[arch](dtype=np.float64)
    whole = Stream(model, voices=V).process(x)
    stream = Stream(model, voices=V, max_block=64)
    first = stream.process(x[:, :250])
    stream.reset(voice=2)
    np.testing.assert_array_equal(stream.t, [250, 250, 0, 250, 250, 250])
    assert not stream.state.h[2].any()
    rest = stream.process(x[:, 250:])
    others = [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1)[others], whole[others])
    np.testing.assert_allclose(rest[2], Stream(model).process(x[2, 250:]), rtol=0, atol=1e-12)
    stream.reset()
    np.testing.assert_array_equal(stream.t, np.zeros(V))
    np.testing.assert_array_equal(stream.process(x), whole)


@pytest.mark.parametrize("arch", ["wide modules", "equal periods"])
def test_reset_one_of_sixteen_voices_keeps_the_products_of_the_others(arch, x16):
    """The lane kernel keeps each module's products with the other modules' states between steps;
    voice 5 restarted at step 97 puts the voices out of phase (every module computed for all of
    them, committed for some), and each voice must still equal a stream of its own."""
    model = MODELS[arch](dtype=np.float64)
    whole = Stream(model, voices=16).process(x16)
    stream = Stream(model, voices=16, max_block=40)
    first = stream.process(x16[:, :97])
    stream.reset(voice=5)
    rest = stream.process(x16[:, 97:])
    others = [v for v in range(16) if v != 5]
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1)[others], whole[others])
    np.testing.assert_allclose(rest[5], Stream(model).process(x16[5, 97:]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rest[others], separate(model, x16[others])[:, 97:], rtol=0, atol=1e-12)


def test_softmax_voices(x):
    model = ClockworkRNN(2, 5, n_hidden=9, n_modules=3, output="softmax", seed=2, dtype=np.float64)
    got = Stream(model, voices=V, max_block=50).process(x)
    np.testing.assert_allclose(got, separate(model, x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=2), 1, rtol=0, atol=1e-12)


def test_voices_of_a_model_that_reads_nothing():
    """A memorize model (no input) in voices: each voice plays what one stream plays (the inputs
    of shape (V, n, 0) reached an indexing of input 0 before)."""
    model = ClockworkRNN(0, 1, n_hidden=9, n_modules=3, seed=2, dtype=np.float64)
    got = Stream(model, voices=V, max_block=50).process(np.zeros((V, 120, 0)))
    one = Stream(model).process(np.zeros((120, 0)))
    np.testing.assert_allclose(got, np.broadcast_to(one, got.shape), rtol=0, atol=1e-12)
    assert np.abs(one).max() > 0


@pytest.mark.parametrize("arch", ["clockwork", "windowed"])
def test_voices_start_from_a_state_and_pickle(arch, x):
    model = MODELS[arch](dtype=np.float64)
    width = model.n_hidden + (model.max_window - 1) * model.n_in  # with windows: then the last inputs
    h0 = np.random.default_rng(3).uniform(-0.5, 0.5, size=(V, width))
    stream = Stream(model, voices=V, state=State(h0, 7), max_block=32)
    np.testing.assert_array_equal(stream.t, np.full(V, 7))
    got = stream.process(x[:, :100])
    for v in (0, 5):
        np.testing.assert_allclose(got[v], model.forward(x[v, :100], state=State(h0[v], 7)), rtol=0, atol=1e-12)
    stream.reset(voice=1)
    copy = pickle.loads(pickle.dumps(stream))
    assert copy.voices == V and copy.max_block == 32
    np.testing.assert_array_equal(copy.t, stream.t)
    np.testing.assert_array_equal(copy.state.h, stream.state.h)
    np.testing.assert_array_equal(copy.process(x[:, 100:]), stream.process(x[:, 100:]))


def test_a_voices_stream_whose_model_changed_unpickles_to_a_parameter_error():
    """The voices' states were put back without a check: a raw ValueError from NumPy's
    broadcasting when the model's state had grown (here by a linear prediction's inputs)."""
    model = ClockworkRNN(1, 30, n_hidden=8, n_modules=2, seed=0, output="mixture")
    stream = Stream(model, voices=2, max_block=32)
    stream.process(np.zeros((2, 10, 1), np.float32))
    model.prediction = 8
    with pytest.raises(ParameterError, match=r"state.h has shape \(2, 8\); expected \(2, 15\)"):
        pickle.loads(pickle.dumps(stream))


def test_bad_voice_arguments_are_refused(x):
    model = MODELS["clockwork"]()
    with pytest.raises(ParameterError, match="voices=0 must be a positive integer"):
        Stream(model, voices=0)
    with pytest.raises(ParameterError, match="resample"):
        Stream(ClockworkRNN(1, 1, n_hidden=4, n_modules=2, sample_rate=8000, seed=0), sample_rate=16000,
               resample=True, voices=2)
    stream = Stream(model, voices=V)
    with pytest.raises(ParameterError, match=r"a stream of 6 voices takes \(6, n_steps, 2\)"):
        stream.process(x[0])
    with pytest.raises(ParameterError, match="out must be"):
        stream.process(x[:, :5], out=np.empty((V, 5, 3), dtype=np.float64))  # the model is float32
    with pytest.raises(ParameterError, match=r"voice=6 must be an integer in \[0, 6\)"):
        stream.reset(voice=6)
    with pytest.raises(ParameterError, match="has no voices"):
        Stream(model).reset(voice=0)
    bad = x[:, :200].copy()
    bad[3, 150, 1] = 1e39  # float32 overflow in a later piece
    stream = Stream(model, voices=V, max_block=64)
    stream.process(x[:, :5])
    with pytest.raises(ParameterError, match="too large"):
        stream.process(bad)
    np.testing.assert_array_equal(stream.t, np.full(V, 5))


VOICES_SCRIPT = KERNELS_LOADED + """
import tracemalloc
import numpy as np
from numba.core import event
from numba.core.runtime import rtsys
import sys
from cwfast import LSTM, ClockworkRNN, Stream

if sys.argv[1] == "lstm":
    model = LSTM(1, 3, n_hidden=12, output="softmax", seed=0)
else:
    windows = "period" if sys.argv[1] == "windowed" else None
    model = ClockworkRNN(1, 3, n_hidden=24, n_modules=4, output="softmax", input_windows=windows, seed=0)
stream = Stream(model, voices=5, max_block=64)
out = np.empty((5, 200, 3), dtype=np.float32)
wide = np.random.default_rng(0).normal(size=(5, 200, 2))   # float64, not contiguous in column 0
blocks = [wide[:, :64, :1], wide[:, 64:65, :1], wide[:, 65:200, :1]]
stream.process(blocks[0], out=out[:, :64])
loaded = kernels_loaded()
before = rtsys.get_allocation_stats()
tracemalloc.start()
snap0 = tracemalloc.take_snapshot()
with event.install_recorder("numba:compile") as compiles:
    for _ in range(3):
        a = 0
        for block in blocks:
            stream.process(block, out=out[:, a : a + block.shape[1]])
            a += block.shape[1]
snap1 = tracemalloc.take_snapshot()
after = rtsys.get_allocation_stats()
numpy_only = [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]
grown = sum(s.size_diff for s in snap1.filter_traces(numpy_only).compare_to(snap0.filter_traces(numpy_only), "lineno"))
print(after.alloc - before.alloc, after.mi_alloc - before.mi_alloc, grown,
      len(compiles.buffer) + kernels_loaded() - loaded)
"""


@pytest.mark.parametrize("arch", ["clockwork", "lstm", "windowed"])
def test_voices_with_out_allocate_nothing_and_compile_nothing(arch):
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", VOICES_SCRIPT, arch], env=env, cwd=root, capture_output=True,
                         text=True, check=True)
    assert tuple(map(int, run.stdout.split())) == (0, 0, 0, 0)


@pytest.mark.parametrize("kind", ["clockwork_voices", "clockwork_lanes", "lstm_voices"])
def test_the_voices_entries_close_over_the_kernel_files_hash(kind):
    from cwfast import _realtime

    pyfunc = _realtime.entry(kind, np.float32)[0]._pyfunc
    closure = dict(zip(pyfunc.__code__.co_freevars, (cell.cell_contents for cell in pyfunc.__closure__)))
    assert closure["stamp"] == _realtime._STAMP != 0


def test_a_voices_state_builds_a_stream_that_goes_on_as_it_would():
    """stream.state (one clock a voice) is a state= a new stream takes, voices reset apart
    included; a clock array of the wrong length is refused in one ParameterError."""
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 100, 1)).astype(np.float32)
    first = Stream(model, voices=3)
    first.process(x)
    first.reset(voice=1)
    second = Stream(model, voices=3, state=first.state)
    np.testing.assert_array_equal(second.t, [100, 0, 100])
    np.testing.assert_array_equal(second.process(x), first.process(x))
    with pytest.raises(ParameterError, match=r"one for each of the 3 \(shape \(3,\)\); got \[1, 2\]"):
        Stream(model, voices=3, state=State(first.state.h, np.array([1, 2]), None))


@pytest.mark.parametrize("t", [np.array([2**63 - 2] * 3), np.array([2**64 - 1] * 3, np.uint64),
                               np.array([0, 2**62 + 1, 0])])
def test_per_voice_clocks_past_2_62_are_refused(t):
    """One clock a voice is bounded as one clock for all is (2**62): past it the int64 clocks
    wrap (2**64 - 1 as uint64 became -1; 2**63 - 2 went negative a few steps on)."""
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, metadata={"mode": "effect"})
    with pytest.raises(ParameterError, match=r"state.t must be one integer in \[0, 4611686018427387904\]"):
        Stream(model, voices=3, state=State(np.zeros((3, 8)), t))
    stream = Stream(model, voices=3, state=State(np.zeros((3, 8)), np.array([2**62] * 3, np.uint64)))
    stream.process(np.zeros((3, 4, 1)))
    np.testing.assert_array_equal(stream.t, [2**62 + 4] * 3)
    saved = stream.__getstate__()  # a pickled stream whose clocks were tampered with
    saved["state"] = State(saved["state"].h, t)
    with pytest.raises(ParameterError, match="state.t must be one integer"):
        Stream.__new__(Stream).__setstate__(saved)


@pytest.mark.parametrize("arch", ["windowed", "long windows"])
@pytest.mark.parametrize("count", [2, 5])
def test_voices_alone_with_windows_prepare_for_blocks_of_one_step(arch, count, x):
    """prepare() checks the entry against the kernel called from Python, whose input (history and
    block) np.concatenate put in another order than C for a block of one step: the kernel compiled
    for it ran the voices alone to other bits, and Stream(..., max_block=1) raised a CwfastError
    blaming a stale cache. Each voice alone gives a one-voice stream's bits, a step at a time."""
    model = MODELS[arch]()
    xs = x[:count, :40].astype(np.float32)
    stream = Stream(model, voices=count, max_block=1)
    got = np.concatenate([stream.process(xs[:, a : a + 1]) for a in range(40)], axis=1)
    np.testing.assert_array_equal(got[count - 1], Stream(model, max_block=1).process(xs[count - 1]))


@pytest.mark.parametrize("count", [2, 5])
def test_lstm_voices_alone_give_a_one_voice_streams_bits_with_many_inputs(count):
    """The LSTM's voices alone ran _forward_seq over their column x[:, v], strided: compiled for
    it, the input weights' sums (33 inputs) rounded otherwise than a one-voice stream's."""
    model = LSTM(33, 3, n_hidden=9, seed=4)
    xs = np.random.default_rng(5).normal(size=(count, 60, 33)).astype(np.float32)
    got = Stream(model, voices=count).process(xs)
    for v in range(count - count % 4, count):
        np.testing.assert_array_equal(got[v], Stream(model).process(xs[v]))


@pytest.mark.parametrize("arch", ["clockwork", "lstm"])
def test_reset_one_voice_restarts_its_prediction_and_pitch_predictor_too(arch):
    """reset(voice=v) on an autoregressive mixture model with every stage (input windows, a level,
    a linear prediction, a surprise-following scale, a pitch predictor, whose searches follow the
    voice's clock): voice v goes on as forward from a zero state over what it reads after the
    reset, the others as forward over their whole input."""
    rng = np.random.default_rng(1)
    model = every_stage_model(arch, rng)
    # Pitched (periods of 17 to 25 steps, within the predictor's lags), so that it finds a pitch.
    steps = np.arange(400)[None, :, None]
    x = (0.2 * np.sin(2 * np.pi * steps / rng.uniform(17, 25, size=(5, 1, 1)))
         + rng.uniform(-0.01, 0.01, size=(5, 400, 1))).astype(np.float32)
    stream = Stream(model, voices=5, max_block=32)
    stream.process(x[:, :123])  # (123: the next search of the pitch predictor is off the reset voice's)
    assert stream.state.h[2, -3] > 0  # its estimate: a lag (then the gain and the level)
    stream.reset(voice=2)
    fresh = Stream(model, voices=5).state
    np.testing.assert_array_equal(stream.state.h[2], fresh.h[2])  # the pitch estimate too, which the
    np.testing.assert_array_equal(stream.state.surprise[2], fresh.surprise[2])  # next search would replace
    got = stream.process(x[:, 123:])
    np.testing.assert_array_equal(stream.t, [400, 400, 277, 400, 400])
    np.testing.assert_allclose(got[2], model.forward(x[2, 123:]), rtol=0, atol=1e-6)
    for v in (0, 1, 3, 4):
        np.testing.assert_allclose(got[v], model.forward(x[v])[123:], rtol=0, atol=1e-6)
