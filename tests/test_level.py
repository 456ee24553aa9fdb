"""Level normalisation of autoregressive mixture models (cwfast.model.Level): the recursion against
a Python loop, gradients against finite differences, state continuity, sampling against forward,
files, refusals and the command line. The C export of such models is checked against Python in
tests/test_export.py."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cwfast
from cwfast import LSTM, SRN, ClockworkRNN
from cwfast.codec import mu_law_encode, mu_law_values
from cwfast.errors import ParameterError
from cwfast.model import LEVEL_FLOOR, LOSS_CHUNK, Level
from test_cli import run, train_and_use

VALUES = mu_law_values()
ALPHA, START = 0.1, 0.05
#: The gain's band: both bounds bind on audio_inputs' falling level.
FLOOR, CEILING = 0.02, 0.1


def make(kind, dtype=np.float64, k=3):
    common = dict(dtype=dtype, seed=1, output="mixture")
    if kind == "cw":
        model = ClockworkRNN(1, 3 * k, n_hidden=8, n_modules=2, input_windows=[3, 2], **common)
    elif kind == "lstm":
        model = LSTM(1, 3 * k, n_hidden=5, **common)
    else:
        model = SRN(1, 3 * k, n_hidden=5, **common)
    model.level = (ALPHA, START, FLOOR, CEILING)
    return model


def audio_inputs(rng, batch, n_steps):
    """Decoded mu-law inputs whose level falls 100-fold, and the labels they come from."""
    labels = rng.integers(0, 256, (batch, n_steps))
    x = np.zeros((batch, n_steps, 1))
    x[:, 1:, 0] = VALUES[labels[:, :-1]] * np.geomspace(1.0, 0.01, n_steps - 1)
    return x, labels


def reference_forward(model, x):
    """The level by a Python loop, the network run without a level on the normalised inputs, and its
    means and log-scales moved to the input's units by hand."""
    b, gains, xn = START, np.empty(x.shape[0]), np.empty_like(x)
    for t in range(x.shape[0]):
        b = b + ALPHA * (abs(x[t, 0]) - b)
        gains[t] = min(max(b, FLOOR), CEILING)
        xn[t, 0] = x[t, 0] / gains[t]
    plain = model.copy()
    plain.level = None
    y = plain.forward(xn, raw=True).astype(np.float64)
    k = y.shape[1] // 3
    y[:, k : 2 * k] *= gains[:, None]
    y[:, 2 * k :] += np.log(gains)[:, None]
    return y, b


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_forward_matches_a_python_loop_of_the_recursion(kind, rng):
    model = make(kind)
    x, _ = audio_inputs(rng, 1, 60)
    y, state = model.forward(x[0], raw=True, return_state=True)
    want, level = reference_forward(model, x[0])
    assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert state.h[-1] == pytest.approx(level, rel=1e-12)
    plain = model.copy()
    plain.level = (ALPHA, START)  # no band: the floor LEVEL_FLOOR alone, the outputs differ
    assert not np.allclose(plain.forward(x[0], raw=True), y)
    assert state.h.shape == (model.n_hidden * (2 if kind == "lstm" else 1) + (2 if kind == "cw" else 0) + 1,)


def numeric_gradient(model, x, labels, state=None, eps=1e-6, steps="all"):
    """The loss's gradient by central differences, parameter by parameter (the model is put back)."""
    p0 = model.params.copy()
    numeric = np.empty_like(p0)
    for i in range(p0.size):
        model.params[i] = p0[i] + eps
        up = model.loss(x, labels, state=state, steps=steps)
        model.params[i] = p0[i] - eps
        down = model.loss(x, labels, state=state, steps=steps)
        model.params[i] = p0[i]
        numeric[i] = (up - down) / (2 * eps)
    return numeric


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_gradient_matches_finite_differences(kind, rng):
    model = make(kind)
    x, labels = audio_inputs(rng, 2, 25)
    loss, grad = model.loss_and_grad(x, labels, flat=True)
    assert loss == pytest.approx(model.loss(x, labels), rel=1e-12)
    assert_allclose(grad, numeric_gradient(model, x, labels), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["cw", "lstm"])
def test_a_sequence_split_anywhere_gives_the_same_bits(kind, rng):
    check_split_anywhere(make(kind, dtype=np.float32), rng, 137)


def check_split_anywhere(model, rng, cut):
    """``forward`` over a sequence cut at ``cut``, ``loss`` (in pieces) and ``advance`` give the
    bits and the state of ``forward`` over the whole."""
    x, labels = audio_inputs(rng, 1, LOSS_CHUNK + 300)
    x = x[0].astype(np.float32)
    whole, state = model.forward(x, raw=True, return_state=True)
    first, mid = model.forward(x[:cut], raw=True, return_state=True)
    rest, end = model.forward(x[cut:], raw=True, state=mid, return_state=True)
    assert_array_equal(np.concatenate([first, rest]), whole)
    assert_array_equal(end.h, state.h)
    # loss() runs in pieces of LOSS_CHUNK steps; loss_and_grad in one
    assert model.loss(x, labels[0]) == pytest.approx(model.loss_and_grad(x, labels[0])[0], rel=1e-6)
    assert_array_equal(model.advance(x).h, state.h)


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
def test_sampling_reads_what_forward_reads(kind):
    """The state after sampling is the state after forward over the values sampling fed back, and
    at temperature 0 each output is the likeliest component's mean in the input's units."""
    model = make(kind)
    out, state = model.sample(80, values=VALUES, temperature=0.7, seed=3, first_input=0.3, return_state=True)
    fed = np.concatenate([[0.3], out[:-1]])
    fed = np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)
    y, want = model.forward(fed[:, None], raw=True, return_state=True)
    assert_array_equal(state.h, want.h)
    greedy, _ = model.sample(5, values=VALUES, temperature=0.0, first_input=0.3, return_state=True)
    y = model.forward(np.where(np.concatenate([[0.3], greedy[:-1]]) != 0,
                               VALUES[mu_law_encode(np.concatenate([[0.3], greedy[:-1]]))], 0.0)[:, None], raw=True)
    k = y.shape[1] // 3
    assert_allclose(greedy, np.clip(y[np.arange(5), k + y[:, :k].argmax(axis=1)], -1, 1), rtol=1e-12)


def test_sampling_continues_exactly_from_a_returned_state():
    model = make("cw")
    whole = model.sample(40, values=VALUES, seed=5, first_input=0.2)
    a, mid = model.sample(15, values=VALUES, seed=5, first_input=0.2, return_state=True)
    assert_array_equal(a, whole[:15])  # the same first draws
    b, end = model.sample(25, values=VALUES, seed=6, first_input=a[-1], state=mid, return_state=True)
    fed = np.concatenate([[0.2], a, b[:-1]])
    fed = np.where(fed != 0, VALUES[mu_law_encode(fed)], 0.0)
    assert_array_equal(end.h, model.forward(fed[:, None], return_state=True)[1].h)


def test_the_level_kernel_is_compiled_once_per_dtype(rng):
    """Every caller of _level_gain (forward, each kind's sampling) passes the input as float64, so
    numba compiles it once per model dtype, not once per caller (each version compiled anew on a cold start)."""
    from cwfast import _head_kernels

    for dtype in (np.float32, np.float64):
        for kind in ("cw", "lstm", "srn"):
            model = make(kind, dtype=dtype)
            model.forward(audio_inputs(rng, 1, 20)[0][0])
            model.sample(10, values=VALUES, seed=1, first_input=0.3)
    # Callers loaded from numba's on-disk cache never compile _level_gain in this process (its
    # signatures are then empty): the versions compiled for them are in its cache's index.
    # (numba's internals, as cwfast._jit's; tests/test_cache.py watches them.)
    gain = _head_kernels._level_gain
    signatures = set(gain.signatures) | {key[0] for key in gain._cache._cache_file._load_index()}
    assert sorted(str(signature[0].dtype) for signature in signatures) == ["float32", "float64"]


def test_files_and_copies_keep_the_level(tmp_path, rng):
    model = make("cw", dtype=np.float32)
    x, _ = audio_inputs(rng, 1, 50)
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.level == Level(ALPHA, START, FLOOR, CEILING)
    assert_array_equal(loaded.forward(x[0]), model.forward(x[0]))
    assert model.copy().level == model.level and "level" in model.to_dense()
    lstm = make("lstm")
    lstm.save(tmp_path / "l.npz")
    assert cwfast.load(tmp_path / "l.npz").level == Level(ALPHA, START, FLOOR, CEILING)
    plain = ClockworkRNN(1, 9, n_hidden=4, n_modules=2, output="mixture")
    assert plain.level is None and "level" not in plain.to_dense()


def test_a_model_saved_before_the_band_loads_with_the_floor_alone(tmp_path, rng):
    """Files from before the band hold (alpha, start): the gain is then bounded by LEVEL_FLOOR alone."""
    model = make("cw")
    model.level = (ALPHA, START)
    dense = model.to_dense()
    assert dense["level"].shape == (4,)
    dense["level"] = dense["level"][:2]
    old = ClockworkRNN.from_dense(dense, output="mixture")
    assert old.level == Level(ALPHA, START, LEVEL_FLOOR, float("inf"))
    x, _ = audio_inputs(rng, 1, 50)
    assert_array_equal(old.forward(x[0]), model.forward(x[0]))


@pytest.mark.parametrize("value, phrase", [((0.0, 0.1), "alpha"), ((1.5, 0.1), "alpha"), ((0.1, 0.0), "start"),
                                           ((0.1, float("nan")), "start"), ((0.1, 0.1, 1e-6, 1.0), "floor"),
                                           ((0.1, 0.1, 0.5, 0.2), "floor"), ((0.1, 0.1, 0.01, float("nan")), "ceiling")])
def test_bad_levels_are_refused(value, phrase):
    model = ClockworkRNN(1, 9, n_hidden=4, n_modules=2, output="mixture")
    with pytest.raises(ParameterError, match=phrase):
        model.level = value
    assert model.level is None


def test_every_call_refuses_what_the_level_makes_infinite(rng):
    """3e38 is finite in float32, but divided by the level's smallest gain it is not: forward gave
    infinite means, loss NaN and fit "diverged" where Stream refused the block; now all refuse it,
    and the state passed in is unchanged."""
    model = make("cw", dtype=np.float32)
    x, labels = audio_inputs(rng, 1, 40)
    x = x[0].astype(np.float32)
    x[30] = 3e38
    state = model.advance(x[:10])
    before = state.h.copy()
    message = r"^x contains values too large for the model's level \(3e\+38; at most 6.81e\+36"
    for call in (lambda: model.forward(x, state=state), lambda: model.loss(x, labels[0], state=state),
                 lambda: model.loss_and_grad(x, labels[0], state=state), lambda: model.advance(x, state=state)):
        with pytest.raises(ParameterError, match=message):
            call()
        assert_array_equal(state.h, before)
    x[30] = 6e36  # below the limit: finite outputs
    assert np.all(np.isfinite(model.forward(x, raw=True)))


def test_levels_of_a_signal_that_is_not_one_are_refused():
    """Level.levels ran numba on whatever it got: a 2-D array failed in numba's typing, NaN went
    through as NaN levels. Float input keeps its precision; integers are read as float64."""
    level = Level.checked(0.1, 0.1)
    assert level.levels(np.ones(3, np.float32)).tolist() == pytest.approx([0.19, 0.271, 0.3439], rel=1e-6)
    assert_array_equal(level.levels([1, 2]), level.levels(np.array([1.0, 2.0])))
    for bad, phrase in ((np.ones((2, 2)), "1-D"), ([np.nan, 1.0], "NaN"), ("x", "real")):
        with pytest.raises(ParameterError, match=phrase):
            level.levels(bad)


def test_only_autoregressive_mixture_models_take_a_level():
    for model in (ClockworkRNN(1, 2, n_hidden=4, n_modules=2), ClockworkRNN(2, 9, n_hidden=4, n_modules=2, output="mixture"),
                  ClockworkRNN(1, 8, n_hidden=4, n_modules=2, output="softmax")):
        with pytest.raises(ParameterError, match="mixture model with n_in=1"):
            model.level = (0.1, 0.1)


def test_a_state_without_the_level_is_refused(rng):
    model = make("cw")
    plain = model.copy()
    plain.level = None
    state = plain.forward(np.zeros((4, 1)), return_state=True)[1]
    n = state.h.size
    with pytest.raises(ParameterError, match=rf"^state.h has shape \({n},\); expected \({n + 1},\)"):
        model.forward(np.zeros((4, 1)), state=state)
    own = model.forward(np.zeros((4, 1)), return_state=True)[1]
    # the network's state, then the level: its start, decayed by 1 - alpha at each silent step
    assert_array_equal(own.h[:-1], state.h)
    assert own.h[-1] == pytest.approx(model.level.start * (1 - model.level.alpha) ** 4, rel=1e-12)


@pytest.mark.parametrize("kind, dtype, tol", [("cw", np.float64, 1e-12), ("cw", np.float32, 2e-5),
                                             ("srn", np.float32, 2e-5)])
def test_voices_each_follow_their_own_level(kind, dtype, tol, rng):
    """Each voice equals forward on its own audio (to the voices' own rounding, as without a
    level), with its own level; splitting the blocks changes no bit; a refused block changes
    nothing; one voice restarts alone."""
    model = make(kind, dtype=dtype)
    x, _ = audio_inputs(rng, 5, 900)
    x *= np.array([1.0, 0.3, 0.01, 1.0, 0.001])[:, None, None]  # voices at different levels
    x = x.astype(dtype)
    stream = cwfast.Stream(model, voices=5, max_block=256)
    whole = stream.process(x)  # in pieces of 256
    for v in range(5):
        want, state = model.forward(x[v], return_state=True)
        assert_allclose(whole[v], want, rtol=0, atol=tol)
        assert_allclose(stream.state.h[v], state.h, rtol=0, atol=tol)
    levels = stream.state.h[:, -1]
    assert levels[0] > 10 * levels[2] > 0
    stream.reset()
    split = np.concatenate([stream.process(x[:, a:b]) for a, b in ((0, 1), (1, 300), (300, 900))], axis=1)
    assert_array_equal(split, whole)
    before = stream.state.h.copy()
    bad = x[:, :10].copy()
    bad[3, 5] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(bad)
    assert_array_equal(stream.state.h, before)
    stream.reset(voice=2)
    assert stream.state.h[2, -1] == dtype(START) and stream.state.h[1, -1] == before[1, -1]


@pytest.mark.parametrize("kind", ["cw", "lstm", "srn"])
@pytest.mark.parametrize("steps", ["all", "last", "mean"])
def test_population_scores_are_model_losses(kind, steps, rng):
    """The evolution strategy's members, each from a zero state (the level at its start), scored
    as model.loss scores them."""
    model = make(kind)
    x, labels = audio_inputs(rng, 2, 20)
    target = labels if steps == "all" else labels[:, -1]
    x3, batched = model.check_input(x)
    scored = model.check_target(target, x3.shape, batched, steps)
    scored = scored if steps == "all" else scored[:, None]
    noise = rng.normal(size=(2, model.n_params))
    losses = np.empty(5)
    model.population_losses(model.params.copy(), noise, 0.01, x3, np.zeros((0, 0, 0)),
                            np.ascontiguousarray(scored, dtype=np.int64), cwfast.heads.STEP_CODES[steps], losses)
    for m in range(5):
        member = model.copy()
        if m < 4:
            member.params[:] += (0.01 if m % 2 == 0 else -0.01) * noise[m // 2]
        assert losses[m] == pytest.approx(member.loss(x, target, steps=steps), rel=1e-9)


def test_the_evolution_strategy_trains_a_levelled_model(rng):
    # One generation is the reference update (noise table, centred ranks, Adam) of the losses of
    # the levelled members, each scored with the level as forward runs it; the level itself is
    # not searched, and stays.
    from cwfast.train import Adam, evolve
    from cwfast.train.es import noise_table, pair_offsets

    model = make("cw")
    x, labels = audio_inputs(rng, 1, 200)
    theta = model.params.copy()
    seen = []
    result = evolve(model, x[0], labels[0], population=6, sigma=0.05, lr=0.02, generations=1, seed=9,
                    on_step_end=lambda info: seen.append(info.params.copy()))
    table = noise_table(9, theta.size)
    offsets = pair_offsets(9, 0, 3, table.size, theta.size)
    noise = [table[offsets[j] : offsets[j] + theta.size].astype(np.float64) for j in range(3)]
    probe = model.copy()
    losses = []
    for j in range(3):
        for sign in (1, -1):
            probe.params[:] = theta + sign * 0.05 * noise[j]
            losses.append(probe.loss(x[0], labels[0]))
    ranks = np.empty(6)
    ranks[np.argsort(losses)] = np.arange(6) / 5 - 0.5
    grad = sum((ranks[2 * j] - ranks[2 * j + 1]) * noise[j] for j in range(3)) / (6 * 0.05)
    want = theta.copy()
    Adam(0.02).step(want, grad)
    assert_allclose(seen[0], want, rtol=1e-10, atol=1e-12)
    assert model.level == Level(ALPHA, START, FLOOR, CEILING)
    assert result.final_loss == pytest.approx(model.loss(x[0], labels[0]), rel=1e-9)


@pytest.mark.parametrize("kind", ["cw", "lstm"])
def test_a_stream_gives_the_bits_of_forward_however_the_audio_is_split(kind, rng):
    model = make(kind, dtype=np.float32)
    x, _ = audio_inputs(rng, 1, 3000)
    x = x[0].astype(np.float32)
    want, state = model.forward(x, return_state=True)
    stream = cwfast.Stream(model, max_block=512)
    got = np.concatenate([stream.process(x[a:b]) for a, b in ((0, 1), (1, 700), (700, 3000))])
    assert_array_equal(got, want)
    assert_array_equal(stream.state.h, state.h)
    stream.reset()
    assert stream.state.h[-1] == np.float32(START)
    assert_array_equal(stream.process(x), want)  # blocks longer than max_block run in pieces
    # A bad block changes nothing, the level included.
    before = stream.state
    bad = x[:10].copy()
    bad[5] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stream.process(bad)
    assert_array_equal(stream.state.h, before.h)
    assert_array_equal(cwfast.Stream(model, state=state).state.h, state.h)


def test_cli_trains_and_generates_a_levelled_model(tmp_path, capsys):
    import soundfile as sf

    t = np.arange(8000) / 8000
    clip = np.sin(2 * np.pi * 220 * t) * np.geomspace(0.8, 0.01, t.size)
    sf.write(tmp_path / "fade.wav", clip, 8000)
    model, info, audio, header = train_and_use(capsys, tmp_path, tmp_path / "fade.wav", "--level", "32",
                                               "--components", "3", "--hidden", "8", "--modules", "2", "--epochs", "2")
    assert model.level.alpha == 1 / 32 and model.metadata["level"] == 32
    # the level starts at the training part's mean absolute input
    task = cwfast.tasks.autoregressive(sf.read(tmp_path / "fade.wav")[0])
    n_train = task.n_steps - 2 * round(task.n_steps * 0.1)
    assert model.level.start == pytest.approx(np.abs(task.inputs[:n_train]).mean(), rel=1e-6)
    # the band: the default percentiles of the level over the training part, tracked from the start
    b, levels = model.level.start, []
    for v in task.inputs[:n_train, 0].astype(np.float64):
        b = np.float32(b + (abs(v) - b) / 32)
        levels.append(b)
    floor, ceiling = np.percentile(levels, cwfast.modes.LEVEL_BAND)
    assert (model.level.floor, model.level.ceiling) == pytest.approx((floor, ceiling), rel=1e-6)
    assert LEVEL_FLOOR < floor < 0.5 * ceiling  # the fade spans a wide band
    assert model.metadata["level_band"] == list(cwfast.modes.LEVEL_BAND)
    assert "normalised over about 32 samples" in info and f"held within {floor:.4g} .. {ceiling:.4g}" in info
    assert audio.size == 2000
    assert "#define m_LEVEL_ALPHA 0.03125" in header


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_band_is_the_percentiles_of_the_levels_kept_in_their_own_precision(rng, dtype):
    """The level is tracked in the inputs' precision (float32 for training's): its band is taken
    over the levels kept in it, the same figures as over them in float64, which held 8 bytes a
    training sample (370 MB for an hour at 16 kHz) where float32 holds 4."""
    import tracemalloc

    from cwfast.model import LEVEL_PIECE
    from cwfast.modes import LEVEL_BAND
    from cwfast.train_audio import _level_band

    def signal(n):
        return (rng.standard_normal(n) * np.geomspace(1.0, 0.001, n)).astype(dtype)

    x, alpha, start = signal(3 * LEVEL_PIECE + 123), 1 / 32, 0.2  # several of the level's pieces
    for band in (None, (0.0, 100.0), (12.5, 87.5), (50.0, 50.0)):
        low, high = np.percentile(Level(alpha, start).levels(x), LEVEL_BAND if band is None else band)
        floor = max(float(low), LEVEL_FLOOR)
        assert _level_band(x, alpha, start, band) == (floor, max(float(high), floor))
    peaks, n = [], 2**19
    for size in (n, 2 * n):
        x = signal(size)
        tracemalloc.start()
        try:
            _level_band(x, alpha, start, None)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < (np.dtype(dtype).itemsize + 0.25) * n


def test_cli_level_band_sets_the_percentiles(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(1600) / 5.0) * np.geomspace(0.5, 0.01, 1600), 8000)
    common = ["train", tmp_path / "tone.wav", "--mode", "autoregressive", "--hidden", "6", "--modules", "2",
              "--epochs", "1", "-q"]
    bands = {}
    for band in ("0,100", "25,75", "50,50"):
        status, _, err = run(capsys, *common, "--level-band", band, "-o", tmp_path / f"{band}.npz")
        assert status == 0, err
        level = cwfast.load(tmp_path / f"{band}.npz").level
        bands[band] = (level.floor, level.ceiling)
    assert bands["0,100"][0] < bands["25,75"][0] < bands["50,50"][0] == bands["50,50"][1] < bands["25,75"][1]
    assert bands["25,75"][1] < bands["0,100"][1]
    for bad, phrase in (("75,25", "two percentiles"), ("1,2,3", "two percentiles"), ("5,101", "two percentiles"),
                        ("a,b", "two percentiles")):
        status, _, err = run(capsys, *common, "--level-band", bad, "-o", tmp_path / "bad.npz")
        assert status == 2 and phrase in err and err.count("\n") == 1, err
    status, _, err = run(capsys, *common, "--level", "0", "--level-band", "10,90", "-o", tmp_path / "bad.npz")
    assert status == 2 and "--level-band bounds the level's gain, which --level 0 turns off" in err, err
    assert not (tmp_path / "bad.npz").exists()
    status, _, err = run(capsys, *common, "--head", "softmax", "--level-band", "10,90", "-o", tmp_path / "bad.npz")
    assert status == 2 and "--level-band bounds the gain of --level, which normalises" in err, err
    assert not (tmp_path / "bad.npz").exists()


@pytest.mark.parametrize("args, alpha", [([], 1 / 64), (["--level", "0"], None), (["--head", "softmax"], None),
                                         (["--trainer", "es", "--population", "4"], 1 / 64)])
def test_cli_normalises_the_level_of_mixture_models_by_default(tmp_path, capsys, args, alpha):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", np.sin(np.arange(1600) / 5.0) * np.geomspace(0.5, 0.01, 1600), 8000)
    status, _, err = run(capsys, "train", tmp_path / "tone.wav", "--mode", "autoregressive", "--hidden", "6",
                         "--modules", "2", "--epochs", "1", *args, "-o", tmp_path / "m.npz", "-q")
    assert status == 0, err
    model = cwfast.load(tmp_path / "m.npz")
    assert (model.level is None) if alpha is None else model.level.alpha == alpha


def test_level_levels_follow_the_recursion():
    """Level.levels, what training takes the band's percentiles of: b(t) = b(t-1) + alpha (|v(t)| - b(t-1))
    from start, with no bounds."""
    from cwfast.model import Level

    x = (np.random.default_rng(0).normal(size=500) * np.linspace(1e-3, 2, 500)).astype(np.float32)
    b, want = 0.3, []
    for v in x.astype(np.float64):
        b += 0.05 * (abs(v) - b)
        want.append(b)
    np.testing.assert_allclose(Level(0.05, 0.3, floor=0.5, ceiling=0.6).levels(x), want, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_levels_in_pieces_are_the_levels_of_the_whole(dtype):
    """The level's state carries across pieces: any piece size gives Level.levels' values, bit
    for bit (training reads an hour's levels a piece at a time); and levels itself, which runs in
    pieces of LEVEL_PIECE, follows the recursion past a piece's edge."""
    from cwfast.model import LEVEL_PIECE

    x = (np.random.default_rng(1).normal(size=LEVEL_PIECE + 1001) * np.linspace(1e-3, 2, LEVEL_PIECE + 1001)).astype(dtype)
    level = Level(0.05, 0.3)
    whole = level.levels(x)
    for size in (1, 7, 1000, LEVEL_PIECE, 10**6):
        got = np.empty_like(whole)
        starts = []
        for start, gains in level.levels_in_pieces(x, size):
            starts.append(start)
            got[start : start + gains.size] = gains
        assert starts == list(range(0, x.size, size))
        assert_array_equal(got, whole)
    want = []
    b = whole[LEVEL_PIECE - 6]  # the recursion across the edge, from the value before it
    for v in x.astype(np.float64)[LEVEL_PIECE - 5 : LEVEL_PIECE + 5]:
        b += 0.05 * (abs(v) - b)
        want.append(b)
    np.testing.assert_allclose(whole[LEVEL_PIECE - 5 : LEVEL_PIECE + 5], want, rtol=1e-5)
    float64 = np.concatenate([g.copy() for _, g in level.levels_in_pieces(x, 999, np.float64)])
    assert_array_equal(float64, level.levels(x.astype(np.float64)))
    with pytest.raises(ParameterError, match="size"):
        next(level.levels_in_pieces(x, 0))
    with pytest.raises(ParameterError, match="1-D"):
        next(level.levels_in_pieces(x.reshape(1, -1), 10))


def test_levels_in_pieces_refuses_bad_arguments_when_called():
    """A dtype other than float32 or float64 is refused (int32 tracked a start of 0.3 as 0 and gave
    zero gains; float16 raised numba's NotImplementedError), and every check is made by the call,
    not put off to the first piece drawn."""
    x = np.sin(np.arange(100.0))
    level = Level(0.05, 0.3)
    for dtype in ("int32", np.float16, "nonsense"):
        with pytest.raises(ParameterError, match="dtype"):
            level.levels_in_pieces(x, 10, dtype)
    with pytest.raises(ParameterError, match="size"):
        level.levels_in_pieces(x, 0)
    with pytest.raises(ParameterError, match="1-D"):
        level.levels_in_pieces(x.reshape(1, -1), 10)
    assert_array_equal(np.concatenate([g.copy() for _, g in level.levels_in_pieces(x, 7, "float32")]),
                       level.levels(x.astype(np.float32)))
