"""Bad input to the public API (an API review's findings): ParameterError or CwfastError naming the
argument, never a raw exception; nothing written and no state changed by a call that fails."""

import os

import numpy as np
import pytest

import cwfast
from cwfast import LSTM, ClockworkRNN, CwfastError, ParameterError, State, export_c, lpc, metrics


@pytest.fixture
def mixture():
    return ClockworkRNN(1, 6, n_hidden=6, n_modules=2, seed=0, output="mixture")


def test_save_writes_through_a_symbolic_link_and_refuses_what_is_not_a_regular_file(tmp_path):
    small, large = ClockworkRNN(1, 1, n_hidden=2, n_modules=1), ClockworkRNN(1, 1, n_hidden=4, n_modules=2)
    small.save(tmp_path / "target.npz")
    os.symlink("target.npz", tmp_path / "link.npz")
    large.save(tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz")  # the link stays a link; its file is replaced
    assert cwfast.load(tmp_path / "target.npz").n_hidden == 4
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(CwfastError, match="not a regular file"):
        small.save(tmp_path / "pipe.npz")
    assert not (tmp_path / "pipe.npz").is_file()


@pytest.mark.parametrize("name, match", [("a\0b.npz", "null character"), ("a" * 300 + ".npz", "too long")])
def test_impossible_file_names_are_refused_in_one_line(tmp_path, name, match):
    model = ClockworkRNN(1, 1, n_hidden=2, n_modules=1)
    with pytest.raises(CwfastError, match=match):
        model.save(str(tmp_path / name))
    with pytest.raises(CwfastError, match=match):
        cwfast.load(str(tmp_path / name))
    assert list(tmp_path.iterdir()) == []


def test_non_finite_parameters_are_neither_saved_exported_nor_run(tmp_path):
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0)
    model.params[0] = np.nan
    with pytest.raises(ParameterError, match="NaN or infinite"):
        model.save(tmp_path / "m.npz")
    with pytest.raises(ParameterError, match="NaN or infinite"):
        export_c(model, tmp_path, "m")
    with pytest.raises(CwfastError, match="parameters contain NaN"):
        cwfast.Stream(model).process(np.zeros((3, 1), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arch", [ClockworkRNN, LSTM])
def test_non_finite_parameters_written_in_place_are_not_run_by_the_model_either(arch):
    # params is a writable view: its setter's check is passed by, and forward, loss, loss_and_grad,
    # advance and sample returned NaN without a word where a Stream and render refuse.
    model = arch(1, 12, n_hidden=4, seed=0, output="mixture", **({"n_modules": 2} if arch is ClockworkRNN else {}))
    model.params[-1] = np.inf
    x, target = np.zeros((5, 1), np.float32), np.zeros(5, np.int64)
    for call in (lambda: model.forward(x), lambda: model.loss(x, target), lambda: model.loss_and_grad(x, target),
                 lambda: model.advance(x), lambda: model.sample(5, values=None)):
        with pytest.raises(CwfastError, match="the model's parameters contain NaN or infinite values: it cannot run"):
            call()


def test_values_a_float32_model_cannot_hold_are_refused_and_change_nothing(mixture):
    before = mixture.params.copy()
    with pytest.raises(ParameterError, match="level start=1e\\+300 is beyond what a float32 model holds"):
        mixture.level = (0.1, 1e300)
    with pytest.raises(ParameterError, match="factor=1e\\+300 would make the mixture's scales infinite"):
        mixture.scale_mixture(1e300)
    with pytest.raises(ParameterError, match="first_input=1e\\+39"):
        mixture.sample(5, values=None, first_input=1e39)
    with pytest.raises(ParameterError, match="forget_bias"):
        LSTM(1, 1, n_hidden=4, forget_bias=1e300)
    assert mixture.level is None and np.array_equal(mixture.params, before)
    # The same numbers fit a float64 model.
    ClockworkRNN(1, 6, n_hidden=6, n_modules=2, output="mixture", dtype=np.float64).level = (0.1, 1e300)
    mixture.scale_mixture(1.5)  # and an ordinary factor still works
    assert not np.array_equal(mixture.params, before)
    mixture.surprise = (0.1, 0.5, 1.0)
    before, surprise = mixture.params.copy(), mixture.surprise
    with pytest.raises(ParameterError, match="factor=1e-308 would make the surprise-following scale's mean"):
        mixture.scale_mixture(1e-308)  # (it named an internal value: "surprise mean=inf")
    assert mixture.surprise == surprise and np.array_equal(mixture.params, before)


def test_an_array_for_steps_is_a_parameter_error():
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2)
    with pytest.raises(ParameterError, match="steps=array"):
        model.loss(np.zeros((5, 1), np.float32), np.zeros((5, 1), np.float32), steps=np.array([0, 4]))


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.nmse("ab", "cd"), "y has dtype"),
    (lambda: metrics.nmse([1.0, 2.0], [np.nan, 1.0]), "target contains NaN"),
    (lambda: metrics.rms([[1], [1, 2]]), "samples must be a numeric array"),
    (lambda: metrics.rms(None), "samples has dtype object"),
    (lambda: metrics.spectral_centroid([1.0, 2.0, 3.0], 0), "sample_rate=0"),
    (lambda: metrics.spectral_centroid([1j, 2, 3], 16000), "samples has dtype complex"),
    (lambda: metrics.spectral_centroid([np.nan, 1.0], 16000), "samples contains NaN"),
    (lambda: metrics.spectral_centroid(np.ones((100, 2)), 16000), r"samples has shape \(100, 2\); expected mono"),
    (lambda: metrics.nats_to_bits(None), "nats=None"),
    (lambda: lpc.bin_probabilities(0.0, 1.0, 256, density="foo"), "density='foo'"),
    (lambda: lpc.split_baseline(np.ones((4000, 2))), r"clips has shape \(4000, 2\); expected one mono clip"),
    (lambda: lpc.baseline(np.sin(np.arange(40) * 0.3)), r"the clip \(40 samples\) leaves 36 before its held-out part; "
                                                         "fitting 32 taps needs at least 128"),
    (lambda: lpc.bin_probabilities("a", 1.0), "mean='a' must be a real number"),
])
def test_the_figures_refuse_what_they_cannot_measure(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_the_linear_predictor_refuses_classes_out_of_range_instead_of_wrapping():
    labels = np.random.default_rng(0).integers(0, 256, 4000)
    predictor = lpc.fit(labels, 2000)
    for bad in (labels - 100, labels + 100, labels.astype(float), labels[:0]):
        with pytest.raises(ParameterError, match="labels"):
            predictor.log_probs(bad)
    with pytest.raises(ParameterError, match="chunk=0"):
        predictor.means(np.zeros(40), chunk=0)
    with pytest.raises(ParameterError, match="alphas"):
        lpc.fit(labels, 2000, alphas=0.1)
    assert np.all(np.isfinite(predictor.log_probs(labels)))


def test_the_likeness_measures_name_the_argument_at_fault():
    from cwfast import likeness

    x = np.random.default_rng(0).standard_normal(4000)
    with pytest.raises(ParameterError, match="^reference has dtype"):
        likeness.compare(x, x, 16000, reference="x")
    with pytest.raises(ParameterError, match="^b has dtype"):
        likeness.ltas_distance(x, None)
    for frames, lag in ((np.zeros((3, 100)), -1), (np.zeros((3, 100)), 100), (np.zeros((3, 100)), 10.5)):
        with pytest.raises(ParameterError, match="max_lag"):
            likeness.frame_autocorrelation(frames, lag)
    with pytest.raises(ParameterError, match="2-D"):
        likeness.frame_autocorrelation(np.zeros(100), 10)
    assert likeness.compare(x, x, 16000)["ltas_distance"] == 0.0


def test_render_and_process_check_their_arguments_before_any_work():
    from cwfast import render

    memorize = ClockworkRNN(0, 1, n_hidden=4, n_modules=2)
    effect = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, metadata={"mode": "effect"})
    calls = [
        (lambda: render.render(None, 10), "model must be a cwfast model"),
        (lambda: render.render(memorize, default_seconds=float("nan")), "seconds=nan"),
        (lambda: render.render(memorize, default_seconds="x"), "seconds='x'"),
        (lambda: render.render(memorize, 10, on_progress=5), "on_progress must be callable"),
        (lambda: render.render(memorize, 10, seed="x"), "seed='x'"),
        (lambda: render.render(memorize, 10, temperature=-1), "temperature=-1"),
        (lambda: render.process_blocks(effect, 5), "blocks must be an iterable"),
        (lambda: render.process(effect, np.zeros(10, np.float32), on_progress=3), "on_progress must be callable"),
    ]
    for call, match in calls:
        with pytest.raises(ParameterError, match=match):
            call()
    assert render.render(memorize, 10).shape == (10,)


@pytest.mark.parametrize("dtype, match", [(None, "dtype=None"), (">f4", "other byte order"),
                                          ("float16", "dtype=float16 must be float32 or float64")])
def test_a_dtype_that_is_not_native_float32_or_float64_is_refused(dtype, match):
    with pytest.raises(ParameterError, match=match):
        ClockworkRNN(1, 1, n_hidden=2, n_modules=1, dtype=dtype)


def test_a_generation_longer_than_memory_is_a_parameter_error(mixture):
    # 2**60 steps: more bytes than NumPy can address, so nothing is allocated whatever the machine.
    with pytest.raises(ParameterError, match="n_steps=1152921504606846976 needs .* GiB of buffers"):
        mixture.sample(2**60, values=None)
    assert mixture.sample(5, values=None, seed=0).shape == (5,)


def test_a_forward_pass_longer_than_memory_is_a_parameter_error():
    """A broadcast input of 10**12 steps (4 TB once contiguous): NumPy's MemoryError before (and
    still, from loss, advance and loss_and_grad, until the input check caught it); the state passed
    in is left as it was."""
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    state = cwfast.State(np.full(8, 0.25, np.float32), 3)
    big = np.broadcast_to(np.float32(0), (10**12, 1))
    message = r"^x of shape \(1000000000000, 1\) needs 3.6 TiB as float32, more memory than this machine gives"
    for call in (lambda: model.forward(big, state=state), lambda: model.loss(big, big, state=state),
                 lambda: model.advance(big, state=state), lambda: model.loss_and_grad(big, big, state=state)):
        with pytest.raises(ParameterError, match=message):
            call()
        np.testing.assert_array_equal(state.h, 0.25)


@pytest.mark.parametrize("build", [
    lambda: cwfast.ClockworkRNN(1, 1, n_hidden=8, n_modules=2, input_windows=10**13),
    lambda: cwfast.ClockworkRNN(1, 1, n_hidden=8, periods=[1, 10**12], input_windows="period"),
    lambda: cwfast.LSTM(1, 1, n_hidden=10**6),
])
def test_a_model_too_large_for_memory_is_a_parameter_error(build):
    """Sizes whose parameters no machine holds (15 to 300 TiB): a ParameterError that says how much, not NumPy's
    MemoryError or its "array is too big"."""
    with pytest.raises(ParameterError, match="GiB, more than this machine gives"):
        build()


@pytest.mark.parametrize("n_hidden, phrase", [(3 * 10**9, "a model of 1 module .up to 3000000000 units"),
                                               (2**31, "a model of 2147483648 units, 1 inputs and 1 outputs")])
def test_a_simple_rnn_too_large_to_count_is_not_called_a_clockwork_rnn(n_hidden, phrase):
    with pytest.raises(ParameterError, match=f"^{phrase}") as refused:
        cwfast.SRN(1, 1, n_hidden=n_hidden)
    assert "Clockwork" not in str(refused.value)


def test_values_too_large_for_float32_are_named_so_without_a_warning():
    """1e39 is finite, but not in float32: the refusal says so (it said 'NaN or infinite', after
    NumPy's overflow warning), and audio samples are refused alike (they became inf)."""
    import warnings

    from cwfast import validate

    model = cwfast.ClockworkRNN(1, 1, n_hidden=4, n_modules=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match=r"x holds values too large for float32 \(1e\+39\)"):
            model.forward(np.full((5, 1), 1e39))
        with pytest.raises(ParameterError, match=r"samples holds values too large for float32"):
            validate.mono("samples", np.full(5, -1e39))
        with pytest.raises(ParameterError, match="x contains NaN or infinite values"):
            model.forward(np.full((5, 1), np.nan))


def _generator():
    return ClockworkRNN(1, 30, n_hidden=8, n_modules=2, seed=0, output="mixture", sample_rate=8000,
                        metadata={"mode": "autoregressive", "n_classes": 256})


def test_a_second_api_review_render_refuses_what_it_cannot_run_or_hold():
    from cwfast import render

    model = _generator()
    bad = model.copy()
    bad.params[:] = np.nan
    with pytest.raises(CwfastError, match="NaN or infinite"):
        render.render(bad, 10, seed=0)
    # A scale past float32's largest is no level float32 audio had: refused before generating
    # (it printed the "runs free" note of a memorize model first); one within it whose product
    # with the output gain overflows is refused once generated.
    for scale, gain, match in ((True, 1, "invalid scale True"), (1e300, 1, r"invalid scale 1e\+300"),
                               (3e38, 100, "not finite at the model's level")):
        bad = model.copy()
        bad.metadata["scale"] = scale
        bad.metadata["output_gain"] = gain
        with pytest.raises(CwfastError, match=match):
            render.render(bad, 10, seed=0)
    bad = model.copy()
    bad.metadata["mode"] = "bogus"  # not guessed from the shape: it was trained as something
    with pytest.raises(CwfastError, match="invalid mode 'bogus'"):
        render.render(bad, 10, seed=0)
    memorize = ClockworkRNN(0, 1, n_hidden=8, n_modules=2, metadata={"mode": "memorize"})
    for call in (lambda: render.render(memorize, 10**12, chunk=10**12),
                 lambda: next(render.render_blocks(memorize, 10**12, block=10**12))):
        with pytest.raises(CwfastError, match="memory"):
            call()
    # A stored length past memory (10**15 samples: 4 PB of audio) is refused before the first block.
    long_clip = ClockworkRNN(0, 1, n_hidden=8, n_modules=2, metadata={"mode": "memorize", "length": 10**15})
    with pytest.raises(CwfastError, match="1,000,000,000,000,000 samples of audio in memory"):
        render.render(long_clip)
    assert render.render(long_clip, 5).shape == (5,)  # an explicit length is what is held
    # Named as the caller wrote them (they said "block=0" and "seconds=0", render_blocks' names).
    with pytest.raises(ParameterError, match="^chunk=0 must be a positive integer"):
        render.render(model, 10, seed=0, chunk=0)
    with pytest.raises(ParameterError, match="^default_seconds=0 must be a positive finite number"):
        render.render(model, seed=0, default_seconds=0)
    with pytest.raises(ParameterError, match="prime must be a numeric array"):
        render.render(model, 10, prime=[[0.1], [0.1, 0.2]], seed=0)
    effect = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, metadata={"mode": "effect"})
    with pytest.raises(ParameterError, match="must be a numeric array"):
        render.process(effect, [[0.1], [0.1, 0.2]])


def test_a_models_metadata_and_sample_rate_are_checked_when_set():
    model = _generator()
    for attribute, value in (("metadata", ["a"]), ("sample_rate", "x"), ("sample_rate", -5), ("sample_rate", True)):
        with pytest.raises(ParameterError, match=attribute):
            setattr(model, attribute, value)
    assert model.sample_rate == 8000 and model.metadata["mode"] == "autoregressive"
    model.metadata = None  # no metadata: a model of its shape's kind
    assert model.metadata == {} and cwfast.render.render(model, 10, seed=0).shape == (10,)


def test_the_likeness_measures_refuse_ragged_lists():
    from cwfast import likeness

    for call in (lambda: likeness.ltas([[0.1], [0.1, 0.2]]), lambda: likeness.spectral_flatness([[0.1], [0.2, 0.3]]),
                 lambda: likeness.compare(np.ones(3000), np.ones(3000), 8000, reference=[[1.0], [1.0, 2.0]])):
        with pytest.raises(ParameterError, match="must be a numeric array"):
            call()


@pytest.mark.parametrize("kwargs, match", [
    (dict(audio="abc"), "floating-point"), (dict(audio=[[1.0], [1.0, 2.0]]), "numeric array"),
    (dict(audio=np.full(100, np.nan)), "NaN"), (dict(temperatures=None), "temperatures"),
    (dict(temperatures=[]), "temperatures"), (dict(seconds=None), "seconds"), (dict(seconds=float("nan")), "seconds"),
    (dict(seconds=1e308), "more samples"), (dict(seconds=True), "seconds"), (dict(seeds=[-1]), "seeds"),
    (dict(seeds=[]), "at least one seed"), (dict(seeds=[0, 0]), "each once"), (dict(seeds=3), "sequence"),
    (dict(seeds="012"), "sequence"), (dict(seeds=[0.5]), "seeds"),
])
def test_calibrate_temperature_checks_its_arguments(kwargs, match):
    from cwfast.train_audio import calibrate_temperature

    arguments = dict(audio=0.3 * np.sin(np.arange(8000) / 3.0))
    arguments.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        calibrate_temperature(_generator(), arguments.pop("audio"), **arguments)


def test_calibrate_temperature_reads_a_softmax_models_own_classes():
    """It fed back 256 mu-law values whatever the model: a 64-class softmax model was refused
    ("values has shape (256,)") where render generates from it."""
    from cwfast.train_audio import calibrate_temperature

    model = ClockworkRNN(1, 64, n_hidden=8, n_modules=2, seed=0, output="softmax", sample_rate=8000,
                         metadata={"mode": "autoregressive", "n_classes": 64})
    from cwfast.codec import mu_law_values

    audio = 0.3 * np.sin(np.arange(8000) / 3.0)
    calibration = calibrate_temperature(model, audio, temperatures=[0.5, 1.0], seconds=0.5, seeds=[0])
    assert calibration["chosen"] in (0.5, 1.0)
    assert [row["temperature"] for row in calibration["table"]] == [0.5, 1.0]
    # Each row measures what the model generates feeding back its own 64 classes' values.
    for row in calibration["table"]:
        generated = model.sample(4000, values=mu_law_values(64), temperature=row["temperature"], seed=0)
        assert row["rms"] == pytest.approx(metrics.rms(generated) / metrics.rms(audio), abs=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode=["memorize"]), "mode="), (dict(trainer=["adam"]), "trainer="), (dict(periods=5), "periods=5"),
    (dict(seed="x"), "seed="), (dict(seed=True), "seed="), (dict(seed=-1), "seed="),
    (dict(mode="autoregressive", trainer="es", population="x"), "population="),
])
def test_train_audio_refuses_arguments_of_the_wrong_type(kwargs, match):
    from cwfast.train_audio import train_audio

    arguments = dict(mode="memorize", epochs=1, hidden=8, modules=2, progress=False)
    arguments.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        train_audio(np.sin(np.arange(320) / 5.0).astype(np.float32), 8000, **arguments)


def test_the_exports_check_their_arguments_and_write_nothing(tmp_path):
    from cwfast.export import export_lv2

    effect = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, metadata={"mode": "effect"}, sample_rate=16000)
    export_c(effect, tmp_path, "m")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for call, match in ((lambda: export_c(effect, tmp_path, "m", overwrite="no"), "overwrite must be True or False"),
                        (lambda: export_c(effect, "", "m"), "must be a path"),
                        (lambda: export_lv2(effect, tmp_path, "p", overwrite="no"), "overwrite"),
                        (lambda: export_lv2(effect, tmp_path, "p", cc=["gcc"]), "cc="),
                        (lambda: export_lv2(effect, tmp_path, "p", cflags="-O2"), "cflags="),
                        (lambda: export_lv2(effect, tmp_path, "p", cflags=5), "cflags=")):
        with pytest.raises(ParameterError, match=match):
            call()
    wide = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, dtype=np.float64, metadata={"mode": "effect"})
    wide.params[0] = 1e300  # finite in float64, not in the C export's float weights
    with pytest.raises(ParameterError, match="past float32's range"):
        export_c(wide, tmp_path, "wide")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_evolve_refuses_a_population_past_the_command_lines_bound():
    from cwfast.modes import MAX_POPULATION
    from cwfast.train import evolve

    model = ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0)
    before = model.params.copy()
    with pytest.raises(ParameterError, match=f"at most {MAX_POPULATION}"):
        evolve(model, np.zeros((64, 0), np.float32), np.zeros((64, 1), np.float32), generations=1,
               population=2 * MAX_POPULATION, progress=False)
    np.testing.assert_array_equal(model.params, before)


def test_switches_are_true_or_false_not_truthy():
    from cwfast.train import evolve, fit

    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    x, y = np.zeros((64, 1), np.float32), np.zeros((64, 1), np.float32)
    generator = ClockworkRNN(1, 30, n_hidden=8, n_modules=2, output="mixture")
    before = model.params.copy()
    for call, name in ((lambda: model.forward(x, return_state="no"), "return_state"),
                       (lambda: model.forward(x, raw=1), "raw"),
                       (lambda: model.loss_and_grad(x, y, flat="no"), "flat"),
                       (lambda: LSTM(1, 1, n_hidden=4).loss_and_grad(x, y, return_state="no"), "return_state"),
                       (lambda: generator.sample(10, values=None, return_state="no"), "return_state"),
                       (lambda: fit(model, x, y, epochs=1, progress="x"), "progress"),
                       (lambda: evolve(model, x, y, generations=1, population=4, progress="x"), "progress"),
                       (lambda: evolve(model, x, y, generations=1, population=4, search_periods="x",
                                       progress=False), "search_periods")):
        with pytest.raises(ParameterError, match=f"{name} must be True or False"):
            call()
    np.testing.assert_array_equal(model.params, before)


def test_the_metrics_hold_their_ratios_at_any_magnitude():
    assert metrics.nmse([0.0, 1.0], [1e200, -1e200]) == pytest.approx(1.0)
    assert metrics.esr([0.0, 1.0], [1e200, -1e200]) == pytest.approx(1.0)
    assert metrics.nmse([0.0, 0.0], [1e-170, -1e-170]) == pytest.approx(1.0)  # not constant, only small
    assert metrics.rms([1e200, -1e200]) == pytest.approx(1e200) and metrics.rms([1e-200, -1e-200]) == pytest.approx(1e-200)
    assert metrics.spectral_centroid(np.full(16, 1e200), 16000) == pytest.approx(metrics.spectral_centroid(np.ones(16), 16000))
    x = np.random.default_rng(0).standard_normal(100)
    assert metrics.rms(x) == np.sqrt(np.mean(x**2))  # audio's magnitudes: the same to the last bit
    with pytest.raises(ParameterError, match="sample_rate"):
        metrics.spectral_centroid(x, 1e308)


def test_evolve_bounds_the_period_search_in_octaves():
    from cwfast.train import evolve

    model = ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0)
    for name in ("period_sigma", "period_lr"):
        with pytest.raises(ParameterError, match=f"{name}=1e\\+308 must be at most 64"):
            evolve(model, np.zeros((64, 0), np.float32), np.zeros((64, 1), np.float32), generations=1, population=4,
                   search_periods=True, progress=False, **{name: 1e308})


def test_train_audio_resume_without_a_checkpoint_is_a_parameter_error():
    """With seed=None a resume reads the checkpoint's seed first; with no checkpoint that was a TypeError."""
    from cwfast.train_audio import train_audio

    x = (0.3 * np.sin(np.arange(2000) * 0.1)).astype(np.float32)
    with pytest.raises(ParameterError, match="resume=True needs checkpoint=PATH"):
        train_audio(x, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, progress=False, resume=True,
                    seed=None)


@pytest.mark.parametrize("call, match", [
    (lambda: cwfast.render.seconds_to_samples(1.0, None), "sample_rate=None must be a positive whole number of Hz"),
    (lambda: cwfast.tasks.evaluate(ClockworkRNN(1, 1, n_hidden=4, n_modules=2), None), "task must be a cwfast.tasks.Task"),
    (lambda: cwfast.tasks.join([1, 2]), "task must be a cwfast.tasks.Task"),
    (lambda: cwfast.tasks.join([cwfast.tasks.make_task("memorize", np.linspace(-0.5, 0.5, 8)),
                                cwfast.tasks.make_task("effect", np.linspace(-0.5, 0.5, 8),
                                                       target=np.linspace(0.5, -0.5, 8))]),
     r"cannot be joined: memorize \(1 linear outputs\) and effect"),
    (lambda: cwfast.tasks.split_task("x", validation=0.1), "task must be a cwfast.tasks.Task"),
    (lambda: cwfast.scale_fit.fit_scale(ClockworkRNN(1, 6, n_hidden=4, n_modules=2, output="mixture"), [],
                                        progress=1), "progress must be True or False"),
    (lambda: cwfast.scale_fit.fit_surprise(ClockworkRNN(1, 6, n_hidden=4, n_modules=2, output="mixture"), [],
                                           progress="no"), "progress must be True or False"),
    (lambda: cwfast.scale_fit.fit_scale("model.npz", []), "model must be a cwfast model"),
    # A clip that is not 1-D: a single clip passed for the list of them was read as one-sample clips
    (lambda: lpc.coefficients(np.linspace(-0.5, 0.5, 64), 4), r"clip has shape \(\); expected \(n,\)"),
    (lambda: lpc.coefficients([np.ones((8, 8))], 2), r"clip has shape \(8, 8\); expected \(n,\)"),
    # A third audit's: a TypeError from join and memorize_size, and memorize_size answered for
    # -1 samples, 2.5 and True.
    (lambda: cwfast.tasks.join(None), "parts=None must be a list of cwfast.tasks.Task"),
    (lambda: cwfast.tasks.memorize_size("a"), "n_steps='a' must be a positive integer"),
    (lambda: cwfast.tasks.memorize_size(-1), "n_steps=-1 must be a positive integer"),
    (lambda: cwfast.tasks.memorize_size(2.5), "n_steps=2.5 must be a positive integer"),
    (lambda: cwfast.tasks.memorize_size(True), "n_steps=True must be a positive integer"),
])
def test_helpers_of_the_tasks_and_render_modules_name_a_bad_argument(call, match):
    """An audit's findings: each was a TypeError or AttributeError from deep inside."""
    with pytest.raises(ParameterError, match=match):
        call()


def test_clip_grad_norm_refuses_what_it_cannot_scale_in_place():
    from cwfast.train import clip_grad_norm

    for grad, match in (("abc", "not str"), (np.ones(3, dtype=int), "an array of int64"), ([1.0, 2.0], "not list")):
        with pytest.raises(ParameterError, match="grad must be a float NumPy array .*" + match):
            clip_grad_norm(grad, 1.0)
    grad = np.full(4, 1.0)
    with pytest.raises(ParameterError, match="max_norm=-1"):
        clip_grad_norm(grad, -1)
    np.testing.assert_array_equal(grad, 1.0)  # unchanged by the failed call
    assert clip_grad_norm(grad, 1.0) == 2.0 and np.allclose(grad, 0.5)


def test_a_state_takes_a_0d_clock_and_refuses_a_negative_level():
    """State(h, np.array(3)) was refused as "state.t=3 must be a non-negative integer"; a State
    whose level (the last element of h, a mean absolute value) is negative was taken as given."""
    model = ClockworkRNN(1, 6, n_hidden=6, n_modules=2, output="mixture", seed=0)
    model.level = (1 / 64, 0.1)
    x = np.full((5, 1), 0.2, dtype=np.float32)
    y, state = model.forward(x, return_state=True)
    again = model.forward(x, state=State(state.h, np.array(state.t)))
    np.testing.assert_array_equal(again, model.forward(x, state=state))
    h = state.h.copy()
    h[-1] = -0.5
    for call in (lambda: model.forward(x, state=State(h, state.t)), lambda: cwfast.Stream(model, state=State(h, 0))):
        with pytest.raises(ParameterError, match="level .* must be 0 or more"):
            call()


def test_the_c_export_refuses_a_level_past_float32s_range(tmp_path):
    import warnings

    # A float64 model's level start (or floor) beyond float32 became "inff" in the C reset, which
    # does not compile, or an infinite gain: refused, as weights past float32's range are.
    for level in ((0.1, 1e39), (0.1, 0.1, 1e39)):
        wide = ClockworkRNN(1, 6, n_hidden=4, n_modules=2, dtype=np.float64, output="mixture",
                            metadata={"mode": "autoregressive"})
        wide.level = level
        with pytest.raises(ParameterError, match="level.*past float32's range"), warnings.catch_warnings():
            warnings.simplefilter("error")  # (comparing with np.float32's largest cast 1e39 to float32: a warning)
            export_c(wide, tmp_path, "wide")
    assert list(tmp_path.iterdir()) == []


def test_a_ratio_past_float64_is_infinite_without_a_warning():
    # y 1e300 against a target of 1: the ratio, 1e600, is past float64; the scaled target's
    # squares underflowed to 0 and the division warned "divide by zero".
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.esr(np.full(4, 1e300), np.ones(4)) == np.inf
        assert metrics.nmse([1e300, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]) == np.inf


def test_the_linear_predictors_coefficients_hold_at_any_magnitude():
    # The coefficients do not depend on the clips' level; at 1e300 the Gram matrix overflowed
    # (NaN coefficients, with NumPy's warnings), at 1e-300 it underflowed to zero.
    import warnings

    clip = np.sin(np.arange(400) / 3.0) + 0.1 * np.random.default_rng(0).standard_normal(400)
    expected = lpc.coefficients([clip, clip[::-1]], 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for level in (1e300, 1e-300):
            np.testing.assert_allclose(lpc.coefficients([clip * level, clip[::-1] * level], 4), expected, rtol=1e-9)


def _descriptors_of(path):
    """This process's open file descriptors on ``path`` (Linux: /proc/self/fd)."""
    fds = "/proc/self/fd"
    found = []
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == str(path):
                found.append(fd)
        except OSError:  # the descriptor listdir itself held, closed since
            pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to list open files")
@pytest.mark.parametrize("what", ["model", "checkpoint"])
def test_a_corrupt_archive_is_closed_when_it_is_refused(tmp_path, what):
    # np.load(path) opened the file itself and, when the archive was corrupt, left it open: the
    # descriptor lived on in the error's context for as long as the caller kept the error.
    from cwfast.train import fit, load_checkpoint

    model = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0)
    path = tmp_path / "m.npz"
    if what == "model":
        model.save(path)
    else:
        fit(model, np.zeros((8, 0)), np.ones((8, 1)), epochs=1, checkpoint=path)
    path.write_bytes(path.read_bytes()[:100])  # the local header's magic, then cut short
    with pytest.raises(CwfastError, match="truncated or corrupt") as caught:
        (cwfast.load if what == "model" else load_checkpoint)(path)
    assert _descriptors_of(path) == [], caught.value


def test_the_linear_predictor_predicts_an_empty_clip_as_nothing():
    # sliding_window_view refused the zero-length history with a raw ValueError.
    x = np.sin(np.arange(2000) / 7.0) * 0.5
    predictor = lpc.fit(cwfast.tasks.autoregressive(x).targets, 1000)
    assert predictor.means(np.zeros(0)).shape == (0,)
    assert predictor.means(np.ones(1)).shape == (1,)  # (the shortest clip that worked before)


def test_sample_says_that_values_none_is_for_a_mixture_model():
    # It said "values has dtype object; it must be a real (float or integer) array".
    softmax = ClockworkRNN(1, 8, n_hidden=4, n_modules=2, output="softmax")
    with pytest.raises(ParameterError, match=r"^values=None is for a mixture model .*; a softmax model needs the "
                                             r"value of each of its 8 classes, shape \(8,\)$"):
        softmax.sample(5, values=None)
    with pytest.raises(ParameterError, match=r"^values=None is for a mixture model"):
        LSTM(1, 8, n_hidden=4, output="softmax").sample(5, values=None)

