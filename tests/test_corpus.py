"""Issue 12, item 1: training on a corpus (several files and folders, the end of each held out) and
a time budget that stops training cleanly."""

import math
import shutil

import numba
import numpy as np
import pytest

import cwfast
from cwfast import tasks
from cwfast.audio import load_audio, write_audio
from cwfast.errors import CwfastError, ParameterError
from test_cli import TINY, assert_user_error, run


def tone(n, step, level):
    return (level * np.sin(np.arange(n) * step)).astype(np.float32)


def test_corpus_shares_one_scale_and_splits_every_clip():
    quiet, loud = tone(1000, 0.1, 0.25), tone(500, 0.3, 0.5)
    per_clip = tasks.corpus([quiet, loud], validation=0.1, test=0.2)
    assert [(c.train.n_steps, c.validation.n_steps, c.test.n_steps) for c in per_clip] == [(700, 100, 200),
                                                                                         (350, 50, 100)]
    scales = [c.train.metadata["scale"] for c in per_clip]
    peak = float(np.abs(loud[:400]).max())  # the loudest peak before a test part: relative levels survive
    assert scales == [peak] * 2
    alone = tasks.autoregressive(quiet)  # scaled to its own peak, it would use the whole range
    assert per_clip[0].train.targets.max() < alone.targets.max()
    joined = tasks.join(c.train for c in per_clip)
    np.testing.assert_array_equal(joined.targets, np.concatenate([c.train.targets for c in per_clip]))
    assert tasks.join([None, None]) is None
    with pytest.raises(ParameterError, match="at least one clip"):
        tasks.corpus([])
    with pytest.raises(CwfastError, match="silent"):
        tasks.corpus([np.zeros(100, np.float32)])


def test_the_test_parts_set_nothing_not_even_the_scale():
    """The scale was the peak of the whole clips, test parts included: a louder test part changed the
    training inputs, their classes, and so the model trained and the epoch validation chose."""
    clip = tone(1000, 0.1, 0.25)
    louder_end = clip.copy()
    louder_end[-150:] *= 3.0  # inside the last 20%
    a, b = (tasks.corpus([c], validation=0.1, test=0.2)[0] for c in (clip, louder_end))
    assert a.train.metadata["scale"] == b.train.metadata["scale"] == float(np.abs(clip[:800]).max())
    for part in ("train", "validation"):
        np.testing.assert_array_equal(getattr(a, part).inputs, getattr(b, part).inputs)
        np.testing.assert_array_equal(getattr(a, part).targets, getattr(b, part).targets)
    assert b.test.targets.max() == 255  # louder than anything before it: clipped to full scale
    from cwfast.train_audio import train_audio

    notes = []
    trained = [train_audio(c, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, lr=0.01, test=0.2,
                           progress=False, on_note=notes.append) for c in (clip, louder_end)]
    louder = int(np.count_nonzero(np.abs(louder_end[800:]) > np.abs(clip[:800]).max()))
    assert louder > 1
    assert [n for n in notes if "louder than anything before them" in n] == [
        f"{louder} samples of the test part are louder than anything before them and are scored at full scale (the "
        "scale is the peak before the test parts)"]
    one = louder_end.copy()
    one[800:] = np.clip(one[800:], -np.abs(clip[:800]).max(), np.abs(clip[:800]).max())
    one[-1] = 3.0 * np.abs(clip[:800]).max()
    notes.clear()
    train_audio(one, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, lr=0.01, test=0.2,
                progress=False, on_note=notes.append)
    assert [n for n in notes if "louder than anything" in n] == [
        "1 sample of the test part is louder than anything before it and is scored at full scale (the scale is the "
        "peak before the test parts)"]
    assert trained[0].model.metadata["scale"] == trained[1].model.metadata["scale"]
    np.testing.assert_array_equal(trained[0].model.params, trained[1].model.params)
    with pytest.raises(CwfastError, match="^the clip is silent \\(all zeros\\) before the test part"):
        tasks.corpus([np.concatenate([np.zeros(90), np.ones(10)])], test=0.1)


@pytest.fixture
def folder(tmp_path, clip_8k):
    """A folder with two audio files at different rates (one a level below), a text file, and a
    headerless .raw file (soundfile lists RAW among its formats, then cannot open one without
    being told its rate: the folder scan took it, and training ended in a TypeError)."""
    samples, rate = load_audio(clip_8k)
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    write_audio(root / "a.wav", samples, rate)
    write_audio(root / "sub" / "b.flac", 0.5 * samples[::-1].copy(), rate, subtype="PCM_24")
    (root / "notes.txt").write_text("not audio")
    (root / "sub" / "dump.raw").write_bytes(np.random.default_rng(0).bytes(4000))
    return root


def test_a_raw_file_named_is_refused_in_one_line(capsys, tmp_path, folder):
    status, _, err = run(capsys, "train", folder / "sub" / "dump.raw", "--mode", "autoregressive", "-o",
                         tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "dump.raw", "headerless .raw file", "convert it to WAV")
    assert not (tmp_path / "m.npz").exists()


def test_cli_trains_on_a_folder_and_holds_out_the_end_of_every_file(capsys, tmp_path, folder):
    out = tmp_path / "m.npz"
    status, stdout, err = run(capsys, "train", folder, "--mode", "autoregressive", "--epochs", "2", "-o", out, *TINY)
    assert status == 0, err
    assert "test (held out)" in stdout
    model = cwfast.load(out)
    assert model.metadata["clips"] == [800, 800] and model.metadata["source"].startswith("2 files from")
    clips = [load_audio(folder / "a.wav")[0], load_audio(folder / "sub" / "b.flac")[0]]
    per_clip = tasks.corpus(clips, validation=0.1, test=0.1)
    nats, steps = 0.0, 0
    for c in per_clip:  # each file's test part, from the state its own earlier parts leave
        state = model.advance(np.concatenate([c.train.inputs, c.validation.inputs]))
        nats += model.loss(c.test.inputs, c.test.targets, state=state) * c.test.n_steps
        steps += c.test.n_steps
    assert model.metadata["figures"]["test"]["cross_entropy"] == pytest.approx(nats / steps, rel=1e-6)


def test_a_file_named_twice_is_trained_on_once(capsys, tmp_path, folder, monkeypatch):
    """The folder, one of its files again, and the same file by another path: two files, not four."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "m.npz"
    status, _, err = run(capsys, "train", folder, folder / "a.wav", "corpus/sub/../a.wav", folder, "--mode",
                         "autoregressive", "--epochs", "1", "-o", out, *TINY)
    assert status == 0, err
    assert err.count("named more than once") == 1  # one note, not one a file
    assert "2 files (" in err  # a.wav (named four times) and b.wav (twice); it said 4, counting the repeats
    assert cwfast.load(out).metadata["source"] == f"2 files from {folder}, {folder / 'a.wav'}, corpus/sub/../a.wav"
    assert "are named more than once; training on each once" in err
    assert cwfast.load(out).metadata["clips"] == [800, 800]


def test_files_may_be_named_on_either_side_of_options(capsys, tmp_path, folder):
    """``train b.flac --epochs 1 a.wav`` trains on both files (argparse alone
    leaves a.wav over as an unrecognised argument); a stray option is still refused."""
    out = tmp_path / "m.npz"
    status, _, err = run(capsys, "train", folder / "sub" / "b.flac", "--mode", "autoregressive", "--epochs", "1",
                         folder / "a.wav", "-o", out, *TINY)
    assert status == 0, err
    clips = cwfast.load(out).metadata["clips"]
    assert clips == [800, 800] and cwfast.load(out).metadata["source"].startswith("2 files from")
    status, _, err = run(capsys, "train", folder / "a.wav", "--mode", "autoregressive", "--bogus",
                         folder / "sub" / "b.flac", "-o", tmp_path / "n.npz", *TINY)
    assert status == 2 and err.strip().endswith("unrecognized arguments: --bogus (see 'cwfast train --help')")
    assert not (tmp_path / "n.npz").exists()


def test_folders_are_walked_through_links_and_each_file_counted_once(capsys, tmp_path, folder):
    """A linked folder inside a named one was skipped without a word (its audio never trained on);
    a hard link to a file counted it twice; a link back to an ancestor is no loop."""
    import os

    other = tmp_path / "other"
    other.mkdir()
    write_audio(other / "c.wav", tone(800, 0.2, 0.3), 8000)
    (folder / "linked").symlink_to(other, target_is_directory=True)
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)  # a loop of links
    os.link(folder / "a.wav", folder / "sub" / "a-again.wav")
    # Hidden files are no recordings: a macOS resource fork stopped the run ("not an audio file"),
    # and a temporary file a crash left would have been trained on.
    (folder / "._a.wav").write_bytes(b"\x00\x05\x16\x07 resource fork")
    write_audio(folder / "sub" / ".b.flac.tmp1234.wav", tone(800, 0.2, 0.3), 8000)
    # ... nor are hidden folders' files: a trash's deleted recordings were trained on
    (folder / ".Trash-1000" / "files").mkdir(parents=True)
    write_audio(folder / ".Trash-1000" / "files" / "deleted.wav", tone(800, 0.2, 0.3), 8000)
    out = tmp_path / "m.npz"
    status, _, err = run(capsys, "train", folder, "--mode", "autoregressive", "--epochs", "1", "-o", out, *TINY)
    assert status == 0, err
    assert cwfast.load(out).metadata["clips"] == [800, 800, 800]  # a.wav, linked/c.wav, sub/b.flac
    assert err.count("is named more than once; training on it once") == 1  # the hard link


def test_a_named_pipe_in_a_folder_is_refused_not_waited_on(capsys, tmp_path, folder):
    import os

    os.mkfifo(folder / "pipe.wav")
    status, _, err = run(capsys, "train", folder, "--mode", "autoregressive", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "pipe.wav' is not a regular file (a named pipe or a device?)")


@pytest.mark.parametrize("bad, reason", [(np.full(500, 0.2, np.float32), "same mu-law level"),
                                         (np.zeros(500, np.float32), "same mu-law level"),
                                         (np.array([0.3], np.float32), "1 sample; at least 2")])
def test_a_file_with_nothing_to_learn_is_refused_in_a_corpus_too(capsys, tmp_path, folder, bad, reason):
    """Alone, a constant or one-sample file is refused; in a corpus it was trained on silently."""
    write_audio(folder / "sub" / "z.wav", bad, 8000)
    out = tmp_path / "m.npz"
    status, _, err = run(capsys, "train", folder, "--mode", "autoregressive", "--epochs", "1", "-o", out, *TINY)
    assert_user_error(status, err, f"cannot train on '{folder / 'sub' / 'z.wav'}' in this corpus", reason,
                      "leave it out")
    assert not out.exists()
    with pytest.raises(CwfastError, match=r"its clip 1 \(of 2\)"):
        from cwfast.train_audio import train_audio

        train_audio([tone(800, 0.2, 0.3), bad], 8000, mode="autoregressive", epochs=1, progress=False)


def test_a_file_too_short_to_split_is_named(capsys, tmp_path, folder):
    write_audio(folder / "sub" / "five.wav", np.array([0.1, -0.2, 0.3, -0.1, 0.2], np.float32), 8000)
    status, _, err = run(capsys, "train", folder, "--mode", "autoregressive", "--validation", "0.4", "--test", "0.4",
                         "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, f"cannot train on '{folder / 'sub' / 'five.wav'}' in this corpus",
                      "(5 samples) is too short to hold out 40% for validation", "leave it out")
    with pytest.raises(ParameterError, match=r"^clip 1 \(of 2\): the clip \(5 samples\) is too short"):
        tasks.corpus([tone(800, 0.2, 0.3), np.full(5, 0.1)], validation=0.4, test=0.4)


def test_fractions_that_hold_out_every_clip_are_not_blamed_on_one_file(capsys, tmp_path, folder):
    status, _, err = run(capsys, "train", folder, "--mode", "autoregressive", "--validation", "0.5", "--test", "0.5",
                         "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "the validation (0.5) and test (0.5) fractions hold out the whole clip")
    assert "leave it out" not in err and "in this corpus" not in err
    with pytest.raises(ParameterError, match=r"^the validation \(0.5\) and test \(0.5\) fractions"):
        tasks.corpus([tone(800, 0.2, 0.3), tone(800, 0.2, 0.3)], validation=0.5, test=0.5)


@pytest.mark.parametrize("extra, message", [
    (["--mode", "memorize"], "memorize mode learns from one AUDIO file"),
    (["--mode", "autoregressive", "--samples", "100"], "--samples and --seconds cut one file"),
])
def test_corpus_options_that_do_not_fit_are_refused(capsys, tmp_path, folder, extra, message):
    status, _, err = run(capsys, "train", folder, *extra, "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, message)


def test_cli_time_budget_stops_cleanly_and_info_says_so(capsys, tmp_path, clip_8k):
    out = tmp_path / "m.npz"
    status, stdout, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--epochs", "100000",
                              "--time-budget", "1s", "-o", out, *TINY)
    assert status == 0, err
    assert "stopped by --time-budget after" in stdout
    model = cwfast.load(out)
    assert model.metadata["trainer"]["stopped"] == "time budget" and model.metadata["trainer"]["epochs"] < 100000
    status, info, _ = run(capsys, "info", out)
    assert status == 0 and "(time budget)" in info
    # A budget too long to be a number of seconds is the option's error, not the API's.
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--time-budget", "9" * 400 + "h",
                         "-o", tmp_path / "n.npz")
    assert_user_error(status, err, "--time-budget", "is longer than any run")
    assert "time_budget=" not in err


def test_each_runs_fitting_counts_against_the_shared_time_budget(clip_8k, monkeypatch):
    """Only each run's training was charged to the budget, so the command overran by every run's
    scale fit, scoring and calibration (4 runs of a 5-s budget took 9.8 s). A fit made 1 s slower:
    the second of two runs of a 10-s budget gets what the first left, less its own fitting, taken to
    be the first's (at most 3 s; about 5 s when only training counted, 3 to 4 when its own fitting
    came after the budget)."""
    import time as clock

    from cwfast import train_audio as module

    real_fit = module.fit_scale

    def slow_fit(*args, **kwargs):
        clock.sleep(1.0)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(module, "fit_scale", slow_fit)
    notes = []
    samples, rate = load_audio(clip_8k)
    module.train_audio(samples, rate, mode="autoregressive", hidden=6, modules=3, epochs=100000, time_budget=10.0,
                       lr=(0.01, 0.003), pitch="off", seed=0, progress=False, on_note=notes.append)
    shares = [float(note.split(", ")[-1].split(" s of")[0]) for note in notes if note.startswith("run ")]
    assert len(shares) == 2 and shares[0] == 5.0
    assert shares[1] <= 3.0, notes  # 10 - (5 + f) - f for a fitting of f >= 1 s


def test_a_folder_without_audio_is_refused(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    status, _, err = run(capsys, "train", tmp_path / "empty", "--mode", "autoregressive", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "holds no audio files")


def test_a_folder_whose_audio_is_all_hidden_says_hidden_files_are_left_out(capsys, tmp_path, clip_8k):
    """A folder holding audio only in hidden files or folders was said to hold no audio files,
    the .wav among the extensions listed: a puzzle for whoever put the files there."""
    for name in (".b.wav", ".h/a.wav"):
        (tmp_path / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip_8k, tmp_path / "corpus" / name)
    status, _, err = run(capsys, "train", tmp_path / "corpus", "--mode", "autoregressive", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "holds no audio files")
    assert "hidden" in err
    status, _, err = run(capsys, "train", tmp_path / "corpus" / ".h", "--mode", "autoregressive", "--epochs", "1",
                         "--lr", "0.01", "--pitch", "off", "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err  # a hidden folder named is walked
    (tmp_path / "empty").mkdir()
    status, _, err = run(capsys, "train", tmp_path / "empty", "--mode", "autoregressive", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "holds no audio files")
    assert "hidden" not in err  # nothing was left out


def test_fit_stops_at_its_time_budget_with_the_best_validation_model(rng):
    from cwfast.train import fit

    model = cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0)
    x = rng.normal(size=(600, 1)).astype(np.float32)
    y = np.roll(x, 1, axis=0)
    result = fit(model, x[:500], y[:500], epochs=10**6, window=50, validation=(x[500:], y[500:]), time_budget=0.3)
    assert result.stopped == "time budget" and result.epochs < 10**6
    held = model.loss(x[500:], y[500:])
    assert held <= min(result.validation_losses) + 1e-12  # the best epoch's parameters, or better
    assert held == pytest.approx(result.validation_losses[result.best_epoch], rel=1e-6)
    assert len(result.losses) == len(result.validation_losses) >= result.epochs
    # Stopped inside the first epoch: that partial epoch is scored, listed, and what best_epoch names.
    first = fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x[:500], y[:500], epochs=3, window=50,
                validation=(x[500:], y[500:]), time_budget=1e-9)
    assert first.stopped == "time budget" and first.epochs == 0 and first.steps == 1
    assert first.best_epoch == 0 and len(first.losses) == len(first.validation_losses) == 1
    with pytest.raises(ParameterError, match="time_budget"):
        fit(model, x, y, epochs=1, time_budget=0)


class FakeClock:
    """The trainers' clock (cwfast._clock.clock): each reading is 0.01 s after the last, so a
    budgeted run's length and rates do not depend on the machine's pace."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.01
        return self.now


@pytest.mark.parametrize("trainer", ["fit", "evolve"])
def test_a_run_without_epochs_decays_over_its_time_budget(rng, trainer, monkeypatch):
    from cwfast import train

    monkeypatch.setattr(getattr(train, "gradient" if trainer == "fit" else "es"), "clock", FakeClock())
    seen = []
    record = lambda info: seen.append((float(np.max(info.lr)), info.elapsed))  # noqa: E731
    if trainer == "fit":
        model = cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0)
        x = rng.normal(size=(200, 1)).astype(np.float32)
        result = train.fit(model, x, np.roll(x, 1, axis=0), epochs=None, window=50, lr=0.01, lr_schedule="cosine",
                           time_budget=0.4, on_step_end=record)
    else:
        model = cwfast.ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0)
        result = train.evolve(model, np.zeros((40, 0)), rng.normal(size=(40, 1)), population=8, generations=None,
                              lr=0.01, lr_schedule="cosine", time_budget=0.4, seed=0, on_step_end=record)
    assert result.stopped == "time budget" and len(seen) > 3
    # Each update's rate is the cosine at the time spent before it.
    assert seen[0][0] == 0.01
    for (_, before), (lr, _) in zip(seen, seen[1:]):
        assert lr == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * min(before, 0.4) / 0.4)), rel=1e-9, abs=1e-15)
    assert seen[-1][0] < 0.1 * seen[0][0]  # most of the way down when the budget ran out
    with pytest.raises(ParameterError, match="time_budget"):
        (train.fit(model, x, x, epochs=None) if trainer == "fit" else
         train.evolve(model, np.zeros((40, 0)), np.zeros((40, 1)), population=8, generations=None))


def test_a_run_of_its_budget_resumes_only_with_that_budget_when_its_rate_decays(rng, tmp_path, monkeypatch):
    from cwfast import train

    monkeypatch.setattr(train.gradient, "clock", FakeClock())
    x = rng.normal(size=(200, 1)).astype(np.float32)
    y = np.roll(x, 1, axis=0)
    for schedule in ("cosine", "constant"):
        path = tmp_path / f"{schedule}.ckpt.npz"
        options = dict(epochs=None, window=50, lr_schedule=schedule, checkpoint=path, seed=0)
        train.fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x, y, time_budget=0.2, **options)
        longer = lambda: train.fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x, y,  # noqa: E731
                                   time_budget=0.4, resume=True, **options)
        if schedule == "cosine":  # its rate has fallen to 0 over 0.2 s: 0.4 would send it back up
            with pytest.raises(CwfastError, match="time_budget=0.2 \\(now 0.4\\)"):
                longer()
        else:
            assert longer().stopped == "time budget"


@pytest.mark.parametrize("trainer", ["fit", "evolve"])
def test_a_run_its_budget_stopped_resumes_to_no_update(rng, tmp_path, monkeypatch, trainer):
    """Resumed with the budget it had spent, a run took one more update past it (138 -> 139, the
    parameters and validation moved). Now it stops before any."""
    from cwfast import train
    from cwfast.train import load_checkpoint

    monkeypatch.setattr(train.gradient, "clock", FakeClock())
    monkeypatch.setattr(train.es, "clock", FakeClock())
    x = rng.normal(size=(200, 1)).astype(np.float32)
    path = tmp_path / "run.npz"

    def run(**more):
        model = cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0)
        if trainer == "fit":
            result = train.fit(model, x, np.roll(x, 1, axis=0), epochs=10**6, window=50, checkpoint=path, seed=0,
                               time_budget=0.2, **more)
        else:
            result = train.evolve(model, x, np.roll(x, 1, axis=0), population=8, generations=10**6, checkpoint=path,
                                  seed=0, time_budget=0.2, **more)
        return result

    first = run()
    assert first.stopped == "time budget"
    saved = load_checkpoint(path).model.params.copy()
    again = run(resume=True)
    assert again.stopped == "time budget" and again.steps == first.steps
    np.testing.assert_array_equal(load_checkpoint(path).model.params, saved)
    if trainer == "fit":  # a run that stopped early stays stopped early, whatever the budget says
        x_val = rng.normal(size=(100, 1)).astype(np.float32)
        options = dict(epochs=50, window=50, checkpoint=path, seed=0, validation=(x_val, np.roll(x_val, 1, axis=0)),
                       patience=1, lr=0.5)
        early = train.fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x, np.roll(x, 1, axis=0),
                          **options)
        assert early.stopped == "early stopping"
        resumed = train.fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x, np.roll(x, 1, axis=0),
                            resume=True, time_budget=1e-6, **options)
        assert resumed.stopped == "early stopping"


def test_a_budget_that_does_not_end_the_run_changes_nothing(rng):
    from cwfast.train import fit

    x = rng.normal(size=(200, 1)).astype(np.float32)
    runs = []
    for budget in (None, 1e6):
        model = cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0)
        result = fit(model, x, np.roll(x, 1, axis=0), epochs=4, window=50, lr_schedule="cosine", time_budget=budget)
        runs.append((model.params.copy(), result.losses))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_cli_epochs_0_trains_until_the_budget(capsys, tmp_path, clip_8k):
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--epochs", "0", "--samples", "400",
                         "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "--epochs 0 trains until --time-budget")
    assert not (tmp_path / "m.npz").exists()
    status, out, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--epochs", "0", "--time-budget", "2s",
                           "--samples", "400", "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err
    assert "stopped by --time-budget" in out
    trainer = cwfast.load(tmp_path / "m.npz").metadata["trainer"]
    assert trainer["stopped"] == "time budget"  # not the default 30 epochs: the budget ended it


def test_the_progress_bar_of_a_budgeted_run_ends_with_the_budget(rng, capsys):
    from cwfast.train import fit

    x = rng.normal(size=(200, 1)).astype(np.float32)
    fit(cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=2, seed=0), x, np.roll(x, 1, axis=0), epochs=10**6,
        window=50, time_budget=0.5, progress=True)
    shown = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "%" in line]
    assert shown[-1].lstrip().startswith("100%")  # the budget is the whole run, not 10**6 epochs' updates
    assert not any("/4000000" in line for line in shown)


def test_evolve_stops_at_its_time_budget(rng):
    from cwfast.train import evolve

    model = cwfast.ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0)
    target = rng.normal(size=(40, 1)).astype(np.float32)
    result = evolve(model, np.zeros((40, 0)), target, population=8, generations=10**6, time_budget=0.5, seed=0)
    assert result.stopped == "time budget" and 0 < result.epochs < 10**6


def test_a_time_budget_without_epochs_says_the_default_epochs_may_end_it_first(capsys, tmp_path, clip_8k):
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--time-budget", "1h",
                         "--samples", "400", "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err
    assert "ends sooner if the default 30 epochs are done first: pass --epochs to train for longer, or --epochs 0" in err
    assert cwfast.load(tmp_path / "m.npz").metadata["trainer"]["epochs"] <= 30


def test_figures_score_each_part_from_the_state_its_clip_leaves(rng):
    """One pass over each clip gives what scoring each part after running its clip's earlier parts
    from zero gives (state_before), pooled by length; the training figure pools each clip's
    training part from zero; a clip without a test part still counts."""
    from cwfast.train_audio import _figures, state_before

    model = cwfast.ClockworkRNN(1, 12, n_hidden=8, n_modules=2, seed=1, output="mixture")
    clips = [0.3 * rng.standard_normal(3000), 0.3 * rng.standard_normal(1200)]
    per_clip = tasks.corpus(clips, validation=0.2, test=0.2, history="linear")
    figures = _figures(model, per_clip)
    for name in ("train", "validation", "test"):
        parts = [(tasks.evaluate(model, getattr(c, name),
                                 state=None if name == "train" else state_before(model, c, name))["cross_entropy"],
                  getattr(c, name).n_steps) for c in per_clip]
        expected = sum(nats * n for nats, n in parts) / sum(n for _, n in parts)
        assert figures[name]["cross_entropy"] == pytest.approx(expected, rel=1e-12)
    one = tasks.corpus([clips[0]], validation=0.2, test=0.0, history="linear")
    alone = _figures(model, one)
    assert set(alone) == {"train", "validation"}
    assert alone["train"] == tasks.evaluate(model, one[0].train)
    assert alone["validation"] == tasks.evaluate(model, one[0].validation, state=state_before(model, one[0], "validation"))


def _clips_scored_one_after_another(model, per_clip):
    """The slow twin of _figures and fitting_parts' states: each clip's parts in turn from zero,
    on the calling thread, pooled in clip order as _figures pools them."""
    from cwfast.train_audio import state_before

    figures, states = {}, []
    for name in ("train", "validation", "test"):
        parts = [(tasks.evaluate(model, getattr(c, name),
                                 state=None if name == "train" else state_before(model, c, name))["cross_entropy"],
                  getattr(c, name).n_steps) for c in per_clip]
        figures[name] = sum(nats * n for nats, n in parts) / sum(n for _, n in parts)
    states = [state_before(model, c, "validation") for c in per_clip]
    return figures, states


def test_the_clips_are_scored_side_by_side_to_the_same_bits(rng, monkeypatch, numba_threads):
    """After each run, the clips' forward passes (the states the scale fits start from, then every
    part's figure) run on numba's thread count of threads, a clip each: each clip keeps its own
    state and sums, so the figures and states are those of one clip after another, bit for bit,
    on one thread or several. The model has a surprise-following scale and a level, which its
    state carries between the parts."""
    import threading

    from cwfast import train_audio as module

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs numba to have two threads")
    model = cwfast.ClockworkRNN(1, 12, n_hidden=8, n_modules=2, seed=1, output="mixture")
    model.level = (1 / 16, 0.1, 0.05, 0.4)
    model.surprise = (0.125, 1.0, 1.5)
    clips = [0.3 * rng.standard_normal(n) for n in (3000, 1200, 2100)]
    per_clip = tasks.corpus(clips, validation=0.2, test=0.2, history="linear")
    expected, states = _clips_scored_one_after_another(model, per_clip)

    def side_by_side(call, threads):
        """``call``, whose first ``threads`` calls must all be under way at once to go on (a
        BrokenBarrierError after 60 s if they come one after another: a hang guard, no timing)."""
        meet, calls, counting = threading.Barrier(threads, timeout=60), [], threading.Lock()

        def met(*args, **kwargs):
            with counting:
                calls.append(None)
                first = len(calls) <= threads
            if first:
                meet.wait()
            return call(*args, **kwargs)

        return met

    evaluate, before = tasks.evaluate, module.state_before
    for threads in (1, 2):
        numba_threads(threads)
        monkeypatch.setattr(tasks, "evaluate", side_by_side(evaluate, threads))
        figures = module._figures(model, per_clip)
        assert {name: figure["cross_entropy"] for name, figure in figures.items()} == expected
        monkeypatch.setattr(module, "state_before", side_by_side(before, threads))
        parts = module.fitting_parts(model, per_clip)
        for (_, _, state), want in zip(parts, states):
            np.testing.assert_array_equal(state.h, want.h)
            np.testing.assert_array_equal(state.surprise, want.surprise)
            assert state.t == want.t


def test_ctrl_c_stops_the_clips_scored_side_by_side_at_their_next_chunk(rng, numba_threads, sigint_default):
    """Ctrl-C reaches the main thread only; the clips' threads, each in a pass over its clip, ran
    on to their clips' ends before the KeyboardInterrupt came (10 s for two 6-million-sample clips
    of a 256-unit model, where one thread stops within a chunk). Each now stops at its next chunk
    of LOSS_CHUNK steps: the first chunk sends SIGINT, and every chunk waits until the interrupt
    has been seen (a hang guard of 60 s, no timing)."""
    import signal
    import threading

    from cwfast import model as model_module
    from cwfast.train_audio import _figures

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs numba to have two threads")
    numba_threads(2)
    model = cwfast.ClockworkRNN(1, 12, n_hidden=4, n_modules=2, seed=1, output="mixture")
    clips = [0.3 * rng.standard_normal(20 * model_module.LOSS_CHUNK) for _ in range(2)]
    per_clip = tasks.corpus(clips, validation=0.1, test=0.1, history="linear")
    outputs, calls, sent, failed = model._outputs, [], threading.Lock(), []

    def chunk(*args):
        try:
            with sent:
                calls.append(None)
                if len(calls) == 1:
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            assert model_module.STOP.get().wait(60)  # the stop the interrupted main thread sets
        except Exception as error:  # (a thread's error would pass unseen behind the KeyboardInterrupt)
            failed.append(error)
            raise
        return outputs(*args)

    model._outputs = chunk
    with pytest.raises(KeyboardInterrupt):
        _figures(model, per_clip)
    assert failed == []
    assert 1 <= len(calls) <= 4  # a chunk a thread under way, and one each may have begun; not 40


def test_a_long_corpus_is_scored_under_a_bar_to_the_same_figures(capsys, monkeypatch):
    # Scoring every part once trained took about 90 s on an hour's corpus, with nothing on the
    # screen; a long corpus now gets a bar, which moves a part at a time and changes no figure.
    from cwfast import train_audio as module

    clips = [tone(1200, 0.1, 0.25), tone(900, 0.13, 0.5)]
    trained = module.train_audio(clips, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, lr=0.01,
                                 progress=False)
    per_clip = tasks.corpus(clips, validation=0.1, test=0.1)
    assert module._figures(trained.model, per_clip, progress=True) == trained.figures
    assert "scoring the parts" not in capsys.readouterr().err  # short: no bar
    monkeypatch.setattr(module, "SCORING_BAR_SAMPLES", 2000)
    assert module._figures(trained.model, per_clip, progress=True) == trained.figures
    assert "scoring the parts" in capsys.readouterr().err
    assert module._figures(trained.model, per_clip, progress=False) == trained.figures
    assert capsys.readouterr().err == ""


def test_the_whole_task_is_every_clips_parts_in_order_joined_when_read():
    # TrainedAudio.task is joined when read, not kept beside the parts through training (a copy
    # of the data: 690 MB for an hour at 16 kHz); it is still every clip's parts, clip by clip.
    from cwfast import train_audio as module

    clips = [tone(1200, 0.1, 0.25), tone(900, 0.13, 0.5)]
    trained = module.train_audio(clips, 8000, mode="autoregressive", hidden=4, modules=2, epochs=1, lr=0.01,
                                 progress=False)
    whole = trained.task
    pieces = [p for c in tasks.corpus(clips, validation=0.1, test=0.1) for p in c]
    np.testing.assert_array_equal(whole.inputs, np.concatenate([p.inputs for p in pieces]))
    np.testing.assert_array_equal(whole.targets, np.concatenate([p.targets for p in pieces]))
    assert whole.n_steps == sum(c.size for c in clips) == trained.model.metadata["length"]
    assert whole.metadata == pieces[0].metadata
    assert not any(isinstance(v, tasks.Task) for v in vars(trained._data).values())


def test_the_clips_parts_are_views_of_the_joined_parts(tmp_path):
    """A corpus's data is held once: each clip's parts are the joined parts' rows, not copies
    (they were 12 bytes a sample more, 690 MB for an hour), with the values tasks.corpus gives."""
    from cwfast.scratch import Scratch
    from cwfast.train_audio import _audio_data

    rng = np.random.default_rng(4)
    clips = [rng.normal(scale=s, size=n).astype(np.float32) for s, n in ((0.2, 900), (0.5, 1400), (0.1, 1000))]
    fractions = {"validation": 0.1, "test": 0.2}
    data = _audio_data(clips, "autoregressive", None, None, "mu-law", fractions, None, Scratch(tmp_path))
    for c, want in zip(data.per_clip, tasks.corpus(clips, **fractions)):
        for name in ("train", "validation", "test"):
            part, joined = getattr(c, name), getattr(data.splits, name)
            assert np.shares_memory(part.inputs, joined.inputs) and np.shares_memory(part.targets, joined.targets)
            np.testing.assert_array_equal(part.inputs, getattr(want, name).inputs)
            np.testing.assert_array_equal(part.targets, getattr(want, name).targets)
            assert part.metadata == getattr(want, name).metadata
    assert sum(c.train.n_steps for c in data.per_clip) == data.splits.train.n_steps
