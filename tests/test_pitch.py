"""The pitch predictor (cwfast.model.Pitch): its kernel against a slow twin that searches every lag
directly, the means it moves, gradients against finite differences, state continuity, sampling
against forward, files, and the places that refuse it (Stream, the C export, the evolution strategy)."""

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.testing import assert_allclose, assert_array_equal

import cwfast
from cwfast import State, _pitch_kernels, lpc, tasks
from cwfast.audio import load_audio
from cwfast.codec import mu_law_encode, mu_law_values
from cwfast.errors import ParameterError
from cwfast._pitch_kernels import TIE_MARGIN
from cwfast.model import Pitch
from cwfast.train import evolve
from cwfast.train_audio import train_audio
from test_cli import assert_user_error, run
from test_level import make as levelled_model
from test_level import numeric_gradient
from test_prediction import normalised

VALUES = mu_law_values()
COEFFICIENTS = np.array([0.05, -0.1, -0.3, 0.9])  # oldest first: 0.9 weighs the input before
PERIOD = 11


def pitch(reference=math.inf, gate=0.3):
    """A pitch predictor small enough for short sequences: lags 3 to 20, a window of 24, every 8 steps."""
    return Pitch.checked(COEFFICIENTS, 3, 20, 24, 8, gate, reference)


def make(kind, dtype=np.float64, level=True, taps=(0.5, -0.2), reference=math.inf, gain=0.7):
    """test_level's small models (kind "cw-plain": a Clockwork RNN without input windows), with the
    taps, a pitch predictor and its gain (and without the level unless ``level``)."""
    if kind == "cw-plain":
        model = cwfast.ClockworkRNN(1, 9, n_hidden=8, n_modules=2, dtype=dtype, seed=1, output="mixture")
        model.level = levelled_model("cw", dtype).level
    else:
        model = levelled_model(kind, dtype)
    if not level:
        model.level = None
    model.prediction = len(taps)
    model.taps[:] = taps
    model.pitch = pitch(reference)
    model.params[-1] = gain
    return model


def pitched_inputs(rng, batch, n_steps, fade=1.0):
    """Decoded mu-law inputs of a tone of period PERIOD with a little noise (fading ``fade``-fold),
    and the labels of the samples after them."""
    t = np.arange(n_steps + 1)
    tone = 0.5 * np.sin(2 * np.pi * t / PERIOD) + 0.3 * np.sin(4 * np.pi * t / PERIOD + 1)
    clips = (tone + 0.05 * rng.standard_normal((batch, n_steps + 1))) * np.geomspace(1.0, 1.0 / fade, n_steps + 1)
    labels = mu_law_encode(np.clip(clips, -1, 1))
    x = np.zeros((batch, n_steps, 1))
    x[:, 1:, 0] = VALUES[labels[:, : n_steps - 1]]
    return x, labels[:, 1:]


def naive_terms(window, t0, p, n_steps, est=(0.0, 0.0)):
    """The pitch term of each of the last ``n_steps`` inputs of ``window`` (the inputs kept before
    step t0, then those read), by the definition: every lag's correlation summed directly."""
    a, n = p.coefficients, p.coefficients.size
    kept = window.size - n_steps

    def e(j):
        return window[j] - a @ window[j - n : j]

    lag, beta = est
    out = np.zeros(n_steps)
    for t in range(n_steps):
        last = kept + t
        if (t0 + t) % p.hop == 0:
            span = np.array([e(j) for j in range(last - p.window - p.hi + 1, last + 1)])
            now, tiny = span[p.hi :], 1e-12 * span @ span
            best, lag, beta = -1.0, 0, 0.0
            for cand in range(p.lo, p.hi + 1):
                then = span[p.hi - cand : span.size - cand]
                num, den = now @ then, then @ then
                # a longer lag only if higher by more than the margin: the shorter one wins a tie
                if den > tiny and now @ now > tiny and num / math.sqrt(den * (now @ now)) > best + TIE_MARGIN:
                    best, lag, beta = num / math.sqrt(den * (now @ now)), cand, num / den
            if best < p.gate:
                lag, beta = 0, 0.0
            beta = min(max(beta, 0.0), 1.0)
        if lag:
            r = math.sqrt(np.mean(window[last - p.window + 1 : last + 1] ** 2))
            out[t] = beta * e(last + 1 - lag) * min(1.0, p.reference / r if r > 0 else 1.0)
    return out, (lag, beta)


@pytest.mark.parametrize("reference", [math.inf, 0.2])
@pytest.mark.parametrize("t0", [0, 5, 16])
def test_the_kernel_finds_what_a_direct_search_finds(reference, t0, rng):
    p = pitch(reference)
    x, _ = pitched_inputs(rng, 3, 200 + p.history)
    x[2, :, 0] = rng.standard_normal(x.shape[1]) * 0.3  # noise: few lags pass the gate
    window = x[:, :, 0]
    n_steps = window.shape[1] - p.history
    est = np.zeros((3, 2))
    out = np.empty((3, n_steps))
    cfg = np.array([p.lo, p.hi, p.window, p.hop, p.gate, p.reference, 1.0])
    _pitch_kernels._pitch_terms(window, t0, p.coefficients, cfg, est, out)
    for b in range(3):
        want, last = naive_terms(window[b], t0, p, n_steps)
        assert_allclose(out[b], want, rtol=1e-9, atol=1e-12)
        assert tuple(est[b]) == pytest.approx(last, rel=1e-9)
    # a tone has a pitch: at its period (or a multiple) with most of its residual
    assert np.count_nonzero(out[0]) > 0.9 * n_steps
    assert est[0, 0] in (PERIOD, 2 * PERIOD) and est[0, 1] > 0.5
    if reference < math.inf:  # the bound is on: the loud tone's term is scaled down
        unbounded = naive_terms(window[0], t0, pitch(), n_steps)[0]
        assert np.all(np.abs(out[0]) <= np.abs(unbounded) + 1e-12)
        assert np.abs(out[0]).sum() < 0.8 * np.abs(unbounded).sum()


@pytest.mark.parametrize("gap, chosen", [(0.0, 10), (TIE_MARGIN / 100, 10), (TIE_MARGIN / 2, 10),
                                         (2 * TIE_MARGIN, 20), (1e-3, 20)])
def test_the_search_takes_the_shorter_lag_unless_a_longer_one_is_better_by_the_margin(gap, chosen):
    """Periodic input correlates equally at a period and its multiples but for rounding, which the
    exported C's sums (in 16 lanes) round otherwise than numba's: the search takes the longer of
    two lags only if its correlation is higher by more than TIE_MARGIN. Residuals (no short-term
    prediction: a = [0]) whose last 8 repeat exactly 20 steps before (correlation 1 at lag 20) and,
    off by a perturbation orthogonal to them that costs ``gap`` of correlation, 10 steps before."""
    lo, hi, win = 10, 20, 8
    v = np.array([3.0, -1, 4, 1, -5, 9, -2, 6])
    u = np.array([1.0, 3, 0, 0, 0, 0, 0, 0])  # u @ v = 0
    # |v| / |v + d u| = 1 - gap
    d = math.sqrt(1 / (1 - gap) ** 2 - 1) * math.sqrt((v @ v) / (u @ u))
    e = np.zeros(win + hi)
    e[hi:] = v  # now
    e[hi - 20 : hi - 20 + win] = v
    e[hi - 10 : hi - 10 + win] = v + d * u
    e[8:10] = e[18:20] = [0.5, -0.5]
    window = np.concatenate([[0.0], e])  # e(j) = window[j] - 0 * window[j - 1]
    correlations = {lag: (v @ e[hi - lag : hi - lag + win]) / math.sqrt((v @ v) * (e[hi - lag : hi - lag + win] @
                                                                                    e[hi - lag : hi - lag + win]))
                    for lag in range(lo, hi + 1)}
    assert correlations[20] == 1.0 and correlations[10] == pytest.approx(1 - gap, abs=1e-12)
    assert max(c for lag, c in correlations.items() if lag not in (10, 20)) < 0.9
    cfg = np.array([lo, hi, win, 1, 0.3, math.inf, 1.0])
    est = np.zeros(2)
    _pitch_kernels._search(window, window.size - 1, np.zeros(1), cfg, np.empty(win + hi), est)
    assert est[0] == chosen
    assert est[1] == pytest.approx(1.0 if chosen == 20 else (v @ (v + d * u)) / ((v + d * u) @ (v + d * u)))
    _, (lag, _) = naive_terms(window, 0, Pitch.checked([0.0], lo, hi, win, 1), 1)
    assert lag == chosen  # the twin takes the same rule


def test_a_gate_of_one_takes_nothing_and_silence_has_no_pitch(rng):
    p = pitch(gate=1.0)
    cfg = np.array([p.lo, p.hi, p.window, p.hop, p.gate, p.reference, 1.0])
    x, _ = pitched_inputs(rng, 1, 100 + p.history)
    for window in (x[:, :, 0], np.zeros((1, 100 + p.history))):
        out, est = np.ones((1, 100)), np.ones((1, 2))
        _pitch_kernels._pitch_terms(window, 0, p.coefficients, cfg, est, out)
        assert not out.any() and not est.any()


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
@pytest.mark.parametrize("level", [False, True])
def test_means_get_the_gain_times_the_pitch_term_of_the_inputs_read(kind, level, rng):
    model = make(kind, level=level)
    x, _ = pitched_inputs(rng, 1, 150, fade=10.0)
    y, state = model.forward(x[0], raw=True, return_state=True)
    plain = model.copy()
    plain.pitch = None
    plain.taps[:] = model.taps
    want = plain.forward(x[0], raw=True)
    xn, gains = normalised(model, x[0])
    p = model.pitch
    terms, est = naive_terms(np.concatenate([np.zeros(p.history), xn]), 0, p, 150)
    assert np.count_nonzero(terms) > 100
    k = y.shape[1] // 3
    want[:, k : 2 * k] += (0.7 * terms * gains)[:, None]
    assert_allclose(y, want, rtol=1e-10, atol=1e-12)
    # the state: the network's, the inputs the search reads back, the estimate, then the level
    h = state.h
    width = plain.forward(x[0], return_state=True)[1].h.size - level - (len(model.taps) - 1)
    assert h.size == width + p.history + 2 + level
    assert_allclose(h[width : width + p.history], xn[-p.history :], rtol=1e-15)
    assert tuple(h[width + p.history : width + p.history + 2]) == pytest.approx(est, rel=1e-12)


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_gradient_matches_finite_differences(kind, rng):
    model = make(kind)
    x, labels = pitched_inputs(rng, 2, 40)
    state = State(np.tile(model.forward(x[0, :13], return_state=True)[1].h, (2, 1)), 13)
    loss, grad = model.loss_and_grad(x, labels, flat=True, state=state)
    assert loss == pytest.approx(model.loss(x, labels, state=state), rel=1e-12)
    assert_allclose(grad, numeric_gradient(model, x, labels, state), rtol=1e-5, atol=1e-7)
    assert abs(grad[-1]) > 1e-4  # the gain's gradient is not trivially zero
    dense = model.loss_and_grad(x, labels, state=state)[1]
    assert_array_equal(dense["pitch_gain"], grad[-1:])
    assert_array_equal(dense["taps"], grad[-3:-1])


@pytest.mark.parametrize("kind", ["cw", "lstm"])
@pytest.mark.parametrize("steps", ["last", "mean"])
def test_gradient_of_a_classification_readout_matches_finite_differences(kind, steps, rng):
    """The level, the taps and the pitch term under the readouts that score one label per sequence
    (the tests above score every step): the mean readout averages the scored outputs, the taps'
    and the pitch term included, in the input's units."""
    model = make(kind)
    x, labels = pitched_inputs(rng, 2, 40)
    state = State(np.tile(model.forward(x[0, :13], return_state=True)[1].h, (2, 1)), 13)
    target = labels[:, -1]
    loss, grad = model.loss_and_grad(x, target, flat=True, state=state, steps=steps)
    assert loss == pytest.approx(model.loss(x, target, state=state, steps=steps), rel=1e-12)
    numeric = numeric_gradient(model, x, target, state, steps=steps)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    assert abs(grad[-1]) > 1e-5 and np.all(np.abs(grad[-3:-1]) > 1e-5)  # the gain's and the taps' are not zero


@pytest.mark.parametrize("kind", ["cw", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sequence_split_anywhere_gives_the_same_bits(kind, dtype, rng):
    model = make(kind, dtype=dtype)
    x, labels = pitched_inputs(rng, 1, 300, fade=20.0)
    x = x[0].astype(dtype)
    whole, state = model.forward(x, raw=True, return_state=True)
    for cut in (1, 13, 16, 150):  # inside the history, mid-hop, on a hop
        first, mid = model.forward(x[:cut], raw=True, return_state=True)
        rest, end = model.forward(x[cut:], raw=True, state=mid, return_state=True)
        assert_array_equal(np.concatenate([first, rest]), whole)
        assert_array_equal(end.h, state.h)
    assert_array_equal(model.advance(x).h, state.h)
    assert model.loss(x, labels[0]) == pytest.approx(model.loss_and_grad(x, labels[0])[0], rel=1e-6)


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_sampling_reads_what_forward_reads(kind):
    """Sampling's state is forward's over the values it fed back, and at temperature 0 each output
    is the likeliest component's mean, the pitch term included."""
    model = make(kind, reference=0.5, gain=0.9)
    a, mid = model.sample(100, values=VALUES, temperature=0.7, seed=5, first_input=0.2, return_state=True)
    b, end = model.sample(70, values=VALUES, seed=6, first_input=a[-1], state=mid, return_state=True)
    fed = np.concatenate([[0.2], a, b[:-1]])
    fed = np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)
    assert_array_equal(end.h, model.forward(fed[:, None], return_state=True)[1].h)
    prime = pitched_inputs(np.random.default_rng(0), 1, 80)[0][0]
    _, primed = model.forward(prime, return_state=True)
    greedy = model.sample(60, values=VALUES, temperature=0.0, first_input=prime[-1, 0], state=primed)
    fed = np.concatenate([[prime[-1, 0]], greedy[:-1]])
    y = model.forward(np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)[:, None], raw=True, state=primed)
    k = y.shape[1] // 3
    assert_allclose(greedy, np.clip(y[np.arange(60), k + y[:, :k].argmax(axis=1)], -1, 1), rtol=1e-12)
    # and the term is there: without it the greedy walk differs
    model.params[-1] = 0.0
    assert not np.array_equal(greedy, model.sample(60, values=VALUES, temperature=0.0, first_input=prime[-1, 0],
                                                   state=primed))


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_files_and_copies_keep_the_pitch_predictor(kind, tmp_path, rng):
    model = make(kind, dtype=np.float32, reference=0.25)
    model.save(tmp_path / "m.npz")
    x, _ = pitched_inputs(rng, 1, 90)
    for twin in (cwfast.load(tmp_path / "m.npz"), model.copy()):
        assert twin.pitch_gain == model.pitch_gain
        assert_array_equal(twin.pitch.as_array(), model.pitch.as_array())
        assert_array_equal(twin.taps, model.taps)
        assert_array_equal(twin.forward(x[0]), model.forward(x[0]))
    with np.load(tmp_path / "m.npz") as archive:  # a reader of format 3 would drop it
        assert json.loads(str(archive["header"]))["version"] == 4


def test_setting_the_pitch_or_the_taps_keeps_the_other(rng):
    model = make("cw")
    network = model.params[: -3].copy()
    model.prediction = 5
    assert model.pitch_gain == 0.7 and not model.taps.any()
    model.taps[:] = 0.1
    model.pitch = pitch(reference=0.1)  # another predictor: the gain stays
    assert model.pitch_gain == 0.7
    model.pitch = None
    assert model.n_params == network.size + 5 and np.all(model.taps == 0.1)
    model.pitch = pitch()
    assert model.pitch_gain == 0.0 and np.all(model.taps == 0.1)
    assert_array_equal(model.params[: network.size], network)


@pytest.mark.parametrize("args, phrase", [
    ((COEFFICIENTS, 0, 20, 24, 8), "pitch lo"),
    ((COEFFICIENTS, 21, 20, 24, 8), "lo=21 must be at most hi=20"),
    ((COEFFICIENTS, 3, 20, 24, 0), "pitch hop"),
    ((COEFFICIENTS, 3, 20, 0, 8), "pitch window"),
    ((np.zeros((2, 2)), 3, 20, 24, 8), "coefficients have shape"),
    (([np.nan], 3, 20, 24, 8), "pitch coefficients"),
    ((COEFFICIENTS, 3, 20, 24, 8, 1.5), "gate=1.5"),
    ((COEFFICIENTS, 3, 20, 24, 8, 0.3, 0.0), "reference=0.0"),
    ((COEFFICIENTS, 3, 20, 24, 8, 0.3, math.nan), "pitch reference"),
])
def test_a_bad_pitch_predictor_is_refused(args, phrase):
    with pytest.raises(ParameterError, match=phrase):
        Pitch.checked(*args)


def test_only_autoregressive_mixture_models_take_one_and_a_refusal_changes_nothing():
    softmax = cwfast.ClockworkRNN(1, 256, n_hidden=8, n_modules=2, output="softmax", seed=0)
    with pytest.raises(ParameterError, match="mixture model with n_in=1"):
        softmax.pitch = pitch()
    model = make("cw")
    before = model.params.copy()
    with pytest.raises(ParameterError, match="cwfast.model.Pitch"):
        model.pitch = (COEFFICIENTS, 3, 20, 24, 8)
    assert_array_equal(model.params, before)
    with pytest.raises(ParameterError, match="pitch and pitch_gain"):
        type(model).from_dense({k: v for k, v in model.to_dense().items() if k != "pitch_gain"}, output="mixture")


def test_the_rate_recipe():
    p = Pitch.for_rate(COEFFICIENTS, 16000, reference=0.3)
    assert (p.lo, p.hi, p.window, p.hop, p.gate, p.reference) == (16, 266, 500, 64, 0.3, 0.3)
    assert p.history == 500 + 266 + 3
    with pytest.raises(ParameterError, match="at least 1000 Hz"):
        Pitch.for_rate(COEFFICIENTS, 800)
    assert Pitch.for_rate(COEFFICIENTS, 131103).window == 4096
    with pytest.raises(ParameterError, match=r"at most 131103 Hz \(its 31-ms window would be 6000 samples"):
        Pitch.for_rate(COEFFICIENTS, 192000)


def test_the_evolution_strategy_refuses_it_and_changes_nothing(rng):
    """(The C export runs it: tests/test_export.py compiles it and compares it with Python.)"""
    model = make("cw")
    x, labels = pitched_inputs(rng, 1, 30)
    model.prediction = 0  # (the taps are refused first)
    before = model.params.copy()
    with pytest.raises(ParameterError, match="evolution strategy does not train a pitch"):
        evolve(model, x[0], labels[0], generations=1, population=4, progress=False)
    assert_array_equal(model.params, before)


@pytest.mark.parametrize("kind, voices, blocked", [("cw", None, False), ("cw", 3, False), ("cw-plain", None, True),
                                                   ("lstm", None, False), ("lstm", 3, False)])
@pytest.mark.parametrize("taps", [(0.5, -0.2), ()])
def test_a_stream_gives_what_forward_gives_however_the_audio_is_split(kind, voices, blocked, taps, rng):
    model = make(kind, dtype=np.float32, taps=taps, reference=0.6)
    lanes = voices or 1
    x = np.stack([pitched_inputs(rng, 1, 400, fade=5.0)[0][0] for _ in range(lanes)]).astype(np.float32)
    want = np.stack([model.forward(x[v]) for v in range(lanes)])
    stream = cwfast.Stream(model, voices=voices, blocked=blocked)
    got, start = [], 0
    for n in (1, 2, 60, 64, 100, 173):  # blocks shorter than the hop and the history, and longer
        block = x[:, start : start + n] if voices else x[0, start : start + n]
        got.append(stream.process(block) if voices else stream.process(block)[None])
        start += n
    # One voice runs forward's kernels' arithmetic: the same bits. Voices sum in another order.
    same = assert_array_equal if voices is None and not blocked else partial(assert_allclose, rtol=2e-5, atol=2e-6)
    same(np.concatenate(got, axis=1), want)
    states = stream.state.h if voices else stream.state.h[None]
    for v in range(lanes):
        same(states[v], model.forward(x[v], return_state=True)[1].h)
    model.params[-1] = 0.0  # the stream reads the gain live, as every parameter
    assert_allclose(stream.process(x[:, :50] if voices else x[0, :50]), (
        np.stack([model.forward(x[v, :50], state=State(states[v], 400)) for v in range(lanes)]) if voices else
        model.forward(x[0, :50], state=State(states[0], 400))), rtol=2e-5, atol=2e-6)


def test_a_stream_starts_from_a_state_resets_and_refuses_a_block_changing_nothing(rng):
    model = make("cw", dtype=np.float32, reference=0.6)
    x = pitched_inputs(rng, 1, 200)[0][0].astype(np.float32)
    _, state = model.forward(x[:77], return_state=True)
    stream = cwfast.Stream(model, state=state)
    before = stream.state.h.copy()
    bad = x[77:].copy()
    bad[5] = np.nan
    with pytest.raises(ParameterError):
        stream.process(bad)
    assert_array_equal(stream.state.h, before)
    assert_allclose(stream.process(x[77:]), model.forward(x[77:], state=state), rtol=2e-5, atol=2e-6)
    stream.reset()
    assert_allclose(stream.process(x), model.forward(x), rtol=2e-5, atol=2e-6)
    # Another predictor of the same span (more lags, fewer coefficients: a larger search, the same
    # history): taken, from no estimate (its next search finds its own lag).
    h = stream.state.h.copy()
    h[model._pitch_slice()] = 0
    model.pitch = Pitch.checked([0.4, 0.5], 3, 26, 20, 8, 0.3, 0.1)
    assert model.pitch.history == pitch().history
    assert_allclose(stream.process(x[:40]), model.forward(x[:40], state=State(h, 200)), rtol=2e-5, atol=2e-6)
    # (the search's scratch grew with it: the old one, 44 values for 46 residuals, was written past)
    assert stream._pitch_scratch.size == 46
    model.pitch = Pitch.checked(COEFFICIENTS, 3, 31, 24, 8)  # another history: refused
    with pytest.raises(cwfast.CwfastError, match="pitch predictor changed after this stream was built"):
        stream.process(x[:5])


def test_cli_describes_and_generates_from_a_model_with_one(tmp_path, capsys):
    model = make("cw", dtype=np.float32, reference=0.25)
    model.sample_rate = 8000
    model.save(tmp_path / "m.npz")
    status, out, err = run(capsys, "info", tmp_path / "m.npz")
    assert status == 0, err
    assert "pitch predictor: lags 3 .. 20, searched every 8 steps over 24, gain 0.7, bounded above an RMS of 0.25" in out
    status, out, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "out.wav", "--seconds", "0.1",
                           "--seed", "1")
    assert status == 0, err
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == 8000 and audio.size == 800 and np.all(np.isfinite(audio))


# ---------------------------------------------------------------- training (train_audio, cwfast train)

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"
TINY = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, progress=False)


@pytest.fixture(scope="module")
def clip():
    return load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)


@pytest.fixture(scope="module")
def auto(clip):
    samples, rate = clip
    notes = []
    return train_audio(samples, rate, seed=3, pitch="auto", on_note=notes.append, **TINY), notes


def test_the_least_squares_coefficients_of_several_clips(rng):
    clips = [rng.standard_normal(300).cumsum() * 0.01, rng.standard_normal(200)]
    n = 5
    rows = [c[t - n : t] for c in clips for t in range(n, c.size)]
    want = np.linalg.lstsq(np.array(rows), np.array([c[t] for c in clips for t in range(n, c.size)]), rcond=None)[0]
    assert_allclose(lpc.coefficients(clips, n), want, rtol=1e-6, atol=1e-9)
    with pytest.raises(ParameterError, match="needs at least 20"):
        lpc.coefficients([np.ones(19)], n)


def test_the_least_squares_of_a_float32_clip_read_in_chunks(rng):
    """A float32 clip is read in float64 a chunk at a time (no float64 copy of an hour's clip):
    the coefficients are the explicit least squares', and bit for bit those of its float64 copy."""
    t = np.arange(70_000)
    clip = (0.5 * np.sin(t * 0.03) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
    n = 4
    wide = clip.astype(np.float64)
    rows = np.lib.stride_tricks.sliding_window_view(wide[:-1], n)
    want = np.linalg.lstsq(rows, wide[n:], rcond=None)[0]
    got = lpc.coefficients([clip], n)
    assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert np.array_equal(got, lpc.coefficients([wide], n))


@pytest.mark.parametrize("with_level", [False, True])
def test_the_bounds_rms_a_piece_at_a_time_is_the_whole_arrays(with_level, rng):
    """The pitch predictor's reference reads the training part a piece at a time (40 bytes a
    sample at once before): the same RMS of every stretch, bit for bit, as the whole array's."""
    from cwfast.model import Level
    from cwfast.train_audio import RMS_PIECE, _window_rms

    inputs = (rng.standard_normal(2 * RMS_PIECE + 777) * np.linspace(0.01, 1, 2 * RMS_PIECE + 777)).astype(np.float32)
    level = Level(1 / 64, 0.2, 0.05, 0.9) if with_level else None
    for window in (5, 496):
        x = inputs.astype(np.float64)
        if level is not None:
            b, gains = level.start, np.empty(x.size)
            for t, v in enumerate(x):  # the level's recursion, written out
                b += level.alpha * (abs(v) - b)
                gains[t] = b
            x = x / np.clip(gains, level.floor, level.ceiling)
        k = x.size // window
        want = np.sqrt(np.mean(x[: k * window].reshape(k, window) ** 2, axis=1))
        got = _window_rms(inputs, window, level)
        assert got.shape == (k,)
        assert_allclose(got, want, rtol=1e-12)
        whole = inputs.astype(np.float64)
        if level is not None:
            whole = whole / np.clip(level.levels(whole), level.floor, level.ceiling)
        assert np.array_equal(got, np.sqrt(np.mean(whole[: k * window].reshape(k, window) ** 2, axis=1)))


def test_auto_trains_each_rate_without_and_with_one_and_keeps_the_best_on_validation(clip, auto):
    samples, rate = clip
    trained, notes = auto
    rows = trained.model.metadata["runs"]["runs"]
    assert [(row["lr"], row.get("pitch", False)) for row in rows] == [(0.01, False), (0.003, False), (0.01, True),
                                                                        (0.003, True)]
    chosen = trained.model.metadata["runs"]["chosen"]
    best = min(range(4), key=lambda i: rows[i]["validation"]["cross_entropy"])
    assert chosen == best  # one restart a group: the lowest validation of all four
    assert (trained.model.pitch is not None) == rows[chosen].get("pitch", False)
    assert [n for n in notes if n.startswith("run ")] == [
        "run 1 of 4 (lr 0.01, seed 3, without a pitch predictor)", "run 2 of 4 (lr 0.003, seed 3, without a pitch predictor)",
        "run 3 of 4 (lr 0.01, seed 3, with a pitch predictor)", "run 4 of 4 (lr 0.003, seed 3, with a pitch predictor)"]
    assert "the pitch predictor" in notes[-1] and notes[-1].startswith(f"kept run {chosen + 1} of 4")
    # a run with one is the plain run with --pitch on: the same figures
    alone = train_audio(samples, rate, seed=3, lr=0.01, pitch="on", **TINY)
    assert alone.model.pitch_gain != 0.0  # trained
    assert rows[2]["validation"]["cross_entropy"] == pytest.approx(alone.figures["validation"]["cross_entropy"],
                                                                    rel=1e-6)


def test_training_gives_it_the_recipe_on_the_training_part(clip, auto):
    samples, rate = clip
    model = train_audio(samples, rate, seed=3, lr=0.01, pitch="on", **TINY).model
    p = model.pitch
    assert (p.lo, p.hi, p.window, p.hop, p.gate) == (8, 133, 250, 32, 0.3)
    split = tasks.corpus([samples], n_classes=256, validation=0.1, test=0.1)[0]
    x = split.train.inputs[:, 0].astype(np.float64)
    assert_allclose(p.coefficients, lpc.coefficients([x], 32), rtol=1e-6)
    # the bound: the 95th percentile of the RMS, over the window's stretches, of what the network reads
    xn, _ = normalised(model, x[:, None])
    blocks = xn[: xn.size // 250 * 250].reshape(-1, 250)
    assert p.reference == pytest.approx(np.percentile(np.sqrt(np.mean(blocks**2, axis=1)), 95), rel=1e-5)


@pytest.mark.parametrize("options, phrase", [
    (["--pitch", "on", "--trainer", "es"], "--pitch's gain is trained by the gradient trainers"),
    (["--pitch", "auto", "--checkpoint", "c.npz"], "--pitch auto trains several models"),
    (["--pitch", "on", "--head", "softmax"], "--pitch needs the mixture head"),
    (["--pitch", "sometimes"], "invalid choice: 'sometimes'"),
])
def test_cli_refuses_what_does_not_fit(tmp_path, capsys, options, phrase):
    status, out, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "-o", tmp_path / "m.npz", *options)
    assert_user_error(status, err, phrase)
    assert not (tmp_path / "m.npz").exists()


def test_a_clip_shorter_than_the_window_is_refused_if_asked_for_and_trained_without_by_default(rng):
    clip = rng.standard_normal(300) * 0.1
    with pytest.raises(cwfast.CwfastError, match=r"pitch='on': the training part \(180 samples\) is shorter than the 250"):
        train_audio(clip, 8000, seed=0, pitch="on", validation=0.2, test=0.2, **TINY)
    notes = []
    trained = train_audio(clip, 8000, seed=0, validation=0.2, test=0.2, on_note=notes.append, **TINY)
    assert trained.model.pitch is None and len(trained.model.metadata["runs"]["runs"]) == 2
    assert "training without a pitch predictor: the training part (180 samples) is shorter than the 250 a pitch " \
           "predictor needs" in notes


def test_a_rate_too_high_for_its_window_is_refused_if_asked_for_and_trained_without_by_default(rng):
    """At 192 kHz the recipe's 31-ms window is 6000 samples: the default training ended in
    'pitch window=6000 must be at most 4096'."""
    clip = rng.standard_normal(2000) * 0.1
    with pytest.raises(cwfast.CwfastError, match=r"pitch='on': at 192000 Hz its 31-ms window would be 6000 samples, "
                                                 r"more than the 4096 it may hold .*; train at a lower sample_rate"):
        train_audio(clip, 192000, seed=0, pitch="on", **TINY)
    notes = []
    trained = train_audio(clip, 192000, seed=0, input_window=1, on_note=notes.append, **TINY)
    assert trained.model.pitch is None and len(trained.model.metadata["runs"]["runs"]) == 2
    assert any(n.startswith("training without a pitch predictor: at 192000 Hz its 31-ms window") for n in notes)


def test_by_default_a_mixture_clockwork_rnn_trains_with_and_without_and_others_without(clip, auto):
    samples, rate = clip
    default = train_audio(samples, rate, seed=3, **TINY)  # the same runs as auto's
    assert [row.get("pitch", False) for row in default.model.metadata["runs"]["runs"]] == [False, False, True, True]
    assert_array_equal(default.model.params, auto[0].model.params)
    lstm = train_audio(samples, rate, seed=3, arch="lstm", hidden=6, **{k: v for k, v in TINY.items() if k != "hidden"
                                                                         and k != "modules"})
    assert lstm.model.pitch is None and len(lstm.model.metadata["runs"]["runs"]) == 2


def test_its_multiply_adds_are_counted():
    p = Pitch.for_rate(np.zeros(32), 16000)
    # every 64 steps: 766 residuals of 33 products, 252 energies/correlations of 500; each step 32 + 500
    assert p.macs_per_step() == pytest.approx((766 * 33 + 252 * 500) / 64 + 532)
    from test_generation_goals import load_script

    generation_goals = load_script()
    model = make("cw")
    plain = model.copy()
    plain.pitch = None
    assert generation_goals.macs_per_sample(model) == generation_goals.macs_per_sample(plain) + model.pitch.macs_per_step()


@pytest.mark.parametrize("estimate", [(25.0, 0.5), (-3.0, 0.5), (7.5, 0.5), (7.0, 1.5), (1e300, 0.0)])
def test_a_state_whose_estimate_is_no_lag_is_refused(estimate, rng):
    """A lag outside [lo, hi] would index the window out of its bounds. One in range is taken, and
    used until the next search: from step 43 the search comes at 48 (every 8 steps), five steps on."""
    model = make("cw")
    x = pitched_inputs(rng, 1, 53)[0][0]
    _, state = model.forward(x[:43], return_state=True)
    where = model._pitch_slice()
    h = state.h.copy()
    h[where] = estimate
    for call in (lambda s: model.forward(np.zeros((5, 1)), state=s),
                 lambda s: model.sample(5, values=VALUES, state=s)):
        with pytest.raises(ParameterError, match=r"pitch estimate \(lag, beta\) must hold a lag of 0 or a whole"):
            call(State(h, state.t))
    outputs = {}
    for taken in ((7.0, 0.25), (0.0, 0.0)):
        h[where] = taken
        outputs[taken] = model.forward(x[43:], raw=True, state=State(h, state.t))
    lagged, none = outputs[(7.0, 0.25)], outputs[(0.0, 0.0)]
    assert np.all(np.any(lagged[:5] != none[:5], axis=1))  # the estimate given makes each step's term
    assert_array_equal(lagged[5:], none[5:])  # ...until the search replaces it


def test_auto_counts_towards_the_most_runs(clip, monkeypatch):
    from cwfast import train_audio as module

    monkeypatch.setattr(module, "MAX_RESTARTS", 10)
    samples, rate = clip
    with pytest.raises(ParameterError, match=r"lr, pitch='auto' and restarts train 2 x 2 x 3 models: at most 10"):
        train_audio(samples, rate, restarts=3, lr=[0.01, 0.003], pitch="auto", time_budget=60.0, **TINY)
