"""Several runs of one training: ``train --restarts N`` / ``train_audio(restarts=N)``, models from
consecutive seeds, one kept by the likeness of what it generates to its training audio, then by
validation; and ``train --lr 0.01,0.003`` / ``train_audio(lr=[...])``, a model at each learning
rate, the best on validation kept (the autoregressive default for the gradient trainers)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import cwfast
from cwfast import ParameterError
from cwfast.audio import load_audio
from cwfast.train_audio import AUTOREGRESSIVE_RATES, MAX_RESTARTS, choose_restart, choose_run, train_audio

from test_cli import assert_user_error, run

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"
# One learning rate: the default trains two (tested below), and these are about the seeds. Without
# the pitch predictor's arm, which the default doubles the runs with (tests/test_pitch.py).
TINY = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, lr=0.01, pitch="off", progress=False)


def fake_run(validation, likeness, *, rms=1.0, train=9.0, with_validation=True, rate=0.01, pinned=None):
    """A run as choose_restart and choose_run see it: its rate, figures and its calibration's verdict."""
    table = [{"temperature": 0.5, "qualifies": likeness, "rms": rms}]
    if pinned is not None:  # calibrations before 2026-12-06 measured no share at full scale
        table[0]["pinned"] = pinned
    model = SimpleNamespace(metadata={"trainer": {"lr": rate},
                                      "temperature_calibration": {"chosen": 0.5, "table": table}})
    figures = {"train": {"cross_entropy": train}}
    if with_validation:
        figures["validation"] = {"cross_entropy": validation}
    return SimpleNamespace(model=model, figures=figures)


def test_a_lone_run_kept_says_why():
    """When the time budget left room for one run of several, the note read "kept run 1 of 4
    (lr 0.01, seed 0): " with nothing after the colon."""
    from cwfast.train_audio import _run_reason

    assert _run_reason([fake_run(3.0, False)], 0) == "the only run trained"


def test_the_likeness_comes_before_validation():
    runs = [fake_run(3.0, False), fake_run(4.0, True), fake_run(3.5, True), fake_run(2.0, False)]
    assert choose_restart(runs) == 2  # the better validation of the two that sound like their source


def test_without_likeness_the_best_validation_is_kept():
    assert choose_restart([fake_run(3.0, False), fake_run(2.5, False), fake_run(2.7, False)]) == 1


def test_without_likeness_audible_audio_comes_before_validation():
    runs = [fake_run(3.0, False, rms=0.3), fake_run(2.5, False, rms=0.1), fake_run(2.7, False, rms=0.26)]
    assert choose_restart(runs) == 2
    assert choose_restart([fake_run(3.0, False, rms=0.1), fake_run(2.5, False, rms=None)]) == 1  # none audible


def test_a_qualifying_row_at_another_temperature_does_not_count():
    run = fake_run(1.0, False)
    run.model.metadata["temperature_calibration"]["table"].append({"temperature": 0.85, "qualifies": True})
    assert choose_restart([run, fake_run(2.0, True)]) == 1


def test_without_a_validation_part_the_training_figure_ranks():
    runs = [fake_run(0, False, train=5.0, with_validation=False), fake_run(0, False, train=4.0, with_validation=False)]
    assert choose_restart(runs) == 1
    runs[1].model.metadata["trainer"]["lr"] = 0.1  # and between rates
    assert choose_run(runs) == 1 and choose_run(runs[::-1]) == 0


@pytest.fixture(scope="module")
def clip():
    return load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)


@pytest.fixture(scope="module")
def restarted(clip):
    samples, rate = clip
    notes = []
    trained = train_audio(samples, rate, seed=3, restarts=2, on_note=notes.append, **TINY)
    return trained, notes


def test_each_restart_is_the_run_of_its_seed_and_the_kept_one_is_returned(clip, restarted):
    samples, rate = clip
    trained, notes = restarted
    record = trained.model.metadata["runs"]
    assert [row["seed"] for row in record["runs"]] == [3, 4] and {row["lr"] for row in record["runs"]} == {0.01}
    chosen = record["chosen"]
    assert trained.model.metadata["trainer"]["seed"] == 3 + chosen
    # A restart is exactly the plain run of its seed: the same validation figure, the same verdict.
    for seed, row in zip((3, 4), record["runs"]):
        alone = train_audio(samples, rate, seed=seed, **TINY)
        assert row["validation"]["cross_entropy"] == pytest.approx(alone.figures["validation"]["cross_entropy"], rel=1e-6)
        assert row["temperature"] == alone.model.metadata["temperature"]
        if seed == 3 + chosen:
            np.testing.assert_array_equal(alone.model.params, trained.model.params)
    assert trained.figures["validation"]["cross_entropy"] == pytest.approx(record["runs"][chosen]["validation"]["cross_entropy"])
    fakes = [fake_run(row["validation"]["cross_entropy"], row["meets_likeness"], rms=1.0 if row["audible"] else 0.0)
             for row in record["runs"]]
    assert choose_restart(fakes) == chosen
    assert [n for n in notes if n.startswith("run ")] == ["run 1 of 2 (seed 3)", "run 2 of 2 (seed 4)"]
    assert notes[-1].startswith(f"kept run {chosen + 1} of 2 (seed {3 + chosen}): ")


def test_the_time_budget_is_shared_between_the_restarts(clip, monkeypatch):
    from cwfast import train_audio as module

    samples, rate = clip
    budgets = []
    real = module._run_trainer
    clock = [0.0]  # the runs' clock: only what each run says it spent moves it

    def recording(*args, time_budget, **kwargs):
        budgets.append(time_budget)
        result = real(*args, time_budget=time_budget, **kwargs)
        clock[0] += time_budget / 2  # each restart "spends" half its share (its fit and scoring included)
        return result

    monkeypatch.setattr(module, "_run_trainer", recording)
    monkeypatch.setattr(module, "_clock", lambda: clock[0])
    notes = []
    train_audio(samples, rate, seed=0, restarts=3, time_budget=60.0, on_note=notes.append, **TINY)
    # What is left over the restarts still to run: 60/3; (60 - 10)/2; 60 - 10 - 12.5.
    assert budgets == pytest.approx([20.0, 25.0, 37.5])
    assert any("20 s of the time budget" in n for n in notes)


def test_every_run_after_the_first_gets_the_same_share_of_the_time_budget(clip, monkeypatch):
    """Each run's fitting (scale fit, scoring, calibration) was charged to the next run alone, so
    each trained for less than the one before, and the last, --pitch auto's runs with the pitch
    predictor, least (a 12-s budget gave 3, 2.3 and 1.4 s, and the fourth none). The runs still to
    come now have the fitting seen so far set aside, the last one's too: it came after the
    budget."""
    from cwfast import train_audio as module

    samples, rate = clip
    budgets = []
    real_trainer, real_figures = module._run_trainer, module._figures
    clock = [0.0]

    def training(*args, time_budget, **kwargs):
        budgets.append(time_budget)
        clock[0] += time_budget  # trains to its share
        return real_trainer(*args, time_budget=time_budget, **kwargs)

    def fitting(*args, **kwargs):
        clock[0] += 5.0  # and fits for 5 s after it
        return real_figures(*args, **kwargs)

    monkeypatch.setattr(module, "_run_trainer", training)
    monkeypatch.setattr(module, "_figures", fitting)
    monkeypatch.setattr(module, "_clock", lambda: clock[0])
    train_audio(samples, rate, seed=0, restarts=4, time_budget=100.0, **TINY)
    # 100/4; then what is left once each run and the runs after it have 5 s of fitting set aside:
    # (100 - 30 - 3 x 5)/3 ...
    assert budgets == pytest.approx([25.0, 55 / 3, 55 / 3, 55 / 3])  # at first: 25, 23.3, 20.8, 15.8; then 25, 20, 20, 20
    assert clock[0] == pytest.approx(100.0)  # the last run's fitting inside the budget (it was 105)


def test_a_restart_that_diverges_is_left_out(clip, monkeypatch):
    from cwfast import train_audio as module
    from cwfast.errors import TrainingDiverged

    samples, rate = clip
    real = module._run_trainer

    def diverging(*args, seed, **kwargs):
        if seed in failing:
            raise TrainingDiverged(f"training diverged: loss became nan (seed {seed})", "try a smaller --lr")
        return real(*args, seed=seed, **kwargs)

    monkeypatch.setattr(module, "_run_trainer", diverging)
    failing = {0}
    notes = []
    trained = train_audio(samples, rate, seed=0, restarts=2, on_note=notes.append, **TINY)
    assert [row["seed"] for row in trained.model.metadata["runs"]["runs"]] == [1]
    assert trained.model.metadata["trainer"]["seed"] == 1
    assert any(n.startswith("run 1 (seed 0) is left out: training diverged") for n in notes)
    assert notes[-1].startswith("kept run 2 of 2 (seed 1)")
    failing = {0, 1}
    with pytest.raises(TrainingDiverged, match="seed 1"):
        train_audio(samples, rate, seed=0, restarts=2, **TINY)


@pytest.mark.parametrize("restarts, match", [*((n, "restarts") for n in (0, -1, MAX_RESTARTS + 1, 2.5)),
                                             *((w, "must be a positive integer or 'auto'") for w in ("many", "Auto", ""))])
def test_bad_restarts_are_refused(clip, restarts, match):
    samples, rate = clip
    with pytest.raises(ParameterError, match=match):
        train_audio(samples, rate, restarts=restarts, **TINY)


@pytest.mark.parametrize("restarts", [2, "auto"])
def test_restarts_with_a_checkpoint_are_refused(clip, tmp_path, restarts):
    samples, rate = clip
    with pytest.raises(ParameterError, match="^restarts trains several models; checkpoint and resume keep"):
        train_audio(samples, rate, restarts=restarts, time_budget=60.0, checkpoint=tmp_path / "c.npz", **TINY)
    assert not (tmp_path / "c.npz").exists()


def test_the_command_line_trains_restarts_and_info_lists_them(capsys, tmp_path):
    out = tmp_path / "m.npz"
    status, printed, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "--seconds", "1.5", "--sample-rate",
                               "8000", "--epochs", "1", "--hidden", "6", "--modules", "3", "--restarts", "2", "--seed",
                               "5", "--lr", "0.01", "--pitch", "off", "--quiet", "-o", out)
    assert status == 0, err
    assert "run 2 of 2 (seed 6)" in err and "kept run" in err
    record = cwfast.load(out).metadata["runs"]
    total = sum(row["seconds"] for row in record["runs"])
    assert f"(lr 0.01, seed {5 + record['chosen']}; 2 runs: {total:.1f} s)" in printed
    status, info, _ = run(capsys, "info", out)
    assert status == 0
    line = next(line for line in info.splitlines() if line.startswith("runs"))
    assert f"kept lr 0.01, seed {5 + record['chosen']} of 2 trained (lr 0.01, seed 5: " in line
    assert "; lr 0.01, seed 6: " in line


def test_the_summary_counts_one_run_in_the_singular(capsys, tmp_path, monkeypatch):
    """A budget spent after the first of two runs printed "1 runs"."""
    from cwfast import train_audio as module

    clock = iter(range(0, 10**9, 10**4))  # every reading 10^4 s on: the budget is gone after run 1
    monkeypatch.setattr(module, "_clock", lambda: float(next(clock)))
    out = tmp_path / "m.npz"
    status, printed, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "--seconds", "1.5", "--sample-rate",
                               "8000", "--epochs", "1", "--hidden", "6", "--modules", "3", "--restarts", "2", "--seed",
                               "5", "--lr", "0.01", "--pitch", "off", "--time-budget", "1h", "-o", out)
    assert status == 0, err
    assert "the time budget is spent after 1 of 2 runs" in err
    assert "(lr 0.01, seed 5; 1 run: " in printed


@pytest.mark.parametrize("chosen", [float("nan"), float("inf"), 2, -1, True, "0"])
@pytest.mark.parametrize("key", ["runs", "restarts"])  # "restarts": written by earlier versions
def test_info_skips_a_runs_record_it_cannot_read(capsys, tmp_path, chosen, key):
    path = tmp_path / "m.npz"
    runs = [{"seed": 0, "lr": "fast", "validation": {"bits_per_sample": 5.0}}, {"seed": 1}]
    cwfast.ClockworkRNN(1, 30, n_hidden=6, n_modules=3, output="mixture", seed=0, sample_rate=8000,
                        metadata={key: {"chosen": chosen, "runs": runs}}).save(path)
    status, info, err = run(capsys, "info", path)
    assert status == 0 and "Traceback" not in err
    assert not any(line.startswith("runs") for line in info.splitlines())


def test_a_seed_of_none_draws_the_first_seed(clip):
    samples, rate = clip
    notes = []
    trained = train_audio(samples, rate, seed=None, restarts=2, on_note=notes.append, **TINY)
    first, second = (row["seed"] for row in trained.model.metadata["runs"]["runs"])
    assert second == first + 1 and f"runs from seed {first}" in notes


def test_an_error_that_is_not_a_divergence_ends_the_run(clip):
    from cwfast.errors import CwfastError

    samples, rate = clip
    calls = []

    def no_disk(model):
        calls.append(model)
        raise CwfastError("not enough disk space for the model")

    with pytest.raises(CwfastError, match="disk"):
        train_audio(samples, rate, restarts=3, on_model=no_disk, **TINY)
    assert len(calls) == 1


@pytest.mark.parametrize("options, fragment", [(["--restarts", "2", "--checkpoint", "c.npz"], "--checkpoint"),
                                               (["--restarts", str(MAX_RESTARTS + 1)], "--restarts")])
def test_the_command_line_refuses_bad_restarts_before_reading_audio(capsys, tmp_path, options, fragment):
    status, _, err = run(capsys, "train", tmp_path / "missing.wav", "--mode", "autoregressive", *options,
                         "-o", tmp_path / "m.npz")
    assert_user_error(status, err, fragment)
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "c.npz").exists()


def test_zero_restarts_is_an_option_error(capsys, tmp_path):
    status, _, err = run(capsys, "train", EXCERPT, "--restarts", "0", "-o", tmp_path / "m.npz")
    assert status == 2 and "--restarts" in err and "Traceback" not in err


def test_info_says_nothing_of_the_audio_of_restarts_never_heard(capsys, tmp_path):
    """A memorize model has no temperature to calibrate: its restarts were chosen on training
    alone, and info called every one of them "near silent". They are listed with the figure that
    chose them (they were bare seeds), and the file says that is what chose them (it said "generated
    audio like the training audio's ... validation", which a memorize run has neither of)."""
    out = tmp_path / "m.npz"
    status, _, err = run(capsys, "train", EXCERPT, "--samples", "64", "--epochs", "5", "--hidden", "6", "--modules",
                         "3", "--restarts", "2", "--quiet", "-o", out)
    assert status == 0, err
    record = cwfast.load(out).metadata["runs"]
    assert all(set(row) == {"seed", "seconds", "train"} for row in record["runs"])
    assert record["on"] == "the lowest training figure"
    nmse = [row["train"]["nmse"] for row in record["runs"]]
    status, info, _ = run(capsys, "info", out)
    line = next(line for line in info.splitlines() if line.startswith("runs"))
    assert status == 0 and line.endswith(f"trained (seed 0: NMSE {nmse[0]:.4g}; seed 1: NMSE {nmse[1]:.4g})"), line


def test_info_gives_no_verdict_stored_by_older_files_for_audio_never_heard(capsys, tmp_path):
    path = tmp_path / "m.npz"
    runs = [{"seed": 0, "audible": False, "meets_likeness": False}, {"seed": 1, "audible": False}]
    cwfast.ClockworkRNN(0, 1, n_hidden=6, n_modules=3, seed=0, sample_rate=8000,
                        metadata={"mode": "memorize", "restarts": {"chosen": 0, "runs": runs}}).save(path)
    status, info, _ = run(capsys, "info", path)
    line = next(line for line in info.splitlines() if line.startswith("runs"))
    assert status == 0 and line.endswith("kept seed 0 of 2 trained (seed 0; seed 1)"), line


# The learning rates: TINY without its one rate, as a user who leaves --lr out trains.
RATES = {k: v for k, v in TINY.items() if k != "lr"}


def test_the_rates_are_compared_on_validation_alone():
    # At 0.01 the restart whose audio is like its source is kept over the better-scoring one;
    # between the rates only validation counts (the recipe measured), so 0.003's 2.5 wins over 3.0.
    runs = [fake_run(3.0, True), fake_run(2.0, False), fake_run(2.6, False, rate=0.003), fake_run(2.5, False, rate=0.003)]
    assert choose_run(runs) == 3
    runs[3] = fake_run(3.5, False, rate=0.003)
    assert choose_run(runs) == 2
    runs[2] = fake_run(3.1, False, rate=0.003)
    assert choose_run(runs) == 0


def test_a_near_silent_run_is_not_kept_over_an_audible_one_at_another_rate():
    # Seed 11's trumpet (docs/results.md, "Near silence across the runs"): the best on validation
    # generated near silence at every temperature, an audible run at another rate was 0.07 bit behind.
    from cwfast.train_audio import _run_reason

    runs = [fake_run(1.85, False, rms=0.03), fake_run(2.12, False, rms=0.4, rate=0.003)]
    assert choose_run(runs) == 1 and choose_run(runs[::-1]) == 0
    reason = _run_reason(runs, 1)
    assert "the best on validation of those audible" in reason and "but near silent" in reason, reason
    # When every run is near silent, or none was calibrated (no temperature), validation alone decides.
    runs[1] = fake_run(2.12, False, rms=0.1, rate=0.003)
    assert choose_run(runs) == 0 and "near silent" not in _run_reason(runs, 0)
    for fake in runs:
        del fake.model.metadata["temperature_calibration"]
    assert choose_run(runs) == 0
    # Loud, but pinned at full scale (a whistle between the rails): passed over as near silence is.
    runs = [fake_run(1.9, False, rms=4.3, pinned=0.21), fake_run(2.1, False, rms=0.4, rate=0.003, pinned=0.0)]
    assert choose_restart(runs[:1] + [fake_run(2.0, False, rms=0.4, pinned=0.001)]) == 1
    assert choose_run(runs) == 1 and "lr 0.01 CROSS_ENTROPY 1.9 but pinned at full scale" in _run_reason(runs, 1)


@pytest.fixture(scope="module")
def defaulted(clip):
    samples, rate = clip
    notes = []
    return train_audio(samples, rate, seed=2, on_note=notes.append, **RATES), notes


def test_the_autoregressive_default_trains_each_rate_and_keeps_the_better_on_validation(clip, defaulted):
    samples, rate = clip
    trained, notes = defaulted
    record = trained.model.metadata["runs"]
    assert [(row["lr"], row["seed"]) for row in record["runs"]] == [(r, 2) for r in AUTOREGRESSIVE_RATES]
    figures = [row["validation"]["cross_entropy"] for row in record["runs"]]
    assert record["chosen"] == int(np.argmin(figures))
    kept = AUTOREGRESSIVE_RATES[record["chosen"]]
    assert trained.model.metadata["trainer"]["lr"] == kept
    assert trained.figures["validation"]["cross_entropy"] == pytest.approx(min(figures))
    # Each run is exactly the plain run at its rate, and the kept one is returned whole.
    for row in record["runs"]:
        alone = train_audio(samples, rate, seed=2, lr=row["lr"], **RATES)
        assert row["validation"]["cross_entropy"] == pytest.approx(alone.figures["validation"]["cross_entropy"],
                                                                   rel=1e-6)
        assert alone.model.metadata["trainer"]["lr"] == row["lr"] and "runs" not in alone.model.metadata
        if row["lr"] == kept:
            np.testing.assert_array_equal(alone.model.params, trained.model.params)
    assert [n for n in notes if n.startswith("run ")] == [f"run {i + 1} of 2 (lr {r:g}, seed 2)"
                                                         for i, r in enumerate(AUTOREGRESSIVE_RATES)]
    assert notes[-1].startswith(f"kept run {record['chosen'] + 1} of 2 (lr {kept:g}, seed 2): lr {kept:g} the best "
                                "on validation (")


def test_rates_and_restarts_train_every_seed_at_every_rate(clip, monkeypatch):
    from cwfast import train_audio as module

    samples, rate = clip
    seen = []
    real = module._run_trainer

    def recording(*args, lr, seed, time_budget, **kwargs):
        seen.append((lr, seed, time_budget))
        return real(*args, lr=lr, seed=seed, time_budget=time_budget, **kwargs)

    monkeypatch.setattr(module, "_run_trainer", recording)
    trained = train_audio(samples, rate, seed=0, restarts=2, lr=[0.02, 0.005], time_budget=3600.0,
                          **RATES)
    assert [(lr, seed) for lr, seed, _ in seen] == [(0.02, 0), (0.02, 1), (0.005, 0), (0.005, 1)]
    assert seen[0][2] == pytest.approx(900.0)  # the budget is shared between the four runs
    rows = trained.model.metadata["runs"]["runs"]
    assert [(row["lr"], row["seed"]) for row in rows] == [(lr, seed) for lr, seed, _ in seen]


def test_other_modes_and_the_evolution_strategy_train_one_rate(monkeypatch):
    from cwfast import train_audio as module

    seen = []

    def recording(*args, lr, **kwargs):
        seen.append(lr)
        raise KeyboardInterrupt  # the rate is all this test needs

    monkeypatch.setattr(module, "_run_trainer", recording)
    clip = np.sin(np.arange(4000) * 0.05).astype(np.float32) * 0.5
    for options in (dict(mode="memorize", samples=clip[:64]), dict(mode="effect", target=clip * 0.5),
                    dict(mode="autoregressive", trainer="es", head="softmax")):
        samples = options.pop("samples", clip)
        with pytest.raises(KeyboardInterrupt):
            train_audio(samples, 8000, hidden=6, modules=3, epochs=1, progress=False, **options)
    assert seen == [None, 0.01, None]  # the trainer's own, effect mode's 0.01, the strategy's own


def test_a_checkpoint_trains_the_first_default_rate_alone(clip, tmp_path):
    samples, rate = clip
    notes = []
    trained = train_audio(samples, rate, checkpoint=tmp_path / "c.npz", on_note=notes.append, **RATES)
    assert trained.model.metadata["trainer"]["lr"] == AUTOREGRESSIVE_RATES[0] and "runs" not in trained.model.metadata
    assert any(n.startswith(f"checkpoint keeps one run's state: training at lr={AUTOREGRESSIVE_RATES[0]} alone")
               for n in notes)
    with pytest.raises(ParameterError, match="^lr trains several models; checkpoint and resume keep"):
        train_audio(samples, rate, lr=[0.01, 0.003], checkpoint=tmp_path / "d.npz", **RATES)
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("lr", [[], [0.01, 0.01], [0.01, -1.0], [0.01, float("nan")], "0.01", [[0.01]], 0,
                                [0.001 * (i + 1) for i in range(MAX_RESTARTS + 1)]])
def test_bad_rates_are_refused(clip, lr):
    samples, rate = clip
    with pytest.raises(ParameterError, match="^lr"):
        train_audio(samples, rate, lr=lr, **RATES)


def test_the_command_line_trains_rates_and_info_lists_them(capsys, tmp_path):
    out = tmp_path / "m.npz"
    status, printed, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "--seconds", "1.5", "--sample-rate",
                               "8000", "--epochs", "1", "--hidden", "6", "--modules", "3", "--lr", "0.02,0.004",
                               "--pitch", "off", "--quiet", "-o", out)
    assert status == 0, err
    assert "run 2 of 2 (lr 0.004, seed 0)" in err and "kept run" in err
    model = cwfast.load(out)
    record = model.metadata["runs"]
    kept = (0.02, 0.004)[record["chosen"]]
    assert f"(lr {kept:g}, seed 0; 2 runs: " in printed
    status, info, _ = run(capsys, "info", out)
    assert status == 0
    line = next(line for line in info.splitlines() if line.startswith("runs"))
    assert line.startswith(f"runs           kept lr {kept:g}, seed 0 of 2 trained (lr 0.02, seed 0: ")
    assert "; lr 0.004, seed 0: " in line
    assert f"adam at lr {kept:g}, 1 epoch" in next(line for line in info.splitlines() if line.startswith("training"))


@pytest.mark.parametrize("text", ["0.01,x", "0.01,,0.003", "0,0.01", "0.01,0.01", "", "nan"])
def test_the_command_line_refuses_bad_rates_before_reading_audio(capsys, tmp_path, text):
    status, _, err = run(capsys, "train", tmp_path / "missing.wav", "--mode", "autoregressive", "--lr", text,
                         "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "--lr")
    assert not (tmp_path / "m.npz").exists()


def test_the_command_line_refuses_several_rates_with_a_checkpoint(capsys, tmp_path):
    status, _, err = run(capsys, "train", tmp_path / "missing.wav", "--mode", "autoregressive", "--lr", "0.01,0.003",
                         "--checkpoint", tmp_path / "c.npz", "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "--lr trains several models; --checkpoint and --resume keep")


def test_without_bits_the_note_names_the_figure_that_chose_the_rate():
    """A memorize model has no validation part and no bits: its rate is chosen on training NMSE."""
    notes = []
    clip = np.sin(np.arange(64) * 0.3).astype(np.float32) * 0.5
    trained = train_audio(clip, 8000, hidden=6, modules=3, epochs=3, lr=[0.01, 0.003], progress=False,
                          on_note=notes.append)
    rows = trained.model.metadata["runs"]["runs"]
    figures = [row["train"]["nmse"] for row in rows]
    kept, other = (0, 1) if figures[0] <= figures[1] else (1, 0)
    assert trained.model.metadata["runs"]["chosen"] == kept
    assert notes[-1].endswith(f"the best on training (NMSE {figures[kept]:.4g}; lr {rows[other]['lr']:g} "
                              f"NMSE {figures[other]:.4g})")


def _fake_clock(monkeypatch, seconds_per_run):
    """Time auto restarts by a clock that moves only while a run trains (``seconds_per_run`` each);
    returns the (lr, seed) of every run trained."""
    from cwfast import train_audio as module

    now, seen = [0.0], []
    real = module._run_trainer

    def timed(*args, lr, seed, **kwargs):
        seen.append((lr, seed))
        now[0] += seconds_per_run
        return real(*args, lr=lr, seed=seed, **kwargs)

    monkeypatch.setattr(module, "_run_trainer", timed)
    monkeypatch.setattr(module, "_clock", lambda: now[0])
    return seen


def test_auto_restarts_go_on_while_a_round_fits_the_time_budget(clip, monkeypatch):
    samples, rate = clip
    seen = _fake_clock(monkeypatch, 100.0)
    notes = []
    trained = train_audio(samples, rate, seed=0, restarts="auto", lr=[0.02, 0.005], time_budget=600.0,
                          on_note=notes.append, **RATES)
    # Rounds of 200 s: after the second 200 s are left, room for a third; after it, none.
    assert seen == [(lr, seed) for seed in range(3) for lr in (0.02, 0.005)]
    rows = trained.model.metadata["runs"]["runs"]
    assert [(row["lr"], row["seed"]) for row in rows] == seen
    assert sum(n.endswith("another round of restarts") for n in notes) == 2
    assert "restarts end after 3 rounds: 0 s of the time budget left, and a round took up to 200 s" in notes
    fakes = [fake_run(row["validation"]["cross_entropy"], row["meets_likeness"], rms=1.0 if row["audible"] else 0.0,
                      rate=row["lr"]) for row in rows]
    assert trained.model.metadata["runs"]["chosen"] == choose_run(fakes)


def test_auto_restarts_train_the_default_run_when_one_round_fills_the_budget(clip, monkeypatch):
    samples, rate = clip
    seen = _fake_clock(monkeypatch, 100.0)
    trained = train_audio(samples, rate, seed=4, restarts="auto", lr=[0.02, 0.005], time_budget=350.0, **RATES)
    assert seen == [(0.02, 4), (0.005, 4)]
    alone = train_audio(samples, rate, seed=4, lr=[0.02, 0.005], time_budget=350.0, **RATES)
    np.testing.assert_array_equal(trained.model.params, alone.model.params)


def test_auto_restarts_stop_at_the_most_runs(clip, monkeypatch):
    from cwfast import train_audio as module

    samples, rate = clip
    seen = _fake_clock(monkeypatch, 0.0)
    monkeypatch.setattr(module, "MAX_RESTARTS", 3)
    monkeypatch.setitem(module.MODE_DEFAULTS["autoregressive"], "epochs", 1)
    notes = []
    train_audio(samples, rate, seed=0, restarts="auto", lr=[0.02, 0.005], time_budget=60.0, on_note=notes.append,
                **{**RATES, "epochs": None})
    assert len(seen) == 2  # a second round would make 4 models
    assert "restarts end after 1 round: another would train more than 3 models" in notes
    assert not any("caps training, and it ends sooner" in n for n in notes)  # auto fills the budget with rounds
    with pytest.raises(ParameterError, match="train 4 x auto models: at most 3"):
        train_audio(samples, rate, restarts="auto", lr=[0.1, 0.02, 0.01, 0.005], time_budget=60.0, **RATES)


def test_auto_restarts_without_a_time_budget_train_one_round(clip, monkeypatch):
    samples, rate = clip
    seen = _fake_clock(monkeypatch, 100.0)
    notes = []
    train_audio(samples, rate, seed=0, restarts="auto", lr=[0.02, 0.005], on_note=notes.append, **RATES)
    assert seen == [(0.02, 0), (0.005, 0)]
    assert any(n.startswith("restarts='auto' trains rounds of restarts while a time_budget lasts") for n in notes)


def test_the_command_line_takes_auto_restarts(capsys, tmp_path):
    status, _, err = run(capsys, "train", tmp_path / "missing.wav", "--mode", "autoregressive", "--restarts", "many",
                         "-o", tmp_path / "m.npz")
    assert_user_error(status, err, "'many' is not an integer (or 'auto')")
    status, _, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "--samples", "4000", "--hidden", "6",
                         "--modules", "3", "--epochs", "1", "--lr", "0.01", "--restarts", "auto", "--time-budget", "1s",
                         "--pitch", "off", "-o", tmp_path / "m.npz")
    assert status == 0, err
    record = cwfast.load(tmp_path / "m.npz").metadata["runs"]
    assert len(record["runs"]) == 1 and "run 1 of at least 1 (seed 0" in err and "restarts end after 1 round:" in err


@pytest.mark.parametrize("budget", [0, -5, "10", True, float("nan")])
def test_bad_time_budgets_are_refused_before_the_runs_share_them(clip, budget):
    """With several runs (the autoregressive default) a budget of 0 ended in a TypeError."""
    samples, rate = clip
    built = []
    with pytest.raises(ParameterError, match="^time_budget=.* must be a positive finite number"):
        train_audio(samples, rate, time_budget=budget, on_model=built.append, **RATES)
    assert built == []


def test_info_names_a_run_and_a_temperature_pinned_at_full_scale():
    from cwfast.cli import _calibration_text, _run_text

    run = {"lr": 0.01, "seed": 11, "audible": False, "meets_likeness": False, "pinned": True,
           "validation": {"bits_per_sample": 1.915}}
    assert _run_text(run, True).endswith(": 1.915 bits, pinned at full scale")
    assert _run_text({**run, "pinned": None}, True).endswith(", near silent")  # older files
    row = {"temperature": 0.5, "flatness": 1.22, "pitched": 1.0, "rms": 4.29, "qualifies": False}
    text = _calibration_text({"table": [{**row, "pinned": 0.2075}], "training_audio": {"pitched": 0.96}})
    assert "0.5: flatness 1.22x, pitched 1.00 of 0.96, RMS 4.29x, 21% at full scale" in text, text
    assert "full scale" not in _calibration_text({"table": [{**row, "pinned": 0.0001}]})


def test_runs_skip_the_trainers_last_pass_over_the_training_part(clip, monkeypatch):
    """Each run's fit leaves out its final pass over the training part (a minute or more a run on
    an hour of audio): the kept model's parts are scored once, after every run."""
    from cwfast import train

    samples, rate = clip
    asked = []
    fit = train.fit

    def recording(*args, **kwargs):
        asked.append(kwargs.get("final_loss", True))
        return fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", recording)
    trained = train_audio(samples, rate, seed=0, restarts=2, **TINY)
    assert asked == [False, False]
    assert np.isnan(trained.result.final_loss) and np.isfinite(trained.figures["train"]["cross_entropy"])
