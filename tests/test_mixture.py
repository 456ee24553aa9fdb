"""The discretized mixture-of-logistics head: probabilities, gradients, sampling, streaming, CLI."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import cwfast
import naive
from cwfast import _head_kernels as hk
from cwfast.cli import main
from cwfast.codec import mu_law_edges, mu_law_encode, mu_law_values
from cwfast.errors import ParameterError
from cwfast.heads import HEADS, LOG_SCALE_MIN

HEAD = HEADS["mixture"]
EDGES = mu_law_edges()
VALUES = mu_law_values()


def logistic_cdf(v):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


def direct_probs(y):
    """P(class) by the textbook formula: mixture weights times CDF differences over each bin."""
    k = y.shape[-1] // 3
    w = np.exp(y[:k] - y[:k].max())
    w /= w.sum()
    s = np.exp(np.maximum(y[2 * k :], LOG_SCALE_MIN))
    cdf = logistic_cdf((EDGES[:, None] - y[k : 2 * k]) / s)  # (257, K)
    return (np.diff(cdf, axis=0) * w).sum(axis=1)


def random_rows(rng, n, k):
    y = rng.normal(size=(n, 3 * k))
    y[:, k : 2 * k] *= 0.5
    y[:, 2 * k :] = rng.uniform(-9, 0, size=(n, k))
    return y


def test_class_probabilities_are_the_integrated_mixture(rng):
    y = random_rows(rng, 20, 4)
    probs = HEAD.class_probs(y)
    assert probs.shape == (20, 256)
    assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-12)
    for row, p in zip(y, probs):
        assert_allclose(p, direct_probs(row), rtol=1e-7, atol=1e-15)


@pytest.mark.parametrize("mean, log_scale", [(3.0, -5.0), (-3.0, -5.0), (0.0, -16.0), (0.0, -30.0), (0.2, 4.0),
                                             (1e-5, -14.0)])
def test_extreme_components_stay_finite_and_normalised(mean, log_scale):
    """Far tails, scales below the clamp, scales wider than the range: P sums to 1, no NaN, and the
    loss of every class is finite (the log-domain bin terms, not a difference of sigmoids)."""
    y = np.array([0.0, mean, log_scale])
    probs = HEAD.class_probs(y)
    assert_allclose(probs.sum(), 1.0, rtol=1e-9)
    labels = np.arange(256)[None]
    losses = [HEAD.loss(y[None, None], labels[:, c : c + 1]) for c in range(256)]
    assert np.all(np.isfinite(losses))
    assert np.all([hk._mixture_row_loss(y, c) == pytest.approx(loss, rel=1e-10, abs=1e-10)
                   for c, loss in zip(range(256), losses)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_heads_loss_is_the_mean_of_the_log_domain_twin(rng, dtype):
    """MixtureHead.loss (compiled) against the NumPy log-domain twin, over a batch of sequences
    with both open classes, far tails and labels of any integer dtype; nothing to score is NaN."""
    y = random_rows(rng, 60, 5).reshape(3, 20, 15).astype(dtype)
    labels = rng.integers(0, 256, (3, 20))
    labels[0, :2] = [0, 255]
    y[1, 0, 5:10], y[1, 0, 10:] = 0.9, -7.0  # every mean ~990 scales above class 128: only the exact form holds it
    labels[1, 0] = 128
    assert np.isnan(hk._mixture_row_loss_fast(y[1, 0].astype(np.float64), 128))
    twin = float(np.mean(naive.mixture_nats(y, labels)))
    assert np.isfinite(twin)
    assert HEAD.loss(y, labels) == pytest.approx(twin, rel=1e-12)
    assert HEAD.loss(y, labels.astype(np.uint8)) == HEAD.loss(y, labels)
    assert np.isnan(HEAD.loss(np.zeros((0, 15)), np.zeros(0, int)))


def test_the_fast_row_loss_is_the_exact_one_where_it_answers(rng):
    """_mixture_row_loss_fast (the scale fits' loss) against the exact log-domain form: the same
    loss to 1e-12 wherever it answers, and it answers most ordinary rows; it declines (NaN, for
    the exact form) the outer classes, a bin wide enough to hold a clamped-narrow component many
    scales inside it, and a label so far from every component that its probability is tiny."""
    rows = random_rows(rng, 400, 5)
    labels = rng.integers(1, 255, 400)
    answered = 0
    for row, label in zip(rows, labels):
        fast = hk._mixture_row_loss_fast(row, label)
        if not np.isnan(fast):
            answered += 1
            assert fast == pytest.approx(hk._mixture_row_loss(row, label), rel=1e-12)
    assert answered > 300
    row = np.array([0.0, 0.0, -2.0])  # one component at 0, scale e^-2
    assert not np.isnan(hk._mixture_row_loss_fast(row, 128))
    assert np.isnan(hk._mixture_row_loss_fast(row, 0)) and np.isnan(hk._mixture_row_loss_fast(row, 255))
    widest = int(np.argmax(np.diff(mu_law_edges())[1:-1])) + 1  # an inner class, the widest bin
    middle = (mu_law_edges()[widest] + mu_law_edges()[widest + 1]) / 2
    assert np.isnan(hk._mixture_row_loss_fast(np.array([0.0, middle, LOG_SCALE_MIN]), widest))
    far = np.array([0.0, 0.9, -7.0])  # class 128 lies 0.9 / e^-7 ~ 990 scales below the mean
    assert np.isnan(hk._mixture_row_loss_fast(far, 128)) and np.isfinite(hk._mixture_row_loss(far, 128))


def hard_rows(rng, k):
    """Mixture rows (3, 100, 3K) and labels (3, 100) with what the gradient must get right: both
    open classes, means far outside their bins, log-scales exactly at and below the clamp."""
    y = random_rows(rng, 300, k)
    labels = rng.integers(0, 256, 300)
    labels[:60] = np.tile([0, 255, 128], 20)  # the open-ended classes, and the narrowest bins
    y[30:90, k : 2 * k] = rng.choice([-50.0, -3.0, 3.0, 50.0], size=(60, k))
    y[90:120, 2 * k :] = LOG_SCALE_MIN
    y[120:150, 2 * k :] = rng.uniform(-40, LOG_SCALE_MIN, size=(30, k))
    return y.reshape(3, 100, 3 * k), labels.reshape(3, 100)


def assert_grad_close(grad, twin):
    """Every entry within 1e-12 of the twin's, relative to the larger of the largest entry of its
    row and a row's share of the mean (1 / rows): an entry that is a difference (a logit's pi -
    responsibility, each at most that share; a mean's two sigmoids) cancels to less."""
    row_size = np.maximum(np.abs(twin).max(axis=-1, keepdims=True), 1.0 / twin[..., 0].size)
    assert np.all(np.abs(grad - twin) <= 1e-12 * row_size)


def test_the_row_gradient_is_the_log_domain_twins(rng):
    """_mixture_row_grad (one row: its -log P, its 3K gradient written into a slice) against the
    NumPy twin on single rows, its loss the exact row loss's."""
    y, labels = hard_rows(rng, 4)
    grad, terms = np.empty(12), np.empty(4)
    for row, label in zip(y.reshape(-1, 12), labels.reshape(-1)):
        nats = hk._mixture_row_grad(row, label, grad, terms)
        twin_loss, twin_grad = naive.mixture_loss_and_grad(row, label)
        assert nats == pytest.approx(twin_loss, rel=1e-12)
        assert nats == pytest.approx(hk._mixture_row_loss(row, label), rel=1e-12)
        assert_grad_close(grad, twin_grad)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_the_heads_gradient_is_the_log_domain_twins(rng, k):
    """MixtureHead.loss_and_grad (compiled) against the NumPy twin it replaced, on a batch of hard
    rows: the loss to 1e-12, the gradient as assert_grad_close says, and none into a clamped
    log-scale; float32 outputs give a float32 gradient, the twin's to float32 rounding."""
    y, labels = hard_rows(rng, k)
    loss, grad = HEAD.loss_and_grad(y, labels)
    twin_loss, twin_grad = naive.mixture_loss_and_grad(y, labels)
    assert np.isfinite(twin_loss) and loss == pytest.approx(twin_loss, rel=1e-12)
    assert grad.shape == y.shape and grad.dtype == np.float64
    assert_grad_close(grad, twin_grad)
    clamped = y[..., 2 * k :] <= LOG_SCALE_MIN
    assert clamped.sum() >= 60 * k and np.all(grad[..., 2 * k :][clamped] == 0)
    loss32, grad32 = HEAD.loss_and_grad(y.astype(np.float32), labels.astype(np.uint8))
    twin32 = naive.mixture_loss_and_grad(y.astype(np.float32), labels)
    assert grad32.dtype == np.float32 and loss32 == pytest.approx(twin32[0], rel=1e-12)
    assert_allclose(grad32, twin32[1], rtol=1e-6, atol=1e-6 * np.abs(twin32[1]).max())


@pytest.mark.parametrize("k", [1, 3])
def test_head_gradient_matches_central_differences(rng, k):
    """The compiled gradient against central differences of the compiled losses: loss_and_grad's
    own and the scoring loss (MixtureHead.loss), which agree to 1e-12."""
    y = random_rows(rng, 12, k)[None]
    y[..., 2 * k :] = rng.uniform(-5, 0, size=(12, k))  # losses small enough for differences to resolve
    labels = rng.integers(0, 256, size=(1, 12))
    labels[0, :3] = [0, 255, 128]  # both open-ended classes, and the narrowest bins
    y[0, 1, k : 2 * k] = 3.0  # means far above every bin
    y[0, 3, 2 * k], y[0, 4, 2 * k] = LOG_SCALE_MIN - 1, LOG_SCALE_MIN  # clamped (below, at): no gradient flows in
    labels[0, 3:5] = mu_law_encode(y[0, 3:5, k])  # (each narrow component's label the class of its mean)
    loss, grad = HEAD.loss_and_grad(y, labels)
    assert loss == pytest.approx(-np.mean(np.log(HEAD.class_probs(y)[0, np.arange(12), labels[0]])), rel=1e-12)
    assert loss == pytest.approx(HEAD.loss(y, labels), rel=1e-12)
    for score in (HEAD.loss, lambda v, t: HEAD.loss_and_grad(v, t)[0]):
        numeric = np.zeros_like(y)
        eps = 1e-6
        for idx in np.ndindex(y.shape):
            up, down = y.copy(), y.copy()
            up[idx] += eps
            down[idx] -= eps
            numeric[idx] = (score(up, labels) - score(down, labels)) / (2 * eps)
        numeric[0, 4, 2 * k] = 0  # the clamp's kink: the gradient there is 0 by choice
        assert np.abs(numeric - grad).max() < 1e-7
    assert grad[0, 3, 2 * k] == 0 and grad[0, 4, 2 * k] == 0


@pytest.mark.parametrize("label", [0, 128, 255])
@pytest.mark.parametrize("column", [0, 3, 6])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_outputs_are_scored_as_the_twin_scores_them(value, column, label):
    """Outputs that training drove to NaN or infinity: the loss is NaN exactly where the twin's is
    (the trainers then report divergence), and so is each gradient entry; finite ones agree; no
    warnings. (One infinite component can leave P finite: an infinite mean puts no mass on an
    inner bin, and a log-scale of -inf is clamped.) A bad row leaves the other rows' gradients."""
    y = np.array([[0.3, -0.2, 0.1, 0.01, -0.3, 0.5, -3.0, -5.0, -2.0]] * 2)
    y[1, column] = value
    labels = np.array([label, label])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = HEAD.loss_and_grad(y[None, 1:], labels[None, 1:])
        twin_loss, twin_grad = naive.mixture_loss_and_grad(y[None, 1:], labels[None, 1:])
        assert np.isnan(loss) == np.isnan(twin_loss)
        if not np.isnan(loss):
            assert loss == pytest.approx(twin_loss, rel=1e-12)
        assert np.array_equal(np.isnan(grad), np.isnan(twin_grad)) and not np.isinf(grad).any()
        assert_grad_close(np.nan_to_num(grad), np.nan_to_num(twin_grad))
        both, both_grad = HEAD.loss_and_grad(y[None], labels[None])
    assert np.isnan(both) == np.isnan(loss)
    assert_grad_close(both_grad[0, 0], naive.mixture_loss_and_grad(y[None, :1], labels[None, :1])[1][0, 0] / 2)


@pytest.mark.parametrize("arch", ["cw", "lstm"])
@pytest.mark.parametrize("steps", ["all", "last", "mean"])
def test_model_gradient_matches_central_differences(arch, steps, rng):
    if arch == "cw":
        model = cwfast.ClockworkRNN(1, 6, module_sizes=[2, 2], periods=[1, 3], seed=3, dtype=np.float64,
                                    output="mixture")
    else:
        model = cwfast.LSTM(1, 6, n_hidden=3, seed=3, dtype=np.float64, output="mixture")
    x = rng.normal(size=(2, 9, 1)) * 0.3
    labels = rng.integers(0, 256, size=(2, 9) if steps == "all" else (2,))
    loss, grad = model.loss_and_grad(x, labels, flat=True, steps=steps)
    assert loss == pytest.approx(model.loss(x, labels, steps=steps), rel=1e-12)
    theta = model.params.copy()
    numeric = np.empty_like(theta)
    for k in range(theta.size):
        model.params[k] = theta[k] + 1e-6
        up = model.loss(x, labels, steps=steps)
        model.params[k] = theta[k] - 1e-6
        down = model.loss(x, labels, steps=steps)
        model.params[k] = theta[k]
        numeric[k] = (up - down) / 2e-6
    assert np.abs(numeric - grad).max() < 1e-7


def test_forward_gives_weights_means_and_scales(rng):
    model = cwfast.ClockworkRNN(1, 9, n_hidden=6, n_modules=2, seed=0, output="mixture")
    x = rng.normal(size=(5, 1)).astype(np.float32)
    raw = model.forward(x, raw=True)
    out = model.forward(x)
    assert_allclose(out[:, :3].sum(axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(out[:, 3:6], raw[:, 3:6])
    assert_allclose(out[:, 6:], np.exp(raw[:, 6:]), rtol=1e-6)


def test_mu_law_class_in_the_kernel_is_the_codecs(rng):
    """On what generation feeds it (float32 amplitudes), the kernel's class is the codec's, at and
    next to every bin edge too. (Exact float64 edges, which no float32 amplitude is, may round
    either way: the two log1p implementations differ in their last bit.)"""
    inner = EDGES[1:-1].astype(np.float32)
    up, down = np.nextafter(inner, np.float32(2)), np.nextafter(inner, np.float32(-2))
    points = np.concatenate([np.linspace(-1, 1, 2001, dtype=np.float32), inner, up, down,
                             np.nextafter(up, np.float32(2)), VALUES, rng.uniform(-1, 1, 20000).astype(np.float32)])
    points = points.astype(np.float64)
    kernel = np.array([hk._mu_law_class(p) for p in points])
    np.testing.assert_array_equal(kernel, mu_law_encode(points))


def test_draws_follow_the_class_probabilities():
    row = np.array([0.3, -0.4, 0.0, 0.05, -0.2, 0.3, np.log(0.02), np.log(0.004), np.log(0.2)])
    rng = np.random.default_rng(5)
    u = rng.random((100_000, 2))
    weights = np.empty(3)
    draws = np.array([hk._draw_mixture(row, 1.0, a, b, weights) for a, b in u])
    assert draws.min() >= -1 and draws.max() <= 1
    empirical = np.bincount(mu_law_encode(draws), minlength=256) / draws.size
    # 100k draws over the classes this mixture reaches: the total variation from sampling alone
    # is about 0.01 here; a wrong scale, mean or weight moves it by far more.
    assert 0.5 * np.abs(empirical - HEAD.class_probs(row)).sum() < 0.02
    greedy = hk._draw_mixture(row, 0.0, 0.7, 0.7, weights)
    assert greedy == pytest.approx(0.05)  # temperature 0: the likeliest component's mean


def test_sample_is_the_loop_it_describes(rng):
    """model.sample equals a Python loop over forward(): the model reads the class value of what it
    emitted (0 before the start), emits the drawn amplitude, two uniforms a step."""
    model = cwfast.ClockworkRNN(1, 12, n_hidden=8, n_modules=3, seed=1, output="mixture")
    out = model.sample(300, values=VALUES, seed=4, temperature=0.8)
    u = np.random.default_rng(4).random((300, 2))
    state, x, expected = None, 0.0, []
    for s in range(300):
        read = VALUES[mu_law_encode(x)] if x != 0 else 0.0
        y, state = model.forward(np.array([[read]], np.float32), state=state, return_state=True, raw=True)
        x = float(np.float32(hk._draw_mixture(y[0].astype(np.float64), 1 / 0.8, u[s, 0], u[s, 1], np.empty(4))))
        expected.append(x)
    np.testing.assert_array_equal(out, np.array(expected, np.float32))
    inside = out[np.abs(out) < 1]  # an untrained model clips many draws to +-1
    assert inside.size > 100 and not np.any(np.isin(inside, VALUES))  # amplitudes, not class values


def test_sample_continues_across_calls():
    model = cwfast.LSTM(1, 9, n_hidden=5, seed=2, output="mixture")
    whole = model.sample(500, values=VALUES, seed=7)
    rng = np.random.default_rng(7)
    a, state = model.sample(123, values=VALUES, seed=rng, return_state=True)
    b = model.sample(377, values=VALUES, seed=rng, state=state, first_input=float(a[-1]))
    np.testing.assert_array_equal(np.concatenate([a, b]), whole)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stream_equals_forward(dtype, rng):
    model = cwfast.ClockworkRNN(1, 15, n_hidden=10, n_modules=3, seed=0, dtype=dtype, output="mixture")
    model.params[:] *= 5
    x = rng.normal(size=(200, 1)).astype(dtype)
    stream = cwfast.Stream(model)
    out = np.concatenate([stream.process(x[a:b]) for a, b in ((0, 1), (1, 64), (64, 200))])
    np.testing.assert_array_equal(out, model.forward(x))


def test_bad_sizes_and_labels():
    with pytest.raises(ParameterError, match="3 x the number of mixture components"):
        cwfast.ClockworkRNN(1, 10, n_hidden=4, n_modules=2, output="mixture")
    model = cwfast.ClockworkRNN(1, 6, n_hidden=4, n_modules=2, output="mixture")
    # The mixture's own words: it said "for n_out=256" of a model of 6 outputs, and "a softmax model".
    with pytest.raises(ParameterError, match=r"^target labels must lie in \[0, 256\) for the 256 mu-law classes the "
                       "mixture is scored on$"):
        model.loss(np.zeros((3, 1)), [0, 1, 256])
    with pytest.raises(ParameterError, match="^target has dtype float64; a mixture model takes integer class labels$"):
        model.loss(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ParameterError, match=r"values has shape \(6,\); expected \(256,\)"):
        model.sample(3, values=np.zeros(6))


def test_save_and_load(tmp_path, rng):
    model = cwfast.ClockworkRNN(1, 6, n_hidden=4, n_modules=2, seed=1, output="mixture")
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.output == "mixture"
    x = rng.normal(size=(20, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def run_cli(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_trains_generates_and_describes_a_mixture_model(tmp_path, capsys):
    import soundfile as sf

    t = np.arange(8000) / 8000
    clip = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    sf.write(tmp_path / "tone.wav", clip, 8000)
    status, _, err = run_cli(capsys, "train", tmp_path / "tone.wav", "--mode", "autoregressive", "--head", "mixture",
                             "--components", "4", "--hidden", "8", "--modules", "2", "--epochs", "2",
                             "-o", tmp_path / "m.npz", "-q")
    assert status == 0, err
    status, out, _ = run_cli(capsys, "info", tmp_path / "m.npz")
    assert "mixture of 4 logistics over 256 mu-law classes" in out
    status, _, err = run_cli(capsys, "generate", "-m", tmp_path / "m.npz", "--seconds", "0.5", "--seed", "1",
                             "-o", tmp_path / "g.wav", "-q")
    assert status == 0, err
    audio, rate = sf.read(tmp_path / "g.wav")
    assert rate == 8000 and audio.size == 4000 and np.all(np.isfinite(audio))
    model = cwfast.load(tmp_path / "m.npz")
    assert model.output == "mixture" and model.n_out == 12


@pytest.mark.parametrize("args, phrase", [
    (["--head", "softmax", "--components", "4"], "--components is the number of logistics of --head mixture"),
    (["--mode", "effect", "--target", "tone.wav", "--head", "mixture"], "are for autoregressive mode"),
    (["--head", "mixture", "--classes", "64"], "takes no --classes 64"),
])
def test_cli_refuses_mixture_options_that_do_not_fit(tmp_path, capsys, args, phrase):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(800) / 5.0) * 0.5, 8000)
    mode = [] if "--mode" in args else ["--mode", "autoregressive"]
    args = [tmp_path / a if a == "tone.wav" else a for a in args]
    status, _, err = run_cli(capsys, "train", tmp_path / "tone.wav", *mode, *args, "-o", tmp_path / "m.npz")
    assert status == 2
    assert phrase in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()



def test_cli_refuses_a_mixture_too_big_to_train_before_building_it(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(8000) / 5.0) * 0.5, 8000)
    status, _, err = run_cli(capsys, "train", tmp_path / "tone.wav", "--mode", "autoregressive",
                             "--components", "100000000", "-o", tmp_path / "m.npz")
    assert status == 2 and err.count("\n") == 1
    assert "--components 100000000: at most 256" in err  # more logistics than classes: refused outright
    status, _, err = run_cli(capsys, "train", tmp_path / "tone.wav", "--mode", "autoregressive",
                             "--components", "256", "--hidden", "3000000", "-o", tmp_path / "m.npz")
    assert status == 2 and err.count("\n") == 1
    assert "needs about" in err and "--components" in err
    assert not (tmp_path / "m.npz").exists()


def test_the_kernels_constants_are_the_heads_and_the_codecs():
    """_head_kernels keeps its own copies (numba freezes globals; the cache stamp covers only kernel
    files): they must stay equal to the ones the Python heads and the codec use."""
    from cwfast import _head_kernels, codec, heads

    assert _head_kernels._MU == codec.N_CLASSES - 1
    assert _head_kernels._LOG_SCALE_MIN == heads.LOG_SCALE_MIN
