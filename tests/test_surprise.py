"""Mixture scales that follow the model's recent surprise (cwfast.model.Surprise, fit_surprise):
a slow twin of the recursion, the paths that run it (forward, loss, advance,
Stream and its voices, files), the paths that hold it at r = 1 (sampling), and the fit."""

import json
import math
import zipfile

import numpy as np
import pytest

import cwfast
from cwfast import ClockworkRNN, ParameterError, State, tasks
from cwfast.codec import mu_law_values
from cwfast.heads import LOG_SCALE_MIN, SURPRISE_R_RANGE
from cwfast.baselines import SRN
from cwfast.lstm import LSTM
from cwfast.model import LOSS_CHUNK, Surprise
from cwfast.scale_fit import SURPRISE_ALPHAS, SURPRISE_BETAS, fit_surprise
from cwfast.train_audio import state_before

import script_loading

SURPRISE = (1 / 8, 0.75, 1.4)


def mixture_model(arch="cw", surprise=SURPRISE, level=True, prediction=True):
    if arch in ("cw", "srn"):
        model = (ClockworkRNN(1, 15, n_hidden=12, n_modules=3, output="mixture", seed=3, input_windows=[4, 2, 1])
                 if arch == "cw" else SRN(1, 15, n_hidden=6, output="mixture", seed=5))
        if prediction:
            model.prediction = 3
            model.taps[:] = [0.8, -0.3, 0.1]
    else:
        model = LSTM(1, 15, n_hidden=8, output="mixture", seed=4)
    if level:
        model.level = (1 / 16, 0.1, 0.05, 0.4)
    model.surprise = surprise
    return model


def signal(n, seed=0):
    """Audio whose loudness jumps (loud, quiet, loud), as mu-law class values: what the surprise follows."""
    rng = np.random.default_rng(seed)
    envelope = np.where((np.arange(n) // 700) % 2 == 0, 0.5, 0.02)
    x = envelope * np.sin(2 * np.pi * np.arange(n) / 19.0) + envelope * 0.2 * rng.standard_normal(n)
    return mu_law_values(256)[cwfast.codec.mu_law_encode(np.clip(x, -1, 1))].astype(np.float32)


def naive_surprise(model, x, y_plain, start=(1.0, 0.0, 0.0)):
    """The slow twin: the scored outputs of the model without the scale, ``y_plain`` (T, 3K), with
    every log-scale of step t moved by beta log r(t), r, e, mean and spread computed by the
    docstring of cwfast.model.Surprise one step at a time."""
    s = model.surprise
    k = model.n_out // 3
    y = y_plain.astype(np.float64).copy()
    r, mean, spread = start
    for t in range(y.shape[0]):
        if spread > 0:
            e = abs(float(x[t]) - mean) / spread
            r = min(max(r + s.alpha * (e / s.mean - r), SURPRISE_R_RANGE[0]), SURPRISE_R_RANGE[1])
        weights = np.exp(y[t, :k] - y[t, :k].max())
        weights /= weights.sum()
        mean = float(weights @ y[t, k : 2 * k])
        spread = float(weights @ np.exp(np.maximum(y[t, 2 * k :], LOG_SCALE_MIN)))
        y[t, 2 * k :] += s.beta * math.log(r)
    return y, np.array([r, mean, spread])


def without_surprise(model):
    plain = model.copy()
    plain.surprise = None
    return plain


@pytest.mark.parametrize("arch", ["cw", "lstm"])
def test_forward_moves_the_log_scales_as_the_slow_twin_does(arch):
    model = mixture_model(arch)
    x = signal(3000)[:, None]
    plain = without_surprise(model).forward(x, raw=True)
    y, state = model.forward(x, raw=True, return_state=True)
    expected, expected_state = naive_surprise(model, x[:, 0], plain)
    k = model.n_out // 3
    np.testing.assert_array_equal(y[:, : 2 * k], plain[:, : 2 * k])  # weights and means untouched
    np.testing.assert_allclose(y, expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(state.surprise, expected_state, rtol=1e-9)
    moved = y[:, 2 * k :] - plain[:, 2 * k :]
    assert moved.std() > 0.1  # the loud and quiet stretches move the scales apart: the test can fail


def test_the_engines_surprise_is_the_prototypes_on_mu_law_audio():
    """With mu-law history the sample read at t + 1 is the class value of the target at t, so the
    engine's r(t) is the ratio scripts/prototype_adaptive_scale.py measured from the targets (an
    average of each target's distance from the mixture's mean in its spreads, over its mean): read
    back from how far forward moved the log-scales, beta log r(t)."""
    prototype = script_loading.load_script("prototype_adaptive_scale")

    task = tasks.make_task("autoregressive", signal(2000).astype(np.float64), history="mu-law")
    np.testing.assert_array_equal(task.inputs[1:, 0], mu_law_values(256)[task.targets[:-1]].astype(np.float32))
    model = mixture_model(surprise=None)
    plain = model.forward(task.inputs, raw=True).astype(np.float64)
    k = model.n_out // 3
    weights = np.exp(plain[:, :k] - plain[:, :k].max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = (weights * plain[:, k : 2 * k]).sum(axis=1)
    spread = (weights * np.exp(np.maximum(plain[:, 2 * k :], LOG_SCALE_MIN))).sum(axis=1)
    e = np.abs(mu_law_values(256)[task.targets] - mean) / spread  # the prototype's measure
    alpha, beta = 1 / 8, 0.75
    expected = prototype.running_ratio(e, alpha, e.size)  # normalised by the mean surprise
    assert SURPRISE_R_RANGE[0] < expected.min() and expected.max() < SURPRISE_R_RANGE[1]  # no clamp to tell apart
    model.surprise = (alpha, beta, float(e.mean()))
    moved = model.forward(task.inputs, raw=True).astype(np.float64)[:, 2 * k :] - plain[:, 2 * k :]
    np.testing.assert_allclose(np.exp(moved / beta), np.repeat(expected[:, None], k, axis=1), rtol=1e-5)
    assert expected.std() > 0.1  # the loud and quiet stretches move r: the comparison can fail


@pytest.mark.parametrize("arch", ["cw", "lstm"])
def test_any_split_gives_the_whole_sequences_outputs_and_loss(arch):
    model = mixture_model(arch)
    x = signal(LOSS_CHUNK + 1500)[:, None]
    targets = cwfast.codec.mu_law_encode(np.append(x[1:, 0], 0.0))
    whole = model.forward(x, raw=True)
    first, state = model.forward(x[:1234], raw=True, return_state=True)
    second = model.forward(x[1234:], raw=True, state=state)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    # loss runs in chunks of LOSS_CHUNK, carrying the surprise; it is the head's loss of forward's outputs
    assert model.loss(x, targets) == pytest.approx(model.head.loss(whole, targets), rel=1e-6)
    # advance keeps the surprise as forward does
    advanced = model.advance(x[:1234])
    np.testing.assert_array_equal(advanced.surprise, state.surprise)
    assert model.loss(x[1234:], targets[1234:], state=advanced) == pytest.approx(
        model.head.loss(second, targets[1234:]), rel=1e-6)
    # loss_and_grad has no gradient for r, which follows the model's own predictions: refused (it
    # held r as if fixed, 56% from finite differences), and nothing changes
    params = model.params.copy()
    with pytest.raises(ParameterError, match="no gradient for a model with a surprise-following scale"):
        model.loss_and_grad(x, targets, return_state=True)
    np.testing.assert_array_equal(model.params, params)
    assert model.surprise == Surprise(*SURPRISE)


def test_batches_keep_one_surprise_a_sequence():
    model = mixture_model()
    xb = np.stack([signal(900, seed=1), signal(900, seed=2)])[:, :, None]
    y, state = model.forward(xb, raw=True, return_state=True)
    assert state.surprise.shape == (2, 3)
    for b in range(2):
        yb, sb = model.forward(xb[b], raw=True, return_state=True)
        np.testing.assert_array_equal(y[b], yb)
        np.testing.assert_array_equal(state.surprise[b], sb.surprise)


def test_a_model_without_the_scale_ignores_a_given_surprise_state():
    model = mixture_model()
    x = signal(500)[:, None]
    _, state = model.forward(x, return_state=True)
    plain = without_surprise(model)
    np.testing.assert_array_equal(plain.forward(x, state=state), plain.forward(x, state=State(state.h, state.t)))
    assert plain.forward(x, return_state=True)[1].surprise is None


@pytest.mark.parametrize("voices", [None, 3])
def test_a_stream_runs_the_scale_as_forward_does(voices):
    model = mixture_model()
    if voices is None:
        x = signal(2500)[:, None]
        stream = cwfast.Stream(model)
        out = np.concatenate([stream.process(x[:700]), stream.process(x[700:701]), stream.process(x[701:])])
        expected, state = model.forward(x, return_state=True)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(stream.state.surprise, state.surprise)
        # a stream started from forward's state continues it
        more = signal(400, seed=5)[:, None]
        np.testing.assert_array_equal(cwfast.Stream(model, state=state).process(more), model.forward(more, state=state))
        stream.reset()
        np.testing.assert_array_equal(stream.process(x[:300]), expected[:300])
    else:
        x = np.stack([signal(1500, seed=s) for s in range(voices)])[:, :, None]
        stream = cwfast.Stream(model, voices=voices)
        out = np.concatenate([stream.process(x[:, :600]), stream.process(x[:, 600:])], axis=1)
        expected, state = model.forward(x, return_state=True)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stream.state.surprise, state.surprise, rtol=1e-5)
        stream.reset(voice=1)  # one voice starts again: r at 1, no step before
        np.testing.assert_allclose(stream.process(x[:, :200])[1], expected[1, :200], rtol=1e-5, atol=1e-6)
    # without the scale the stream's outputs differ: the comparisons above were not of two equal things
    assert not np.allclose(cwfast.Stream(without_surprise(model), voices=voices).process(x), expected, atol=1e-3)


def test_a_stream_follows_a_scale_given_to_the_model_after_it_was_built():
    model = mixture_model()
    x = signal(800)[:, None]
    stream = cwfast.Stream(without_surprise(model))
    stream.model.surprise = SURPRISE
    np.testing.assert_array_equal(stream.process(x), model.forward(x))


def test_generation_holds_r_at_one():
    model = mixture_model()
    values = mu_law_values(256)
    for temperature in (1.0, 0.5):
        a = model.sample(2000, values=values, temperature=temperature, seed=7)
        b = without_surprise(model).sample(2000, values=values, temperature=temperature, seed=7)
        np.testing.assert_array_equal(a, b)
    # and the state sampling returns starts the surprise anew
    _, state = model.sample(100, values=values, seed=1, return_state=True)
    assert state.surprise is None


@pytest.mark.parametrize("arch", ["cw", "srn", "lstm"])
def test_every_architecture_keeps_the_scale_level_and_taps_through_files_and_copies(tmp_path, arch):
    """An SRN is rebuilt through a Clockwork RNN's layout: its loader dropped the scale once."""
    model = mixture_model(arch)
    model.save(tmp_path / "m.npz")
    x = signal(600)[:, None]
    for other in (cwfast.load(tmp_path / "m.npz"), model.copy()):
        assert type(other) is type(model)
        assert (other.surprise, other.level, other.prediction) == (model.surprise, model.level, model.prediction)
        np.testing.assert_array_equal(other.forward(x), model.forward(x))


def test_files_keep_the_scale_and_say_they_need_a_newer_reader(tmp_path):
    model = mixture_model()
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.surprise == model.surprise == Surprise(*SURPRISE)
    x = signal(600)[:, None]
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    with zipfile.ZipFile(tmp_path / "m.npz") as archive, archive.open("header.npy") as fh:
        header = json.loads(str(np.lib.format.read_array(fh)[()]))
    assert header["version"] == 3
    without_surprise(model).save(tmp_path / "plain.npz")
    assert cwfast.load(tmp_path / "plain.npz").surprise is None
    assert model.copy().surprise == model.surprise


@pytest.mark.parametrize("value, match", [
    ((0.0, 0.5, 1.0), "alpha"), ((1.5, 0.5, 1.0), "alpha"), ((0.1, 0.0, 1.0), "beta"), ((0.1, 5.0, 1.0), "beta"),
    ((0.1, 0.5, 0.0), "mean"), ((0.1, 0.5, -1.0), "mean"), ((0.1, 0.5, float("inf")), "mean"),
    ((0.1, 0.5, 5e-324), "mean"),
    ((0.1, float("nan"), 1.0), "beta"), ((0.1, 0.5), "tuple"), ("fast", "tuple"),
])
def test_bad_scales_are_refused_and_change_nothing(value, match):
    model = mixture_model()
    with pytest.raises(ParameterError, match=match):
        model.surprise = value
    assert model.surprise == Surprise(*SURPRISE)


def test_only_an_autoregressive_mixture_model_takes_the_scale():
    for model in (ClockworkRNN(1, 8, n_hidden=6, n_modules=2, output="softmax", seed=0),
                  ClockworkRNN(2, 15, n_hidden=6, n_modules=2, output="mixture", seed=0)):
        with pytest.raises(ParameterError, match="mixture"):
            model.surprise = SURPRISE
        with pytest.raises(ParameterError, match="mixture"):
            fit_surprise(model, [(np.zeros((10, model.n_in), np.float32), np.zeros(10, np.int64), None)])


@pytest.mark.parametrize("surprise, match", [
    (np.ones(2), "shape"), (np.ones((2, 3)), "shape"), (np.array([0.0, 0.0, 0.0]), "r in"),
    (np.array([1e13, 0.0, 1.0]), "r in"), (np.array([1.0, 0.0, -1.0]), "spread"),
    (np.array([1.0, 0.0, 1e-300]), "spread"), (np.array([1.0, np.nan, 1.0]), "NaN"),
])
def test_a_bad_surprise_state_is_refused(surprise, match):
    model = mixture_model()
    with pytest.raises(ParameterError, match=match):
        model.forward(signal(10)[:, None], state=State(np.zeros(model._full_state_width(), np.float32), 0, surprise))


def test_the_evolution_strategy_refuses_a_model_with_the_scale():
    from cwfast.train import es

    model = mixture_model(prediction=False)
    x = signal(200)[:, None]
    with pytest.raises(ParameterError, match="surprise"):
        es.evolve(model, x, cwfast.codec.mu_law_encode(x[:, 0]), generations=1)


def test_the_fit_chooses_on_the_parts_and_scores_them_as_the_engine_does():
    """On audio whose loudness jumps, a model whose spread cannot follow it gains from the scale;
    the fit's figures are what loss() scores from r = 1 at each part's start, and no pair of the
    grid scores better."""
    model = mixture_model(surprise=None)
    clips = [signal(LOSS_CHUNK + 3000, seed=1), signal(2000, seed=2)]
    per_clip = tasks.corpus([c.astype(np.float64) for c in clips], validation=0.5, test=0.1, history="mu-law")
    parts = [(c.validation.inputs, c.validation.targets, state_before(model, c, "validation")) for c in per_clip]
    n = sum(t.shape[0] for _, t, _ in parts)

    def bits(m):
        return sum(m.loss(x, t, state=s) * t.shape[0] for x, t, s in parts) / n / math.log(2)

    before = bits(model)
    fit = fit_surprise(model, parts)
    assert fit["samples"] == n
    assert fit["bits_before"] == pytest.approx(before, abs=1e-6)
    assert model.surprise == Surprise(fit["alpha"], fit["beta"], fit["mean"])
    assert fit["bits_after"] == pytest.approx(bits(model), abs=1e-6)
    assert fit["bits_after"] < before - 0.05
    for alpha in SURPRISE_ALPHAS:
        for beta in SURPRISE_BETAS:
            model.surprise = (alpha, beta, fit["mean"])
            assert bits(model) >= fit["bits_after"] - 1e-6
    # The mean is the parts' mean surprise: with it, r averages about 1 over them.
    model.surprise = (1.0, 1.0, fit["mean"])
    r = [np.exp(model.forward(x, raw=True, state=s)[1:, 10] - without_surprise(model).forward(x, raw=True, state=s)[1:, 10])
         for x, _, s in parts]
    assert np.mean(np.concatenate(r)) == pytest.approx(1.0, rel=1e-3)


def test_the_fit_refuses_empty_parts_and_restores_the_model_on_failure():
    model = mixture_model()
    with pytest.raises(ParameterError, match="empty"):
        fit_surprise(model, [])
    assert model.surprise == Surprise(*SURPRISE)


def test_parts_of_one_sample_each_have_no_surprise_to_follow():
    """No step has one before it (a clip so short its held-out parts are one sample): nothing to
    fit, so no scale is kept and the figures are the plain model's (the fit raised before)."""
    model = mixture_model()
    clips = [signal(40, seed=3), signal(30, seed=4)]
    per_clip = tasks.corpus([c.astype(np.float64) for c in clips], validation=0.03, test=0.03, history="mu-law")
    parts = [(c.validation.inputs, c.validation.targets, state_before(model, c, "validation")) for c in per_clip]
    assert [t.shape[0] for _, t, _ in parts] == [1, 1]
    model.surprise = None
    plain = sum(model.loss(x, t, state=st) for x, t, st in parts) / 2 / math.log(2)
    fit = fit_surprise(model, parts)
    assert model.surprise is None and fit["alpha"] is None and fit["beta"] == 0.0
    assert fit["bits_before"] == fit["bits_after"] == pytest.approx(plain, abs=1e-6)


def test_the_kernels_bounds_are_the_heads():
    from cwfast import _head_kernels

    assert (_head_kernels._R_MIN, _head_kernels._R_MAX) == SURPRISE_R_RANGE


def test_scale_mixture_moves_the_scales_of_a_model_with_the_scale_by_the_factor():
    """The mean follows the factor, so r is unchanged and every scale moves by the factor exactly
    (the scale fit's arithmetic stays right for a model that has one)."""
    model = mixture_model()
    x = signal(1500)[:, None]
    before, state = model.forward(x, raw=True, return_state=True)
    model.scale_mixture(3.0)
    after, moved = model.forward(x, raw=True, return_state=True)
    k = model.n_out // 3
    np.testing.assert_allclose(after[:, 2 * k :], before[:, 2 * k :] + math.log(3.0), atol=2e-5)
    np.testing.assert_allclose(moved.surprise[0], state.surprise[0], rtol=1e-4)
    assert model.surprise.mean == pytest.approx(SURPRISE[2] / 3.0)


def test_the_gradient_trainer_refuses_a_model_with_the_scale():
    from cwfast.train import fit

    model = mixture_model()
    params = model.params.copy()
    x = signal(300)[:, None]
    with pytest.raises(ParameterError, match="surprise"):
        fit(model, x, cwfast.codec.mu_law_encode(x[:, 0]), epochs=1)
    np.testing.assert_array_equal(model.params, params)


def test_a_stream_starts_the_surprise_anew_when_the_model_gets_it_back():
    model = mixture_model()
    x = signal(1200)[:, None]
    stream = cwfast.Stream(model)
    stream.process(x[:500])
    model.surprise = None
    stream.process(x[500:800])
    state = stream.state
    assert state.surprise is None
    model.surprise = SURPRISE
    np.testing.assert_array_equal(stream.process(x[800:]), model.forward(x[800:], state=state))


def test_info_shows_the_scale_the_model_runs(tmp_path, capsys):
    from cwfast.cli import main

    model = mixture_model()
    model.metadata["surprise_fit"] = {"alpha": 0.5, "beta": 1.0, "mean": 1.0, "bits_before": 5.0, "bits_after": 4.0}
    model.save(tmp_path / "api.npz")  # set through the API: shown as the model has it, the fit's figures not
    assert main(["info", str(tmp_path / "api.npz")]) == 0
    assert "scales x r^0.75, r its surprise over about the last 8 samples; generation holds r at 1" in capsys.readouterr().out
    model.surprise = None  # taken off after a fit: not shown
    model.save(tmp_path / "none.npz")
    assert main(["info", str(tmp_path / "none.npz")]) == 0
    assert "surprise" not in capsys.readouterr().out


def test_the_stream_benchmark_runs(tmp_path, capsys):
    module = _script("bench_surprise_stream")
    mixture_model().save(tmp_path / "m.npz")
    module.main([str(tmp_path / "m.npz"), "--block", "512", "--runs", "1"])
    assert capsys.readouterr().out.startswith("block 512: with the scale ")
    without_surprise(mixture_model()).save(tmp_path / "plain.npz")
    from cwfast.errors import CwfastError

    # A CwfastError, which the script's entry point says in one line with exit status 2 (a
    # SystemExit with the message exited 1, without the script's name).
    with pytest.raises(CwfastError, match="no surprise"):
        module.main([str(tmp_path / "plain.npz")])


def test_the_level_means_prototype_scores_as_the_engine_does(tmp_path, capsys):
    """scripts/prototype_level_means.py: its figures as the model is are the engine's held-out
    figures (the surprise carried from the start of the clip), and the shrink changes only steps
    whose level is below the band's floor."""
    import soundfile

    module = _script("prototype_level_means")
    model = mixture_model()
    model.sample_rate = 8000
    clip = signal(4000, seed=3).astype(np.float64)
    soundfile.write(tmp_path / "clip.wav", clip, 8000, subtype="FLOAT")
    model.save(tmp_path / "m.npz")
    module.main([str(tmp_path / "m.npz"), str(tmp_path / "clip.wav")])
    row = json.loads(capsys.readouterr().out)
    per = tasks.corpus([clip], validation=0.1, test=0.1, history="mu-law")[0]
    for i, part in enumerate(("validation", "test")):
        expected = tasks.evaluate(model, getattr(per, part), state=state_before(model, per, part))["bits_per_sample"]
        assert row["as_it_is_with_surprise"][i] == pytest.approx(expected, abs=1e-5)
        assert row["as_it_is"][i] == pytest.approx(tasks.evaluate(without_surprise(model), getattr(per, part), state=state_before(
            without_surprise(model), per, part))["bits_per_sample"], abs=1e-5)
    x = np.concatenate([per.train.inputs, per.validation.inputs, per.test.inputs])
    y, shrunk = module.shrunk_means(model, x)
    below = model.level.levels(x[:, 0].astype(np.float64)) < model.level.floor
    assert below.any() and not below.all()
    np.testing.assert_allclose(shrunk[~below], y[~below], atol=1e-6)
    assert np.abs(shrunk[below] - y[below]).max() > 1e-3


@pytest.mark.parametrize("name", ["prototype_level_means", "measure_scale_fit"])
def test_the_held_out_scripts_refuse_audio_the_model_was_not_trained_on(name, tmp_path):
    """Its parts are cut from the audio given: another length than the model trained on (the
    whole recording of a model trained on a part, the untrimmed one of a trimmed model) would be
    scored as if held out; refused, as a one-line error by the script's own entry point."""
    import soundfile

    from cwfast.errors import CwfastError

    module = _script(name)
    model = mixture_model()
    model.sample_rate = 8000
    model.metadata["length"] = 3000
    soundfile.write(tmp_path / "clip.wav", signal(4000, seed=3).astype(np.float64), 8000, subtype="FLOAT")
    model.save(tmp_path / "m.npz")
    argv = ([] if name == "prototype_level_means" else ["--surprise"]) + [str(tmp_path / "m.npz"), str(tmp_path / "clip.wav")]
    with pytest.raises(CwfastError, match="was trained on 3000 samples at 8000 Hz and .* has 4000 there"):
        module.main(argv)


_script = script_loading.load_script
