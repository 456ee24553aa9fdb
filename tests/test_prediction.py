"""Linear prediction in autoregressive mixture models (SequenceModel.prediction): the means against
a Python loop, gradients against finite differences, state continuity, sampling against forward,
files, refusals, Stream and the command line. The C export of such models is checked against
Python in tests/test_export.py."""

from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cwfast
from cwfast import ClockworkRNN, State
from cwfast.codec import mu_law_encode, mu_law_values
from cwfast.errors import ParameterError
from cwfast.model import MAX_PREDICTION_TAPS
from cwfast.train import evolve
from test_cli import assert_user_error, run, train_and_use
from test_level import audio_inputs, check_split_anywhere, numeric_gradient
from test_level import make as levelled_model

VALUES = mu_law_values()
TAPS = [0.9, -0.4, 0.2, 0.1]


def make(kind, dtype=np.float64, level=True, taps=TAPS):
    """test_level's small models, with the taps (and without the level unless ``level``)."""
    model = levelled_model(kind, dtype)
    if not level:
        model.level = None
    model.prediction = len(taps)
    model.taps[:] = taps
    return model


def plain(model):
    """The model without its prediction (the same network, level and parameters otherwise)."""
    twin = model.copy()
    twin.prediction = 0
    return twin


def normalised(model, x):
    """What the network reads of ``x`` (n, 1) and the gains it was divided by (ones without a level)."""
    gains = np.ones(x.shape[0])
    if model.level is not None:
        b = model.level.start
        for t in range(x.shape[0]):
            b = b + model.level.alpha * (abs(x[t, 0]) - b)
            gains[t] = min(max(b, model.level.floor), model.level.ceiling)
    return x[:, 0] / gains, gains


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
@pytest.mark.parametrize("level", [False, True])
def test_means_get_the_linear_prediction_of_the_inputs_read(kind, level, rng):
    model = make(kind, level=level)
    x, _ = audio_inputs(rng, 1, 50)
    y, state = model.forward(x[0], raw=True, return_state=True)
    want = plain(model).forward(x[0], raw=True)
    xn, gains = normalised(model, x[0])
    k = y.shape[1] // 3
    for t in range(50):
        p = sum(TAPS[j] * xn[t - j] for j in range(len(TAPS)) if t - j >= 0)
        want[t, k : 2 * k] += p * gains[t]  # in the network's units, then scaled by the level
    assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    # the state keeps the network's state, then the last K - 1 inputs read, then the level
    kept = len(TAPS) - 1
    width = state.h.size - kept - level
    assert_allclose(state.h[width : width + kept], xn[-kept:], rtol=1e-15)
    assert width == plain(model).forward(x[0], return_state=True)[1].h.size - level


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_gradient_matches_finite_differences(kind, rng):
    model = make(kind)
    x, labels = audio_inputs(rng, 2, 25)
    state = State(np.tile(model.forward(x[0, :7], return_state=True)[1].h, (2, 1)), 7)
    loss, grad = model.loss_and_grad(x, labels, flat=True, state=state)
    assert loss == pytest.approx(model.loss(x, labels, state=state), rel=1e-12)
    assert_allclose(grad, numeric_gradient(model, x, labels, state), rtol=1e-5, atol=1e-7)
    dense = model.loss_and_grad(x, labels, state=state)[1]
    assert_array_equal(dense["taps"], grad[-len(TAPS) :])


@pytest.mark.parametrize("kind", ["cw", "lstm"])
def test_a_sequence_split_anywhere_gives_the_same_bits(kind, rng):
    check_split_anywhere(make(kind, dtype=np.float32), rng, 2)  # a first piece shorter than the taps


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_sampling_reads_what_forward_reads(kind):
    """The state after sampling is the state after forward over the values sampling fed back, and
    at temperature 0 each output is the likeliest component's mean, prediction included."""
    model = make(kind)
    out, state = model.sample(80, values=VALUES, temperature=0.7, seed=3, first_input=0.3, return_state=True)
    fed = np.concatenate([[0.3], out[:-1]])
    fed = np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)
    assert_array_equal(state.h, model.forward(fed[:, None], return_state=True)[1].h)
    a, mid = model.sample(30, values=VALUES, seed=5, first_input=0.2, return_state=True)
    b, end = model.sample(20, values=VALUES, seed=6, first_input=a[-1], state=mid, return_state=True)
    fed = np.concatenate([[0.2], a, b[:-1]])
    fed = np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)
    y, want = model.forward(fed[:, None], raw=True, return_state=True)
    assert_array_equal(end.h, want.h)
    greedy = model.sample(6, values=VALUES, temperature=0.0, first_input=0.3)
    fed = np.concatenate([[0.3], greedy[:-1]])
    y = model.forward(np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)[:, None], raw=True)
    k = y.shape[1] // 3
    assert_allclose(greedy, np.clip(y[np.arange(6), k + y[:, :k].argmax(axis=1)], -1, 1), rtol=1e-12)


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_files_and_copies_keep_the_taps(kind, tmp_path, rng):
    model = make(kind, dtype=np.float32)
    model.save(tmp_path / "m.npz")
    x, _ = audio_inputs(rng, 1, 40)
    for twin in (cwfast.load(tmp_path / "m.npz"), model.copy()):
        assert twin.prediction == len(TAPS)
        assert_array_equal(twin.taps, model.taps)
        assert_array_equal(twin.forward(x[0]), model.forward(x[0]))
    assert_array_equal(model.to_dense()["taps"], np.float32(TAPS))
    # a cwfast that reads format 1 only would drop the taps: the file says it needs format 2
    import json

    with np.load(tmp_path / "m.npz") as archive:
        assert json.loads(str(archive["header"]))["version"] == 2
    plain(model).save(tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as archive:
        assert json.loads(str(archive["header"]))["version"] == (2 if model.level is not None else 1)


def test_setting_the_prediction_keeps_the_network_and_zeroes_the_taps(rng):
    model = make("cw")
    network = model.params[: -len(TAPS)].copy()
    model.prediction = 2
    assert model.n_params == network.size + 2
    assert_array_equal(model.params[:-2], network)
    assert_array_equal(model.taps, [0.0, 0.0])
    x, _ = audio_inputs(rng, 1, 30)
    model.prediction = 0
    assert_array_equal(model.params, network)
    assert_array_equal(model.forward(x[0]), make("cw", taps=[]).forward(x[0]))


@pytest.mark.parametrize("build, phrase", [
    (lambda: ClockworkRNN(1, 9, n_hidden=4, n_modules=2), "mixture"),
    (lambda: ClockworkRNN(2, 9, n_hidden=4, n_modules=2, output="mixture"), "n_in=1"),
])
def test_only_autoregressive_mixture_models_take_a_prediction(build, phrase):
    model = build()
    with pytest.raises(ParameterError, match=phrase):
        model.prediction = 3
    assert model.prediction == 0
    model = make("cw")
    for bad in (-1, MAX_PREDICTION_TAPS + 1, 2.5, np.nan):
        with pytest.raises(ParameterError, match="prediction"):
            model.prediction = bad
    assert model.prediction == len(TAPS)  # unchanged by a refused value


def test_the_evolution_strategy_refuses_taps_and_changes_nothing(rng):
    model = make("cw")
    before = model.params.copy()
    x, labels = audio_inputs(rng, 1, 40)
    with pytest.raises(ParameterError, match="gradient trainer"):
        evolve(model, x[0], labels[0], generations=1, population=4, progress=False)
    assert_array_equal(model.params, before)


def test_a_state_without_the_prediction_history_is_refused(rng):
    model = make("lstm")
    width = plain(model).forward(np.zeros((1, 1)), return_state=True)[1].h.size
    with pytest.raises(ParameterError, match="state.h has shape"):
        model.forward(np.zeros((3, 1)), state=State(np.zeros(width), 0))


@pytest.mark.parametrize("kind", ["cw", "lstm"])
@pytest.mark.parametrize("voices", [None, 3])
def test_a_stream_gives_the_bits_of_forward_however_the_audio_is_split(kind, voices, rng):
    model = make(kind, dtype=np.float32)
    lanes = voices or 1
    x = np.stack([audio_inputs(rng, 1, 300)[0][0] for _ in range(lanes)]).astype(np.float32)
    want = np.stack([model.forward(x[v]) for v in range(lanes)])
    stream = cwfast.Stream(model, voices=voices)
    got, start = [], 0
    for n in (1, 2, 60, 64, 173):
        block = x[:, start : start + n] if voices else x[0, start : start + n]
        got.append(stream.process(block) if voices else stream.process(block)[None])
        start += n
    # One voice runs forward's kernels' arithmetic: the same bits. Voices sum in another order.
    same = assert_array_equal if voices is None else partial(assert_allclose, rtol=2e-5, atol=2e-6)
    same(np.concatenate(got, axis=1), want)
    states = stream.state.h if voices else stream.state.h[None]
    for v in range(lanes):
        same(states[v], model.forward(x[v], return_state=True)[1].h)


@pytest.mark.parametrize("voices", [None, 2])
def test_a_stream_starts_from_a_given_state(voices, rng):
    model = make("lstm", dtype=np.float32)
    x = audio_inputs(rng, 1, 90)[0][0].astype(np.float32)
    head, state = model.forward(x[:30], return_state=True)
    want = model.forward(x[30:], state=state)
    if voices is None:
        got = cwfast.Stream(model, state=state).process(x[30:])
    else:
        start = State(np.tile(state.h, (voices, 1)), state.t)
        got = cwfast.Stream(model, state=start, voices=voices).process(np.tile(x[30:], (voices, 1, 1)))[1]
    if voices is None:
        assert_array_equal(got, want)
    else:
        assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_a_stream_refusing_a_block_changes_nothing(rng):
    model = make("cw", dtype=np.float32)
    stream = cwfast.Stream(model)
    x = audio_inputs(rng, 1, 50)[0][0].astype(np.float32)
    stream.process(x[:20])
    before = stream.state.h.copy()
    bad = x[20:].copy()
    bad[5] = np.nan
    with pytest.raises(ParameterError):
        stream.process(bad)
    assert_array_equal(stream.state.h, before)
    stream.reset()
    assert_array_equal(stream.process(x), model.forward(x))


def test_cli_trains_and_generates_a_model_with_a_prediction(tmp_path, capsys):
    import soundfile as sf

    t = np.arange(4000) / 8000
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 220 * t) * np.geomspace(1.0, 0.05, t.size), 8000)
    model, info, audio, header = train_and_use(capsys, tmp_path, tmp_path / "tone.wav", "--hidden", "8", "--modules",
                                               "2", "--epochs", "2", "--prediction", "8", "--components", "3",
                                               seconds=0.05)
    assert model.prediction == 8 and np.any(model.taps != 0)
    assert "linear prediction: 8 taps" in info
    assert audio.size == 400
    assert "#define m_PREDICTION 8" in header


@pytest.mark.parametrize("option, args, phrase", [
    ("--prediction", ["--head", "softmax"], "--prediction needs the mixture head"),
    ("--prediction", ["--trainer", "es", "--population", "4"], "--prediction is trained by the gradient trainers"),
    ("--prediction", ["--mode", "memorize"], "--prediction needs the mixture head"),
    ("--prediction", ["--prediction", "4097"], "--prediction 4097 is more than the 4096 taps"),
    ("--level", ["--head", "softmax"], "--level normalises the level of an autoregressive model with --head mixture"),
    ("--level", ["--mode", "memorize"], "--level normalises"),
])
def test_cli_refuses_head_options_where_they_do_not_fit(tmp_path, capsys, option, args, phrase):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(800) / 5.0) * 0.5, 8000)
    mode = [] if "--mode" in args else ["--mode", "autoregressive"]
    status, _, err = run(capsys, "train", tmp_path / "tone.wav", *mode, option, "4", *args, "-o", tmp_path / "m.npz")
    assert_user_error(status, err, phrase)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("args, taps", [([], 32), (["--prediction", "0"], 0), (["--arch", "lstm"], 0),
                                        (["--trainer", "es", "--population", "4"], 0), (["--head", "softmax"], 0)])
def test_cli_gives_mixture_clockwork_models_a_prediction_by_default(tmp_path, capsys, args, taps):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(1600) / 5.0) * np.geomspace(0.5, 0.01, 1600), 8000)
    size = ["--hidden", "6"] + ([] if "--arch" in args else ["--modules", "2"])
    status, _, err = run(capsys, "train", tmp_path / "tone.wav", "--mode", "autoregressive", *size, "--epochs", "1",
                         *args, "-o", tmp_path / "m.npz", "-q")
    assert status == 0, err
    assert cwfast.load(tmp_path / "m.npz").prediction == taps
