"""Tests of cwfast.tasks: audio to (inputs, targets, head), metrics, mu-law, and models back to audio."""

import math

import numpy as np
import pytest

from cwfast import ClockworkRNN, tasks
from cwfast import codec, metrics, render
from cwfast.errors import CwfastError, ParameterError


def tone(n=400, freq=440.0, rate=8000, amplitude=0.4):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


# --- mu-law ---------------------------------------------------------------------------------------


def test_mu_law_labels_cover_the_range_and_are_monotone():
    x = np.linspace(-1, 1, 200001)
    labels = codec.mu_law_encode(x)
    assert labels.dtype == np.int64
    assert labels[0] == 0 and labels[-1] == 255
    assert np.all(np.diff(labels) >= 0)
    assert set(np.unique(labels)) == set(range(256))


def test_mu_law_decode_inverts_encode_on_class_values():
    values = codec.mu_law_values()
    assert values.shape == (256,) and values.dtype == np.float32
    np.testing.assert_array_equal(codec.mu_law_encode(values), np.arange(256))
    np.testing.assert_allclose(values, -values[::-1], atol=1e-7)  # symmetric around zero
    assert values[0] == pytest.approx(-1.0) and values[-1] == pytest.approx(1.0)


def test_mu_law_round_trip_error_is_relative(rng):
    # mu-law spends its classes near zero: the error grows with the amplitude.
    x = rng.uniform(-1, 1, size=5000)
    y = codec.mu_law_decode(codec.mu_law_encode(x))
    err = np.abs(y - x)
    assert err.max() < 0.04
    small = np.abs(x) < 0.01
    assert err[small].max() < 4e-4


def test_mu_law_clips_and_checks():
    assert codec.mu_law_encode([3.0, -3.0]).tolist() == [255, 0]
    with pytest.raises(ParameterError, match="labels must lie"):
        codec.mu_law_decode([256])
    with pytest.raises(ParameterError, match="n_classes"):
        codec.mu_law_encode([0.0], n_classes=1)
    # NaN has no class (it was the label -2**63), nor has a string; an infinity is clipped.
    assert codec.mu_law_encode([np.inf, -np.inf, True]).tolist() == [255, 0, 255]
    with pytest.raises(ParameterError, match="^samples holds NaN, which has no mu-law class$"):
        codec.mu_law_encode([np.nan, 0.0])
    for bad in (None, "abc", [1j]):
        with pytest.raises(ParameterError, match="^samples must be real numbers"):
            codec.mu_law_encode(bad)


def test_the_codec_refuses_what_it_cannot_read_in_one_line():
    """A ragged list, a label out of range or not whole, a NaN read back linearly: ParameterError
    naming the argument, not NumPy's ValueError or IndexError, nor a label of -1 read as class 255."""
    with pytest.raises(ParameterError, match="^labels must be a numeric array"):
        codec.mu_law_decode([[1], [1, 2]])
    for labels, match in (([-1], r"labels must lie in \[0, 255\]"), ([256], r"labels must lie in \[0, 255\]"),
                          ([1.0], "labels has dtype float64")):
        with pytest.raises(ParameterError, match=f"^{match}"):
            codec.as_read([0.0], labels=np.array(labels))
    with pytest.raises(ParameterError, match="^samples holds NaN, which has no mu-law class$"):
        codec.as_read([np.nan], history="mu-law")
    with pytest.raises(ParameterError, match="^samples holds NaN"):
        codec.as_read([0.5, np.nan], history="linear")
    with pytest.raises(ParameterError, match="^samples must be real numbers"):
        codec.as_read("abc", history="linear")
    # What it reads stays as it was: infinities clipped as the encoder clips them, labels decoded.
    np.testing.assert_array_equal(codec.as_read([np.inf, -2.0, 0.25], history="linear"), np.float32([1, -1, 0.25]))
    np.testing.assert_array_equal(codec.as_read([0.0, 0.0], labels=np.array([0, 255])), codec.mu_law_values()[[0, 255]])


# --- metrics --------------------------------------------------------------------------------------


def test_nmse_and_esr_reference_points(rng):
    t = rng.normal(size=(500, 1))
    assert metrics.nmse(t, t) == 0.0
    assert metrics.nmse(np.full_like(t, t.mean()), t) == pytest.approx(1.0)
    assert metrics.esr(np.zeros_like(t), t) == pytest.approx(1.0)
    y = t + 0.1 * rng.normal(size=t.shape)
    assert metrics.esr(y, t) == pytest.approx(np.sum((y - t) ** 2) / np.sum(t**2))
    assert metrics.nmse(y, t) == pytest.approx(np.mean((y - t) ** 2) / np.var(t))


def test_metrics_refuse_degenerate_targets():
    with pytest.raises(ParameterError, match="constant"):
        metrics.nmse(np.ones(4), np.ones(4))
    with pytest.raises(ParameterError, match="silent"):
        metrics.esr(np.ones(4), np.zeros(4))
    with pytest.raises(ParameterError, match="shape"):
        metrics.esr(np.ones(4), np.ones(5))


def test_rms_and_spectral_centroid_of_a_tone():
    x = tone(8000, freq=1000.0, rate=8000, amplitude=0.5)
    assert metrics.rms(x) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)
    # 1000 Hz is bin 1000 of these 8000 samples, and the Hann window's leakage is symmetric about
    # it: the centroid is 1000 to rounding (1% let a bin spacing of rate / (n - 1) pass, 1000.125).
    assert metrics.spectral_centroid(x, 8000) == pytest.approx(1000.0, rel=1e-12)
    assert metrics.spectral_centroid(np.zeros(100), 8000) == 0.0


# --- tasks ----------------------------------------------------------------------------------------


def test_memorize_task_scales_to_peak_one():
    x = tone()
    task = tasks.memorize(x)
    assert task.inputs.shape == (x.size, 0) and task.targets.shape == (x.size, 1)
    assert task.output == "linear" and task.n_out == 1
    assert np.abs(task.targets).max() == 1.0
    assert task.metadata["mode"] == "memorize"
    np.testing.assert_allclose(task.targets[:, 0] * task.metadata["scale"], x, rtol=1e-6, atol=1e-7)


def test_autoregressive_task_is_teacher_forcing_on_mu_law():
    x = tone()
    task = tasks.autoregressive(x)
    assert task.inputs.shape == (x.size, 1) and task.targets.shape == (x.size,)
    assert task.targets.dtype == np.uint8 and task.output == "softmax" and task.n_out == 256
    values = codec.mu_law_values()
    assert task.inputs[0, 0] == 0.0
    # The input at t is exactly what generation would feed back: the decoded class of sample t - 1.
    np.testing.assert_array_equal(task.inputs[1:, 0], values[task.targets[:-1]])
    scale = task.metadata["scale"]
    assert scale == pytest.approx(np.abs(x).max())
    np.testing.assert_allclose(values[task.targets] * scale, x, atol=0.04 * scale)


def test_effect_task_and_its_checks():
    dry = tone()
    wet = np.tanh(3 * dry)
    task = tasks.make_task("effect", dry, target=wet)
    np.testing.assert_array_equal(task.inputs[:, 0], dry)
    np.testing.assert_array_equal(task.targets[:, 0], wet)
    with pytest.raises(ParameterError, match="same length"):
        tasks.effect(dry, wet[:-1])
    with pytest.raises(ParameterError, match="needs the processed"):
        tasks.make_task("effect", dry)
    with pytest.raises(ParameterError, match="takes no target"):
        tasks.make_task("memorize", dry, target=wet)
    with pytest.raises(ParameterError, match="mode='sing'"):
        tasks.make_task("sing", dry)


def test_silent_and_bad_clips_are_refused():
    with pytest.raises(CwfastError, match="silent"):
        tasks.memorize(np.zeros(10, dtype=np.float32))
    with pytest.raises(CwfastError, match="silent"):
        tasks.effect(np.ones(10, dtype=np.float32), np.zeros(10, dtype=np.float32))
    with pytest.raises(ParameterError, match="NaN"):
        tasks.autoregressive(np.array([0.1, np.nan], dtype=np.float32))
    with pytest.raises(ParameterError, match="mono"):
        tasks.memorize(np.zeros((10, 2), dtype=np.float32))


def test_split_task_cuts_train_validation_test_in_time_order():
    task = tasks.autoregressive(tone(100))
    train, val, test = tasks.split_task(task, validation=0.2, test=0.1)
    assert (train.n_steps, val.n_steps, test.n_steps) == (70, 20, 10)
    np.testing.assert_array_equal(val.targets, task.targets[70:90])
    np.testing.assert_array_equal(test.targets, task.targets[90:])
    np.testing.assert_array_equal(test.inputs, task.inputs[90:])  # keeps its true previous samples
    whole, none_val, none_test = tasks.split_task(task)
    assert whole.n_steps == 100 and none_val is None and none_test is None
    with pytest.raises(ParameterError, match="validation=1.0"):
        tasks.split_task(task, validation=1.0)
    with pytest.raises(ParameterError, match="too short"):
        tasks.split_task(task, validation=0.5, test=0.49)
    with pytest.raises(ParameterError, match="whole clip"):  # no length could hold this out
        tasks.split_task(task, validation=0.95, test=0.1)


def test_degenerate_clips_are_named():
    assert tasks.degenerate(tasks.autoregressive(tone(100))) is None
    assert "same mu-law level" in tasks.degenerate(tasks.autoregressive(np.full(50, 0.3, dtype=np.float32)))
    assert "1 sample" in tasks.degenerate(tasks.autoregressive(np.array([0.5], dtype=np.float32)))


# --- models back to audio -------------------------------------------------------------------------


def small(n_in, n_out, mode, **meta):
    output = "softmax" if mode == "autoregressive" else "linear"
    return ClockworkRNN(n_in, n_out, n_hidden=6, n_modules=3, seed=1, sample_rate=8000, output=output,
                        metadata={"mode": mode, **meta})


def test_render_memorize_is_forward_times_scale():
    model = small(0, 1, "memorize", scale=0.25, length=50)
    out = render.render(model)
    assert out.shape == (50,)
    np.testing.assert_allclose(out, model.forward(np.zeros((50, 0)))[:, 0] * 0.25, rtol=1e-6)
    assert render.render(model, 80).shape == (80,)
    with pytest.raises(CwfastError, match="cannot be primed"):
        render.render(model, prime=tone())


def test_render_autoregressive_is_seeded_and_chunking_is_invisible():
    model = small(1, 256, "autoregressive", scale=0.5, n_classes=256)
    a = render.render(model, 300, seed=3, chunk=1000)
    b = render.render(model, 300, seed=3, chunk=7)
    c = render.render(model, 300, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ParameterError, match="seed=-1 must be a non-negative integer"):
        render.render(model, 10, seed=-1)
    values = codec.mu_law_values()
    # Every generated sample is a class value at the training level.
    assert np.isin(np.round(a / 0.5, 6), np.round(values, 6)).all()


def test_render_with_prime_continues_after_teacher_forcing():
    model = small(1, 256, "autoregressive", scale=0.5, n_classes=256)
    prime = tone(40, amplitude=0.3)
    out = render.render(model, 20, seed=0, prime=prime, temperature=0)
    x = render.autoregressive_inputs(prime, 0.5)
    _, state = model.forward(x[:-1, None], return_state=True)
    expected = model.sample(20, values=codec.mu_law_values(), temperature=0, first_input=float(x[-1]), state=state)
    np.testing.assert_allclose(out, expected * 0.5, rtol=1e-6)


def test_render_primes_a_piece_at_a_time_with_the_whole_primes_state(monkeypatch):
    """The prime is read and run a piece at a time (read whole, an hour's held several float64
    copies of itself): pieces of 7 samples give the state, next input and continuation that the
    whole prime's inputs give (the bundled model: level, pitch and surprise in its state)."""
    import cwfast
    from cwfast.cli import default_model_path

    model = cwfast.load(default_model_path())
    prime = tone(3001, amplitude=0.3).astype(np.float32)
    scale, history = render.scale_of(model), render.history_of(model)
    x = render.autoregressive_inputs(prime, scale, 256, history)
    whole = model.advance(x[:-1, None])
    state, first = render._primed(model, prime, scale, 256, history, piece=7)
    assert first == float(x[-1]) and state.t == whole.t
    for a, b in ((state.h, whole.h), (state.surprise, whole.surprise)):
        np.testing.assert_array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))
    expected = render.render(model, 500, seed=3, prime=prime)  # one piece: the prime read whole
    monkeypatch.setattr(render, "PRIME_PIECE", 7)
    np.testing.assert_array_equal(render.render(model, 500, seed=3, prime=prime), expected)


def test_render_blocks_says_how_much_of_a_prime_has_run(monkeypatch):
    """generate showed nothing while a long prime ran (20 min of it: 25 s); on_prime is told each
    piece's samples as it runs, before the first block, and a non-callable is refused."""
    model = small(1, 256, "autoregressive", scale=0.5, n_classes=256)
    monkeypatch.setattr(render, "PRIME_PIECE", 7)
    told = []
    render.render_blocks(model, 5, seed=0, prime=tone(40), on_prime=told.append)
    assert told == [7] * 5 + [5]
    with pytest.raises(ParameterError, match="on_prime must be callable"):
        render.render_blocks(model, 5, prime=tone(40), on_prime=3)


def test_render_refuses_effect_models():
    with pytest.raises(CwfastError, match="cwfast process"):
        render.render(small(1, 1, "effect"), 10)


@pytest.mark.parametrize("block_size", [1, 63, 64, 65, 1000])
def test_process_equals_one_forward_call(block_size):
    model = small(1, 1, "effect")
    x = tone(300)
    out = render.process(model, x, block_size=block_size)
    np.testing.assert_array_equal(out, model.forward(x[:, None])[:, 0])


def test_process_gives_a_float64_model_its_input_unrounded():
    """A float64 effect model reads float64 samples as they are, not rounded to float32 first."""
    model = ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0, dtype=np.float64, metadata={"mode": "effect"})
    x = tone(300).astype(np.float64) + 1e-9  # below float32's resolution near the tone's peaks
    want = model.forward(x[:, None])[:, 0].astype(np.float32)
    np.testing.assert_array_equal(render.process(model, x, block_size=64), want)
    np.testing.assert_array_equal(np.concatenate(list(render.process_blocks(model, [x[:100], x[100:]], block_size=64))),
                                  want)
    # A live source's empty reads give no output block (validate.mono refused them as an empty signal).
    empty = np.empty(0)
    np.testing.assert_array_equal(
        np.concatenate(list(render.process_blocks(model, [empty, x[:100], [], x[100:], ()], block_size=64))), want)


def test_process_refuses_generators():
    with pytest.raises(CwfastError, match="use 'cwfast generate'"):
        render.process(small(0, 1, "memorize", scale=1.0), tone())
    with pytest.raises(CwfastError, match="autoregressive"):
        render.process(small(1, 256, "autoregressive", scale=1.0), tone())


def test_mode_is_inferred_for_models_without_metadata():
    assert tasks.mode_of(ClockworkRNN(0, 1, n_hidden=4, n_modules=2)) == "memorize"
    assert tasks.mode_of(ClockworkRNN(1, 256, n_hidden=4, n_modules=2, output="softmax")) == "autoregressive"
    assert tasks.mode_of(ClockworkRNN(1, 1, n_hidden=4, n_modules=2)) == "effect"


def test_a_stored_mode_the_model_cannot_run_is_refused():
    """An autoregressive model marked "memorize" rendered 43 s of its first mixture logit as audio;
    a memorize model marked "effect" went to process. Each mode that fits is kept as stored."""
    shapes = {"memorize": (0, 1, "linear"), "effect": (1, 1, "linear"), "autoregressive": (1, 6, "mixture")}
    for shaped, (n_in, n_out, output) in shapes.items():
        for mode in shapes:
            model = ClockworkRNN(n_in, n_out, n_hidden=4, n_modules=2, output=output, metadata={"mode": mode})
            if mode == shaped:
                assert tasks.mode_of(model) == mode
            elif (shaped, mode) == ("autoregressive", "effect"):  # an effect has inputs; process wants one linear output
                assert tasks.mode_of(model) == "effect"
                with pytest.raises(CwfastError, match="'process' runs an effect model with one input and one linear"):
                    render.check_processable(model)
            else:
                with pytest.raises(CwfastError, match=f"says mode '{mode}', which a {n_in}-input model with {output} "
                                                      f"outputs cannot run .it has the shape of an? {shaped} model"):
                    tasks.mode_of(model)
    # a linear model with one input may be an effect, a two-input softmax model too
    assert tasks.mode_of(ClockworkRNN(2, 4, n_hidden=4, n_modules=2, output="softmax",
                                      metadata={"mode": "effect"})) == "effect"


def test_evaluate_gives_each_mode_its_figure():
    x = tone(120)
    mem = small(0, 1, "memorize")
    assert tasks.evaluate(mem, tasks.memorize(x))["nmse"] == pytest.approx(
        metrics.nmse(mem.forward(np.zeros((120, 0))), tasks.memorize(x).targets)
    )
    ar = small(1, 256, "autoregressive")
    task = tasks.autoregressive(x)
    fig = tasks.evaluate(ar, task)
    assert fig["cross_entropy"] == pytest.approx(ar.loss(task.inputs, task.targets))
    assert fig["bits_per_sample"] == pytest.approx(fig["cross_entropy"] / math.log(2))
    fx = small(1, 1, "effect")
    task = tasks.effect(x, np.tanh(x))
    fig = tasks.evaluate(fx, task)
    assert set(fig) == {"esr", "nmse"}
    y = fx.forward(task.inputs)
    assert fig["esr"] == pytest.approx(metrics.esr(y, task.targets))
    assert fig["nmse"] == pytest.approx(metrics.nmse(y, task.targets))


def test_evaluate_scores_an_output_that_overflows_as_infinitely_bad():
    """Weights finite but so large that the output overflows float32 (a training that diverged on
    its last update: lr 1e38 on numpy 1.24) score inf, the figure the trainers' divergence check
    reads; they raised "y contains NaN or infinite values" ("nats=nan must be a finite number"
    autoregressive), internal names, instead."""
    x = tone(120)
    inf = math.inf
    for model, task, expected in [
        (small(0, 1, "memorize"), tasks.memorize(x), {"nmse": inf}),
        (small(1, 1, "effect"), tasks.effect(x, np.tanh(x)), {"esr": inf, "nmse": inf}),
        (small(1, 256, "autoregressive"), tasks.autoregressive(x), {"cross_entropy": inf, "bits_per_sample": inf}),
        (ClockworkRNN(1, 30, n_hidden=6, n_modules=3, seed=1, output="mixture"), tasks.autoregressive(x),
         {"cross_entropy": inf, "bits_per_sample": inf}),
    ]:
        model.params[:] = 1e38  # each finite; their sums are not
        assert not np.isfinite(model.forward(task.inputs)).all()
        with np.errstate(all="ignore"):
            assert tasks.evaluate(model, task) == expected



def test_evaluate_refuses_a_model_that_does_not_score_the_tasks_targets():
    """A 256-class softmax or a mixture (which scores 256 classes) on a 64-class task gave a
    cross-entropy of classes the task does not have; a mixture on a memorize task, a shape error."""
    x = tone(400)
    task = tasks.autoregressive(x, n_classes=64)
    for model, has in ((ClockworkRNN(1, 256, n_hidden=4, n_modules=2, output="softmax"), "256 softmax outputs"),
                       (ClockworkRNN(1, 30, n_hidden=4, n_modules=2, output="mixture"), "30 mixture outputs"),
                       (ClockworkRNN(2, 64, n_hidden=4, n_modules=2, output="softmax"), "2 inputs and 64 softmax")):
        with pytest.raises(ParameterError, match=f"^model has .*{has}.*; this autoregressive task needs 1 input and "
                                                 "64 softmax outputs$"):
            tasks.evaluate(model, task)
    memorize = tasks.memorize(x[:120])
    with pytest.raises(ParameterError, match="^model has 0 inputs and 30 mixture outputs; this memorize task needs "
                                             "0 inputs and 1 linear output$"):
        tasks.evaluate(ClockworkRNN(0, 30, n_hidden=4, n_modules=2, output="mixture"), memorize)
    with pytest.raises(ParameterError, match="^model must be a cwfast model"):
        tasks.evaluate("model", memorize)
    # what fits is scored: a mixture on the 256 classes a softmax of 256 would score
    mixture = ClockworkRNN(1, 30, n_hidden=4, n_modules=2, output="mixture", seed=0)
    task = tasks.autoregressive(x)
    assert tasks.evaluate(mixture, task)["cross_entropy"] == pytest.approx(mixture.loss(task.inputs, task.targets))

def test_process_streams_the_lstm_baseline_bit_for_bit():
    from cwfast.lstm import LSTM

    model = LSTM(1, 1, n_hidden=5, seed=3, metadata={"mode": "effect"})
    x = tone(200)
    np.testing.assert_array_equal(render.process(model, x, block_size=37), model.forward(x[:, None])[:, 0])
