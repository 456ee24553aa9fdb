"""scripts/measure_generation.py on tiny settings (the full runs live in docs/results.md)."""

from pathlib import Path

import pytest

import script_loading

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = str(ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav")


def load_script():
    return script_loading.load_script("measure_generation")


def test_lpc_only_prints_the_baselines_figure(capsys):
    from cwfast import lpc
    from cwfast.audio import load_audio

    script = load_script()
    assert script.main(["--lpc-only", "--sample-rate", "16000", EXCERPT]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    base = lpc.split_baseline(load_audio(EXCERPT, sample_rate=16000)[0], validation=0.0, test=0.1)
    assert (f"| {base['bits_per_sample']:.3f} | {script._alpha_text(base['alpha'])} | "
            f"{base['fixed_bits_per_sample']:.3f} | {base['gaussian_bits_per_sample']:.3f} |") in row
    # ... and they are the figures docs/results.md quotes for the excerpt.
    assert "| 5.984 | 1/64 | 6.052 | 6.031 |" in row


def test_full_table_runs_generate_and_prints_every_row(capsys):
    script = load_script()
    assert script.main([EXCERPT, "--seconds", "0.3", "--seeds", "0", "--stretches", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("| LTAS distance to the training part (dB) |", "| spectral flatness |", "| pitched-frame fraction |",
                "| the model (state from the training part) | ",
                # the baseline fitted on the model's training part alone (not its validation part,
                # as --lpc-only's 5.984 is): the goals script's split
                "| LPC-32 reading the model's mu-law history, adaptive Laplace scale (alpha 1/64) | 6.013 |"):
        assert row in out
    # The stretches are of the training part (the first 2.7 s), not of the held-out stretch.
    assert "the training part cut into 2 stretches of 1.35 s" in out
    assert "| 0.0-1.4 |" in out and "| 1.4-2.7 |" in out and "| median (min-max) |" in out
    assert "| training part | held-out stretch |" in out
    # The pitch goal's reference is the training part's 0.49 (the whole excerpt's is 0.47).
    assert "| pitched-frame fraction |" in out and " | 0.49 | " in out.split("| pitched-frame fraction |")[1].splitlines()[0]
    # The note share is reported beside them, without a goal: the training part's and the held-out
    # stretch's are likeness.note_share's of those stretches.
    from cwfast import likeness

    x, _ = script.load_sources([EXCERPT], 16000)
    cut = x.size - int(round(x.size * 0.1))
    train, held, rate = x[:cut], x[cut:], 16000
    row = out.split("| the most common note's share of the pitched frames (1: a drone) |")[1].splitlines()[0]
    shown = ["- (none pitched)" if v is None else f"{v:.2f}" for v in (likeness.note_share(train, rate), likeness.note_share(held, rate))]
    assert shown[0] != "- (none pitched)"  # (the held-out stretch, 0.3 s, has no pitched frame)
    assert row.endswith(f"| {shown[0]} | {shown[1]} | - (no goal) | - |"), row


def run_script(*argv, cwd=None):
    """The script as a user runs it: its exit status and what it printed on stderr."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "measure_generation.py"), *argv],
                          capture_output=True, text=True, cwd=cwd)
    return done.returncode, done.stderr


def test_bad_arguments_are_one_line_before_any_generation(tmp_path):
    """Each crashed with a traceback, some only after generating (a review's list)."""
    for argv, says in ([["--seeds", "a"], "--seeds 'a' must be comma-separated integers from 0 to 4611686018427387904"],
                       [["--seeds", "-1"], "--seeds '-1' must be"],
                       [["--temperature", "abc"], "--temperature 'abc' must be comma-separated positive numbers"],
                       [["--seconds", "0"], "--seconds 0.0 must be positive"],
                       [["--temperature", "200"], "--temperature '200' must be comma-separated positive numbers up to 100"],
                       [["--heldout", "1.5"], "--heldout 1.5 must be a fraction between 0 and 1"],
                       [["--stretches", "1"], "--stretches 1 must be 0 (none) or at least 2"],
                       [["--seconds", "0.05"], "--seconds 0.05 holds 800 samples at 16000 Hz; the measures need"],
                       [["--stretches", "40"], "each of --stretches 40 holds"],
                       [["-m", str(tmp_path / "missing.npz")], "missing.npz"],
                       [["--seeds", "0,0"], "--seeds '0,0' must be comma-separated integers from 0 to 4611686018427387904, none "
                                         "repeated"], [["--seeds", "99999999999999999999"], "--seeds '99999999999999999999' must be"],
                       [["--lpc-only", "--sample-rate", "0"], "--sample-rate 0 must be a positive number"],
                       [["--keep", str(tmp_path / "no" / "kept")], "the folder it would be made in does not exist"],
                       [["--keep", str(Path(EXCERPT) / "kept")], "the folder it would be made in does not exist"]):
        status, err = run_script(EXCERPT, *argv)
        last = err.strip().splitlines()[-1]  # after argparse's usage, if any
        assert status == 2 and says in last and "Traceback" not in err, (argv, err)
    assert not list(tmp_path.iterdir())


def test_silent_sources_are_said_in_the_users_terms(tmp_path):
    import numpy as np
    import soundfile

    soundfile.write(tmp_path / "quiet.wav", np.zeros(8000, np.float32), 8000)
    status, err = run_script(str(tmp_path / "quiet.wav"), "--lpc-only")
    assert status == 2 and err.strip().endswith("quiet.wav: silent (all zeros); there is nothing to measure"), err


def test_relative_paths_are_the_users(tmp_path):
    """The generations run from the repository root: a relative -m and --keep failed after every check."""
    import shutil

    shutil.copy(ROOT / "cwfast" / "models" / "default.npz", tmp_path / "mine.npz")
    status, err = run_script(EXCERPT, "-m", "mine.npz", "--keep", "kept", "--seconds", "0.2", "--seeds", "3",
                             cwd=tmp_path)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["gen-seed3.wav"]


def test_a_model_trained_on_several_files_is_refused(tmp_path):
    import cwfast

    path = tmp_path / "m.npz"
    cwfast.ClockworkRNN(1, 30, n_hidden=6, n_modules=3, output="mixture", seed=0, sample_rate=16000,
                        metadata={"mode": "autoregressive", "clips": [1000, 2000]}).save(path)
    status, err = run_script(EXCERPT, "-m", str(path))
    assert status == 2 and "the model was trained on 2 files, each split on its own" in err, err


def test_a_model_of_another_mode_is_refused_before_generating(tmp_path):
    import cwfast

    path = tmp_path / "m.npz"
    cwfast.ClockworkRNN(0, 1, n_hidden=6, n_modules=3, seed=0, sample_rate=16000,
                        metadata={"mode": "memorize"}).save(path)
    status, err = run_script(EXCERPT, "-m", str(path))
    assert status == 2 and err.strip() == ("measure_generation: the model's mode is 'memorize'; this script measures "
                                           "an autoregressive model's generated audio"), err


def test_a_silent_held_out_stretch_is_named_with_its_remedy(tmp_path):
    """It said only "samples is silent (all zeros)"."""
    import numpy as np
    import soundfile as sf

    x, rate = sf.read(EXCERPT)
    sf.write(tmp_path / "silent_end.wav", np.concatenate([x, np.zeros(rate)]), rate)
    status, err = run_script(str(tmp_path / "silent_end.wav"), "--seconds", "0.3", "--seeds", "0")
    assert status == 2 and ("the held-out stretch, the last 0.40 s, cannot be measured: samples is silent (all zeros) "
                            "(--trim cuts the recording's silent ends off)") in err, err


def test_a_mixture_model_without_n_classes_is_scored_over_256_classes(tmp_path):
    """It was scored over its 30 outputs as classes: 22.96 bits a sample, where generation (and the
    same model with the key) uses 256."""
    import json

    import numpy as np

    script = load_script()
    default = ROOT / "cwfast" / "models" / "default.npz"
    with np.load(default) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")))
    del header["metadata"]["n_classes"]
    np.savez(tmp_path / "m.npz", header=np.array(json.dumps(header)), **arrays)
    source = script.load_audio(EXCERPT, sample_rate=16000)[0]
    assert script.model_bits(str(tmp_path / "m.npz"), source, 0.1) == script.model_bits(str(default), source, 0.1)


def test_an_unwritable_keep_folder_is_refused_before_anything_is_printed(capsys):
    """/proc/self exists and cannot be written: the header was printed, then generate failed."""
    from cwfast.errors import CwfastError

    script = load_script()
    with pytest.raises(CwfastError, match="cannot write audio '/proc/self/gen-seed0.wav'"):
        script.main([EXCERPT, "--seconds", "0.3", "--seeds", "0", "--keep", "/proc/self"])
    assert capsys.readouterr().out == ""


def test_keep_replaces_an_earlier_runs_audio_only_with_overwrite(capsys, tmp_path):
    """Every file --keep will hold is checked before anything is printed or generated: an earlier
    run's was replaced without a word."""
    import re

    from cwfast.audio import load_audio
    from cwfast.errors import CwfastError

    script = load_script()
    earlier = tmp_path / "gen-seed3-t0.7.wav"
    earlier.write_text("earlier")
    argv = [EXCERPT, "--seconds", "0.3", "--seeds", "3", "--temperature", "0.7", "--keep", str(tmp_path)]
    with pytest.raises(CwfastError, match=re.escape(f"'{earlier}' exists; pass --overwrite to replace it")):
        script.main(argv)
    assert capsys.readouterr().out == "" and earlier.read_text() == "earlier"
    assert script.main([*argv, "--overwrite"]) == 0
    assert load_audio(earlier)[0].size == round(0.3 * 16000)


def test_the_default_seeds_are_not_the_calibrations_and_held_out_is_the_models(capsys, tmp_path):
    """Training's temperature calibration generates with CALIBRATION_SEEDS (the bundled model's,
    before them, with seed 0): their audio chose the temperature and the output gain, so the
    likeness figures are not measured on them by default (both scripts: the first three seeds the
    model's calibration did not draw with); and the held-out stretch is the model's own test
    fraction, not a fixed 10%."""
    import cwfast
    from cwfast.train_audio import CALIBRATION_SEEDS

    goals = script_loading.load_script("generation_goals")
    script = load_script()
    assert script.parse_args([EXCERPT]).seeds is None  # chosen once the model is read
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "brahms-hungarian-dance-5.ogg").write_bytes(b"")  # what the parser looks for
    assert goals.parse_args(["--data", str(tmp_path), "--sources", "brahms"]).seeds is None
    model = cwfast.load(ROOT / "cwfast" / "models" / "default.npz")
    assert model.metadata["temperature_calibration"]["seed"] == 0  # calibrated before CALIBRATION_SEEDS
    model.metadata["split"] = {**model.metadata["split"], "test": 0.2}
    model.save(tmp_path / "m.npz")
    assert script.main([EXCERPT, "-m", str(tmp_path / "m.npz"), "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "seeds 1, 2, 3\n" in out
    assert "held-out bits per 8-bit mu-law sample on the source's last 20%" in out
    del model.metadata["temperature_calibration"]["seed"]
    model.metadata["temperature_calibration"]["seeds"] = list(CALIBRATION_SEEDS)
    model.save(tmp_path / "new.npz")
    assert script.main([EXCERPT, "-m", str(tmp_path / "new.npz"), "--seconds", "0.2"]) == 0
    drawn = ", ".join(str(seed) for seed in range(len(CALIBRATION_SEEDS), len(CALIBRATION_SEEDS) + 3))
    assert f"seeds {drawn}\n" in capsys.readouterr().out
    assert script.main([EXCERPT, "-m", str(tmp_path / "m.npz"), "--seconds", "0.2", "--seeds", "1",
                        "--heldout", "0.3"]) == 0
    assert "more than the model's test fraction 0.2" in capsys.readouterr().err


def test_a_source_of_another_length_than_the_model_trained_on_is_noted(capsys, tmp_path):
    """The held-out stretch is the end of the source given: the bundled model (trained on the whole
    trimmed recording) scored on the excerpt, from the middle of its training part, is said to be
    scored on audio it may have trained on; a source of the model's own length is not."""
    import cwfast

    script = load_script()
    model = cwfast.load(ROOT / "cwfast" / "models" / "default.npz")
    assert script.main([EXCERPT, "-m", str(ROOT / "cwfast" / "models" / "default.npz"), "--seconds", "0.2",
                        "--seeds", "1"]) == 0
    err = capsys.readouterr().err
    assert f"the model was trained on {model.metadata['length']} samples at 16000 Hz and the source has 48000" in err
    assert "may be audio it trained on" in err
    model.metadata["length"] = 48000  # as if trained on the excerpt
    model.save(tmp_path / "m.npz")
    assert script.main([EXCERPT, "-m", str(tmp_path / "m.npz"), "--seconds", "0.2", "--seeds", "1"]) == 0
    assert "was trained on" not in capsys.readouterr().err
