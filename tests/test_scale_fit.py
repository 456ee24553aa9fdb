"""One factor on every scale of a mixture model, fitted on held-out audio (cwfast.scale_fit,
SequenceModel.scale_mixture, train_audio's scale_fit)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast import ClockworkRNN, ParameterError, tasks
from cwfast._head_kernels import _mixture_nats, _shifted_mixture_nats
from cwfast.audio import load_audio
from cwfast.codec import mu_law_edges
from cwfast.lstm import LSTM
from cwfast.model import LOSS_CHUNK, State, Surprise
from cwfast.scale_fit import COARSE, fit_scale
from cwfast.train_audio import FIT_SAMPLES, fitting_parts, state_before, train_audio

import fit_kernels_before
import naive
import script_loading

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"


def mixture_model(arch="cw", seed=0):
    if arch == "cw":
        model = ClockworkRNN(1, 15, n_hidden=12, n_modules=3, output="mixture", seed=seed, input_windows=[4, 2, 1])
    else:
        model = LSTM(1, 15, n_hidden=8, output="mixture", seed=seed)
    model.level = (1 / 16, 0.1, 0.05, 0.4)
    # Outputs that hardly move: a mixture of fixed spread around the prediction (the Clockwork
    # RNN's predicts the sine of audio() from its last two samples), so the best scale is the
    # spread of what is left.
    model.W_out[:] *= 0.01
    k = model.n_out // 3
    if arch == "cw":
        model.prediction = 4
        model.taps[:] = [2 * math.cos(2 * math.pi / 23), -1.0, 0.0, 0.0]
        model.b_out[2 * k :] = math.log(0.05)
    else:
        model.b_out[2 * k :] = math.log(0.3)
    return model


def audio(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    envelope = np.linspace(1.0, 0.1, n)  # a decay: the level moves through and below the band
    return envelope * (0.6 * np.sin(2 * np.pi * t / 23.0) + 0.05 * rng.standard_normal(n))


def split(n=3000, seed=0):
    whole = tasks.make_task("autoregressive", audio(n, seed), history="linear")
    return tasks.split_task(whole, validation=0.3, test=0.1)


def naive_bits(model, parts, factor):
    """Bits per sample of ``parts`` with every scale times ``factor``: the outputs of one forward
    pass, their log-scales moved by hand, scored by the head (the slow twin of the fit's scoring)."""
    k = model.n_out // 3
    total = n = 0
    for x, t, state in parts:
        y = model.forward(x, state=state, raw=True)
        y[:, 2 * k :] += np.float32(math.log(factor))
        total += model.head.loss(y, t) * t.shape[0]
        n += t.shape[0]
    return total / n / math.log(2)


@pytest.mark.parametrize("arch", ["cw", "lstm"])
def test_scale_mixture_moves_only_the_log_scales(arch):
    model = mixture_model(arch)
    x = audio(500)[:, None].astype(np.float32)
    before = model.forward(x, raw=True)
    params = model.params.copy()
    model.scale_mixture(2.5)
    after = model.forward(x, raw=True)
    k = model.n_out // 3
    np.testing.assert_array_equal(after[:, : 2 * k], before[:, : 2 * k])
    np.testing.assert_allclose(after[:, 2 * k :], before[:, 2 * k :] + math.log(2.5), atol=1e-5)
    changed = np.flatnonzero(model.params != params)
    assert changed.size == k and np.allclose(model.params[changed] - params[changed], math.log(2.5), atol=1e-6)
    finished = model.forward(x)  # weights, means, scales
    np.testing.assert_allclose(finished[:, 2 * k :], model.head.finish(before)[:, 2 * k :] * 2.5, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2"])
def test_scale_mixture_refuses_a_factor_that_is_not_positive(bad):
    model = mixture_model()
    params = model.params.copy()
    with pytest.raises(ParameterError, match="factor"):
        model.scale_mixture(bad)
    np.testing.assert_array_equal(model.params, params)


def test_scale_mixture_and_the_fit_need_a_mixture_head():
    model = ClockworkRNN(1, 8, n_hidden=6, n_modules=2, output="softmax", seed=0)
    with pytest.raises(ParameterError, match="mixture"):
        model.scale_mixture(2.0)
    with pytest.raises(ParameterError, match="mixture"):
        fit_scale(model, [(np.zeros((10, 1), np.float32), np.zeros(10, np.int64), None)])


def test_the_fit_refuses_empty_parts():
    with pytest.raises(ParameterError, match="empty"):
        fit_scale(mixture_model(), [])


@pytest.mark.parametrize("parts, phrase", [
    (5, r"^parts must be a sequence of \(inputs, targets, state\), not int$"),
    ([(np.zeros((10, 1)),)], r"^parts\[0\] must be a triple"),
    ([(np.zeros((10, 1)), 3, None)], r"^parts\[0\]: target has shape \(\); expected \(10,\)$"),
    # Checked as the model's calls check them: float and out-of-range labels were an IndexError out
    # of the head's loss, targets shorter than the inputs were scored against the first inputs.
    ([(np.zeros((10, 1)), np.full(10, 1.5), None)], r"^parts\[0\]: target has dtype float64"),
    ([(np.zeros((10, 1)), np.full(10, 300), None)], r"^parts\[0\]: target labels must lie in \[0, 256\)"),
    ([(np.zeros((10, 1)), np.ones(10, int), None), (np.zeros((10, 1)), np.ones(4, int), None)],
     r"^parts\[1\]: target has shape \(4,\); expected \(10,\)$"),
    ([(np.zeros((1, 10, 1)), np.ones((1, 10), int), None)], r"^parts\[0\]: inputs have shape \(1, 10, 1\)"),
])
def test_both_fits_refuse_parts_that_are_not_triples(parts, phrase):
    """They met Python's unpacking errors (ValueError, TypeError); the model is left as it was."""
    from cwfast.scale_fit import fit_surprise

    model = mixture_model()
    before = model.params.copy()
    for fit in (fit_scale, fit_surprise):
        with pytest.raises(ParameterError, match=phrase):
            fit(model, parts)
    np.testing.assert_array_equal(model.params, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fits_scoring_kernel_is_the_heads_loss_of_the_moved_rows(dtype):
    """_shifted_mixture_nats, the fits' scoring, against its slow twin: each candidate's rows with
    their log-scales moved and stored in the outputs' dtype, scored by the NumPy log-domain twin; both open
    classes, a log-scale pushed below the clamp, and shifts that differ per row (the surprise's)."""
    rng = np.random.default_rng(3)
    n, k = 50, 4
    y = np.concatenate([rng.normal(0, 1, (n, k)), rng.uniform(-1, 1, (n, k)), rng.uniform(-7, -1, (n, k))],
                       axis=1).astype(dtype)
    y[0, 2 * k] = -15.9  # moved below -16 by the negative shifts: clamped there
    labels = rng.integers(0, 256, n)
    labels[:2] = [0, 255]
    shifts = np.stack([np.full(n, -0.75), np.zeros(n), np.full(n, 1.3), rng.normal(0, 0.5, n)])
    totals = np.full(len(shifts), 2.0)  # it adds to what is there
    _shifted_mixture_nats(y, labels, shifts, totals)
    for total, shift in zip(totals, shifts):
        moved = y.copy()
        moved[:, 2 * k :] = y[:, 2 * k :] + shift[:, None]
        assert total == pytest.approx(2.0 + naive.mixture_nats(moved, labels).sum(), rel=1e-12)
    assert len(set(totals)) == len(totals)  # each candidate scored on its own shifts


def scored_rows(rng, n, k, dtype):
    """Mixture rows (n, 3K) and labels (n,) with every case the fits' scoring takes: ordinary rows,
    both open classes, log-scales near the clamp, components so far from their label, or so narrow
    inside its bin, that the fast form declines them for the exact one."""
    y = np.concatenate([rng.normal(0, 2, (n, k)), rng.uniform(-1, 1, (n, k)), rng.uniform(-9, 0, (n, k))], axis=1)
    labels = rng.integers(1, 255, n)
    labels[:2] = [0, 255]
    y[2:6, 2 * k :] = -15.9  # moved below the clamp by the negative shifts
    y[6:10, k : 2 * k], y[6:10, 2 * k :], labels[6:10] = 0.9, -7.0, 128  # ~990 scales from every mean
    y[10:14, 2 * k :] = -16.0  # clamped-narrow components inside their own wide bin
    y[10:14, k : 2 * k] = (mu_law_edges()[1] + mu_law_edges()[2]) / 2
    labels[10:14] = 1
    return y.astype(dtype), labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_the_fits_scoring_gives_the_bits_it_gave_before_its_rows_constants_were_hoisted(dtype, k):
    """_shifted_mixture_nats and _mixture_nats (the plain figure fit_surprise compares with) work
    out each row's weights and bin once for all its candidates: the same totals, bit for bit, as
    the kernels that worked them out again for every candidate (tests/fit_kernels_before.py)."""
    rng = np.random.default_rng(k)
    n = 600
    y, labels = scored_rows(rng, n, k, dtype)
    shifts = np.concatenate([np.log(COARSE)[:, None] * np.ones(n), rng.normal(0, 0.7, (9, n))])
    totals, twin = np.full(len(shifts), 0.5), np.full(len(shifts), 0.5)
    _shifted_mixture_nats(y, labels, shifts, totals)
    fit_kernels_before.shifted_mixture_nats(y, labels, shifts, twin)
    np.testing.assert_array_equal(totals, twin)
    assert _mixture_nats(y, labels) == fit_kernels_before.mixture_nats(y, labels)
    # A NaN output spoils its sum in both alike.
    y[20, 0] = np.nan
    totals[:], twin[:] = 0.0, 0.0
    _shifted_mixture_nats(y, labels, shifts, totals)
    fit_kernels_before.shifted_mixture_nats(y, labels, shifts, twin)
    assert np.all(np.isnan(totals)) and np.all(np.isnan(twin))


def test_the_fits_scoring_gives_each_candidate_its_bits_on_any_number_of_threads():
    """The candidates are scored on every core: each is its own sum, so scored with the others on
    any number of threads, or alone, it is the same number to the last bit."""
    import numba

    rng = np.random.default_rng(4)
    n, k = 300, 3
    y = np.concatenate([rng.normal(0, 1, (n, k)), rng.uniform(-1, 1, (n, k)), rng.uniform(-7, -1, (n, k))], axis=1)
    labels = rng.integers(0, 256, n)
    shifts = rng.normal(0, 0.5, (7, n))
    alone = np.zeros(len(shifts))
    for j in range(len(shifts)):
        _shifted_mixture_nats(y, labels, shifts[j : j + 1], alone[j : j + 1])
    threads = numba.get_num_threads()
    try:
        for count in sorted({1, 2, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
            together = np.zeros(len(shifts))
            _shifted_mixture_nats(y, labels, shifts, together)
            np.testing.assert_array_equal(together, alone)
    finally:
        numba.set_num_threads(threads)


@pytest.mark.parametrize("arch", ["cw", "lstm"])
def test_the_fit_finds_the_best_factor_of_a_miscalibrated_model(arch):
    """A model made four times too narrow: the fit widens it, its figures are what the slow twin
    scores, and no factor 1/32 octave to either side predicts the parts better."""
    splits = split()
    model = mixture_model(arch)
    model.scale_mixture(0.25)
    parts = [(splits.validation.inputs, splits.validation.targets, state_before(model, splits, "validation"))]
    before = naive_bits(model, parts, 1.0)
    fitted = model.copy()
    fit = fit_scale(fitted, parts)
    assert fit["samples"] == splits.validation.n_steps and not fit["bounded"]
    assert fit["bits_before"] == pytest.approx(before, abs=1e-6)
    assert fit["bits_after"] == pytest.approx(naive_bits(fitted, parts, 1.0), abs=1e-5)
    assert fit["bits_after"] < before - 0.05
    assert fit["factor"] > 1.5  # it undid most of the narrowing
    for step in (2 ** (1 / 32), 2 ** (-1 / 32), 2.0, 0.5):
        assert naive_bits(fitted, parts, step) >= fit["bits_after"] - 1e-5
    # The factor is exactly what the model's log-scale biases moved by.
    k = model.n_out // 3
    np.testing.assert_allclose(fitted.b_out[2 * k :] - model.b_out[2 * k :], math.log(fit["factor"]), atol=1e-5)


def test_the_fit_pools_several_parts_by_their_lengths_and_states():
    """Two clips' validation parts, each from the state its own clip leaves, one longer than a
    chunk: the pooled figure is the length-weighted mean of each part scored on its own."""
    model = mixture_model()
    clips = [audio(LOSS_CHUNK * 3, seed=1), audio(2000, seed=2)]
    per_clip = tasks.corpus(clips, validation=0.5, test=0.1, history="linear")
    parts = [(c.validation.inputs, c.validation.targets, state_before(model, c, "validation")) for c in per_clip]
    assert parts[0][1].shape[0] > LOSS_CHUNK
    expected = sum(tasks.evaluate(model, c.validation, state=state_before(model, c, "validation"))["bits_per_sample"]
                   * c.validation.n_steps for c in per_clip) / sum(c.validation.n_steps for c in per_clip)
    fit = fit_scale(model.copy(), parts)
    assert fit["bits_before"] == pytest.approx(expected, abs=1e-5)
    # The state matters: from a zero state the same parts score otherwise.
    cold = fit_scale(model.copy(), [(x, t, State(np.zeros_like(s.h), s.t)) for x, t, s in parts])
    assert cold["bits_before"] != pytest.approx(fit["bits_before"], abs=1e-6)


def test_a_long_corpus_is_fitted_on_the_first_share_of_each_validation_part():
    """Under FIT_SAMPLES the parts are whole (the clips' validation parts, from their states);
    past it each is cut to its first share, in proportion to its length, from the same state."""
    model = mixture_model()
    per_clip = tasks.corpus([audio(9000, seed=1), audio(3000, seed=2)], validation=0.5, test=0.1, history="linear")
    lengths = [c.validation.n_steps for c in per_clip]
    whole = fitting_parts(model, per_clip)
    assert [t.shape[0] for _, t, _ in whole] == lengths
    for (x, t, state), c in zip(whole, per_clip):
        np.testing.assert_array_equal(x, c.validation.inputs)
        np.testing.assert_array_equal(state.h, state_before(model, c, "validation").h)
    cut = fitting_parts(model, per_clip, limit=sum(lengths) // 4)
    assert [t.shape[0] for _, t, _ in cut] == [n * (sum(lengths) // 4) // sum(lengths) for n in lengths]
    for (x, t, state), (wx, wt, wstate) in zip(cut, whole):
        np.testing.assert_array_equal(x, wx[: x.shape[0]])
        np.testing.assert_array_equal(t, wt[: t.shape[0]])
        np.testing.assert_array_equal(state.h, wstate.h)
    assert FIT_SAMPLES == 2**20 and fitting_parts(model, per_clip, limit=1)[0][1].shape[0] == 1


def test_train_audio_fits_a_long_corpus_on_its_cut_parts(monkeypatch):
    """What train_audio fits is fit_scale on fitting_parts (here with a small FIT_SAMPLES), and
    the held-out figures still score the whole parts."""
    from cwfast import train_audio as module

    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    options = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    monkeypatch.setattr(module, "FIT_SAMPLES", 300)
    cut = train_audio(samples, rate, **options)
    plain = train_audio(samples, rate, scale_fit=False, **options)
    expected = fit_scale(plain.model.copy(), fitting_parts(plain.model, [plain.splits], limit=300))
    assert cut.model.metadata["scale_fit"]["factor"] == expected["factor"]
    assert cut.model.metadata["scale_fit"]["samples"] == expected["samples"] == 300
    assert cut.splits.validation.n_steps > 300
    assert cut.figures["validation"]["bits_per_sample"] == pytest.approx(
        _bits(cut.model, cut.splits, "validation"), abs=1e-5)


def test_the_grid_holds_one_and_spans_sixteen_each_way():
    assert 1.0 in COARSE and COARSE[0] == 1 / 16 and COARSE[-1] == 16


@pytest.fixture(scope="module")
def trained_pair():
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    options = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    return train_audio(samples, rate, **options), train_audio(samples, rate, scale_fit=False, **options)


def test_train_audio_fits_the_scale_by_default_and_changes_nothing_else(trained_pair):
    fitted, plain = trained_pair
    fit = fitted.model.metadata["scale_fit"]
    assert "scale_fit" not in plain.model.metadata
    # The same training; only the log-scale biases differ, by the factor.
    k = fitted.model.n_out // 3
    undone = fitted.model.copy()
    undone.b_out[2 * k :] -= np.float32(math.log(fit["factor"]))
    np.testing.assert_allclose(undone.params, plain.model.params, rtol=0, atol=1e-6)
    # (This clip and seed fit a factor of about 0.65: one that changed nothing would pass the line above.)
    assert fit["factor"] != 1.0 and not np.array_equal(fitted.model.params, plain.model.params)
    # Its figures: the validation part's before the fit is the plain model's, after it the fitted
    # one's without the surprise-following scale, fitted next from there.
    assert fit["bits_before"] == pytest.approx(plain.figures["validation"]["bits_per_sample"], abs=1e-5)
    assert fit["bits_after"] == pytest.approx(_bits(_unsurprised(fitted.model), fitted.splits, "validation"), abs=1e-5)
    assert fit["bits_after"] < fit["bits_before"]
    surprise = fitted.model.metadata["surprise_fit"]
    assert surprise["bits_before"] == pytest.approx(fit["bits_after"], abs=1e-5)
    assert "surprise_fit" not in plain.model.metadata and plain.model.surprise is None
    if surprise["beta"] > 0:
        assert fitted.model.surprise == Surprise(surprise["alpha"], surprise["beta"], surprise["mean"])
        assert surprise["bits_after"] < surprise["bits_before"]
    else:
        assert fitted.model.surprise is None


@pytest.mark.parametrize("options, match", [
    (dict(scale_fit=True, validation=0.0), "validation part"),
    (dict(scale_fit=True, head="softmax"), "mixture"),
    (dict(scale_fit=True, mode="memorize"), "mixture"),
])
def test_train_audio_refuses_a_scale_fit_it_cannot_do(options, match):
    kwargs = dict(mode="autoregressive", epochs=1)
    kwargs.update(options)
    with pytest.raises(ParameterError, match=match):
        train_audio(np.zeros(100), 8000, **kwargs)


load_script = script_loading.load_script


def test_measure_scale_fit_fits_a_saved_model_as_train_audio_does(trained_pair, tmp_path, capsys):
    fitted, plain = trained_pair
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    soundfile.write(tmp_path / "clip.wav", samples, rate, subtype="FLOAT")
    plain.model.save(tmp_path / "plain.npz")
    load_script("measure_scale_fit").main([str(tmp_path / "plain.npz"), str(tmp_path / "clip.wav")])
    row = json.loads(capsys.readouterr().out)
    assert row["factor"] == pytest.approx(fitted.model.metadata["scale_fit"]["factor"])
    assert row["validation"][0] == pytest.approx(plain.figures["validation"]["bits_per_sample"], abs=1e-6)
    assert row["validation"][1] == pytest.approx(_bits(_unsurprised(fitted.model), fitted.splits, "validation"),
                                                 abs=1e-6)
    assert row["test"][1] == pytest.approx(_bits(_unsurprised(fitted.model), fitted.splits, "test"), abs=1e-6)


def test_measure_scale_fit_with_surprise_refits_a_saved_model_as_train_audio_does(trained_pair, tmp_path, capsys):
    """From the model saved without any fit, the script reaches what train_audio saved with both:
    the same surprise and the same held-out figures (so the script's refits of older models are
    what cwfast train now makes of them)."""
    fitted, plain = trained_pair
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    soundfile.write(tmp_path / "clip.wav", samples, rate, subtype="FLOAT")
    plain.model.save(tmp_path / "plain.npz")
    load_script("measure_scale_fit").main(["--surprise", str(tmp_path / "plain.npz"), str(tmp_path / "clip.wav")])
    row = json.loads(capsys.readouterr().out)
    fit = fitted.model.metadata["surprise_fit"]
    assert (row["alpha"], row["beta"]) == (fit["alpha"], fit["beta"]) and row["mean"] == pytest.approx(fit["mean"])
    for part in ("validation", "test"):
        assert row[part][0] == pytest.approx(_bits(_unsurprised(fitted.model), fitted.splits, part), abs=1e-6)
        assert row[part][1] == pytest.approx(fitted.figures[part]["bits_per_sample"], abs=1e-6)


def _unsurprised(model):
    model = model.copy()
    model.surprise = None
    return model


def _bits(model, splits, part):
    return tasks.evaluate(model, getattr(splits, part), state=state_before(model, splits, part))["bits_per_sample"]


def test_the_adaptive_prototypes_running_ratio_is_an_average_of_the_past():
    running_ratio = load_script("prototype_adaptive_scale").running_ratio
    e = np.random.default_rng(3).exponential(size=200)
    alpha, n_train = 1 / 16, 120
    acc, expected = 1.0, []
    for value in e / e[:n_train].mean():  # a Python loop: r(t) sees only the steps before t
        expected.append(acc)
        acc = (1 - alpha) * acc + alpha * value
    np.testing.assert_allclose(running_ratio(e, alpha, n_train), expected, rtol=1e-12)


def test_the_adaptive_prototypes_generation_with_the_adaptation_off_is_the_engines(trained_pair):
    """Its per-sample loop (a Stream and the engine's draw) gives model.sample's audio when beta is 0,
    so what it measures with the adaptation on differs from the engine by the adaptation alone."""
    from cwfast.render import feedback_values

    generate = load_script("prototype_adaptive_scale").generate
    model = trained_pair[0].model.copy()
    model.metadata["temperature"] = 0.5
    expected = model.sample(300, values=feedback_values(model, 256), temperature=0.5, seed=4)
    np.testing.assert_allclose(generate(model, 300, 1 / 64, 0.0, 1.0, "sampled", 4), expected, rtol=0, atol=1e-6)
    adapted = generate(model, 300, 1 / 64, 1.0, 1.0, "sampled", 4)
    assert np.all(np.isfinite(adapted)) and not np.allclose(adapted, expected)
