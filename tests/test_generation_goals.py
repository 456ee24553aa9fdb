"""scripts/generation_goals.py: its multiply-add count, and the whole table on a tiny synthetic source."""

import doctest
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast import bench
from cwfast.lstm import LSTM
from cwfast.model import ClockworkRNN

import script_loading

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    return script_loading.load_script("generation_goals")


def naive_clockwork_macs(model, windows):
    """Step through one cycle of the clocks and add up what each step computes."""
    cycle = math.lcm(*model.periods.tolist())
    total = 0
    for t in range(cycle):
        for i, (k, period) in enumerate(zip(model.module_sizes.tolist(), model.periods.tolist())):
            if t % period == 0:
                total += model.W_h_block(i).size + k * windows[i] * model.n_in
        total += model.W_out.size
    return total / cycle


def test_doctests():
    assert doctest.testmod(load_script()).failed == 0


@pytest.mark.parametrize("n_hidden, periods, n_in", [(64, [1, 2, 4, 8, 16, 32, 64, 128], 1), (10, [1, 2, 6], 3),
                                                     (7, [1, 1, 5], 2)])
def test_clockwork_macs_match_a_count_of_every_step(n_hidden, periods, n_in):
    script = load_script()
    model = ClockworkRNN(n_in, 256, n_hidden=n_hidden, periods=periods, output="softmax")
    assert script.macs_per_sample(model) == pytest.approx(naive_clockwork_macs(model, [1] * len(periods)))
    # A model whose modules read windows of their past inputs pays for each window on its ticks.
    windows = [p + 1 for p in periods]
    model = ClockworkRNN(n_in, 256, n_hidden=n_hidden, periods=periods, output="softmax", input_windows=windows)
    assert script.macs_per_sample(model) == pytest.approx(naive_clockwork_macs(model, windows))


@pytest.mark.parametrize("taps", [1, 32, 320])
def test_a_linear_prediction_adds_its_taps(taps):
    script = load_script()
    for model in (ClockworkRNN(1, 30, n_hidden=16, n_modules=4, output="mixture"),
                  LSTM(1, 30, n_hidden=12, output="mixture")):
        without = script.macs_per_sample(model)
        model.prediction = taps
        assert script.macs_per_sample(model) == without + taps


def test_the_lstm_options_say_its_taps():
    script = load_script()
    assert script.taps_in([]) == 0
    assert script.taps_in(["--prediction", "32", "--level", "0", "--prediction", "320"]) == 320


@pytest.mark.parametrize("n_hidden, n_in", [(1, 1), (41, 1), (30, 4)])
def test_lstm_macs_are_its_weights_without_biases(n_hidden, n_in):
    script = load_script()
    model = LSTM(n_in, 256, n_hidden=n_hidden, output="softmax")
    assert script.macs_per_sample(model) == model.n_params - 4 * n_hidden - 256
    assert script.lstm_macs(n_hidden, n_in, 256) == model.n_params - 4 * n_hidden - 256


@pytest.mark.parametrize("macs", [1.0, 300.0, 2094.0, 17296.4375, 17384.0, 1e6])
def test_lstm_size_is_the_nearest_in_multiply_adds(macs):
    script = load_script()
    sizes = np.arange(1, 2000)
    costs = np.abs(np.array([script.lstm_macs(h, 1, 256) for h in sizes]) - macs)
    assert script.lstm_hidden_for(macs, 1, 256) == sizes[np.argmin(costs)]


def check_goal(g):
    value, bound = g["value"], g["bound"]
    if g["met"] is None:
        assert bound is None
        return
    expected = {"<=": lambda: value <= bound, ">=": lambda: value >= bound, "<": lambda: value < bound,
                "within": lambda: bound[0] <= value <= bound[1]}[g["comparison"]]()
    assert g["met"] is expected


def test_the_table_on_a_tiny_source(tmp_path):
    # Four FSDD-named takes of a tone and noise: the script sorts them by take, then digit.
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    t = np.arange(8000) / 8000
    takes = {}
    for take in (0, 1):
        for digit in (0, 1):
            x = 0.5 * np.sin(2 * np.pi * (200 + 50 * digit) * t) + 0.05 * rng.standard_normal(t.size)
            takes[digit, take] = x.astype(np.float32)
            soundfile.write(folder / f"{digit}_george_{take}.wav", takes[digit, take], 8000, subtype="FLOAT")
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "generation_goals.py"), "--data", str(tmp_path), "--sources",
           "fsdd-george", "--budget", "1s", "--cw-options", "--hidden 8 --modules 2", "--seconds", "0.5",
           "--seeds", "0,1", "--stretches", "4", "--out", "out"]  # relative: the user's folder, not the script's
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    # The Clockwork RNN alone first; then --resume keeps it and adds the LSTM.
    done = subprocess.run([*cmd, "--skip-lstm"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    first = json.loads((out / "goals.json").read_text())["sources"]["fsdd-george"]
    assert "lstm" not in first and not (out / "fsdd-george" / "lstm.npz").exists()
    trained = (out / "fsdd-george" / "cw.npz").read_bytes()
    # A model of other audio is refused before anything is trained: here a fifth take.
    soundfile.write(folder / "2_george_0.wav", takes[0, 0], 8000, subtype="FLOAT")
    done = subprocess.run([*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        f"generation_goals: --resume: {os.path.join('out', 'fsdd-george', 'cw.npz')} was trained on 32000 samples "
        "of fsdd-george.wav, not the 40000 of fsdd-george.wav (--trim differs?); use a new --out"), done.stderr
    assert not (out / "fsdd-george" / "lstm.npz").exists()
    (folder / "2_george_0.wav").unlink()
    done = subprocess.run([*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "keeping out/fsdd-george/cw.npz (--resume)" in done.stderr
    assert (out / "fsdd-george" / "cw.npz").read_bytes() == trained
    report = json.loads((out / "goals.json").read_text())
    assert report["settings"]["resume"] is True
    # Measured again, the kept model's figures are the first run's (generation is seeded).
    assert report["sources"]["fsdd-george"]["likeness"] == first["likeness"]
    assert report["sources"]["fsdd-george"]["cw"]["test_bits_per_sample"] == first["cw"]["test_bits_per_sample"]
    assert report["settings"]["options"] == "" and report["settings"]["cw_options"] == "--hidden 8 --modules 2"
    r = report["sources"]["fsdd-george"]
    # Concatenated in take, then digit order: what was trained on is the takes in that order.
    trained_on, _ = soundfile.read(out / "fsdd-george" / "fsdd-george.wav", dtype="float32")
    assert np.array_equal(trained_on, np.concatenate([takes[0, 0], takes[1, 0], takes[0, 1], takes[1, 1]]))
    assert r["files"] == 4 and r["sample_rate"] == 8000
    # The LPC is scored on exactly the test part cwfast train held out (the last 10%).
    assert r["lpc32"]["n_test"] == round(32000 * 0.1) == round(r["held_out_seconds"] * 8000)
    # The LSTM gets the Clockwork RNN's head (the command line's default), so the same outputs.
    assert r["lstm"]["n_hidden"] == load_script().lstm_hidden_for(r["cw"]["macs_per_sample"], 1, r["cw"]["n_out"])
    assert [s["seed"] for s in r["likeness"]["generated_seeds"]] == [0, 1]
    assert len(r["likeness"]["stretches"]["ltas_to_rest"]) == 4
    # Every likeness reference is the training audio (the test part is what the held-out bits are
    # scored on: no choice made by these cells may see it); the whole recording's only for comparison.
    from cwfast import likeness

    training = trained_on[: 32000 - 3200]
    own = likeness.measure(training, 8000)
    assert (r["likeness"]["source"]["flatness"], r["likeness"]["source"]["pitched"]) == (own["flatness"], own["pitched"])
    # The note share beside them (no goal): two tones held a second each, so about half the frames each.
    assert r["likeness"]["source"]["note_share"] == likeness.note_share(training, 8000)
    assert 0.4 < r["likeness"]["source"]["note_share"] < 0.75
    assert r["likeness"]["held_out"]["note_share"] == likeness.note_share(trained_on[32000 - 3200 :], 8000)
    seed1, _ = soundfile.read(out / "fsdd-george" / "cw-seed1.wav", dtype="float32")
    assert r["likeness"]["generated_seeds"][1]["note_share"] == likeness.note_share(seed1, 8000)
    assert "| the most common note's share of the pitched frames: seeds; training audio; held out |" in done.stdout
    whole = likeness.measure(trained_on, 8000)
    assert r["likeness"]["whole_recording"] == {"flatness": whole["flatness"], "pitched": whole["pitched"]}
    assert own["flatness"] != whole["flatness"]
    sys.path.insert(0, str(ROOT / "scripts"))
    import measure_generation

    rows = measure_generation.stretch_rows(training, 8000, 4)
    assert r["likeness"]["stretches"]["ltas_to_rest"] == rows[:, 0].tolist()
    cells = {g["figure"]: g for g in r["goals"]}
    assert cells["spectral flatness / the training audio's"]["value"] == pytest.approx(
        r["likeness"]["generated_median"]["flatness"] / own["flatness"])
    assert (out / "fsdd-george" / "cw.npz").exists() and (out / "fsdd-george" / "cw-seed1.wav").exists()
    # Both networks' scales are fitted on validation (the command line's default), and recorded:
    # the factor, then the surprise-following scale from there.
    for key in ("cw", "lstm"):
        fit, surprise = r[key]["scale_fit"], r[key]["surprise_fit"]
        assert surprise["bits_before"] == pytest.approx(fit["bits_after"], abs=1e-6)  # float32 rounding apart
        if surprise["beta"] == 0:
            assert fit["bits_after"] == pytest.approx(r[key]["validation_bits_per_sample"], abs=1e-5)
    assert f"| scale fit on validation (factor): Clockwork / LSTM | {r['cw']['scale_fit']['factor']:.3g} / " in done.stdout
    assert "| scales following the surprise (1/alpha, beta): Clockwork / LSTM | " in done.stdout
    figures = [r["cw"]["test_bits_per_sample"], r["lstm"]["test_bits_per_sample"], r["lpc32"]["bits_per_sample"],
               r["cw"]["macs_per_sample"], r["lstm"]["macs_per_sample"], *r["speed"]["cli_wall_seconds"],
               r["speed"]["in_process_us_per_sample"], *r["likeness"]["generated_median"].values(),
               *r["likeness"]["held_out"].values(), *r["likeness"]["source"].values()]
    assert all(math.isfinite(v) for v in figures)
    assert len(r["goals"]) == 8
    # The speed goal is the generation rate (the measure); the command's wall time, start-up
    # included, is reported beside it without a bound.
    speed = {g["figure"]: g for g in r["goals"] if "speed" in g["figure"]}
    assert [g["value"] for g in speed.values()] == [r["speed"]["in_process_x_real_time_at_16k"],
                                                    r["speed"]["cli_x_real_time_at_16k"]]
    assert [g["bound"] for g in speed.values()] == [20.0, None]
    for g in r["goals"]:
        assert math.isfinite(g["value"])
        check_goal(g)
    # The printed table has a row per goal and the source's column.
    for g in r["goals"]:
        assert f"| {g['figure']} |" in done.stdout
    assert "| figure | goal | fsdd-george |" in done.stdout
    # The machine is recorded: models trained on CPUs with and without AVX-512 differ.
    assert report["machine"] == bench.machine_summary() and "AVX-512" in report["machine"]
    assert f"machine: {report['machine']}" in done.stdout


def test_missing_data_is_one_clear_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "generation_goals.py"), "--data", str(tmp_path),
                           "--sources", "brahms"], capture_output=True, text=True)
    assert done.returncode == 2 and "brahms: no music/brahms-hungarian-dance-5.ogg under --data" in done.stderr


def test_settings_the_measures_cannot_use_are_refused_before_training(tmp_path):
    """--seconds 0.1 was accepted, then failed with a traceback after every training."""
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    soundfile.write(folder / "0_george_0.wav", np.sin(np.arange(8000) * 0.2).astype(np.float32), 8000)
    script = [sys.executable, str(ROOT / "scripts" / "generation_goals.py"), "--data", str(tmp_path), "--sources",
              "fsdd-george", "--out", str(tmp_path / "out")]
    done = subprocess.run([*script, "--seconds", "0.1"], capture_output=True, text=True)
    assert done.returncode == 2 and "--seconds 0.1 is 800 samples at 8000 Hz; the measures need at least 2048" in \
        done.stderr.splitlines()[-1], done.stderr
    done = subprocess.run([*script, "--stretches", "8"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == ("generation_goals: fsdd-george: 8 stretches of the "
                                                            "training audio's 7200 samples are shorter than the "
                                                            "measures' 2048: pass fewer --stretches"), done.stderr
    done = subprocess.run([*script, "--stretches", "2", "--options", "--test 0.2"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == ("generation_goals: fsdd-george: the held-out stretch "
                                                            "(1600 samples) is shorter than the measures' 2048"), \
        done.stderr
    assert not (tmp_path / "out" / "fsdd-george" / "cw.npz").exists()
    # Training options cwfast train refuses, and seeds cwfast generate refuses: said now (a typo in
    # --lstm-options was found after the Clockwork model's whole budget).
    for extra, says in ((["--lstm-options=--bogus"], "--lstm-options '--bogus': cwfast train says: unrecognized "
                                                      "arguments: --bogus"),
                        (["--options", "--hidden 0"], "cwfast train says: argument --hidden: 0 must be a positive"),
                        (["--seeds", "99999999999999999999"], "--seeds '99999999999999999999' must be")):
        done = subprocess.run([*script, *extra], capture_output=True, text=True)
        assert done.returncode == 2 and says in done.stderr.splitlines()[-1], done.stderr


def test_a_report_that_cannot_be_written_is_refused_before_training(tmp_path):
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    soundfile.write(folder / "0_george_0.wav", np.sin(np.arange(80000) * 0.2).astype(np.float32), 8000)
    (tmp_path / "a-file").write_text("")
    script = [sys.executable, str(ROOT / "scripts" / "generation_goals.py"), "--data", str(tmp_path), "--sources",
              "fsdd-george"]
    for where, said in ((["--json", str(tmp_path / "a-file" / "goals.json")], "a-file' is not a directory"),
                        (["--json", str(tmp_path / "a-file")], f"'{tmp_path / 'a-file'}' exists; pass --overwrite "
                                                                "to replace it"),  # (it was replaced without a word)
                        (["--out", str(tmp_path / "a-file" / "out")], "cannot make --out "),
                        (["--json", str(tmp_path)], "cannot write report '{}': it is a directory".format(tmp_path)),
                        (["--out", str(tmp_path / "new"), "--json", str(tmp_path)], "it is a directory"),
        (["--options", '"unbalanced'], "--options '\"unbalanced': No closing quotation"),
        (["--resume"], "--resume needs the --out of the run it resumes")):
        done = subprocess.run([*script, *where], capture_output=True, text=True)
        assert done.returncode == 2 and said in done.stderr.splitlines()[-1], done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "fsdd"] and (tmp_path / "a-file").read_text() == ""


def test_an_earlier_runs_models_are_kept_unless_resumed_or_overwritten(tmp_path):
    # Run again over the same --out, the script trained every model again and replaced them: hours.
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    soundfile.write(folder / "0_george_0.wav", np.sin(np.arange(80000) * 0.2).astype(np.float32), 8000)
    kept = tmp_path / "out" / "fsdd-george" / "cw.npz"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"an earlier run's model")
    script = [sys.executable, str(ROOT / "scripts" / "generation_goals.py"), "--data", str(tmp_path), "--sources",
              "fsdd-george", "--out", str(tmp_path / "out")]
    done = subprocess.run(script, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.splitlines()[-1].endswith(
        f"--out {tmp_path / 'out'} holds models of an earlier run (fsdd-george/cw.npz): --resume keeps them, "
        "--overwrite trains them again"), done.stderr
    assert kept.read_bytes() == b"an earlier run's model"
    done = subprocess.run([*script, "--resume", "--overwrite"], capture_output=True, text=True)
    assert done.returncode == 2 and "--resume and --overwrite" in done.stderr.splitlines()[-1], done.stderr


def test_the_figures_of_earlier_sources_survive_a_later_failure(tmp_path, monkeypatch):
    script = load_script()
    rate = 16000
    monkeypatch.setattr(script, "prepare", lambda name, data, directory, trim: (name, np.zeros(10 * rate), 1))
    monkeypatch.setattr(script, "train_all", lambda jobs, args, prepared, directory: {n: {} for n in prepared})

    def measure(name, args, prepared, trained, directory):
        if name == "vibe-ace":
            raise RuntimeError("the generation failed")
        return {"measured": name}

    monkeypatch.setattr(script, "measure", measure)
    monkeypatch.setattr(script, "source_files", lambda name, data: [name])
    report = tmp_path / "out" / "goals.json"
    report.parent.mkdir()
    report.write_text('{"an old": "report"}')
    with pytest.raises(RuntimeError, match="the generation failed"):
        script.main(["--data", str(tmp_path), "--sources", "brahms,vibe-ace", "--out", str(tmp_path / "out"),
                     "--overwrite"])
    assert json.loads(report.read_text())["sources"] == {"brahms": {"measured": "brahms"}}
    assert sorted(p.name for p in report.parent.iterdir()) == ["brahms", "goals.json", "vibe-ace"]
    # A write interrupted half way keeps the last report whole, and leaves nothing beside it.
    def half_then_interrupt(obj, f, **keywords):
        f.write('{"sources": {')
        raise KeyboardInterrupt

    monkeypatch.setattr(script.json, "dump", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        script.write_json({"sources": {}}, str(report))
    assert json.loads(report.read_text())["sources"] == {"brahms": {"measured": "brahms"}}
    assert sorted(p.name for p in report.parent.iterdir()) == ["brahms", "goals.json", "vibe-ace"]
