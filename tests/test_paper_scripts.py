"""The paper-reproduction scripts on tiny settings (the full runs live in docs/results.md)."""

import json

import numpy as np
import pytest

import script_loading
from cwfast import metrics

SCRIPTS = script_loading.SCRIPTS
load_script = script_loading.load_script


@pytest.fixture(scope="module")
def generation():
    return load_script("paper_generation")


def test_generation_pieces_come_from_the_shipped_clip(generation):
    pieces, starts = generation.excerpts(5)
    assert pieces.shape == (5, 320) and pieces.dtype == np.float32
    np.testing.assert_allclose(np.abs(pieces).max(axis=1), 1.0)  # each scaled to peak 1
    assert starts == sorted(starts) and starts[-1] + 320 <= 132_300
    assert all(np.std(p) > 0.1 for p in pieces)  # music, not silence


def test_generation_sizes_are_the_papers(generation):
    for arch in generation.ARCHS:
        counts = [generation.build(arch, n, 0).n_params for n in generation.SIZES[arch]]
        if arch == "cw":
            counts = [c + generation.CW_MODULES for c in counts]  # the paper counts the periods
        for count, budget in zip(counts, generation.BUDGETS):
            assert abs(count - budget) <= 0.15 * budget


def test_generation_quick_run(generation, tmp_path, capsys):
    assert generation.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 100 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["SRN", "LSTM", "CW-RNN"]
    assert "0.47" in rows[0] and "0.038" in rows[2]  # the paper's numbers beside ours
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert len(runs) == 3 * len(generation.RECIPES) and {r["recipe"] for r in runs} == set(generation.RECIPES)
    assert all(np.isfinite(r["nmse"]) and 0 < r["nmse"] < 2 for r in runs)
    # Only the best waveform per model, budget and piece is kept.
    kept = [r for r in runs if r["output"] is not None]
    assert sorted(r["arch"] for r in kept) == sorted(generation.ARCHS) and all(len(r["output"]) == 320 for r in kept)
    pieces, _ = generation.excerpts(1 + max(r["piece"] for r in kept))
    for r in kept:  # the NMSE recorded is the kept waveform's (stored to 5 decimals)
        assert r["nmse"] == pytest.approx(metrics.nmse(np.array(r["output"]), pieces[r["piece"]]), rel=1e-3, abs=1e-6)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "figure5.png").stat().st_size > 1000
    # An existing result is not overwritten without --overwrite, in the words of cwfast's own commands.
    with pytest.raises(SystemExit) as exc:
        generation.main(["--quick", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"error: '{tmp_path / 'results.json'}' exists; pass --overwrite to replace it\n")


def test_memorize_benchmark_quick_run(tmp_path, capsys):
    bench = load_script("memorize_benchmark")
    out = tmp_path / "runs.json"
    argv = ["--starts", "0", "--trainers", "adam", "sgd", "es", "--epochs", "5", "--generations", "3",
            "--hidden", "11", "--population", "6", "--sigma", "0.05", "--json", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "CW-RNN 11 units, 9 modules" in text
    rows = [line.split("|") for line in text.splitlines() if line.startswith(("| adam", "| sgd", "| es"))]
    assert [row[1].strip() for row in rows] == ["adam", "sgd", "es"]
    runs = json.loads(out.read_text())["runs"]
    assert [r["trainer"] for r in runs] == ["adam", "sgd", "es"]
    assert [r["updates"] for r in runs] == [5, 5, 3]
    assert all(np.isfinite(r["nmse"]) and 0 < r["nmse"] < 2 and r["seconds"] > 0 for r in runs)



def test_memorize_benchmark_refuses_bad_options_before_any_run(tmp_path, capsys):
    """Each is a one-line error, exit 2, before a run: not a traceback, nor (a CwfastError inside a
    run) a row of 'diverged' runs, nor, for --json, found after every run."""
    bench = load_script("memorize_benchmark")
    (tmp_path / "file").write_text("")
    base = ["--starts", "0", "--trainers", "adam", "es", "--epochs", "1", "--generations", "1", "--hidden", "11"]
    for argv, says in (([*base, "--json", str(tmp_path / "file" / "runs.json")], "is not a directory"),
                       ([*base, "--json", str(tmp_path / "file")], f"'{tmp_path / 'file'}' exists; pass --overwrite"),
                       ([*base, "--hidden", "8"], "n_modules=9 must not exceed n_hidden=8"),
                       ([*base, "--starts", "5"], "is at or past the end"),
                       ([*base, "--starts", "2.995"], "holds only 220 samples from there"),
                       ([*base, "--population", "0"], "population=0")):
        assert bench.main(argv) == 2, argv
        captured = capsys.readouterr()
        assert says in captured.err and "start 0 s" not in captured.err and not captured.out, (argv, captured)
    assert (tmp_path / "file").read_text() == ""


def test_paper_generation_refuses_an_out_it_cannot_write_before_training(generation, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        generation.main(["--quick", "--out", str(tmp_path / "file" / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "cannot make --out" in err and "runs of" not in err
    # Either output there already is refused, before training too.
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "figure5.png").write_text("earlier")
    with pytest.raises(SystemExit) as exc:
        generation.main(["--quick", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"error: '{tmp_path / 'out' / 'figure5.png'}' exists; pass --overwrite to replace it" in err
    assert "runs of" not in err and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["figure5.png"]


def test_baseline_recipes_quick_refuses_what_it_would_override(tmp_path, capsys):
    recipes = load_script("baseline_recipes")
    with pytest.raises(SystemExit) as exc:
        recipes.main(["search", "--quick", "--seeds", "3", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2 and "--quick sets --seeds, --eval-seeds and --epochs itself: leave out --seeds" in \
        capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_baseline_recipes_refuse_a_stage_without_its_search(tmp_path, capsys):
    """refine and evaluate read the search's runs: none there (no file, or none of the model at
    the budget and epochs) is a one-line error, not a FileNotFoundError or IndexError traceback."""
    recipes = load_script("baseline_recipes")
    (tmp_path / "file").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "search.jsonl").write_text(json.dumps({"epochs": 30, "n_hidden": 3}) + "\n")
    for argv, says in ((["evaluate", "--out", str(tmp_path / "empty")], "no search.jsonl in --out"),
                       (["refine", "--out", str(tmp_path / "empty")], "no search.jsonl in --out"),
                       (["evaluate", "--out", str(tmp_path / "other"), "--quick"], "holds no run of srn at 1000"),
                       (["search", "--out", str(tmp_path / "file" / "out"), "--quick"], "cannot make --out")):
        with pytest.raises(SystemExit) as exc:
            recipes.main(argv)
        assert exc.value.code == 2 and says in capsys.readouterr().err, argv


def test_memorize_robustness_refuses_bad_paths_before_any_run(tmp_path, capsys):
    robust = load_script("memorize_robustness")
    (tmp_path / "file").write_text("")
    for argv, says in ((["--music", str(tmp_path / "missing"), "--out", str(tmp_path / "r.jsonl")], "is not a directory"),
                       (["--music", str(tmp_path / "file"), "--out", str(tmp_path / "r.jsonl")], "is not a directory"),
                       (["--quick", "--out", str(tmp_path)], "is a directory"),
                       (["--quick", "--out", str(tmp_path / "file" / "r.jsonl")], "cannot write --out"),
                       # --quick set them over what was asked, without a word
                       (["--quick", "--epochs", "500", "--out", str(tmp_path / "r.jsonl")],
                        "--quick sets --epochs and --per-file itself: leave out --epochs")):
        with pytest.raises(SystemExit) as exc:
            robust.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and says in err and "runs to do" not in err, argv

def test_generation_build_scales_the_initial_draw(generation):
    n = 11
    for arch in generation.ARCHS:
        base = generation.build(arch, n, 3)
        wide = generation.build(arch, n, 3, init_scale=0.4)
        if arch == "lstm":  # the forget biases are set after the draw, the rest is 4x the paper's draw
            np.testing.assert_array_equal(wide.b_h[n : 2 * n], 5.0)
            wide.b_h[n : 2 * n] = base.b_h[n : 2 * n] = 0.0
        np.testing.assert_allclose(wide.params, 4 * base.params, rtol=1e-6)
    lstm = generation.build("lstm", n, 3, forget_bias=1.0, init_scale=0.2)
    np.testing.assert_array_equal(lstm.b_h[n : 2 * n], 1.0)


def test_baseline_recipes_give_every_model_the_same_budget(tmp_path, capsys):
    recipes = load_script("baseline_recipes")
    grids = {arch: recipes.grid(arch) for arch in ("srn", "lstm", "cw")}
    assert len({len(g) for g in grids.values()}) == 1 and len(grids["cw"]) == 30
    assert all(len({json.dumps(s, sort_keys=True) for s in g}) == len(g) for g in grids.values())
    # The validation piece overlaps none of the five test pieces.
    _, starts = recipes.pg.excerpts(5)
    v = recipes.VALIDATION_START
    assert all(v + 320 <= s or s + 320 <= v for s in starts)
    assert recipes.main(["search", "--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    runs = [json.loads(line) for line in (tmp_path / "search.jsonl").read_text().splitlines()]
    assert len(runs) == 6 and all(r["piece"] == "validation" and np.isfinite(r["nmse"]) for r in runs)
    # Run again: nothing left to do, the same table.
    first = capsys.readouterr().out
    assert recipes.main(["search", "--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == first
    assert len((tmp_path / "search.jsonl").read_text().splitlines()) == 6
    # refine: the best setting of each model gets one more seed, and is then ranked first.
    assert recipes.main(["refine", "--quick", "--top", "1", "--more-seeds", "1", "--jobs", "1",
                         "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    before = {arch: recipes.choose(runs, arch)[0][1] for arch in ("srn", "lstm", "cw")}
    runs = [json.loads(line) for line in (tmp_path / "search.jsonl").read_text().splitlines()]
    assert len(runs) == 9 and sorted(r["seed"] for r in runs if r["seed"] == 1) == [1, 1, 1]
    assert all(r["setting"] == before[r["arch"]] for r in runs if r["seed"] == 1)
    assert recipes.main(["evaluate", "--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    chosen = {arch: recipes.choose(runs, arch)[0][1] for arch in ("srn", "lstm", "cw")}
    assert chosen == before
    for arch, name in (("srn", "SRN"), ("lstm", "LSTM"), ("cw", "CW-RNN")):
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert recipes.label(chosen[arch]) in row and "(5)" in row


def test_memorize_robustness_material(tmp_path, capsys):
    robust = load_script("memorize_robustness")
    rate = 44100
    t = np.arange(rate) / rate
    clip = np.sin(2 * np.pi * 2000 * t) + np.sin(2 * np.pi * 50 * t)
    clip[: rate // 2] *= 1e-4  # a near-silent first half
    starts = robust.spread_starts(clip, 5)
    assert len(starts) == 5 and min(starts) >= rate // 2 - 320
    low = robust.lowpass(clip)
    spectrum = np.abs(np.fft.rfft(low[rate // 2 :]))
    freqs = np.fft.rfftfreq(rate - rate // 2, 1 / rate)
    assert spectrum[np.argmin(np.abs(freqs - 2000))] < 1e-3 * spectrum[np.argmin(np.abs(freqs - 50))]
    stretched = robust.slowed(clip, 30000, factor=8)
    np.testing.assert_allclose(stretched[::8], clip[30000 : 30000 + 40])
    tone = robust.low_tone(0)
    assert tone.size == 320 and abs(np.fft.rfft(tone)).argmax() <= 1  # under one cycle: energy at DC and bin 1
    out = tmp_path / "runs.jsonl"
    assert robust.main(["--quick", "--out", str(out)]) == 0
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    sources = {r["source"] for r in runs}
    assert {"lowpass", "lowpass40", "slowed", "slowed32", "tone"} <= sources and len(sources) == 6
    assert all(np.isfinite(r["nmse"]) and 0 < r["nmse"] < 10 for r in runs)  # 30 epochs: not learnt yet
    assert "| adam-1e-2 | all | 12 |" in capsys.readouterr().out
    assert robust.main(["--quick", "--out", str(out)]) == 0  # resumes: nothing to do
    assert len(out.read_text().splitlines()) == 12


def test_baseline_recipes_lowpassed_pieces():
    recipes = load_script("baseline_recipes")
    pieces, starts = recipes.pg.excerpts(5)
    low = recipes.lowpassed_pieces(starts, 1000.0)
    assert low.shape == pieces.shape
    np.testing.assert_allclose(np.abs(low).max(axis=1), 1.0, rtol=1e-6)
    freqs = np.fft.rfftfreq(320, 1 / 44100)

    def high_share(p):
        power = np.abs(np.fft.rfft(p - p.mean())) ** 2
        return power[freqs > 2000].sum() / power.sum()

    # (a 320-sample window leaks some power across bins, hence a ratio rather than zero)
    assert all(high_share(lp) < 0.2 * high_share(p) for lp, p in zip(low, pieces))


def test_train_default_model_recheck_calibrates_a_model_trained_before_calibration(tmp_path, capsys):
    """--recheck trains nothing: a model saved without a calibration gets the temperature and
    output gain cwfast train would choose (on the first 80% of the trimmed recording), and the
    check figures generated at that gain; a model that has one keeps it."""
    from cwfast.train_audio import CALIBRATION_SEEDS
    import cwfast
    from cwfast import metrics, render, tasks, train_audio
    from cwfast.audio import load_audio, trim_silence
    from cwfast.train_audio import calibrate_temperature

    script = load_script("train_default_model")
    model = cwfast.ClockworkRNN(1, 30, n_hidden=8, n_modules=2, output="mixture", input_windows=[8, 8], seed=3,
                                sample_rate=16000)
    figure = {"cross_entropy": 4.0, "bits_per_sample": 5.77}
    model.metadata = {"mode": "autoregressive", "scale": 0.78, "n_classes": 256, "temperature": 0.5,
                      "figures": {"train": figure, "validation": figure, "test": figure},
                      "runs": {"chosen": 0, "runs": [{"seed": 0}, {"seed": 0, "pitch": True}]}}
    path = tmp_path / "old.npz"
    model.save(path)
    assert script.main(["--recheck", "--output", str(path)]) == 0
    rechecked = cwfast.load(path)

    source, _ = load_audio(script.SOURCE, sample_rate=16000)
    source = trim_silence(source, 16000)
    n_train = tasks.split_task(tasks.autoregressive(source, n_classes=256), validation=0.1, test=0.1)[0].n_steps
    expected = calibrate_temperature(model, np.asarray(source[:n_train], np.float64) / 0.78,
                                     seconds=train_audio.CALIBRATION_SECONDS)  # (the tests' 0.5 s, conftest.py)
    meta = rechecked.metadata
    assert meta["temperature_calibration"] == json.loads(json.dumps(expected))
    assert (meta["temperature"], meta["output_gain"]) == (expected["chosen"], expected["output_gain"])
    # Checked on the seeds its calibration did not draw with.
    assert meta["check"]["seeds"] == [seed for seed in range(6) if seed not in CALIBRATION_SEEDS][:3]
    rms = [metrics.rms(render.render(rechecked, 160000, seed=seed)) for seed in meta["check"]["seeds"]]
    assert meta["check"]["rms"] == round(float(np.median(rms)), 4)
    out = capsys.readouterr().out
    assert "calibrated on the training part" in out
    # (its validation part chose one of two runs as well as the epoch: "(chose the epoch)" said less)
    assert "bits/sample (chose the run and the epoch)" in out
    # Measured again, a calibrated model keeps its choice.
    assert script.main(["--recheck", "--output", str(path)]) == 0
    assert "calibrated" not in capsys.readouterr().out
    assert cwfast.load(path).metadata["output_gain"] == meta["output_gain"]


def test_train_default_model_refuses_an_output_it_cannot_write_before_training(tmp_path, capsys):
    script = load_script("train_default_model")
    (tmp_path / "file").write_text("")
    assert script.main(["--output", str(tmp_path / "file" / "sub" / "m.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("train_default_model.py: error: cannot make the folder of --output") and err.count("\n") == 1


def test_train_default_model_refuses_to_replace_a_model_before_training(tmp_path, capsys):
    script = load_script("train_default_model")
    (tmp_path / "m.npz").write_text("earlier")
    assert script.main(["--output", str(tmp_path / "m.npz"), "--quiet"]) == 2
    assert capsys.readouterr().err == \
        f"train_default_model.py: error: '{tmp_path / 'm.npz'}' exists; pass --overwrite to replace it\n"
    assert (tmp_path / "m.npz").read_text() == "earlier"


def test_train_default_model_scales_its_class_frequencies_as_the_model_does():
    """Its class-frequency bar scaled the recording by its whole peak, the test part's included,
    where the model's classes come from the peak before it. (That its check measures audio that
    chose nothing, not the calibration's seeds: the --recheck test.)"""
    from cwfast import tasks

    script = load_script("train_default_model")

    rng = np.random.default_rng(0)
    source = rng.uniform(-0.5, 0.5, 2000)
    source[-5] = 1.0  # the loudest sample is in the test part (the last 10%)
    split = tasks.corpus([source], validation=0.1, test=0.1)[0]
    scale = split.train.metadata["scale"]
    assert scale < 1.0
    counts = np.bincount(split.train.targets, minlength=256) + 0.5
    expected = float(-np.mean(np.log2((counts / counts.sum())[split.test.targets])))
    assert script.marginal_bits(source, 256, scale) == pytest.approx(expected, abs=1e-12)
