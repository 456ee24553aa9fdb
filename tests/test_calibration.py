"""The generation temperature a mixture model is saved with, chosen on its training audio
(cwfast.train_audio.calibrate_temperature)."""

import math
from pathlib import Path

import numpy as np
import pytest

from cwfast import ParameterError, likeness, metrics
from cwfast.audio import load_audio
from cwfast.codec import mu_law_values
from cwfast.train_audio import (AUDIBLE_RMS, CALIBRATION_TEMPERATURES, MIXTURE_TEMPERATURE, calibrate_temperature,
                                train_audio)

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"


@pytest.fixture(scope="module")
def trained():
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    result = train_audio(samples, rate, mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0)
    return result, samples


def test_a_mixture_model_is_saved_with_its_calibrated_temperature(trained):
    result, _ = trained
    meta = result.model.metadata
    calibration = meta["temperature_calibration"]
    assert meta["temperature"] == calibration["chosen"]
    assert calibration["on"].startswith("the training audio")
    assert [row["temperature"] for row in calibration["table"]] == list(CALIBRATION_TEMPERATURES)
    # The rule: the default if it qualifies, else the qualifying temperature whose loudness is
    # nearest the training audio's, else the lowest audible, else the loudest.
    for row in calibration["table"]:
        assert row["qualifies"] == (row["rms"] is not None and 1 / 3 <= row["flatness"] <= 3
                                    and row["pitched"] >= 0.5 * likeness_of_training(trained)[1] - 1e-4
                                    and row["rms"] >= AUDIBLE_RMS - 1e-4)
    assert calibration["chosen"] == expected_choice(calibration["table"])


def expected_choice(table):
    qualifying = [row for row in table if row["qualifies"]]
    measured = [row for row in table if row["rms"] is not None]
    if any(row["temperature"] == MIXTURE_TEMPERATURE for row in qualifying) or not measured:
        return MIXTURE_TEMPERATURE
    if qualifying:
        return min(qualifying, key=lambda row: abs(math.log(row["rms"])))["temperature"]
    audible = [row["temperature"] for row in measured if row["rms"] >= AUDIBLE_RMS]
    return min(audible) if audible else max(measured, key=lambda row: row["rms"])["temperature"]


def likeness_of_training(trained):
    result, samples = trained
    heard = np.asarray(samples, np.float64)[: result.splits.train.n_steps] / result.model.metadata["scale"]
    rate = result.model.sample_rate
    return likeness.spectral_flatness(heard), likeness.pitched_fraction(heard, rate), metrics.rms(heard), heard


def test_the_table_is_what_the_model_generates(trained):
    """Each row measured again by hand: the audio sampled at that temperature and seed, against
    the training part as recorded."""
    result, _ = trained
    model, calibration = result.model, result.model.metadata["temperature_calibration"]
    flatness, pitched, rms, _ = likeness_of_training(trained)
    for row in calibration["table"][::2]:
        audio = model.sample(int(calibration["seconds"] * model.sample_rate), values=mu_law_values(256),
                             temperature=row["temperature"], seed=calibration["seed"])
        assert row["flatness"] == pytest.approx(likeness.spectral_flatness(audio) / flatness, abs=1e-4)
        assert row["pitched"] == pytest.approx(likeness.pitched_fraction(audio, model.sample_rate), abs=1e-4)
        assert row["rms"] == pytest.approx(metrics.rms(audio) / rms, abs=1e-4)


def test_audio_too_short_to_measure_keeps_the_default(trained):
    result, _ = trained
    calibration = calibrate_temperature(result.model, np.full(1000, 0.1))
    assert calibration["chosen"] == MIXTURE_TEMPERATURE and calibration["table"] == []
    assert calibration["on"].startswith("nothing: the training audio cannot be measured")


def test_calibration_is_chosen_on_the_training_audio_alone(trained):
    """Another recording to compare with can change the choice; the model's own held-out parts
    never enter it (the same call on the training part gives the saved choice)."""
    result, _ = trained
    again = calibrate_temperature(result.model, likeness_of_training(trained)[3])
    assert again == result.model.metadata["temperature_calibration"]


@pytest.mark.parametrize("grid", [(0.5, 0.85, 1.0), (0.7, 0.85, 1.0)])
def test_the_nearest_loudness_among_the_qualifying_is_chosen(trained, grid):
    """Against the model's own audio at 0.85 (another seed), 0.85 qualifies; without the default
    in the grid (or with it failing), the choice is the qualifying temperature nearest in loudness."""
    model = trained[0].model
    own = model.sample(40000, values=mu_law_values(256), temperature=0.85, seed=5)
    calibration = calibrate_temperature(model, own, temperatures=grid)
    rows = {row["temperature"]: row for row in calibration["table"]}
    assert rows[0.85]["qualifies"] and rows[0.85]["rms"] == pytest.approx(1.0, abs=0.2)
    assert calibration["chosen"] == expected_choice(calibration["table"])
    if 0.5 not in grid:
        assert calibration["chosen"] in (0.7, 0.85, 1.0)


class FakeModel:
    """What calibrate_temperature uses of a model, generating a chosen signal per temperature."""

    output = "mixture"
    metadata = {"history": "mu-law"}

    def __init__(self, signals, sample_rate=8000):
        self.signals, self.sample_rate = signals, sample_rate

    def sample(self, n_steps, *, values, temperature, seed):
        return self.signals[temperature][:n_steps].astype(np.float32)


def tone(rate, n, amplitude, rng, noise=0.01):
    return amplitude * np.sin(2 * np.pi * 220 * np.arange(n) / rate) + noise * rng.standard_normal(n)


def test_the_rule_on_known_signals(rng):
    rate, n = 8000, 16000
    reference = tone(rate, n, 0.3, rng)  # pitched, little noise
    noise = 0.3 * rng.standard_normal(n)
    signals = {0.5: tone(rate, n, 0.1, rng, noise=0.003),  # pitched and as tonal, a third of the loudness
               0.7: tone(rate, n, 0.12, rng, noise=0.004),
               0.85: tone(rate, n, 0.25, rng, noise=0.008),  # nearest the loudness
               1.0: noise}  # as loud, but noise: neither the flatness nor the pitch
    # 0.5 meets both goals and is audible: it is kept, though 0.85 is nearer in loudness.
    kept = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 0.7, 0.85, 1.0))
    assert kept["chosen"] == 0.5
    assert [row["qualifies"] for row in kept["table"]] == [True, True, True, False]
    # 0.5 unpitched (noise at its loudness): the qualifying temperature nearest in loudness.
    signals[0.5] = 0.1 * rng.standard_normal(n)
    moved = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 0.7, 0.85, 1.0))
    assert moved["chosen"] == 0.85 and moved["on"] == "the training audio"
    assert moved["training_audio"]["pitched"] == 1.0
    # 0.5 a tone as tonal, but ten times too quiet (near silence): not a candidate; 0.85 again.
    signals[0.5] = tone(rate, n, 0.03, rng, noise=0.001)
    quiet = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 0.7, 0.85, 1.0))
    assert quiet["table"][0]["rms"] < AUDIBLE_RMS and not quiet["table"][0]["qualifies"]
    assert quiet["chosen"] == 0.85
    # Nothing meets flatness and pitch: the lowest audible temperature (0.5 too quiet, 0.7 audible
    # noise), else the loudest.
    dull = {0.5: 0.01 * rng.standard_normal(n), 0.7: 0.15 * rng.standard_normal(n), 1.0: noise}
    lowest = calibrate_temperature(FakeModel(dull), reference, temperatures=(0.5, 0.7, 1.0))
    assert lowest["chosen"] == 0.7 and "lowest audible" in lowest["on"]
    hushed = {0.5: 0.01 * rng.standard_normal(n), 0.7: 0.03 * rng.standard_normal(n)}
    loudest = calibrate_temperature(FakeModel(hushed), reference, temperatures=(0.5, 0.7))
    assert loudest["chosen"] == 0.7 and "the loudest" in loudest["on"]
    # A reference of noise: a tone is far too tonal (flatness below a third of the noise's); both
    # audible, so the lower.
    signals = {0.5: tone(rate, n, 0.3, rng), 1.0: tone(rate, n, 0.3, rng)}
    none = calibrate_temperature(FakeModel(signals), 0.3 * rng.standard_normal(n), temperatures=(0.5, 1.0))
    assert none["chosen"] == MIXTURE_TEMPERATURE and not any(row["qualifies"] for row in none["table"])
    assert "no temperature met" in none["on"]
    # Silence generated is no candidate.
    silent = calibrate_temperature(FakeModel({0.5: np.zeros(n), 1.0: tone(rate, n, 0.3, rng)}), reference,
                                   temperatures=(0.5, 1.0))
    assert silent["table"][0]["rms"] is None and silent["chosen"] == 1.0
    with pytest.raises(ParameterError, match="sample rate"):
        calibrate_temperature(FakeModel(signals, sample_rate=None), reference)


def test_train_saves_the_chosen_temperature_and_says_so(capsys, tmp_path, monkeypatch):
    import cwfast
    from cwfast import train_audio as module
    from cwfast.cli import main

    chosen = {"chosen": 0.85, "on": "the training audio", "seed": 0, "seconds": 10.0,
              "training_audio": {"flatness": 0.01, "pitched": 0.9, "rms": 0.1},
              "table": [{"temperature": 0.5, "flatness": 0.2, "pitched": 1.0, "rms": 0.1, "qualifies": False},
                        {"temperature": 0.85, "flatness": 2.0, "pitched": 0.8, "rms": 0.9, "qualifies": True}]}
    monkeypatch.setattr(module, "calibrate_temperature", lambda model, audio: chosen)
    out = tmp_path / "m.npz"
    assert main(["train", str(EXCERPT), "--mode", "autoregressive", "--seconds", "0.5", "--sample-rate", "8000",
                 "--epochs", "1", "--hidden", "6", "--modules", "3", "--quiet", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "generates at temperature 0.85: at 0.5 its audio missed" in printed.out
    assert "choosing the generation temperature" in printed.err
    meta = cwfast.load(out).metadata
    assert meta["temperature"] == 0.85 and meta["temperature_calibration"] == chosen
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "temperature    0.85 (chosen on the training audio: 0.5: flatness 0.20x, pitched 1.00 of 0.90" in info
    assert "0.85: flatness 2.00x, pitched 0.80 of 0.90, RMS 0.90x, qualifies)" in info
