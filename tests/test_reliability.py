"""Issue 17: requests that would exhaust memory, outputs that cannot be written, divergence and
degenerate data are refused in one line (exit 2), before any work, and leave nothing behind."""

import functools
import importlib
import re
import tempfile

import numpy as np
import pytest

import cwfast
from cwfast import ParameterError, budget
from cwfast.audio import load_audio, write_audio
from test_cli import TINY, assert_user_error, run


@pytest.fixture
def little_memory(monkeypatch):
    """Pretend 1 GiB is available, whatever this machine has, so refusals do not depend on it."""
    monkeypatch.setattr(budget, "available_memory", lambda: 2**30)


def test_a_sample_rate_whose_resampling_cannot_fit_is_refused_before_reading(capsys, tmp_path, clip_8k,
                                                                             little_memory, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--samples", "320", "--sample-rate", "2000000000",
                         "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "resampling it to 2000000000 Hz needs about", "--sample-rate")
    assert list(tmp_path.iterdir()) == []


def test_the_api_refuses_a_resampling_that_cannot_fit(tmp_path, little_memory):
    """resample and load_audio(sample_rate=...) met NumPy's bare MemoryError (320 GiB for 100
    samples to 2**31 - 1 Hz: a filter of 20 max(up, down) taps); a ratio that fits still runs."""
    from cwfast.audio import resample

    with pytest.raises(cwfast.CwfastError, match="^resampling 100 frames from 44100 to 2147483647 Hz needs about"):
        resample(np.zeros(100, np.float32), 44100, 2**31 - 1)
    write_audio(tmp_path / "a.wav", np.zeros(441, np.float32), 44100)
    with pytest.raises(cwfast.CwfastError, match="^resampling 441 frames from 44100 to 2147483645 Hz needs about"):
        load_audio(tmp_path / "a.wav", sample_rate=2**31 - 3)
    assert resample(np.ones((441, 2), np.float32), 44100, 16000).shape == (160, 2)


def test_a_prime_whose_resampling_cannot_fit_is_refused_before_reading(capsys, tmp_path, little_memory):
    """--prime read and resampled unchecked: a 1-Hz file of 200 kB took 9.5 GB before its refusal."""
    prime = tmp_path / "slow.wav"
    write_audio(prime, np.zeros(50_000, np.float32), 1)
    status, _, err = run(capsys, "generate", "--prime", prime, "-o", tmp_path / "g.wav", "--seconds", "0.1")
    assert_user_error(status, err, "resampling it to 16000 Hz needs about", "a shorter --prime")
    assert [p.name for p in tmp_path.iterdir()] == ["slow.wav"]


def test_a_model_that_cannot_fit_names_hidden(capsys, tmp_path, clip_8k, little_memory, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--samples", "320", "--hidden", "100000", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "Clockwork RNN of 100000 units", "--hidden")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("length", [["--seconds", "1e300"], ["--samples", "100000000000000000000"],
                                    ["--seconds", "100000"]])
def test_generation_lengths_that_cannot_fit_are_one_line(capsys, tmp_path, length, little_memory):
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", *length)
    assert_user_error(status, err)
    assert list(tmp_path.iterdir()) == []


def test_a_period_beyond_any_clock_is_one_line(capsys, tmp_path, clip_8k, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--periods", "1,99999999999999999999", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "--periods")


def test_too_many_modules_is_one_short_line_naming_the_option(capsys, tmp_path, clip_8k, no_training):
    """--modules 100 was refused as a 1,800-character list of periods without naming --modules,
    and --modules 33 saved periods past the bound --periods keeps (2**31 - 1)."""
    for modules in ("100", "32"):
        status, _, err = run(capsys, "train", clip_8k, "--modules", modules, "-o", tmp_path / "m.npz")
        assert_user_error(status, err, "--modules", "must be at most 31")
        assert len(err) < 200
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ParameterError, match=r"^n_modules=64 must be at most 63$"):
        cwfast.ClockworkRNN(1, 1, n_hidden=64, n_modules=64)
    assert cwfast.ClockworkRNN(1, 1, n_hidden=31, n_modules=31).periods[-1] == 2**30


def test_a_scale_no_audio_had_is_refused_in_one_line_before_any_note(capsys, tmp_path):
    """A memorize model whose metadata scale is 1e308 said 'runs free' before its refusal."""
    model = cwfast.ClockworkRNN(0, 1, n_hidden=6, n_modules=3, seed=0, sample_rate=8000,
                                metadata={"mode": "memorize", "scale": 1e308, "length": 200, "start": 0.0})
    model.save(tmp_path / "m.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "g.wav", "--samples", "400")
    assert_user_error(status, err, "invalid scale 1e+308")
    assert "runs free" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_budget_estimates_grow_with_the_request():
    assert budget.audio_bytes(44100, 2, 44100) < budget.audio_bytes(44100, 2, 44100, 16000) \
        < budget.audio_bytes(44100, 2, 44100, 96000)
    small = budget.training_bytes(1000, 4, n_steps=10**6, n_hidden=64, n_out=256, window=256, batch=8)
    assert small < budget.training_bytes(1000, 4, n_steps=10**6, n_hidden=64, n_out=256)  # full BPTT holds it all
    # An update's history is the steps of every stream's window: window x batch steps, at most the clip's.
    assert small == budget.training_bytes(1000, 4, n_steps=10**6, n_hidden=64, n_out=256, window=2048)
    assert small > budget.training_bytes(1000, 4, n_steps=10**6, n_hidden=64, n_out=256, window=256)
    assert budget.training_bytes(1000, 4, n_steps=2048, n_hidden=64, n_out=256, window=256, batch=9) \
        == budget.training_bytes(1000, 4, n_steps=2048, n_hidden=64, n_out=256)
    with pytest.raises(budget.CwfastError, match="needs about 2.0 GiB .* more than the 1.0 GiB available; ask less"):
        budget.check_fits(2 * 2**30, "this", "ask less", available=2**30)
    budget.check_fits(2**29, "this", "ask less", available=2**30)


@pytest.mark.parametrize("rate", [None, 16000, 96000])
def test_the_audio_estimate_holds_what_reading_a_file_allocates(tmp_path, rate):
    """audio_bytes, which the command line checks before it reads, errs on the high side, by a small
    factor (not so high as to refuse what fits): the peak of the arrays load_audio allocates
    (traced), for 10 s of stereo read as it is, downsampled and upsampled. (For a file under a
    second long, the scratch of one read block of 2**16 frames can pass it.)"""
    import tracemalloc

    frames = 441000
    write_audio(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.5, 0.5, (frames, 2)).astype(np.float32),
                44100)
    load_audio(tmp_path / "a.wav", sample_rate=rate)  # (once before: the modules it imports are no part of it)
    tracemalloc.start()
    try:
        load_audio(tmp_path / "a.wav", sample_rate=rate)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= budget.audio_bytes(frames, 2, 44100, rate) <= 2.5 * peak

@pytest.fixture
def unwritable(monkeypatch, tmp_path):
    """A folder where creating a file fails, as on a read-only file system (tests run as root,
    for whom permission bits do not stop a write)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(folder)):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return folder


@pytest.mark.parametrize("where", ["model", "checkpoint", "plot"])
def test_an_unwritable_output_is_found_before_training(capsys, tmp_path, clip_8k, unwritable, no_training, where):
    pytest.importorskip("matplotlib")
    paths = {"model": tmp_path / "m.npz", "checkpoint": tmp_path / "c.npz", "plot": tmp_path / "p.png"}
    paths[where] = unwritable / paths[where].name
    status, _, err = run(capsys, "train", clip_8k, "-o", paths["model"], "--checkpoint", paths["checkpoint"],
                         "--plot", paths["plot"], "--epochs", "1", *TINY)
    assert_user_error(status, err, "Permission denied", str(paths[where]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readonly"] and list(unwritable.iterdir()) == []


def test_generate_with_an_unwritable_plot_writes_no_audio(capsys, tmp_path, unwritable):
    pytest.importorskip("matplotlib")
    status, _, err = run(capsys, "generate", "-o", tmp_path / "ok.wav", "--seconds", "0.01", "--plot",
                         unwritable / "x.png")
    assert_user_error(status, err, "Permission denied")
    assert not (tmp_path / "ok.wav").exists()


def test_process_with_an_unwritable_output_is_refused(capsys, tmp_path, clip_8k, unwritable):
    from cwfast import ClockworkRNN

    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000, metadata={"mode": "effect"})
    model.save(tmp_path / "fx.npz")
    status, _, err = run(capsys, "process", "-m", tmp_path / "fx.npz", clip_8k, "-o", unwritable / "y.wav")
    assert_user_error(status, err, "Permission denied")


def test_autoregressive_divergence_is_caught_and_saves_nothing(capsys, tmp_path, clip_8k):
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--lr", "1e30", "--epochs", "2",
                         "--pitch", "off", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "training diverged", "--lr")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("error, kept", [("diverged", False), ("cluster", True)])
def test_only_a_failed_training_removes_the_checkpoint_it_created(capsys, tmp_path, clip_8k, monkeypatch, error,
                                                                   kept):
    """A run that diverged leaves no checkpoint (it would resume the failure); any other error
    after training began (a Ray cluster whose actors were all lost) kept nothing either, and 1200
    generations went with it: now the checkpoint stays for --resume."""
    from cwfast import CwfastError, train_audio
    from cwfast.errors import TrainingDiverged

    def fail(*args, **kwargs):
        if error == "diverged":
            raise TrainingDiverged("training diverged: the trained model scores NaN on its training data", "try less")
        raise CwfastError("the evolution strategy's Ray actors were lost (3) and their replacements (2) are spent")

    monkeypatch.setattr(train_audio, "_figures", fail)  # after training, its checkpoint written
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--epochs", "1", "--samples", "400",
                         "--checkpoint", tmp_path / "c.npz", "-o", tmp_path / "m.npz", *TINY)
    assert status == 2 and ("diverged" if error == "diverged" else "replacements") in err
    assert (tmp_path / "c.npz").exists() == kept and not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("samples", [np.full(800, 0.25, dtype=np.float32), np.array([0.5], dtype=np.float32)])
@pytest.mark.parametrize("mode", ["memorize", "autoregressive"])
def test_constant_and_one_sample_clips_are_refused_in_every_mode(capsys, tmp_path, samples, mode, no_training):
    write_audio(tmp_path / "c.wav", samples, 8000)
    status, _, err = run(capsys, "train", tmp_path / "c.wav", "--mode", mode, "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err)
    assert not (tmp_path / "m.npz").exists()


def test_memorize_refuses_to_hold_out(capsys, tmp_path, clip_8k, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--validation", "0.5", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "memorize mode learns one clip by heart", "--validation")


def test_resume_with_fewer_epochs_says_it_keeps_the_checkpoint(capsys, tmp_path, clip_8k):
    common = ["--samples", "200", "--checkpoint", tmp_path / "c.npz", *TINY]
    assert run(capsys, "train", clip_8k, "-o", tmp_path / "a.npz", "--epochs", "4", *common)[0] == 0
    status, _, err = run(capsys, "train", clip_8k, "-o", tmp_path / "b.npz", "--epochs", "2", "--resume", *common)
    assert status == 0, err
    assert "already trained 4 epochs, more than --epochs 2" in err


def test_resume_on_other_audio_names_the_data_not_the_level(capsys, tmp_path, clip_8k):
    """The command line checked a resumed model's architecture as it built it, before the
    trainer's check of settings and data: other audio, which fits another level, was refused as
    "a different architecture: level=[...]", and the validation data's fingerprint was shown in
    hex digits."""
    common = ["--mode", "autoregressive", "--pitch", "off", "--samples", "400", "--epochs", "1", "--lr-schedule",
              "constant", "--checkpoint", tmp_path / "c.npz", *TINY]
    assert run(capsys, "train", clip_8k, "-o", tmp_path / "a.npz", *common)[0] == 0
    samples, rate = load_audio(clip_8k)
    other = tmp_path / "other.wav"
    write_audio(other, samples[::-1] * 0.5, rate)
    status, _, err = run(capsys, "train", other, "-o", tmp_path / "b.npz", *common, "--resume")
    assert_user_error(status, err, "other settings or data: the training data differ", "the validation data differ")
    assert "architecture" not in err and "level=" not in err and "validation='" not in err
    assert not (tmp_path / "b.npz").exists()


def test_resume_with_other_settings_is_refused_in_one_line_after_a_note(capsys, tmp_path, clip_8k):
    """--classes 16 says a note (the softmax head); a checkpoint written at another --lr is refused by
    the trainer, after the model is built: the refusal is still the only line, and the checkpoint stays."""
    common = ["--mode", "autoregressive", "--classes", "16", "--samples", "400", "--checkpoint", tmp_path / "c.npz",
              *TINY]
    status, _, err = run(capsys, "train", clip_8k, "-o", tmp_path / "a.npz", "--epochs", "2", *common)
    assert status == 0, err
    assert "--classes" in err  # the note this test is about
    saved = (tmp_path / "c.npz").read_bytes()
    status, _, err = run(capsys, "train", clip_8k, "-o", tmp_path / "b.npz", "--epochs", "2", "--lr", "0.5",
                         "--resume", *common)
    assert_user_error(status, err, "other settings or data: optimizer.lr=0.01 (now 0.5)")
    assert not (tmp_path / "b.npz").exists()
    assert (tmp_path / "c.npz").read_bytes() == saved
    status, _, err = run(capsys, "train", clip_8k, "-o", tmp_path / "b.npz", "--epochs", "2", "--resume", *common)
    assert status == 0, err
    assert "--classes" in err  # a resume that runs says its notes


def test_the_held_out_figure_comes_from_data_no_choice_saw(capsys, tmp_path, clip_8k):
    """The test part is the last 10%, scored once; the validation part before it chose the epoch."""
    import cwfast
    from cwfast import tasks

    out = tmp_path / "ar.npz"
    status, stdout, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--epochs", "2", "-o", out, *TINY)
    assert status == 0, err
    model = cwfast.load(out)
    samples, _ = load_audio(clip_8k)
    splits = tasks.split_task(tasks.autoregressive(samples), validation=0.1, test=0.1)
    state = model.forward(np.concatenate([splits.train.inputs, splits.validation.inputs]), return_state=True)[1]
    expected = model.loss(splits.test.inputs, splits.test.targets, state=state)
    assert model.metadata["figures"]["test"]["cross_entropy"] == pytest.approx(expected, rel=1e-6)
    assert model.metadata["trainer"]["chosen_on"] == "validation"


def test_pcm_output_says_what_it_clips(capsys, tmp_path):
    from cwfast import ClockworkRNN

    loud = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000,
                        metadata={"mode": "memorize", "scale": 500.0, "length": 400})
    loud.save(tmp_path / "loud.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "loud.npz", "-o", tmp_path / "a.wav", "--subtype", "pcm_16")
    assert status == 0 and "clipped to [-1, 1] for pcm_16" in err
    status, _, err = run(capsys, "generate", "-m", tmp_path / "loud.npz", "-o", tmp_path / "b.wav")
    assert status == 0 and "clipped" not in err


def test_a_flac_output_that_clips_offers_what_keeps_the_samples(capsys, tmp_path):
    """FLAC holds no float subtype, so the note must not offer --subtype float (refused for .flac)."""
    from cwfast import ClockworkRNN

    loud = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000,
                        metadata={"mode": "memorize", "scale": 500.0, "length": 400})
    loud.save(tmp_path / "loud.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "loud.npz", "-o", tmp_path / "a.flac")
    assert status == 0 and "clipped to [-1, 1] for pcm_24" in err
    assert "a .wav output with --subtype float keeps them" in err
    status, _, err = run(capsys, "generate", "-m", tmp_path / "loud.npz", "-o", tmp_path / "b.flac",
                         "--subtype", "float")
    assert_user_error(status, err, "cannot be written to FLAC")  # why the note cannot offer it


def test_generate_writes_as_it_goes_and_equals_one_render(capsys, tmp_path, monkeypatch):
    """Blocks of 1000 samples (instead of 16384) written one by one make the same file as render()."""
    import soundfile

    import cwfast
    from cwfast import render
    from cwfast.cli import default_model_path

    real = render.render_blocks
    sizes = []

    def small_blocks(*args, **kwargs):
        for block in real(*args, **dict(kwargs, block=1000)):
            sizes.append(block.size)
            yield block

    monkeypatch.setattr(render, "render_blocks", small_blocks)
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--samples", "4500", "--seed", "7")
    assert status == 0, err
    assert sizes == [1000, 1000, 1000, 1000, 500]
    written, _ = soundfile.read(str(tmp_path / "g.wav"), dtype="float32")
    expected = render.render(cwfast.load(default_model_path()), 4500, seed=7)
    np.testing.assert_array_equal(written, expected)


@pytest.mark.parametrize("mode", ["memorize", "autoregressive"])
def test_render_fills_its_output_with_exactly_the_blocks(mode):
    """render() fills one array as the blocks come (it kept them all and joined them: twice an
    hour's output at its peak): the same bits as render_blocks' blocks joined, of the length it
    chooses by itself (a memorize model's trained length, an autoregressive model's 5 s)."""
    from cwfast import ClockworkRNN, render

    meta = {"mode": "memorize", "scale": 0.3, "length": 200} if mode == "memorize" else \
        {"mode": "autoregressive", "scale": 0.4, "n_classes": 256}
    model = ClockworkRNN(0 if mode == "memorize" else 1, 1 if mode == "memorize" else 256, n_hidden=6, n_modules=3,
                         seed=2, sample_rate=100, output="linear" if mode == "memorize" else "softmax",
                         metadata=meta)
    joined = np.concatenate(list(render.render_blocks(model, seed=5, block=7)))
    assert joined.size == (200 if mode == "memorize" else 500)
    filled = render.render(model, seed=5, chunk=7)
    assert filled.dtype == np.float32
    np.testing.assert_array_equal(filled.view(np.uint32), joined.view(np.uint32))
    np.testing.assert_array_equal(render.render(model, 33, seed=5, chunk=7), joined[:33])


def test_a_wav_too_big_for_its_format_is_refused_before_generating(capsys, tmp_path):
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--seconds", "100000")
    assert_user_error(status, err, "more than a WAV file holds", ".flac")
    assert list(tmp_path.iterdir()) == []


def test_write_audio_blocks_counts_what_pcm_clips_and_leaves_nothing_on_a_bad_block(tmp_path):
    import soundfile

    from cwfast.audio import write_audio_blocks
    from cwfast.errors import ParameterError

    blocks = [np.array([0.5, 1.5, -2.0], np.float32), np.zeros(0, np.float32), np.array([0.25], np.float32)]
    frames, clipped = write_audio_blocks(tmp_path / "a.wav", blocks, 8000, subtype="PCM_16")
    assert (frames, clipped) == (4, 2)
    written, _ = soundfile.read(str(tmp_path / "a.wav"), dtype="float32")
    np.testing.assert_allclose(written, [0.5, 1.0, -1.0, 0.25], atol=1e-4)
    assert write_audio_blocks(tmp_path / "b.wav", blocks, 8000) == (4, 0)  # float keeps them
    stereo = [np.full((3, 2), 0.5, np.float32), np.full((1, 2), -0.5, np.float32)]  # a last block of one frame
    assert write_audio_blocks(tmp_path / "stereo.wav", stereo, 8000, channels=2) == (4, 0)
    np.testing.assert_array_equal(soundfile.read(str(tmp_path / "stereo.wav"), dtype="float32")[0],
                                  np.concatenate(stereo))

    def bad():
        yield np.zeros(10, np.float32)
        yield np.array([np.nan], np.float32)

    with pytest.raises(ParameterError, match="NaN"):
        write_audio_blocks(tmp_path / "c.wav", bad(), 8000)
    # No samples at all: refused as write_audio refuses them (the file of 0 frames it wrote was
    # one load_audio refuses), and an old file there is kept.
    (tmp_path / "a.wav").replace(tmp_path / "d.wav")
    for nothing in ([], [np.zeros(0, np.float32)]):
        with pytest.raises(ParameterError, match="^the blocks hold no samples"):
            write_audio_blocks(tmp_path / "d.wav", nothing, 8000, overwrite=True)
    assert soundfile.info(str(tmp_path / "d.wav")).frames == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.wav", "d.wav", "stereo.wav"]


def test_process_streams_a_file_block_by_block_with_the_same_output(capsys, tmp_path, monkeypatch):
    """At the model's rate, process reads, runs and writes blocks (here of 100 samples): the file
    equals render.process over the whole signal, and a NaN in a late block leaves no output."""
    import soundfile

    from cwfast import ClockworkRNN, render

    model = ClockworkRNN(1, 1, n_hidden=6, n_modules=3, seed=1, sample_rate=8000, metadata={"mode": "effect"})
    model.save(tmp_path / "fx.npz")
    signal = (0.5 * np.sin(np.arange(1050) / 9)).astype(np.float32)
    write_audio(tmp_path / "in.wav", signal, 8000)
    status, _, err = run(capsys, "process", "-m", tmp_path / "fx.npz", tmp_path / "in.wav", "-o", tmp_path / "o.wav",
                         "--block", "100")
    assert status == 0, err
    written, _ = soundfile.read(str(tmp_path / "o.wav"), dtype="float32")
    np.testing.assert_array_equal(written, render.process(model, signal, block_size=4096))
    bad = signal.copy()
    bad[1000] = np.nan
    soundfile.write(str(tmp_path / "bad.wav"), bad, 8000, subtype="FLOAT")
    status, _, err = run(capsys, "process", "-m", tmp_path / "fx.npz", tmp_path / "bad.wav", "-o",
                         tmp_path / "p.wav", "--block", "100")
    assert_user_error(status, err, "NaN or infinite samples", "0.125000 s")
    assert not (tmp_path / "p.wav").exists() and not any(p.name.startswith(".p.wav") for p in tmp_path.iterdir())
    # At another rate than the model's the refusal comes alone too: it followed the note "resampled
    # 'bad.wav' from 16000 Hz to 8000 Hz", said of a file that was then refused.
    soundfile.write(str(tmp_path / "bad16k.wav"), bad, 16000, subtype="FLOAT")
    status, _, err = run(capsys, "process", "-m", tmp_path / "fx.npz", tmp_path / "bad16k.wav", "-o",
                         tmp_path / "p.wav", "--block", "100")
    assert_user_error(status, err, "NaN or infinite samples", "0.062500 s")
    assert not (tmp_path / "p.wav").exists() and not any(p.name.startswith(".p.wav") for p in tmp_path.iterdir())


def test_a_rate_flac_cannot_store_is_refused_before_the_work(capsys, tmp_path):
    """libsndfile refuses FLAC above 655,350 Hz only when the file is opened: process resampled and
    ran the whole file first, and generate generated, then failed."""
    from cwfast import ClockworkRNN, audio

    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=1, metadata={"mode": "effect"})  # no rate: the file's
    model.save(tmp_path / "fx.npz")
    write_audio(tmp_path / "fast.wav", np.zeros(100, np.float32), 700_000)
    status, _, err = run(capsys, "process", "-m", tmp_path / "fx.npz", tmp_path / "fast.wav", "-o", tmp_path / "o.flac")
    assert_user_error(status, err, "FLAC stores sample rates up to 655350 Hz, not 700000: write .wav")
    memorize = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=1, metadata={"mode": "memorize"})
    memorize.save(tmp_path / "mem.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "mem.npz", "-o", tmp_path / "g.flac", "--samples", "10",
                         "--sample-rate", "700000")
    assert_user_error(status, err, "FLAC stores sample rates up to 655350 Hz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.wav", "fx.npz", "mem.npz"]
    audio.write_audio(tmp_path / "edge.flac", np.zeros(10, np.float32), audio.MAX_FLAC_SAMPLE_RATE, subtype="PCM_24")
    with pytest.raises(ParameterError, match="FLAC stores sample rates up to"):
        audio.write_audio(tmp_path / "over.flac", np.zeros(10, np.float32), audio.MAX_FLAC_SAMPLE_RATE + 1,
                          subtype="PCM_24")


def test_what_chose_the_model_is_recorded_truthfully():
    """The evolution strategy never sees the validation part (it keeps its best centre by training
    loss), so its model must not claim validation chose it; zero is refused, not taken as 'default'."""
    from cwfast.train_audio import train_audio

    rng = np.random.default_rng(0)
    dry = rng.normal(0, 0.3, 800).astype(np.float32)
    options = dict(sample_rate=8000, mode="effect", target=np.tanh(2 * dry), hidden=4, modules=2, epochs=2,
                   progress=False)
    es = train_audio(dry, trainer="es", population=4, **options)
    assert es.model.metadata["trainer"]["chosen_on"] == "training loss"
    adam = train_audio(dry, **options)
    assert adam.model.metadata["trainer"]["chosen_on"] == "validation"
    # without a validation part a gradient run keeps its last epoch, not its lowest training loss
    last = train_audio(dry, **{**options, "validation": 0.0})
    assert last.model.metadata["trainer"]["chosen_on"] == "last epoch"
    for name in ("hidden", "modules", "epochs", "batch_size", "window"):
        with pytest.raises(ParameterError, match=name):
            train_audio(dry, **{**options, name: 0})


@pytest.mark.parametrize("options, api, cli", [
    (dict(modules=8, hidden=4), "modules=8 must not exceed hidden=4", "--modules 8 must not exceed --hidden 4"),
    (dict(mode="autoregressive", head="mixture", classes=16),
     "head='mixture' scores the 256 mu-law classes; it takes no classes=16",
     "--head mixture scores the 256 mu-law classes; it takes no --classes 16"),
    (dict(epochs=0), "epochs=0 trains until time_budget", "--epochs 0 trains until --time-budget"),
    (dict(trainer="es", batch_size=2), "batch_size is for the gradient trainers (adam, sgd); trainer='es'",
     "--batch-size is for the gradient trainers (adam, sgd); --trainer es"),
])
def test_train_audio_names_its_arguments_and_the_command_line_its_options(options, api, cli):
    """The API's refusals speak Python (what its caller passed); within spoken_as_options, what
    `cwfast train` does, they name the command line's options."""
    from cwfast.train_audio import spoken_as_options, train_audio

    with pytest.raises(ParameterError) as error:
        train_audio(np.linspace(-0.5, 0.5, 800), 8000, **options)
    assert str(error.value).startswith(api), error.value
    assert "--" not in str(error.value)
    with spoken_as_options(), pytest.raises(ParameterError) as error:
        train_audio(np.linspace(-0.5, 0.5, 800), 8000, **options)
    assert str(error.value).startswith(cli), error.value
    with pytest.raises(ParameterError, match="^" + re.escape(api)):  # the spelling is restored after the block
        train_audio(np.linspace(-0.5, 0.5, 800), 8000, **options)


@pytest.mark.parametrize("options, message", [
    (dict(metadata={"mode": "effect", "scale": 1.0}), "metadata names 'mode', 'scale', which train_audio records"),
    (dict(metadata={"runs": []}), "metadata names 'runs', which train_audio records"),
    (dict(metadata={"when": object()}), "metadata, saved with the model, must be JSON-serialisable"),
    (dict(metadata={"loss": float("nan")}, checkpoint="c.npz"),
     "metadata, saved with the model and its checkpoints (no NaN or infinity), must be JSON"),
    (dict(metadata=[1]), "metadata must be a dict, not list"),
    (dict(on_note=3), "on_note=3 must be callable or None"),
    (dict(on_model="x"), "on_model='x' must be callable or None"),
    (dict(periods="1,2,4"), "periods='1,2,4' must be a list of clock periods"),
    (dict(mode="autoregressive", level=-1), "level=-1 must be a non-negative integer"),
    (dict(mode="autoregressive", level=2**24 + 1), "level=16777217 must be at most 16777216"),
    (dict(mode="autoregressive", prediction=-1), "prediction=-1 must be a non-negative integer"),
    (dict(mode="effect", target=np.full(800, np.nan)), "target contains NaN"),
    (dict(mode="effect", target=np.zeros((800, 1))), "target has shape (800, 1)"),
    (dict(mode="autoregressive", scale_fit="yes"), "scale_fit must be True or False or None, not 'yes'"),
    (dict(progress="x"), "progress must be True or False, not 'x'"),
    # an audit's findings: the target was ignored, and a function trained, then could not be saved
    (dict(mode="autoregressive", target=np.zeros(800)), "autoregressive mode takes no target (only effect"),
    (dict(mode="autoregressive", lr_schedule=lambda epoch: 1.0), "lr_schedule=<function"),
    (dict(lr_schedule="step"), "lr_schedule='step' must be one of constant, cosine, linear"),
])
def test_train_audio_refuses_bad_arguments_before_training(options, message):
    """Refused up front, in the caller's own names: no training is lost to a metadata the model
    cannot save, or that would overwrite its mode (which then made the saved model unusable)."""
    from cwfast.train_audio import train_audio

    noted = []
    with pytest.raises(ParameterError) as error:
        train_audio(np.linspace(-0.5, 0.5, 800), 8000, **{"epochs": 1, "progress": False, "on_note": noted.append,
                                                         **options})
    assert str(error.value).startswith(message), error.value
    assert noted == []  # nothing began


def test_train_audio_refuses_an_empty_corpus():
    from cwfast.train_audio import train_audio

    with pytest.raises(ParameterError, match="samples is an empty list"):
        train_audio([], 8000, mode="autoregressive")


@pytest.mark.parametrize("mode", ["memorize", "autoregressive"])
def test_train_audio_says_a_list_of_numbers_is_read_as_clips(mode):
    # In memorize mode it said "several clips (a corpus) train autoregressive models".
    from cwfast.train_audio import train_audio

    with pytest.raises(ParameterError, match=r"samples is a list of 800 numbers, read as that many clips: pass one clip "
                                             r"as an array"):
        train_audio(list(np.linspace(-0.5, 0.5, 800)), 8000, mode=mode)


@pytest.mark.parametrize("n, said", [(5, "validation 0, test 0 samples"), (10, "validation 1, test 1 samples"),
                                     (9000, "validation 900, test 900 samples"),
                                     (10000, None)])
def test_held_out_parts_too_short_to_compare_by_are_said(n, said):
    """A 10-sample clip trained and reported held-out figures of one sample each without a word."""
    from cwfast.train_audio import FEW_HELD_OUT, train_audio

    notes = []
    train_audio(np.sin(np.arange(n) * 0.3) * 0.5, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1,
                head="softmax", restarts=1, on_note=notes.append)
    short = [note for note in notes if note.startswith(("the held-out parts are short", "nothing was held out"))]
    assert FEW_HELD_OUT == 1000
    if n == 5:  # no held-out figures at all: nothing to call too short to compare by (a review)
        assert short == [f"nothing was held out ({said}): the clip is too short to give its parts any, so there are "
                         "no held-out figures; train on a longer clip"]
        return
    assert short == ([] if said is None else [f"the held-out parts are short ({said}): their figures are means over "
                                               "too few samples to compare models by; train on a longer clip, or "
                                               "hold out more"])


@pytest.fixture
def short_calibration(monkeypatch):
    """Training's temperature calibration generating 0.1 s at each temperature, not 10 s: the
    tests using it are about what training says before it starts, and a long window makes
    every generated sample dear (10 s at 64 kHz with a 1281-sample window took 9 s a test)."""
    module = importlib.import_module("cwfast.train_audio")  # the module, whatever the package exports
    monkeypatch.setattr(module, "calibrate_temperature", functools.partial(module.calibrate_temperature, seconds=0.1))


@pytest.mark.parametrize("window, noted", [(600, False), (700, True), ([1, 700], True), (np.int64(700), True)])
def test_a_window_far_beyond_the_default_is_said(window, noted, short_calibration):
    """--input-window 100000 trained for hours without a word: past 4x the default's 20 ms (640
    samples at 8 kHz) the user hears that every tick reads that much."""
    from cwfast.train_audio import train_audio

    notes = []
    train_audio(np.sin(np.arange(4000) * 0.3) * 0.5, 8000, mode="autoregressive", hidden=8, modules=2, epochs=1,
                input_window=window, restarts=1, on_note=notes.append)
    said = [n for n in notes if "a module reads the last" in n]
    assert len(said) == int(noted), notes
    assert all(n.startswith(f"input_window={window!r}: a module reads the last 700 samples (0.0875 s)") for n in said)


@pytest.mark.parametrize("periods, said", [([1, 2, 64], None),
                                           ([1, 2, 100], "period 100 is as long as the longest clip (100 samples) or "
                                                         "longer: its module ticks once, at the start, and holds"),
                                           ([1, 200, 999], "periods 200, 999 are as long as the longest clip (100 "
                                                           "samples) or longer: their modules tick once, at the start, "
                                                           "and hold that")])
def test_a_period_as_long_as_the_clip_is_said(periods, said):
    """--periods 1,2,999999 on 100 samples trained a module that ticks only at t = 0, silently."""
    from cwfast.train_audio import train_audio

    notes = []
    train_audio(np.sin(np.arange(100) * 0.3) * 0.5, 8000, hidden=6, periods=periods, epochs=1, on_note=notes.append)
    idle = [n for n in notes if "as long as the longest clip" in n]
    assert idle == ([] if said is None else [idle[0]]) and (said is None or said in idle[0]), notes
    assert said is None or idle[0].startswith("periods: ")  # (the command line: "--periods: ")


@pytest.mark.parametrize("window", [3201, [1, 3201], "period"])
def test_a_window_wider_than_the_training_audio_is_refused(window, short_calibration):
    """--input-window 99999 on a 1-s clip trained, and fitted its scale for minutes, on weights
    that mostly read the zeros before the clip. Wider than the training audio, it is refused
    before any work; as wide, or "period", it is not."""
    from cwfast.errors import ParameterError
    from cwfast.train_audio import train_audio

    clip = np.sin(np.arange(4000) * 0.3) * 0.5  # 3200 training samples
    kwargs = dict(mode="autoregressive", hidden=8, modules=2, epochs=1, restarts=1, pitch="off", scale_fit=False)
    if window == "period":
        train_audio(clip, 8000, input_window=window, **kwargs)
        return
    with pytest.raises(ParameterError, match=rf"^input_window={re.escape(repr(window))}: a module would read the last 3,201 samples, "
                                             r"more than the 3,200 samples of training audio; give a window of at most "
                                             r"3,200$"):
        train_audio(clip, 8000, input_window=window, **kwargs)
    train_audio(clip, 8000, input_window=[1, 3200] if isinstance(window, list) else 3200, **kwargs)


@pytest.mark.parametrize("rate, noted", [(64000, False), (64050, True)])
def test_the_default_window_at_a_high_rate_is_said(rate, noted, monkeypatch):
    """At 100 MHz the default 20 ms is 2 million samples a tick: a 10-ms clip's one epoch showed an
    hour to go, silently. Past 4x its 16-kHz size (1280 samples) the user hears it."""
    from cwfast import train_audio as module
    from cwfast.train_audio import train_audio

    monkeypatch.setattr(module, "CALIBRATION_SECONDS", 0.1)  # 21 draws of 2 s at 64 kHz took 30 to 50 s

    notes = []
    train_audio(np.sin(np.arange(3000) * 0.3) * 0.5, rate, mode="autoregressive", hidden=4, modules=2, epochs=1,
                restarts=1, scale_fit=False, on_note=notes.append)
    said = [n for n in notes if "the default input window" in n]
    assert len(said) == int(noted), notes
    assert all(n.startswith(f"at {rate} Hz the default input window (20 ms) is 1281 samples") and
               "audio resampled to 16 kHz or input_window=320 cost what" in n for n in said)


@pytest.mark.parametrize("rate, samples, says", [
    (800, np.sin(np.arange(4000) / 3.0), "at 800 Hz there is no pitch to find (it needs at least 1000 Hz); train at "
                                         "a higher sample_rate, or without it"),
    (8000, np.sin(np.arange(200) / 3.0), "a pitch predictor needs; train on a longer clip, or without it"),
])
def test_a_pitch_predictor_asked_for_and_impossible_says_what_would_give_one(rate, samples, says):
    """At 500 Hz the advice was to train on a longer clip, which could not help."""
    from cwfast.train_audio import train_audio

    with pytest.raises(cwfast.CwfastError) as error:
        train_audio(0.5 * samples, rate, mode="autoregressive", pitch="on", epochs=1, hidden=6, modules=2,
                    progress=False, on_note=lambda note: None)
    assert says in str(error.value), error.value


def test_a_corpus_too_short_to_hold_out_says_clips():
    """The note on held-out parts said "the clip is too short ... train on a longer clip" of a
    corpus of several too."""
    from cwfast.train_audio import train_audio

    notes = []
    clips = [np.sin(np.arange(60) * 0.3) * 0.5, np.sin(np.arange(70) * 0.2) * 0.4]
    train_audio(clips, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, head="softmax", restarts=1,
                on_note=notes.append)
    short = [note for note in notes if note.startswith("the held-out parts are short")]
    assert len(short) == 1 and short[0].endswith("train on longer clips, or hold out more"), notes
