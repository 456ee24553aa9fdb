"""Review of the user-facing surface: mistakes that used to cost a whole training run (or a traceback),
and options that did something other than what they said. Each test failed before its fix."""

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import cwfast
from cwfast import ClockworkRNN, CwfastError, ParameterError, tasks
from cwfast import render
from cwfast.audio import load_audio, write_audio
from test_cli import HAS_MATPLOTLIB, TINY, assert_user_error, run

ROOT = Path(__file__).resolve().parents[1]


# --- figures that cannot be computed: refused before training, not after it ----------------------


def test_effect_clip_ending_in_silence_is_refused_before_training(capsys, tmp_path, clip_8k, no_training):
    dry, rate = load_audio(clip_8k)
    wet = np.tanh(3 * dry)
    dry[-100:] = 0.0  # the last 12.5% is silence, as at the end of most recordings
    wet[-100:] = 0.0
    write_audio(tmp_path / "dry.wav", dry, rate)
    write_audio(tmp_path / "wet.wav", wet, rate)
    status, _, err = run(capsys, "train", tmp_path / "dry.wav", "--mode", "effect", "--target", tmp_path / "wet.wav",
                         "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "test part of the clip", "silent", "--test 0")
    assert not (tmp_path / "m.npz").exists()


def test_effect_clip_ending_in_silence_trains_with_nothing_held_out(capsys, tmp_path, clip_8k):
    dry, rate = load_audio(clip_8k)
    wet = np.tanh(3 * dry)
    dry[-100:] = 0.0
    wet[-100:] = 0.0
    write_audio(tmp_path / "dry.wav", dry, rate)
    write_audio(tmp_path / "wet.wav", wet, rate)
    status, _, err = run(capsys, "train", tmp_path / "dry.wav", "--mode", "effect", "--target", tmp_path / "wet.wav",
                         "--validation", "0", "--test", "0", "--epochs", "1", "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err
    figures = cwfast.load(tmp_path / "m.npz").metadata["figures"]
    assert "train" in figures and "validation" not in figures and "test" not in figures


def test_one_sample_memorize_clip_is_refused_before_training(capsys, tmp_path, clip_8k, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--samples", "1", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "constant", "NMSE")


def test_unmeasurable_names_the_reason():
    assert tasks.unmeasurable(tasks.memorize(np.linspace(-1, 1, 10))) is None
    assert "constant" in tasks.unmeasurable(tasks.memorize(np.full(10, 0.5)))
    silent_wet = tasks.Task("effect", np.ones((10, 1), np.float32), np.zeros((10, 1), np.float32), "linear", 1)
    assert "silent" in tasks.unmeasurable(silent_wet)
    assert tasks.unmeasurable(tasks.autoregressive(np.full(10, 0.5))) is None


# --- --checkpoint: never clobbers a file, fails before training ---------------------------------


def test_checkpoint_never_replaces_an_existing_file_without_resume(capsys, tmp_path, clip_8k, no_training):
    keep = tmp_path / "precious.npz"
    keep.write_bytes(b"keep me")
    status, _, err = run(capsys, "train", clip_8k, "--samples", "48", "-o", tmp_path / "m.npz",
                         "--checkpoint", keep, *TINY)
    # (not offered to --resume: it is no checkpoint)
    assert_user_error(status, err, "exists and is no checkpoint to resume", "--overwrite")
    assert keep.read_bytes() == b"keep me"


def test_checkpoint_with_overwrite_starts_afresh(capsys, tmp_path, clip_8k):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(b"old")
    status, _, err = run(capsys, "train", clip_8k, "--samples", "48", "--epochs", "2", "-o", tmp_path / "m.npz",
                         "--checkpoint", ck, "--overwrite", *TINY)
    assert status == 0, err
    assert ck.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("where, message", [
    ("output", "--checkpoint and -o must be different files"),
    ("input", "--checkpoint must not be one of the input files"),
    ("nodir", "does not exist"),
    ("directory", "it is a directory"),
    ("audio", "--checkpoint '{}' names an audio file; a checkpoint is a NumPy archive (name it .npz)"),
])
def test_bad_checkpoint_paths_are_refused_before_training(capsys, tmp_path, clip_8k, no_training, where, message):
    out = tmp_path / "m.npz"
    checkpoint = {"output": out, "input": clip_8k, "nodir": tmp_path / "missing" / "ck.npz", "directory": tmp_path,
                  "audio": tmp_path / "ck.ogg"}[where]
    status, _, err = run(capsys, "train", clip_8k, "--samples", "48", "-o", out, "--checkpoint", checkpoint, *TINY)
    assert_user_error(status, err, message.format(checkpoint))
    assert not out.exists()


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the plot extra is not installed")
@pytest.mark.parametrize("name", ["fig.txt", "fig"])
def test_plot_with_an_unknown_image_format_is_refused_before_training(capsys, tmp_path, clip_8k, no_training, name):
    status, _, err = run(capsys, "train", clip_8k, "--samples", "48", "-o", tmp_path / "m.npz",
                         "--plot", tmp_path / name, *TINY)
    assert_user_error(status, err, "--plot", ".png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the plot extra is not installed")
def test_plot_with_an_unknown_image_format_writes_no_audio(capsys, tmp_path):
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--samples", "10", "--seed", "0",
                         "--plot", tmp_path / "g.xyz", "--quiet")
    assert_user_error(status, err, "--plot")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the plot extra is not installed")
def test_a_pgf_plot_without_tex_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    """matplotlib lists .pgf but writes it only through a TeX program: without one, generate wrote
    its audio and then ended in a traceback (train, after the whole run)."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--samples", "10", "--seed", "0",
                         "--plot", tmp_path / "g.pgf", "--quiet")
    assert_user_error(status, err, "--plot", "matplotlib writes here", ".png")
    assert ".pgf" not in err.split("(")[-1]  # not among the formats offered
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the plot extra is not installed")
def test_a_backend_failing_to_write_a_plot_is_a_cwfast_error_and_leaves_no_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from cwfast.plot import plot_audio

    def fail(*args, **kwargs):
        raise RuntimeError("'xelatex' not found")

    monkeypatch.setattr(Figure, "savefig", fail)
    with pytest.raises(CwfastError, match="cannot write plot .*xelatex"):
        plot_audio(tmp_path / "p.png", np.zeros(100), 8000)
    assert list(tmp_path.iterdir()) == []


# --- lengths ---------------------------------------------------------------------------------------


def test_seconds_past_the_end_of_the_file_is_refused_like_samples(capsys, tmp_path, clip_8k, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--seconds", "5", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(status, err, "--seconds 5", "0.100 s")


def test_seconds_up_to_the_end_of_the_file_is_accepted(capsys, tmp_path, clip_8k):
    status, _, err = run(capsys, "train", clip_8k, "--seconds", "0.1", "--epochs", "1", "--sample-rate", "4000",
                         "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err
    assert cwfast.load(tmp_path / "m.npz").metadata["length"] == 400


def test_generate_default_length_is_five_seconds_at_the_given_sample_rate(capsys, tmp_path):
    for name, model in {
        "memorize": ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0),
        "autoregressive": ClockworkRNN(1, 8, n_hidden=4, n_modules=2, seed=0, output="softmax"),
    }.items():
        model.save(tmp_path / f"{name}.npz")  # no sample rate, no length stored
        out = tmp_path / f"{name}.wav"
        seed = ["--seed", "0"] if name == "autoregressive" else []  # a memorize model takes no seed
        status, stdout, err = run(capsys, "generate", "-m", tmp_path / f"{name}.npz", "-o", out,
                                  "--sample-rate", "8000", *seed, "--quiet")
        assert status == 0, err
        samples, rate = load_audio(out)
        assert (samples.size, rate) == (40000, 8000), name
        assert "5.00 s at 8000 Hz" in stdout


# --- out of memory: one line, not a traceback --------------------------------------------------------


def test_out_of_memory_is_one_line(capsys, tmp_path, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.45 GiB for an array with shape (2000000000,) and data type float32")

    monkeypatch.setattr(render, "render_blocks", too_big)
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--samples", "200000000", "--seed", "0")
    assert_user_error(status, err, "out of memory", "7.45 GiB")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# --- process: a block longer than the file ---------------------------------------------------------


def test_process_prepares_no_more_than_the_signal(monkeypatch):
    from cwfast.stream import Stream

    prepared = []
    original = Stream.prepare

    def spy(self, max_block=8192):
        prepared.append(max_block)
        return original(self, max_block)

    monkeypatch.setattr(Stream, "prepare", spy)
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, 300).astype(np.float32)
    y = render.process(model, x, block_size=10**9)
    assert prepared == [300]
    np.testing.assert_array_equal(y, model.forward(x[:, None])[:, 0])


# --- info --------------------------------------------------------------------------------------------


def test_info_of_baselines_and_one_module_models(capsys, tmp_path):
    cwfast.SRN(1, 1, n_hidden=4, seed=0).save(tmp_path / "srn.npz")
    cwfast.LSTM(1, 1, n_hidden=4, seed=0).save(tmp_path / "lstm.npz")
    ClockworkRNN(1, 1, module_sizes=[4], periods=[3], seed=0).save(tmp_path / "one.npz")
    for name, kind in (("srn", "simple RNN (SRN), 4 hidden units, 1 input"), ("lstm", "LSTM, 4 hidden units, 1 input")):
        status, out, err = run(capsys, "info", tmp_path / f"{name}.npz")
        assert status == 0, err
        assert kind in out and "modules" not in out and "periods" not in out, out
    status, out, _ = run(capsys, "info", tmp_path / "one.npz")
    assert "4 hidden units in 1 module," in out and "periods       3" in out


# --- help texts and README ---------------------------------------------------------------------------


def test_lr_help_states_the_mode_default(capsys):
    status, out, _ = run(capsys, "train", "--help")
    assert status == 0
    text = " ".join(out.split())
    from cwfast.train_audio import AUTOREGRESSIVE_RATES

    rates = ",".join(f"{r:g}" for r in AUTOREGRESSIVE_RATES)
    assert f"(default: {rates} for autoregressive with adam or sgd, one rate with --checkpoint; 0.01 for effect and es" in text


def test_readme_options_table_lists_every_generate_option(capsys):
    status, out, _ = run(capsys, "generate", "--help")
    assert status == 0
    options = set(re.findall(r"(--[a-z][a-z-]+)", out)) - {"--help", "--quiet", "--model", "--output"}
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `cwfast generate"))
    missing = sorted(o for o in options if f"`{o}" not in row)
    assert not missing, missing
    assert "`-m MODEL`" in row and "-o OUT" in row


# --- persistence: wrong argument types -----------------------------------------------------------


@pytest.mark.parametrize("path", [None, 3, 1.5])
def test_load_and_save_refuse_non_paths_with_parameter_error(path):
    with pytest.raises(ParameterError, match="must be a str or os.PathLike"):
        cwfast.load(path)
    with pytest.raises(ParameterError, match="must be a str or os.PathLike"):
        ClockworkRNN(1, 1, n_hidden=4, n_modules=2).save(path)


def test_load_says_a_checkpoint_is_a_checkpoint(tmp_path):
    from cwfast.train import fit

    model = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0)
    fit(model, np.zeros((16, 0)), np.linspace(-1, 1, 16)[:, None], epochs=1, checkpoint=tmp_path / "ck.npz")
    with pytest.raises(CwfastError, match="training checkpoint, not a saved model"):
        cwfast.load(tmp_path / "ck.npz")


# --- architecture options ------------------------------------------------------------------------


def test_modules_for_a_baseline_is_refused_before_reading_audio(capsys, tmp_path, clip_8k, monkeypatch):
    monkeypatch.setattr(cwfast.audio, "load_audio", lambda *a, **k: pytest.fail("read audio before refusing"))
    status, _, err = run(capsys, "train", clip_8k, "--arch", "lstm", "--modules", "3", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "--arch lstm has no clock modules")


def test_long_clip_note_names_only_the_defaults_taken(capsys, tmp_path):
    clip = tmp_path / "long.wav"
    write_audio(clip, np.sin(np.arange(2000) * 0.05).astype(np.float32) * 0.5, 8000)
    status, _, err = run(capsys, "train", clip, "--arch", "srn", "--epochs", "1", "-o", tmp_path / "a.npz", "--quiet")
    assert status == 0, err
    assert "defaulting to --hidden 67" in err and "--modules" not in err
    status, _, err = run(capsys, "train", clip, "--hidden", "20", "--epochs", "1", "-o", tmp_path / "b.npz", "--quiet")
    assert status == 0, err
    assert "defaulting to --modules 11" in err and "--hidden" not in err


def test_hidden_below_the_default_modules_says_which_option_to_pass(capsys, tmp_path, clip_8k, no_training):
    status, _, err = run(capsys, "train", clip_8k, "--hidden", "3", "--samples", "64", "-o", tmp_path / "m.npz",
                         "--quiet")
    assert_user_error(status, err, "--hidden 3", "default", "--modules 3 or fewer")


def test_info_says_one_epoch(capsys, tmp_path):
    model = ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000,
                         metadata={"mode": "memorize", "trainer": {"name": "adam", "epochs": 1, "seconds": 0.1}})
    model.save(tmp_path / "m.npz")
    status, out, _ = run(capsys, "info", tmp_path / "m.npz")
    assert status == 0 and "adam, 1 epoch, 0.1 s" in out


@pytest.mark.parametrize("mode", ["memorize", "effect"])
def test_classes_outside_autoregressive_mode_is_refused(capsys, tmp_path, clip_8k, no_training, mode):
    extra = ["--target", clip_8k] if mode == "effect" else []
    status, _, err = run(capsys, "train", clip_8k, "--mode", mode, *extra, "--classes", "16", "-o", tmp_path / "m.npz",
                         *TINY)
    assert_user_error(status, err, "--classes is for autoregressive mode")


def test_classes_default_is_still_256(capsys, tmp_path, clip_8k):
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", "--samples", "200", "--epochs", "1",
                         "-o", tmp_path / "m.npz", *TINY)
    assert status == 0, err
    model = cwfast.load(tmp_path / "m.npz")  # the default mixture head scores the 256 mu-law classes
    assert model.metadata["n_classes"] == 256 and model.output == "mixture"


def test_bench_help_describes_the_command(capsys, monkeypatch):
    status, out, _ = run(capsys, "bench", "--help")
    assert status == 0 and "usage: cwfast bench" in out  # wired to cwfast.bench's own parser
    assert "see 'cwfast bench --help'" not in out and "microseconds per sample" in out


def test_sample_rate_beyond_what_a_file_stores_is_one_line(capsys, tmp_path):
    from cwfast.audio import write_audio as write

    with pytest.raises(ParameterError, match="more than a sound file can store"):
        write(tmp_path / "x.wav", np.zeros(3), 2**31)
    ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0).save(tmp_path / "m.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "g.wav", "--samples", "10",
                         "--sample-rate", "3000000000")
    assert_user_error(status, err, "more than a sound file can store")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_cli_help_imports_no_numba_as_the_benchmarks_doc_says():
    import subprocess
    import sys

    code = "import sys, cwfast.cli; cwfast.cli.build_parser(); print('numba' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == ["False", "False"]
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "`cwfast --help` imports neither numba nor NumPy" in doc


# --- free-form metadata that happens to use cwfast's keys ------------------------------------------


@pytest.mark.parametrize("metadata", [
    {"trainer": "my own loop", "figures": {"train": {"nmse": "n/a"}}},
    {"figures": "good", "scale": "big", "length": "long", "start": "intro"},
    {"figures": {"train": {"esr": 0.1}, "validation": [1, 2]}},
])
def test_info_reads_foreign_metadata_without_a_traceback(capsys, tmp_path, metadata):
    ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0, metadata=metadata).save(tmp_path / "m.npz")
    status, out, err = run(capsys, "info", tmp_path / "m.npz")
    assert status == 0, err
    assert "training" in out


@pytest.mark.parametrize("key, value, shown", [
    ("temperature", float("nan"), "temperature nan (invalid: generate refuses it)"),
    ("temperature", -1, "temperature -1 (invalid: generate refuses it)"),
    ("output_gain", 1e9, "output gain 1000000000.0 (invalid: generate refuses it)"),
    ("scale", 0, "scale 0 (invalid: generate refuses it)"),
    ("n_classes", -5, "mixture of 2 logistics over -5 (invalid: generate refuses it) mu-law classes"),
])
def test_info_marks_the_values_generate_refuses(capsys, tmp_path, key, value, shown):
    """info showed them as if valid (a temperature of nan, an output gain of +180 dB) where
    generate refuses the file; a valid neighbour is shown as before."""
    metadata = {"mode": "autoregressive", "temperature": 0.5, "output_gain": 0.5, "scale": 0.25, key: value}
    ClockworkRNN(1, 6, n_hidden=4, n_modules=2, seed=0, sample_rate=8000, output="mixture",
                 metadata=metadata).save(tmp_path / "m.npz")
    status, out, err = run(capsys, "info", tmp_path / "m.npz")
    assert status == 0, err
    out = re.sub(" +", " ", out)  # (the columns' padding)
    assert shown in out, out
    if key != "temperature":
        assert "temperature 0.5\n" in out
    status, _, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "g.wav", "--samples", "10")
    # (n_classes: which count the head scores, not "not a mu-law autoregressive model", which it is)
    expected = "n_classes -5, where its mixture head scores 256 classes" if key == "n_classes" else f"invalid {key}"
    assert_user_error(status, err, expected)


def test_generate_ignores_a_length_that_is_not_a_count(capsys, tmp_path):
    ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000,
                 metadata={"length": "long"}).save(tmp_path / "m.npz")
    status, out, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "g.wav", "--quiet")
    assert status == 0, err
    assert "40000 samples" in out


@pytest.mark.parametrize("key, value", [("n_classes", "mu"), ("temperature", "warm")])
def test_generate_names_unreadable_sampling_metadata(capsys, tmp_path, key, value):
    ClockworkRNN(1, 4, n_hidden=4, n_modules=2, seed=0, sample_rate=8000, output="softmax",
                 metadata={key: value}).save(tmp_path / "m.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "m.npz", "-o", tmp_path / "g.wav", "--samples", "10",
                         "--seed", "0")
    assert_user_error(status, err, f"invalid {key}")
    assert not (tmp_path / "g.wav").exists()


# --- sizes past what int64 and NumPy can hold: one line, not a traceback ---------------------------


@pytest.mark.parametrize("options, message", [
    (["--input-window", str(2**62 - 1)], "--input-window"),
    (["--classes", str(2**62)], "--classes"),
    (["--classes", "1"], "--classes 1: a mu-law code needs 2 to 65536"),
    (["--trainer", "es", "--population", str(2**62)], "--population"),
])
def test_counts_too_big_for_the_machine_are_refused(capsys, tmp_path, clip_8k, no_training, options, message):
    status, _, err = run(capsys, "train", clip_8k, "--mode", "autoregressive", *options, "-o", tmp_path / "m.npz")
    assert_user_error(status, err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--block", "--voices"])
def test_bench_sizes_too_big_for_the_machine_are_refused(capsys, option):
    status, _, err = run(capsys, "bench", option, str(2**62), "-q")
    assert_user_error(status, err, option, "at most")


def test_numpy_refusing_an_array_size_is_the_out_of_memory_line(capsys, tmp_path, monkeypatch):
    def too_big(*args, **kwargs):
        np.empty(2**62, dtype=np.float64)  # NumPy: ValueError("array is too big; ...")

    monkeypatch.setattr(render, "render_blocks", too_big)
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.wav", "--seed", "0")
    assert_user_error(status, err, "out of memory", "array is too big")
    assert list(tmp_path.iterdir()) == []


def test_a_value_error_that_is_no_size_is_not_hidden_as_out_of_memory(capsys, tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(render, "render_blocks", bug)
    with pytest.raises(ValueError, match="a bug"):
        run(capsys, "generate", "-o", tmp_path / "g.wav", "--seed", "0")


@pytest.mark.parametrize("build", [
    lambda: ClockworkRNN(1, 1, n_hidden=4, periods=[1, 2**63]),
    lambda: ClockworkRNN(1, 2**62, n_hidden=4, n_modules=2),
    lambda: ClockworkRNN(1, 1, n_hidden=2**32, n_modules=2),  # 2**64 recurrent weights: wrapped to 0 in int64
    lambda: ClockworkRNN(1, 1, n_hidden=8, n_modules=2, input_windows=2**62 - 1),
    lambda: cwfast.LSTM(1, 1, n_hidden=2**40),
    lambda: ClockworkRNN(1, 1, n_hidden=8, n_modules=2).set_periods([1, 2**64]),
])
def test_models_too_big_for_int64_raise_parameter_error(build):
    with pytest.raises(ParameterError, match="more than"):
        build()


def test_count_params_does_not_wrap():
    with pytest.raises(ParameterError, match="input weights"):
        ClockworkRNN.count_params(64, 1, 30, n_modules=8, input_windows=2**62 - 1)


def test_a_file_with_an_impossible_period_is_a_cwfast_error(tmp_path):
    ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    arrays["periods"] = np.array([1, 2**63], dtype=np.uint64)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CwfastError, match="cannot load model"):
        cwfast.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("value", [0.5, "0.1", (0.1,), (0.1, 1.0, 1e-4, 1.0, 3)])
def test_level_of_the_wrong_shape_is_a_parameter_error_and_changes_nothing(value):
    model = ClockworkRNN(1, 30, n_hidden=8, n_modules=2, output="mixture", seed=0)
    model.level = (0.1, 1.0)
    before = model.level
    with pytest.raises(ParameterError, match="level="):
        model.level = value
    assert model.level == before


@pytest.mark.parametrize("i", [2, 99, -1, 1.0])
def test_module_blocks_out_of_range_are_parameter_errors(i):
    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
    for block in (model.W_h_block, model.W_in_block):
        with pytest.raises(ParameterError, match="module index"):
            block(i)
    assert model.W_h_block(1).shape == (4, 4)


# --- options that used to be ignored or misread ----------------------------------------------------


@pytest.mark.parametrize("option", [["--window", "64"], ["--batch-size", "4"]])
def test_es_refuses_the_gradient_trainers_options(capsys, tmp_path, clip_8k, no_training, option):
    status, _, err = run(capsys, "train", clip_8k, "--samples", "320", "--trainer", "es", *option,
                         "-o", tmp_path / "m.npz")
    assert_user_error(status, err, option[0], "gradient trainers")


def test_epochs_zero_without_a_budget_is_refused_before_reading_audio(capsys, tmp_path, monkeypatch):
    import cwfast.audio

    def read(*args, **kwargs):
        pytest.fail("the audio was read before refusing")

    monkeypatch.setattr(cwfast.audio, "load_audio", read)
    status, _, err = run(capsys, "train", tmp_path / "missing.wav", "--mode", "autoregressive", "--epochs", "0",
                         "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "--time-budget")


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("20m", 1200), ("1h30m", 5400), ("1.5m", 90)])
def test_durations(text, seconds):
    from cwfast._argtypes import duration

    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["1h30", "2m5", "h", "", "0"])
def test_durations_that_would_be_misread_are_refused(text):
    import argparse

    from cwfast._argtypes import duration

    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_info_counts_a_mixture_models_classes(capsys, tmp_path):
    ClockworkRNN(1, 30, n_hidden=8, n_modules=2, output="mixture", seed=0, sample_rate=16000).save(tmp_path / "m.npz")
    status, out, _ = run(capsys, "info", tmp_path / "m.npz")
    assert status == 0
    assert "mu-law, 256 classes" in out and "30 classes" not in out


def test_export_refuses_a_directory_in_the_way_before_touching_the_bundle(capsys, tmp_path):
    model = tmp_path / "pedal.npz"
    ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0, sample_rate=16000).save(model)
    bundle = tmp_path / "out" / "pedal.lv2"
    bundle.mkdir(parents=True)
    (bundle / "pedal.so").write_text("the old plug-in")
    (tmp_path / "out" / "pedal.h").mkdir()
    status, _, err = run(capsys, "export", "-m", model, "-o", tmp_path / "out", "--lv2", "--overwrite")
    assert_user_error(status, err, "pedal.h", "directory")
    assert (bundle / "pedal.so").read_text() == "the old plug-in"


@pytest.mark.parametrize("options, fragment", [(["--start", "100"], "--start 100"),
                                               (["--seconds", "0.00000001"], "--seconds 1e-08")])
def test_clip_errors_name_the_command_lines_options(capsys, tmp_path, clip_8k, no_training, options, fragment):
    status, _, err = run(capsys, "train", clip_8k, *options, "-o", tmp_path / "m.npz")
    assert_user_error(status, err, fragment)
    assert "start=" not in err and "duration=" not in err


def test_subtype_the_container_cannot_hold_is_named_as_the_option(capsys, tmp_path):
    status, _, err = run(capsys, "generate", "-o", tmp_path / "g.flac", "--subtype", "float", "--seed", "0")
    assert_user_error(status, err, "--subtype 'float' cannot be written to FLAC; use pcm_16 or pcm_24")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_under_stdout_is_one_line():
    """`cwfast info MODEL > /dev/full` ended in a traceback (and another at exit)."""
    import subprocess

    model = str(Path(cwfast.__file__).parent / "models" / "default.npz")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "cwfast", "info", model], stdout=full, stderr=subprocess.PIPE,
                              text=True)
    assert done.returncode == 2 and done.stderr == "cwfast: error: no space left on the device (standard output)\n"
    # A reader that has left (| head): quietly, 141, as cat.
    reader = subprocess.Popen([sys.executable, "-m", "cwfast", "info", model], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    reader.stdout.close()
    assert reader.stderr.read() == b"" and reader.wait() == 141
    # Started with stdout closed (sys.stdout is None): the command runs, as it did before the flush.
    done = subprocess.run(["sh", "-c", f'"{sys.executable}" -m cwfast info "{model}" >&-'], capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
