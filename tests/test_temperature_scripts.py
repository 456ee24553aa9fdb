"""scripts/compare_temperature_grids.py, scripts/prototype_temperature_by_spectrum.py and
scripts/measure_output_gain.py on a tiny goals run: the temperature each chooses is the calibration's (or, by spectrum, a qualifying one),
and the cells counted are those of the figures printed."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast import likeness, metrics, render
from cwfast.audio import load_audio
from cwfast.train_audio import calibrate_temperature, train_audio

import script_loading

ROOT = Path(__file__).resolve().parents[1]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
EXCERPT = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"


def load_script(name):
    return script_loading.load_script(name, siblings=True)  # the prototype imports the comparison's loop


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A goals run of one source as generation_goals.py lays it out (model, audio, goals.json)."""
    directory = tmp_path_factory.mktemp("run")
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    (directory / "clip").mkdir()
    soundfile.write(directory / "clip" / "clip.wav", samples, rate, subtype="FLOAT")
    trained = train_audio(samples, rate, mode="autoregressive", hidden=8, modules=2, epochs=2, seed=0,
                          progress=False)
    trained.model.save(directory / "clip" / "cw.npz")
    like = {"stretches": {"median_ltas_to_rest": 6.0}, "source": {"flatness": 0.01, "pitched": 0.5}}
    (directory / "goals.json").write_text(json.dumps({"sources": {"clip": {"likeness": like}}}))
    return directory


def check_row(row, like, compare, model, samples, training):
    """The row's figures are those of the audio generated at its temperature (medians over the
    script's seeds, measured here through the public API), and its cells those of the figures."""
    rate = int(model.sample_rate)
    figures = []
    for seed in compare.SEEDS:
        audio = render.render(model, int(compare.SECONDS * rate), seed=seed, temperature=row["temperature"])
        figures.append((likeness.ltas_distance(audio, samples), likeness.spectral_flatness(audio) / like["source"]["flatness"],
                        likeness.pitched_fraction(audio, rate), metrics.rms(audio) / metrics.rms(training)))
    assert [row[k] for k in ("ltas_db", "flatness", "pitched", "rms")] == pytest.approx(np.median(figures, axis=0),
                                                                                        rel=1e-9)
    cells = (int(row["ltas_db"] <= 1.3 * like["stretches"]["median_ltas_to_rest"])
             + int(1 / 3 <= row["flatness"] <= 3) + int(row["pitched"] >= 0.5 * like["source"]["pitched"]))
    assert row["cells"] == cells


def test_grids_choose_as_the_calibration_does_and_count_their_cells(run, tmp_path, capsys):
    compare = load_script("compare_temperature_grids")
    out = tmp_path / "rows.json"
    compare.main([str(run), "--current", "0.5,1", "--grid", "0.5,0.7,1", "--json", str(out)])
    (row,) = json.loads(out.read_text())
    model, samples, training = compare.load_run(str(run), "clip")
    # The likeness references are the source before its test part (the whole of it before 2026-12-06).
    from cwfast import tasks
    from cwfast.audio import load_audio

    whole, _ = load_audio(str(run / "clip" / "clip.wav"), sample_rate=int(model.sample_rate))
    split = model.metadata["split"]
    test = tasks.split_task(tasks.autoregressive(whole), validation=split["validation"], test=split["test"]).test
    assert test is not None and samples.size == whole.size - test.n_steps
    assert np.array_equal(samples, whole[: samples.size])
    like = json.loads((run / "goals.json").read_text())["sources"]["clip"]["likeness"]
    for label, grid in (("current grid", (0.5, 1.0)), ("other grid", (0.5, 0.7, 1.0))):
        chosen = calibrate_temperature(model, training / model.metadata["scale"], temperatures=grid)["chosen"]
        assert row[label]["temperature"] == chosen
        check_row(row[label], like, compare, model, samples, training)
    printed = capsys.readouterr().out
    assert f"current grid: {row['current grid']['cells']} cells of 3" in printed


def test_the_same_grid_twice_gives_the_same_row(run, tmp_path):
    compare = load_script("compare_temperature_grids")
    out = tmp_path / "rows.json"
    compare.main([str(run), "--current", "0.5,0.85", "--grid", "0.5,0.85", "--json", str(out)])
    (row,) = json.loads(out.read_text())
    assert row["current grid"] == row["other grid"]


def test_by_spectrum_keeps_to_the_qualifying_temperatures(run, tmp_path):
    prototype = load_script("prototype_temperature_by_spectrum")
    out = tmp_path / "rows.json"
    prototype.main([str(run), "--json", str(out)])
    (row,) = json.loads(out.read_text())
    compare = load_script("compare_temperature_grids")
    model, _, training = compare.load_run(str(run), "clip")
    calibration = calibrate_temperature(model, training / model.metadata["scale"])
    qualifying = [r["temperature"] for r in calibration["table"] if r["qualifies"]]
    assert row["current"]["temperature"] == calibration["chosen"]
    assert row["by spectrum"]["temperature"] in (qualifying or [calibration["chosen"]])


def test_measure_output_gain_reports_the_gain_cwfast_train_sets(run, tmp_path, capsys):
    """The gain is the calibration's; 'with' is 'without' times it; A,B keeps the one better on
    validation (here a run and its copy with a worse validation figure)."""
    script = load_script("measure_output_gain")
    worse = tmp_path / "worse"
    (worse / "clip").mkdir(parents=True)
    for name in ("clip/clip.wav", "goals.json"):
        (worse / name).write_bytes((run / name).read_bytes())
    import cwfast

    model = cwfast.load(run / "clip" / "cw.npz")
    model.metadata["figures"]["validation"]["bits_per_sample"] += 1.0
    model.save(worse / "clip" / "cw.npz")
    out = tmp_path / "rows.json"
    assert script.main([f"{worse},{run}", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["run"] == str(run)
    compare = load_script("compare_temperature_grids")
    model, _, training = compare.load_run(str(run), "clip")
    calibration = calibrate_temperature(model, training / model.metadata["scale"])
    assert row["gain"] == calibration["output_gain"] and row["temperature"] == calibration["chosen"]
    assert row["rms_with"] == pytest.approx(row["rms_without"] * row["gain"])
    assert "within 3 dB of the training part's RMS" in capsys.readouterr().out


def test_measure_temperatures_prints_its_rows_and_refuses_bad_input_before_generating(run, tmp_path, capsys):
    script = load_script("measure_temperatures")
    model = str(run / "clip" / "cw.npz")
    out = tmp_path / "t.json"
    out.write_text("an earlier run's figures")  # replaced, as --overwrite asks
    assert script.main([model, "--temperatures", "0.5,1", "--json", str(out), "--overwrite"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {model} |")]
    assert len(rows) == 2 and sorted(json.loads(out.read_text())[model]) == ["0.5", "1.0"]
    # The note share: the median of the seeds' likeness.note_share, over the seeds with a pitched frame.
    import cwfast
    from cwfast import likeness, render

    loaded = cwfast.load(model)
    shares = [likeness.note_share(render.render(loaded, int(script.SECONDS * loaded.sample_rate), seed=seed,
                                                temperature=0.5), loaded.sample_rate) for seed in script.SEEDS]
    shares = [v for v in shares if v is not None]
    assert json.loads(out.read_text())[model]["0.5"]["note_share"] == (float(np.median(shares)) if shares else None)
    (tmp_path / "bad").mkdir()  # a goals run's folder whose model is damaged
    (tmp_path / "bad" / "bad.wav").write_bytes((run / "clip" / "clip.wav").read_bytes())
    (tmp_path / "bad" / "cw.npz").write_bytes(b"PK not a model")
    stray = tmp_path / "stray.npz"  # a model that is not in a goals run's folder
    stray.write_bytes((run / "clip" / "cw.npz").read_bytes())
    for argv, says in (([model, "--temperatures", "x"], "--temperatures 'x' must be comma-separated positive"),
                       ([model, "--temperatures", "nan"], "must be comma-separated positive numbers"),
                       ([model, "--temperatures", "0.5,0.5"], "none repeated"),
                       ([str(stray)], f"no {tmp_path.name}.wav beside it"),
                       ([model, "--json", str(tmp_path / "no" / "t.json")], "does not exist"),
                       ([model, "--json", str(tmp_path)], "it is a directory"),
                       ([model, "--json", str(out)], f"'{out}' exists; pass --overwrite to replace it"),
                       ([model, str(tmp_path / "bad" / "cw.npz")], "cannot load model")):  # before the first's work
        with pytest.raises(SystemExit) as stopped:
            script.main(argv)
        assert stopped.value.code == 2 and says in capsys.readouterr().err, argv
    assert sorted(json.loads(out.read_text())[model]) == ["0.5", "1.0"]  # the refusals left it as it was


def test_the_goals_run_scripts_refuse_bad_input_before_generating(run, tmp_path, capsys):
    """A folder that is not a whole goals run, or a --json that cannot be written, is a one-line
    error before minutes of generating, not a traceback (FileNotFoundError) or, for --json, after
    them; the --json written is whole or absent."""
    (tmp_path / "partial" / "clip").mkdir(parents=True)  # goals.json, but no model
    (tmp_path / "partial" / "goals.json").write_bytes((run / "goals.json").read_bytes())
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "goals.json").write_text("[]")
    earlier = tmp_path / "earlier.json"
    earlier.write_text("an earlier run's figures")
    cases = (([str(tmp_path / "missing")], "not a generation_goals.py --out folder"),
             ([str(tmp_path / "listed")], "not a generation_goals.py --out folder"),
             ([str(tmp_path / "partial")], "cw.npz is missing"),
             ([str(run), "--json", str(tmp_path / "no" / "rows.json")], "does not exist"),
             ([str(run), "--json", str(earlier)], f"'{earlier}' exists; pass --overwrite to replace it"))
    for name in ("compare_temperature_grids", "prototype_temperature_by_spectrum", "measure_output_gain",
                 "prototype_output_eq", "prototype_split_temperature"):
        script = load_script(name)
        for argv, says in cases:
            if "--json" in argv and name in ("prototype_output_eq", "prototype_split_temperature"):
                continue
            with pytest.raises(SystemExit) as stopped:
                script.main(argv)
            err = capsys.readouterr().err
            assert stopped.value.code == 2 and says in err and "Traceback" not in err, (name, argv, err)
    assert earlier.read_text() == "an earlier run's figures"
    compare = load_script("compare_temperature_grids")
    with pytest.raises(SystemExit):
        compare.main([str(run), "--grid", "0.5,x"])
    assert "must be comma-separated temperatures" in capsys.readouterr().err


def test_plot_spectrograms_refuses_bad_input_before_reading_a_clip(tmp_path, capsys):
    script = load_script("plot_spectrograms")
    clip = f"source={EXCERPT}"
    for argv, says in (([f"{EXCERPT}", "-o", str(tmp_path / "s.png")], "give each clip as LABEL=PATH"),
                       (["source=", "-o", str(tmp_path / "s.png")], "give each clip as LABEL=PATH"),
                       ([clip, "-o", str(tmp_path / "s.png"), "--seconds", "0"], "--seconds 0.0 must be a positive"),
                       ([clip, "-o", str(tmp_path / "s.png"), "--seconds", "0.1"], "shorter than one 2048-point frame"),
                       ([clip, "-o", str(tmp_path / "s.png"), "--max-hz", "nan"], "--max-hz nan must be a positive"),
                       ([clip, "-o", str(tmp_path / "s.txt")], "must end in an image extension matplotlib writes"
                        if HAS_MATPLOTLIB else "matplotlib"),
                       ([clip, "-o", str(tmp_path / "no" / "s.png")], "does not exist" if HAS_MATPLOTLIB else "matplotlib")):
        with pytest.raises(SystemExit) as stopped:
            script.main(argv)
        assert stopped.value.code == 2 and says in capsys.readouterr().err, argv
    assert list(tmp_path.iterdir()) == []


def test_plot_spectrograms_keeps_an_existing_figure_unless_overwrite(tmp_path, capsys):
    """An existing -o was replaced without a word; the CLI's --plot refuses it unless --overwrite."""
    pytest.importorskip("matplotlib")
    script = load_script("plot_spectrograms")
    out = tmp_path / "s.png"
    out.write_bytes(b"the old figure")
    argv = [f"source={EXCERPT}", "-o", str(out), "--seconds", "0.3"]
    with pytest.raises(SystemExit) as stopped:
        script.main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"plot_spectrograms.py: error: '{out}' exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"the old figure"
    assert script.main([*argv, "--overwrite"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_plot_spectrograms_leaves_the_old_figure_if_saving_fails(tmp_path, monkeypatch, capsys):
    """A save that fails part-way (a full disk) leaves the figure that was there, not half a new one."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    script = load_script("plot_spectrograms")
    out = tmp_path / "s.png"
    out.write_bytes(b"the old figure")

    def half_then_full(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_then_full)
    with pytest.raises(SystemExit) as stopped:
        script.main([f"source={EXCERPT}", "-o", str(out), "--seconds", "0.3", "--overwrite"])
    assert stopped.value.code == 2 and "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == b"the old figure" and sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]
