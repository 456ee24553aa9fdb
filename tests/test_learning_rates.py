"""``train --lr 0.01,0.003`` / ``train_audio(lr=[...])``: a model trained at each learning rate, the
best on validation kept; the autoregressive default for the gradient trainers."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import cwfast
from cwfast import ParameterError
from cwfast.audio import load_audio
from cwfast.train_audio import AUTOREGRESSIVE_RATES, MAX_RESTARTS, choose_run, train_audio

from test_cli import assert_user_error, run

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"
TINY = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, progress=False)


def fake_run(rate, validation, likeness=False, *, train=9.0, with_validation=True):
    """A run as choose_run sees it: its rate, figures and its calibration's verdict."""
    table = [{"temperature": 0.5, "qualifies": likeness, "rms": 1.0}]
    model = SimpleNamespace(metadata={"trainer": {"lr": rate},
                                      "temperature_calibration": {"chosen": 0.5, "table": table}})
    figures = {"train": {"cross_entropy": train}}
    if with_validation:
        figures["validation"] = {"cross_entropy": validation}
    return SimpleNamespace(model=model, figures=figures)


def test_the_rates_are_compared_on_validation_alone():
    # At 0.01 the restart whose audio is like its source is kept over the better-scoring one;
    # between the rates only validation counts (the recipe measured), so 0.003's 2.5 wins over 3.0.
    runs = [fake_run(0.01, 3.0, True), fake_run(0.01, 2.0), fake_run(0.003, 2.6), fake_run(0.003, 2.5)]
    assert choose_run(runs) == 3
    runs[3] = fake_run(0.003, 3.5)
    assert choose_run(runs) == 2
    runs[2] = fake_run(0.003, 3.1)
    assert choose_run(runs) == 0


def test_without_a_validation_part_the_training_figure_chooses_the_rate():
    runs = [fake_run(0.01, 0, train=5.0, with_validation=False), fake_run(0.1, 0, train=4.0, with_validation=False)]
    assert choose_run(runs) == 1


@pytest.fixture(scope="module")
def clip():
    return load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)


@pytest.fixture(scope="module")
def defaulted(clip):
    samples, rate = clip
    notes = []
    return train_audio(samples, rate, seed=2, on_note=notes.append, **TINY), notes


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
        alone = train_audio(samples, rate, seed=2, lr=row["lr"], **TINY)
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
                          **dict(TINY, epochs=1))
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
    trained = train_audio(samples, rate, checkpoint=tmp_path / "c.npz", on_note=notes.append, **TINY)
    assert trained.model.metadata["trainer"]["lr"] == AUTOREGRESSIVE_RATES[0] and "runs" not in trained.model.metadata
    assert any(n.startswith(f"checkpoint keeps one run's state: training at lr={AUTOREGRESSIVE_RATES[0]} alone")
               for n in notes)
    with pytest.raises(ParameterError, match="^lr trains several models; checkpoint and resume keep"):
        train_audio(samples, rate, lr=[0.01, 0.003], checkpoint=tmp_path / "d.npz", **TINY)
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("lr", [[], [0.01, 0.01], [0.01, -1.0], [0.01, float("nan")], "0.01", [[0.01]], 0,
                                [0.001 * (i + 1) for i in range(MAX_RESTARTS + 1)]])
def test_bad_rates_are_refused(clip, lr):
    samples, rate = clip
    with pytest.raises(ParameterError, match="^lr"):
        train_audio(samples, rate, lr=lr, **TINY)


def test_the_command_line_trains_rates_and_info_lists_them(capsys, tmp_path):
    out = tmp_path / "m.npz"
    status, printed, err = run(capsys, "train", EXCERPT, "--mode", "autoregressive", "--seconds", "1.5", "--sample-rate",
                               "8000", "--epochs", "1", "--hidden", "6", "--modules", "3", "--lr", "0.02,0.004",
                               "--quiet", "-o", out)
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
