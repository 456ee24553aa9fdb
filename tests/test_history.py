"""Linear history: an autoregressive mixture model that reads the samples themselves, not their
mu-law class values, in training, in generation (Python and priming) and in its metadata."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import cwfast
from cwfast import render, tasks
from cwfast._head_kernels import _draw_mixture
from cwfast.cli import main
from cwfast.codec import as_read, mu_law_encode, mu_law_values
from cwfast.errors import CwfastError, ParameterError
from cwfast.train_audio import check_options, train_audio

VALUES = mu_law_values()
LINEAR = {"mode": "autoregressive", "scale": 0.5, "n_classes": 256, "history": "linear"}


def tone(n=4000, rate=8000):
    t = np.arange(n) / rate
    return (0.4 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).normal(size=n)).astype(np.float32)


def mixture_model(kind):
    if kind == "cw":
        model = cwfast.ClockworkRNN(1, 12, n_hidden=12, n_modules=3, input_windows=[1, 2, 4], seed=3,
                                    output="mixture", metadata=dict(LINEAR))
    else:
        model = cwfast.LSTM(1, 12, n_hidden=6, seed=3, output="mixture", metadata=dict(LINEAR))
    model.level = (1 / 16, 0.05, 0.02, 0.2)
    model.prediction = 4
    model.taps[:] = [0.05, -0.1, -0.2, 0.6]
    return model


def test_linear_inputs_are_the_scaled_samples_and_the_targets_do_not_change():
    x = tone()
    quantised, linear = tasks.autoregressive(x), tasks.autoregressive(x, history="linear")
    scale = quantised.metadata["scale"]
    assert_array_equal(linear.targets, quantised.targets)
    assert_array_equal(linear.inputs[:, 0], np.concatenate([[0], np.float32(x[:-1] / np.float64(scale))]))
    assert_array_equal(quantised.inputs[:, 0], np.concatenate([[0], VALUES[quantised.targets[:-1]]]))
    assert (linear.metadata["history"], quantised.metadata["history"]) == ("linear", "mu-law")
    assert not np.array_equal(linear.inputs, quantised.inputs)
    parts = tasks.corpus([x, x[:2000]], history="linear", validation=0.1, test=0.1)
    assert parts[1].train.metadata["history"] == "linear"
    assert_array_equal(parts[1].train.inputs[1:, 0], np.float32(x[: parts[1].train.n_steps - 1] / np.float64(scale)))
    with pytest.raises(ParameterError, match="history='pcm' must be one of"):
        tasks.autoregressive(x, history="pcm")


def test_as_read_clips_linear_samples_and_decodes_mu_law_ones():
    x = np.array([-1.5, -0.3, 0.0, 1e-5, 0.7, 2.0])
    assert_array_equal(as_read(x, history="linear"), np.float32([-1, -0.3, 0, 1e-5, 0.7, 1]))
    assert_array_equal(as_read(x), VALUES[mu_law_encode(x)])


@pytest.mark.parametrize("kind", ["cw", "lstm"])
def test_sample_without_values_reads_back_what_it_drew(kind):
    """values=None: the loop reads each drawn amplitude itself (levelled, predicted), a Python twin."""
    model = mixture_model(kind)
    out, end = model.sample(200, values=None, seed=4, temperature=0.9, first_input=0.25, return_state=True)
    u = np.random.default_rng(4).random((200, 2))
    state, x, expected = None, 0.25, []
    for s in range(200):
        y, state = model.forward(np.array([[x]], np.float32), state=state, return_state=True, raw=True)
        x = float(np.float32(_draw_mixture(y[0].astype(np.float64), 1 / 0.9, u[s, 0], u[s, 1], np.empty(4))))
        expected.append(x)
    np.testing.assert_array_equal(out, np.array(expected, np.float32))
    inside = out[np.abs(out) < 1]
    assert inside.size > 50 and not np.any(np.isin(inside, VALUES))  # read back as drawn, not as classes
    fed = np.concatenate([[0.25], out[:-1]]).astype(np.float32)[:, None]
    np.testing.assert_array_equal(end.h, model.forward(fed, return_state=True)[1].h)
    quantised = model.sample(200, values=VALUES, seed=4, temperature=0.9, first_input=0.25)
    assert not np.array_equal(out, quantised)


def test_only_a_mixture_reads_back_without_values():
    model = cwfast.ClockworkRNN(1, 16, n_hidden=8, n_modules=2, output="softmax", seed=0)
    with pytest.raises(ParameterError, match="values"):
        model.sample(10, values=None)
    with pytest.raises(ParameterError, match=r"values has shape \(0,\)"):
        mixture_model("cw").sample(10, values=np.zeros(0))


def test_render_and_priming_read_linear_history():
    model = mixture_model("cw")
    assert render.history_of(model) == "linear" and render.feedback_values(model, 256) is None
    out = render.render(model, 500, seed=3, temperature=0.7)
    want = model.sample(500, values=None, seed=np.random.default_rng(3), temperature=0.7)
    assert_array_equal(out, np.float32(want.astype(np.float64) * 0.5))
    prime = tone(300)
    primed = render.render(model, 50, seed=1, prime=prime)
    read = np.concatenate([[0], np.clip(prime.astype(np.float64) / 0.5, -1, 1)]).astype(np.float32)
    state = model.advance(read[:-1, None])
    want = model.sample(50, values=None, seed=np.random.default_rng(1), temperature=1.0, state=state,
                        first_input=float(read[-1]))
    assert_array_equal(primed, np.float32(want.astype(np.float64) * 0.5))


@pytest.mark.parametrize("history, output", [("pcm", "mixture"), ("linear", "softmax"), (3, "mixture")])
def test_a_model_with_an_invalid_history_is_refused(tmp_path, capsys, history, output):
    n_out = 12 if output == "mixture" else 256
    model = cwfast.ClockworkRNN(1, n_out, n_hidden=6, n_modules=2, output=output, seed=0, sample_rate=8000,
                                metadata=dict(LINEAR, history=history))
    with pytest.raises(CwfastError, match="invalid history"):
        render.render(model, 10)
    model.save(tmp_path / "m.npz")
    status = main(["generate", "-m", str(tmp_path / "m.npz"), "-o", str(tmp_path / "g.wav"), "--seconds", "0.1"])
    err = capsys.readouterr().err
    assert status == 2 and "invalid history" in err and err.count("\n") == 1
    assert not (tmp_path / "g.wav").exists()


def test_train_audio_with_linear_history_trains_on_and_stores_it():
    trained = train_audio(tone(), 8000, mode="autoregressive", hidden=8, modules=2, epochs=2, history="linear",
                          progress=False)
    model = trained.model
    assert model.metadata["history"] == "linear" and render.history_of(model) == "linear"
    default = train_audio(tone(), 8000, mode="autoregressive", hidden=8, modules=2, epochs=2, progress=False)
    assert default.model.metadata["history"] == "mu-law"
    # What the model scores on is what it read: re-scoring on linear inputs repeats its figure.
    split = tasks.split_task(tasks.autoregressive(tone(), history="linear"), validation=0.1, test=0.1)
    figure = tasks.evaluate(model, split.test, state=tasks.final_state(model, tasks.join([split.train,
                                                                                          split.validation])))
    assert figure["bits_per_sample"] == pytest.approx(trained.figures["test"]["bits_per_sample"], rel=1e-6)


@pytest.mark.parametrize("options, phrase", [
    ({"mode": "autoregressive", "head": "softmax", "history": "linear"}, "history='linear' needs head='mixture'"),
    ({"mode": "memorize", "history": "mu-law"}, "memorize mode reads no past samples"),
    ({"mode": "autoregressive", "history": "16-bit"}, "history='16-bit' must be one of"),
])
def test_check_options_refuses_a_history_that_does_not_fit(options, phrase):
    with pytest.raises(ParameterError, match=phrase):
        check_options(**options)


def test_cli_trains_describes_and_refuses_linear_history(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", tone(), 8000)
    status = main(["train", str(tmp_path / "tone.wav"), "--mode", "autoregressive", "--history", "linear",
                   "--hidden", "8", "--modules", "2", "--epochs", "1", "-o", str(tmp_path / "m.npz"), "-q"])
    assert status == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m.npz")]) == 0
    assert "reads linear history" in capsys.readouterr().out
    status = main(["train", str(tmp_path / "tone.wav"), "--mode", "autoregressive", "--history", "linear",
                   "--head", "softmax", "-o", str(tmp_path / "s.npz")])
    err = capsys.readouterr().err
    assert status == 2 and "--history linear needs --head mixture" in err and err.count("\n") == 1
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize("kind", ["cw", "lstm"])
@pytest.mark.parametrize("values", [None, VALUES], ids=["linear", "mu-law"])
def test_a_first_input_beyond_full_scale_is_read_clipped_as_training_reads_it(kind, values):
    """The sampling kernels looked a first input past 1 up in the 256 class values by its unclipped
    class (2.0: class 271, past the table's end; -5.0: a class of the other sign)."""
    model = mixture_model(kind)
    for beyond, edge in ((2.0, 1.0), (-5.0, -1.0), (1e30, 1.0)):
        out, end = model.sample(30, values=values, seed=2, temperature=0.8, first_input=beyond, return_state=True)
        want, want_end = model.sample(30, values=values, seed=2, temperature=0.8, first_input=edge, return_state=True)
        assert_array_equal(out, want)
        assert_array_equal(end.h, want_end.h)
