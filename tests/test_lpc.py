"""cwfast.lpc: the linear-prediction baseline's bin probabilities, fit and adaptive scale."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cwfast import codec, lpc, tasks
from cwfast.errors import CwfastError, ParameterError


def naive_laplace_cdf(x, m, b):
    if x == -np.inf:
        return 0.0
    if x == np.inf:
        return 1.0
    return 0.5 * math.exp((x - m) / b) if x < m else 1.0 - 0.5 * math.exp(-(x - m) / b)


def naive_gaussian_cdf(x, m, s):
    return 0.5 * (1.0 + math.erf((x - m) / (s * math.sqrt(2.0))))


def test_bin_edges_agree_with_the_codec():
    edges = lpc.bin_edges(256)
    assert edges.shape == (257,) and edges[0] == -np.inf and edges[-1] == np.inf
    assert np.all(np.diff(edges) > 0)
    inner = edges[1:-1]
    # Just above an edge is the upper class, just below it the lower one.
    assert np.array_equal(codec.mu_law_encode(inner + 1e-9), np.arange(1, 256))
    assert np.array_equal(codec.mu_law_encode(inner - 1e-9), np.arange(0, 255))
    # Every class's decoded value lies inside its bin.
    values = codec.mu_law_values(256)
    assert np.all((values >= edges[:-1]) & (values < edges[1:]))


@pytest.mark.parametrize("density", ["laplace", "gaussian"])
def test_bin_probabilities_sum_to_one(rng, density):
    means = np.concatenate([rng.uniform(-1.2, 1.2, 200), [0.0, 1.0, -1.0, 5.0, -5.0]])
    scales = np.concatenate([10.0 ** rng.uniform(-6, 1, 200), [1e-6, 1e-6, 1e-6, 1e-3, 10.0]])
    p = lpc.bin_probabilities(means, scales, density=density)
    assert p.shape == (205, 256)
    assert np.all(p >= 0)
    assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("density, cdf", [("laplace", naive_laplace_cdf), ("gaussian", naive_gaussian_cdf)])
def test_bin_probabilities_match_cdf_differences(rng, density, cdf):
    edges = lpc.bin_edges(256)
    for m, b in [(0.0, 0.01), (0.3, 0.05), (-0.7, 0.2), (0.001, 0.0005)]:
        p = lpc.bin_probabilities(m, b, density=density)
        naive = np.array([cdf(edges[k + 1], m, b) - cdf(edges[k], m, b) for k in range(256)])
        assert_allclose(p, naive, atol=1e-12)


def test_log_probabilities_stay_finite_far_in_the_tail():
    # Class 250 starts near 0.79, some 7900 scales of 1e-4 away: exp underflows, the log form does not.
    lo, hi = lpc.bin_edges(256)[250:252]
    log_p = lpc.laplace_bin_log_probs(0.0, 1e-4, lo, hi)
    assert np.isfinite(log_p) and log_p < -7000
    assert_allclose(log_p, math.log(0.5) - lo / 1e-4 + math.log(-math.expm1(-(hi - lo) / 1e-4)), rtol=1e-12)
    assert np.isfinite(lpc.gaussian_bin_log_probs(0.0, 1e-3, lo, hi))


@pytest.mark.parametrize("mean, scale, phrase", [
    (np.nan, 0.1, "^mean must be finite"), (0.0, np.inf, "^scale must be positive and finite"),
    (0.0, 0.0, "^scale must be positive"), (0.0, "x", "^scale='x' must be a real number"),
    ("y", 0.1, "^mean='y' must be a real number"), (np.zeros(3), np.ones(2), "do not broadcast together"),
])
def test_bin_probabilities_refuse_what_has_no_distribution(mean, scale, phrase):
    """NaN and infinite arguments gave NaN "probabilities"; mismatched shapes NumPy's own error."""
    with pytest.raises(ParameterError, match=phrase):
        lpc.bin_probabilities(mean, scale)


def test_moving_scale_matches_its_recursion(rng):
    e = np.abs(rng.standard_normal(50))
    alpha, b = 0.25, 0.7
    expected = []
    for x in e:
        expected.append(b)
        b = (1 - alpha) * b + alpha * x
    assert_allclose(lpc._moving_scale(e, alpha, 0.7), expected, rtol=1e-12)


def test_means_match_a_direct_sum(rng):
    predictor = lpc.LinearPredictor(rng.standard_normal(5), 0.0, 0.1, 0.1)
    values = rng.standard_normal(40)
    means = predictor.means(values, chunk=7)
    for t in (0, 1, 4, 5, 39):
        history = [values[t - k] if t - k >= 0 else 0.0 for k in range(5, 0, -1)]
        assert_allclose(means[t], np.dot(predictor.coefficients, history), atol=1e-12)


def ar2(rng, n, scales, a1=1.6, a2=-0.8):
    e = rng.laplace(0.0, 1.0, n) * scales
    x = np.zeros(n)
    for t in range(2, n):
        x[t] = a1 * x[t - 1] + a2 * x[t - 2] + e[t]
    return x, a1, a2


def test_ar2_process_is_predicted_near_its_true_entropy(rng):
    n = 60000
    x, a1, a2 = ar2(rng, n, 0.01)
    out = lpc.baseline(x.astype(np.float32), test=0.2)
    # The true conditional distribution of each held-out class, from the true coefficients and
    # scale on the unquantised past, integrated over the same bins.
    peak = float(np.max(np.abs(x[: n - n // 5].astype(np.float32))))  # the peak before the held-out part
    y = x / peak
    labels = codec.mu_law_encode(y)
    edges = lpc.bin_edges(256)
    means = np.concatenate([[0, 0], a1 * y[1:-1] + a2 * y[:-2]])
    cut = out["n_train"]
    oracle = -np.mean(lpc.laplace_bin_log_probs(means, 0.01 / peak, edges[labels], edges[labels + 1])[cut:]) / math.log(2)
    assert 3.0 < oracle < 7.0  # a figure in the range of audio, not a degenerate one
    assert oracle - 0.02 < out["bits_per_sample"] < oracle + 0.05
    # Its predictions are the true ones, to within the mu-law history's noise: 0.12 of the innovation's
    # scale here. (The taps were checked one by one, the last two against a2, a1 and the other 30
    # against 0, each to 0.02; on correlated regressors and a quantised history they sat at up to
    # 0.0200 before the scale left out the test part and 0.0232 after: what they predict is the claim.)
    values = codec.mu_law_values(256)[labels].astype(np.float64)
    off = (out["predictor"].means(values) - means)[cut:]
    assert np.sqrt(np.mean(off**2)) < 0.2 * 0.01 / peak


def test_adaptive_scale_beats_fixed_when_the_level_changes(rng):
    n = 64000
    levels = np.repeat(np.tile([0.002, 0.05], 8), n // 16)
    x, *_ = ar2(rng, n, levels)
    out = lpc.baseline(x.astype(np.float32))
    assert out["alpha"] > 0
    assert out["bits_per_sample"] < out["fixed_bits_per_sample"] - 0.5


def test_adaptive_scale_costs_little_on_a_steady_level(rng):
    x, *_ = ar2(rng, 40000, 0.01)
    out = lpc.baseline(x.astype(np.float32))
    assert out["bits_per_sample"] < out["fixed_bits_per_sample"] + 0.02


def test_baseline_holds_out_what_split_task_holds_out(rng):
    x = rng.standard_normal(1234).astype(np.float32)
    task = tasks.autoregressive(x)
    _, _, test = tasks.split_task(task, test=0.1)
    out = lpc.baseline(x, test=0.1)
    assert out["n_test"] == test.n_steps and out["n_train"] + out["n_test"] == 1234


@pytest.mark.parametrize("kwargs", [
    dict(test=0.0), dict(test=1.0), dict(test=True), dict(n_taps=0), dict(n_taps=2.5),
    dict(n_classes=1), dict(alphas=()), dict(alphas=(1.0,)),
])
def test_bad_arguments_raise_parameter_error(rng, kwargs):
    with pytest.raises(ParameterError):
        lpc.baseline(rng.standard_normal(2000).astype(np.float32), **kwargs)


def test_log_probs_checks_the_history_it_is_given(rng):
    # values= went through np.asarray(..., float64): strings and ragged lists raised NumPy's own
    # ValueError, complex lost its imaginary part with a warning, None read as NaN.
    labels = codec.mu_law_encode(np.sin(np.arange(3000) / 7.0) * 0.5)
    predictor = lpc.fit(labels, 2000, n_taps=8)
    for values, match in ((["a"] * 3000, "dtype <U1"), (np.ones(3000, complex), "dtype complex128"),
                          ([None] * 3000, "dtype object"), ([[1.0], [1.0, 2.0]], "must be a numeric array"),
                          (np.full(3000, np.nan), "NaN or infinite")):
        with pytest.raises(ParameterError, match=f"^values .*{match}"):
            predictor.log_probs(labels, values=values)
    assert np.all(np.isfinite(predictor.log_probs(labels, values=list(codec.mu_law_decode(labels)))))


def test_too_short_and_silent_clips_are_refused():
    with pytest.raises(ParameterError, match="leaves 90 before its held-out part"):
        lpc.baseline(np.ones(100, dtype=np.float32))
    with pytest.raises(CwfastError, match="silent"):
        lpc.baseline(np.zeros(2000, dtype=np.float32))
    with pytest.raises(ParameterError):
        lpc.baseline(np.full(2000, np.nan, dtype=np.float32))


def test_split_baseline_of_one_clip_without_validation_is_the_baseline(rng):
    x, *_ = ar2(rng, 20000, 0.01)
    x = x.astype(np.float32)
    ours, theirs = lpc.split_baseline(x, validation=0.0, test=0.1), lpc.baseline(x, test=0.1)
    for key in ("bits_per_sample", "fixed_bits_per_sample", "gaussian_bits_per_sample", "alpha", "n_test"):
        assert ours[key] == theirs[key]


def test_split_baseline_scores_the_test_parts_cwfast_train_holds_out(rng):
    # Clips of different lengths and levels, one shorter than the taps' history: the naive twin
    # builds the corpus split by hand (one scale for all, each clip cut 80/10/10 on its own),
    # fits the taps by least squares over each clip's training rows and scores each clip's
    # last 10% with the history and scale carried from the clip's own start.
    clips = [ar2(rng, n, level)[0].astype(np.float32) for n, level in ((3000, 0.01), (20, 0.03), (5001, 0.002))]
    out = lpc.split_baseline(clips, validation=0.1, test=0.1)
    scale = max(float(np.max(np.abs(c[: c.size - round(c.size * 0.1)]))) for c in clips)  # no test part sets it
    table = codec.mu_law_values(256).astype(np.float64)
    rows, targets, held = [], [], 0
    for c in clips:
        labels = codec.mu_law_encode(c.astype(np.float64) / scale)
        n_test, n_val = round(c.size * 0.1), round(c.size * 0.1)
        v = np.concatenate([np.zeros(32), table[labels]])
        for t in range(32, c.size - n_test - n_val):
            rows.append(v[t : t + 32])
            targets.append(v[t + 32])
        held += n_test
    coefficients = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)[0]
    assert_allclose(out["predictor"].coefficients, coefficients, rtol=1e-5, atol=1e-6)
    assert out["n_test"] == held
    assert out["n_test"] == sum(s.test.n_steps for s in tasks.corpus(clips, validation=0.1, test=0.1))
    predictor = out["predictor"]
    bits = []
    for c in clips:
        labels = codec.mu_law_encode(c.astype(np.float64) / scale)
        log_probs = predictor.log_probs(labels)
        bits.append(log_probs[labels.size - round(c.size * 0.1):])
    assert_allclose(out["bits_per_sample"], -np.mean(np.concatenate(bits)) / math.log(2), rtol=1e-12)
    # Joining the clips into one would let each clip's history run into the next: a different figure.
    assert out["bits_per_sample"] != lpc.split_baseline(np.concatenate(clips), validation=0.1, test=0.1)[
        "bits_per_sample"]


def test_split_baseline_with_linear_history_reads_the_samples(rng):
    """history="linear": the taps are fitted on, and predict from, the scaled samples themselves
    (a naive twin), while the classes scored stay the same; on a sharp resonance the mu-law
    history's quantisation noise is what the predictor misses most, so reading the samples
    scores far fewer bits."""
    x = ar2(rng, 20000, 0.0005, a1=1.98, a2=-0.99)[0].astype(np.float32)
    out = lpc.split_baseline(x, validation=0.1, test=0.1, history="linear")
    scaled = x.astype(np.float64) / float(np.max(np.abs(x[:18000])))  # the peak before the test part
    y = np.clip(scaled, -1, 1).astype(np.float32).astype(np.float64)  # as a model reads it (float32, full scale)
    n_train = 20000 - 2 * 2000
    v = np.concatenate([np.zeros(32), y])
    rows = np.array([v[t : t + 32] for t in range(32, n_train)])
    coefficients = np.linalg.lstsq(rows, y[32:n_train], rcond=None)[0]
    # A resonance this sharp makes the normal equations ill-conditioned: compare the predictions.
    assert_allclose(out["predictor"].means(y)[32:n_train], rows @ coefficients, rtol=0, atol=1e-6)
    labels = codec.mu_law_encode(scaled)
    held = out["predictor"].log_probs(labels, values=y)[20000 - 2000 :]
    assert_allclose(out["bits_per_sample"], -np.mean(held) / math.log(2), rtol=1e-12)
    quantised = lpc.split_baseline(x, validation=0.1, test=0.1)
    assert out["bits_per_sample"] < quantised["bits_per_sample"] - 0.5
    with pytest.raises(ParameterError, match="one per label"):
        out["predictor"].log_probs(labels, values=y[:-1])


def test_split_baseline_refuses_training_parts_too_short_for_the_taps():
    with pytest.raises(ParameterError, match="training parts"):
        lpc.split_baseline([np.sin(np.arange(60.0)).astype(np.float32)] * 2)


def test_labels_of_any_integer_dtype_give_the_same_figures(rng):
    """A task's labels are uint8; the top class's upper edge (label + 1) must not wrap to class 0."""
    x, *_ = ar2(rng, 4000, 0.05)
    labels = codec.mu_law_encode(np.clip(3 * x / np.max(np.abs(x)), -1, 1)).astype(np.int64)
    assert labels.max() == 255  # clipped peaks: the top class is there
    predictor = lpc.fit(labels, 3000)
    wide = predictor.log_probs(labels)
    assert np.all(np.isfinite(wide))
    np.testing.assert_array_equal(predictor.log_probs(labels.astype(np.uint8)), wide)
    np.testing.assert_array_equal(lpc.fit(labels.astype(np.uint8), 3000).log_probs(labels), wide)
