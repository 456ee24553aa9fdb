"""The generation temperature a mixture model is saved with, chosen on its training audio
(cwfast.train_audio.calibrate_temperature)."""

import math
from pathlib import Path

import numpy as np
import pytest

import cwfast
from cwfast import CwfastError, ParameterError, likeness, metrics, render
from cwfast.audio import load_audio
from cwfast.codec import mu_law_values
from cwfast.train_audio import (AUDIBLE_RMS, CALIBRATION_SEEDS, CALIBRATION_TEMPERATURES, MAX_CALIBRATED_GAIN, MIXTURE_TEMPERATURE,
                                calibrate_temperature, train_audio)

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
    """Each row measured again by hand: the audio sampled at that temperature with each of the
    calibration's seeds, against the training part as recorded; each figure the seeds' median."""
    result, _ = trained
    model, calibration = result.model, result.model.metadata["temperature_calibration"]
    assert calibration["seeds"] == list(CALIBRATION_SEEDS)
    flatness, pitched, rms, _ = likeness_of_training(trained)
    for row in calibration["table"][::2]:
        audio = [model.sample(int(calibration["seconds"] * model.sample_rate), values=mu_law_values(256),
                              temperature=row["temperature"], seed=seed) for seed in calibration["seeds"]]
        for key, measure in (("flatness", lambda a: likeness.spectral_flatness(a) / flatness),
                             ("pitched", lambda a: likeness.pitched_fraction(a, model.sample_rate)),
                             ("rms", lambda a: metrics.rms(a) / rms)):
            assert row[key] == pytest.approx(float(np.median([measure(a) for a in audio])), abs=1e-4)


def test_audio_too_short_to_measure_keeps_the_default(trained):
    result, _ = trained
    calibration = calibrate_temperature(result.model, np.full(1000, 0.1))
    assert calibration["chosen"] == MIXTURE_TEMPERATURE and calibration["table"] == []
    assert calibration["on"].startswith("nothing: the training audio cannot be measured")


def test_calibration_is_chosen_on_the_training_audio_alone(trained):
    """Another recording to compare with can change the choice; the model's own held-out parts
    never enter it (the same call on the training part gives the saved choice)."""
    result, _ = trained
    again = calibrate_temperature(result.model, likeness_of_training(trained)[3],
                                  seconds=result.model.metadata["temperature_calibration"]["seconds"])
    assert again == result.model.metadata["temperature_calibration"]


@pytest.mark.parametrize("grid", [(0.5, 0.85, 1.0), (0.7, 0.85, 1.0)])
def test_the_nearest_loudness_among_the_qualifying_is_chosen(trained, grid):
    """Against the model's own audio at 0.85 (another seed), 0.85 qualifies; without the default
    in the grid (or with it failing), the choice is the qualifying temperature nearest in loudness."""
    model = trained[0].model
    own = model.sample(40000, values=mu_law_values(256), temperature=0.85, seed=5)
    calibration = calibrate_temperature(model, own, temperatures=grid)
    rows = {row["temperature"]: row for row in calibration["table"]}
    # Its own loudness to within a few percent (0.992 here): 0.2 let 0.7's figure (0.82) or 1.0's
    # (1.17) stand for it.
    assert rows[0.85]["qualifies"] and rows[0.85]["rms"] == pytest.approx(1.0, abs=0.05)
    assert calibration["chosen"] == expected_choice(calibration["table"])


class FakeModel:
    """What calibrate_temperature uses of a model, generating a chosen signal per temperature."""

    output, n_in = "mixture", 1
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


class SeededModel(FakeModel):
    """A FakeModel whose signal depends on the seed too: ``signals[temperature][seed]``."""

    def sample(self, n_steps, *, values, temperature, seed):
        return self.signals[temperature][seed][:n_steps].astype(np.float32)


def test_each_figure_is_the_median_over_the_seeds(rng):
    """A temperature audible at one seed of three and silent at the others is near silent (the
    seed-26 spoken-digit model's 0.7: audible at seed 0, under 0.25x its training audio's RMS at
    17 seeds of 20 others); each figure, and the output gain from them, is the median of the
    seeds'; one seed is the calibration as it was before the seeds."""
    rate, n = 8000, 16000
    reference = tone(rate, n, 0.3, rng)
    tones = [tone(rate, n, a, rng) for a in (0.2, 0.3, 0.25)]
    signals = {0.5: {0: tones[0], 1: np.zeros(n), 2: 1e-3 * tones[1]},  # audible at seed 0 alone
               1.0: {0: tones[0], 1: tones[1], 2: tones[2]}}
    got = calibrate_temperature(SeededModel(signals), reference, temperatures=(0.5, 1.0), seeds=(0, 1, 2))
    assert got["seeds"] == [0, 1, 2] and "seed" not in got
    quiet, chosen = got["table"]
    # Silent at seed 1: RMS 0 there; flatness, pitch and peak from the two seeds heard.
    assert quiet["rms"] == round(float(np.median([metrics.rms(tones[0]) / metrics.rms(reference), 0.0,
                                                  1e-3 * metrics.rms(tones[1]) / metrics.rms(reference)])), 4)
    assert quiet["rms"] < AUDIBLE_RMS and not quiet["qualifies"]
    assert got["chosen"] == 1.0
    single = [calibrate_temperature(SeededModel({1.0: {0: x}}), reference, temperatures=(1.0,), seeds=(0,))
              for x in tones]
    for key in ("flatness", "pitched", "rms", "peak"):
        assert chosen[key] == pytest.approx(float(np.median([one["table"][0][key] for one in single])), abs=1e-4)
    rms, peak = (float(np.median([one["table"][0][k] for one in single])) for k in ("rms", "peak"))
    assert got["output_gain"] == pytest.approx(min(1 / rms, 1 / peak), abs=2e-3)
    # One seed: the calibration on seed 0 alone, audible there.
    alone = calibrate_temperature(SeededModel(signals), reference, temperatures=(0.5, 1.0), seeds=(0,))
    assert alone["table"][0]["qualifies"] and alone["chosen"] == 0.5
    # Silent at every seed: no figure, no candidate.
    silent = calibrate_temperature(SeededModel({0.5: {0: np.zeros(n), 1: np.zeros(n)}, 1.0: signals[1.0]}),
                                   reference, temperatures=(0.5, 1.0), seeds=(0, 1))
    assert silent["table"][0]["rms"] is None and silent["chosen"] == 1.0


def training_parts(rng, rate, sizes, scale):
    """Clips' training parts (float32), pitched then noisy, some samples at the scale (full scale
    in the model's units)."""
    x = tone(rate, sum(sizes), 0.5, rng, noise=0.05)
    x[len(x) // 2 :] = 0.3 * rng.standard_normal(len(x) - len(x) // 2)
    x[::97] = scale * np.sign(x[::97])
    return np.split(x.astype(np.float32), np.cumsum(sizes)[:-1])


def test_the_training_audio_in_stretches_is_measured_as_joined_in_float64(rng, monkeypatch):
    """Training measures its clips' training parts in the model's units a piece at a time, not as
    a float64 copy of them joined (8 bytes a sample kept through the run, and the measures'
    temporaries over it): the figures are that copy's, by the whole-array measures it had."""
    from cwfast.modes import PINNED_LEVEL

    monkeypatch.setattr(likeness, "PIECE", 3001)
    monkeypatch.setattr(likeness, "FRAME_BATCH", 5)
    rate, scale = 8000, 0.78
    parts = training_parts(rng, rate, [9000, 5001, 12345], scale)
    whole = np.concatenate(parts).astype(np.float64) / scale  # what training measured before
    signals = {0.5: tone(rate, 16000, 0.1, rng, noise=0.003), 1.0: 0.3 * rng.standard_normal(16000)}
    pieces = calibrate_temperature(FakeModel(signals), likeness.Stretches(parts, scale), temperatures=(0.5, 1.0))
    training = pieces["training_audio"]
    assert math.isclose(training["rms"], metrics.rms(whole), rel_tol=1e-9)
    assert training["peak"] == float(np.max(np.abs(whole)))
    assert training["pinned"] == round(float(np.mean(np.abs(whole) >= PINNED_LEVEL)), 4) > 0
    # (the flatness and the pitch against the whole array's slow twins: tests/test_likeness.py)
    assert pieces == calibrate_temperature(FakeModel(signals), whole, temperatures=(0.5, 1.0))


def test_the_training_audio_is_measured_in_the_memory_of_a_piece(rng, monkeypatch):
    """What choosing the temperature holds beyond its training audio does not grow with it: the
    float64 copy of the clips' training parts and the whole-array measures over it made the run's
    peak 42 bytes a sample of the corpus (tracemalloc; 9 kept through the run)."""
    import tracemalloc

    monkeypatch.setattr(likeness, "PIECE", 2**14)
    monkeypatch.setattr(likeness, "FRAME_BATCH", 16)
    rate, n = 8000, 2**19
    model = FakeModel({1.0: tone(rate, 8000, 0.3, rng)})
    peaks = []
    for size in (n, 2 * n):
        stretches = likeness.Stretches(training_parts(rng, rate, [size // 3, size - size // 3], 0.78), 0.78)
        tracemalloc.start()
        try:
            calibrate_temperature(model, stretches, temperatures=(1.0,), seconds=1.0)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < n / 4  # a quarter of a byte a sample more: the float64 copy alone is 8


def test_training_measures_its_clips_training_parts_where_they_are(rng, monkeypatch):
    """Training hands the calibration its clips' training parts as views (no copy of them), and
    saves the figures a float64 copy of them joined gives."""
    from cwfast import train_audio as module

    handed = []
    measure = module.calibrate_temperature
    monkeypatch.setattr(module, "calibrate_temperature",
                        lambda model, audio, **given: handed.append(audio)
                        or measure(model, audio, **{**given, "seconds": 0.1}))
    clips = training_parts(rng, 8000, [6000, 5000], 0.6)
    result = module.train_audio(clips, 8000, mode="autoregressive", hidden=6, modules=2, epochs=1, seed=0)
    audio, data = handed[-1], result._data  # (one a run, each on the same audio)
    assert all(isinstance(each, likeness.Stretches) for each in handed) and len(audio.parts) == 2
    assert all(np.shares_memory(part, clip) for part, clip in zip(audio.parts, data.clips))
    scale = result.model.metadata["scale"]
    whole = np.concatenate([np.asarray(clip, np.float64)[: part.train.n_steps]
                            for clip, part in zip(data.clips, data.per_clip)]) / scale
    assert audio.size == whole.size == result.splits.train.n_steps
    assert result.model.metadata["temperature_calibration"] == measure(result.model, whole, seconds=0.1)


def test_training_measures_its_training_audio_once_for_all_its_runs(rng, monkeypatch):
    """Every run of one training is calibrated against the same training audio: it is measured at
    the first run's calibration and its figures handed to the rest (measuring 16 minutes of it
    took 2.4 s a run), and each run chooses as it would measuring the audio again."""
    from cwfast import train_audio as module

    measured = []
    flatness = likeness.spectral_flatness
    monkeypatch.setattr(likeness, "spectral_flatness", lambda samples: measured.append(samples) or flatness(samples))
    handed = []
    calibrate = module.calibrate_temperature
    monkeypatch.setattr(module, "calibrate_temperature", lambda model, audio, **given: handed.append(
        (model, audio)) or calibrate(model, audio, **{**given, "seconds": 0.1}))
    clips = training_parts(rng, 8000, [6000, 5000], 0.6)
    module.train_audio(clips, 8000, mode="autoregressive", hidden=6, modules=2, epochs=1, seed=0, restarts=2,
                       lr=0.01, pitch="off")
    assert len(handed) == 2
    assert len([samples for samples in measured if isinstance(samples, likeness.Stretches)]) == 1
    for model, audio in handed:
        assert model.metadata["temperature_calibration"] == calibrate(model, audio, seconds=0.1)


def test_training_audio_measured_before_gives_the_same_calibration(rng):
    """calibrate_temperature given the figures of its training audio (``measured``, as a first
    calibration on it found them) chooses as measuring it again does; figures that cannot be a
    calibration's are refused, naming what is wrong."""
    rate, n = 8000, 16000
    signals = {0.5: tone(rate, n, 0.1, rng, noise=0.003), 1.0: 0.3 * rng.standard_normal(n)}
    reference = tone(rate, n, 0.3, rng)
    first = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 1.0))
    given = dict(first["training_audio"])
    again = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 1.0), measured=given)
    assert again == first and given == first["training_audio"] and again["training_audio"] is not given
    for bad, match in [([1], "measured must be a dict"), ({"rms": 0.1}, "measured lacks 'flatness'"),
                       (dict(given, rms=0.0), r"measured\['rms'\]=0.0 must be a positive finite number"),
                       (dict(given, pitched=1.5), r"measured\['pitched'\]=1.5 must be at most 1")]:
        with pytest.raises(ParameterError, match=match):
            calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 1.0), measured=bad)


def test_audio_pinned_at_full_scale_is_no_candidate(rng):
    """A seed-11 trumpet model ran into a limit cycle between the rails (+1, -1, +1, ...: a
    whistle at the Nyquist frequency) at every temperature; its flatness and pitched share read
    as a tone like the trumpet's, its RMS as audible, and it was kept "like its training audio"."""
    from cwfast.modes import MAX_PINNED_SHARE

    rate, n = 8000, 16000
    reference = tone(rate, n, 0.3, rng)
    t = np.arange(n)
    swell = np.clip(0.7 + 0.6 * np.sin(2 * np.pi * 3 * t / rate), 0, 1)  # at the rails a sixth of the time
    whistle = np.clip(np.where(t % 2 == 0, 1.0, -1.0) * swell + 0.05 * rng.standard_normal(n), -1, 1)
    signals = {0.5: whistle, 0.7: whistle.copy(), 1.0: tone(rate, n, 0.12, rng, noise=0.004)}
    kept = calibrate_temperature(FakeModel(signals), reference, temperatures=(0.5, 0.7, 1.0))
    rows = kept["table"]
    assert rows[0]["pinned"] == pytest.approx(np.mean(np.abs(whistle.astype(np.float32)) >= 0.999), abs=1e-4)
    assert rows[0]["pinned"] > 0.15 and rows[2]["pinned"] == 0.0
    # What the rule saw before: a tone as tonal as the reference, pitched, loud enough.
    assert 1 / 3 <= rows[0]["flatness"] <= 3 and rows[0]["pitched"] >= 0.5 and rows[0]["rms"] >= AUDIBLE_RMS
    assert not rows[0]["qualifies"] and not rows[1]["qualifies"]
    assert kept["chosen"] == 1.0
    # Pinned at every temperature, or near silence beside it: the near silence, which is no whistle.
    pinned = calibrate_temperature(FakeModel({0.5: whistle, 0.7: 0.01 * rng.standard_normal(n)}), reference,
                                   temperatures=(0.5, 0.7))
    assert pinned["chosen"] == 0.7 and "none audible and unpinned" in pinned["on"]
    # A share of the rails at the threshold is still a candidate (a loud recording touches them).
    touching = tone(rate, n, 0.3, rng)
    touching[: round(MAX_PINNED_SHARE * n)] = 1.0
    row = calibrate_temperature(FakeModel({0.5: touching}), reference, temperatures=(0.5,))["table"][0]
    assert row["pinned"] == pytest.approx(MAX_PINNED_SHARE) and row["qualifies"]
    # Just past it, where the share stored (4 decimals) rounds back to it: one verdict, not
    # "did not qualify" from the share drawn and "audible, the lowest" from the share stored.
    n_long = 80000
    edge = tone(rate, n_long, 0.3, rng)
    edge[:802] = 1.0  # 1.0025% of the samples
    noise = 0.3 * rng.standard_normal(n_long)
    out = calibrate_temperature(FakeModel({0.5: edge, 1.0: noise}), tone(rate, n_long, 0.3, rng),
                                temperatures=(0.5, 1.0))
    assert out["table"][0]["pinned"] == MAX_PINNED_SHARE and out["table"][0]["qualifies"]
    assert out["chosen"] == 0.5 and out["on"] == "the training audio"


def test_a_model_that_copies_a_clipped_recording_is_not_pinned(rng):
    """A recording limited at its peak holds many samples at full scale in the model's units (the
    scale is its peak): a model generating it back is no whistle. Pinned is counted past three
    times the training audio's own share, and past 1% as before."""
    from cwfast.modes import MAX_PINNED_SHARE, PINNED_OVER_TRAINING, is_pinned

    rate, n = 8000, 16000
    clipped = np.clip(tone(rate, n, 2.0, rng), -1, 1)  # two thirds of its samples at the rails
    own = float(np.mean(np.abs(clipped) >= 0.999))
    assert own > 0.3
    copy = np.clip(tone(rate, n, 2.0, rng), -1, 1)
    out = calibrate_temperature(FakeModel({0.5: copy}), clipped, temperatures=(0.5,))
    row = out["table"][0]
    assert out["training_audio"]["pinned"] == pytest.approx(own, abs=1e-4)
    assert row["pinned"] > MAX_PINNED_SHARE and row["qualifies"] and out["chosen"] == 0.5
    assert not is_pinned(row, out["training_audio"]) and is_pinned(row)  # the share alone would have said so
    # A whistle beyond three times the recording's own share still is.
    slight = np.clip(tone(rate, n, 0.3, rng), -1, 1)
    slight[:40] = 1.0  # 0.25%
    share = float(np.mean(np.abs(slight) >= 0.999))
    whistle = {"pinned": PINNED_OVER_TRAINING * share + 0.01}
    assert is_pinned(whistle, {"pinned": share}) and not is_pinned({"pinned": 0.009}, {"pinned": share})
    # Files calibrated before the training audio's share was kept, or holding no number there.
    assert is_pinned({"pinned": 0.02}, {}) and is_pinned({"pinned": 0.02}, None)
    assert is_pinned({"pinned": 0.02}, {"pinned": "x"}) and is_pinned({"pinned": 0.02}, [1])


def test_train_saves_the_chosen_temperature_and_says_so(capsys, tmp_path, monkeypatch):
    from cwfast import train_audio as module
    from cwfast.cli import main

    chosen = {"chosen": 0.85, "output_gain": 1.1111, "on": "the training audio", "seed": 0, "seconds": 10.0,
              "training_audio": {"flatness": 0.01, "pitched": 0.9, "rms": 0.1},
              "table": [{"temperature": 0.5, "flatness": 0.2, "pitched": 1.0, "rms": 0.1, "qualifies": False},
                        {"temperature": 0.85, "flatness": 2.0, "pitched": 0.8, "rms": 0.9, "qualifies": True}]}
    monkeypatch.setattr(module, "calibrate_temperature", lambda model, audio, **_: chosen)
    out = tmp_path / "m.npz"
    assert main(["train", str(EXCERPT), "--mode", "autoregressive", "--seconds", "0.5", "--sample-rate", "8000",
                 "--epochs", "1", "--hidden", "6", "--modules", "3", "--quiet", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "generates at temperature 0.85: at 0.5 its audio missed" in printed.out
    assert "choosing the generation temperature" in printed.err
    meta = cwfast.load(out).metadata
    assert meta["temperature"] == 0.85 and meta["output_gain"] == 1.1111 and meta["temperature_calibration"] == chosen
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "temperature    0.85 (chosen on the training audio: 0.5: flatness 0.20x, pitched 1.00 of 0.90" in info
    assert "0.85: flatness 2.00x, pitched 0.80 of 0.90, RMS 0.90x, qualifies)" in info
    assert "output gain    x1.111 (+0.9 dB): generates at its training audio's loudness" in info


def test_train_warns_when_every_temperature_is_pinned_at_full_scale(capsys, tmp_path, monkeypatch):
    from cwfast import train_audio as module
    from cwfast.cli import main

    rows = [{"temperature": t, "flatness": 1.2, "pitched": 1.0, "rms": 4.2, "pinned": 0.21, "qualifies": False}
            for t in (0.5, 1.0)]
    pinned = {"chosen": 1.0, "output_gain": 0.25, "seed": 0, "seconds": 10.0, "table": rows,
              "on": "the training audio (no temperature met its flatness and pitch, none audible and unpinned: the loudest)",
              "training_audio": {"flatness": 0.01, "pitched": 0.9, "rms": 0.1}}
    monkeypatch.setattr(module, "calibrate_temperature", lambda model, audio, **_: pinned)
    out = tmp_path / "m.npz"
    assert main(["train", str(EXCERPT), "--mode", "autoregressive", "--seconds", "0.5", "--sample-rate", "8000",
                 "--epochs", "1", "--hidden", "6", "--modules", "3", "--pitch", "on", "--lr", "0.01", "--quiet",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "warning: at every temperature measured, the model's audio ran into a loop between full scale's rails " \
           "(21% of its samples there at 1); the pitch predictor can feed such a loop: try --pitch off" in printed.err
    assert "generates at temperature" not in printed.out
    assert main(["info", str(out)]) == 0
    assert "0.5: flatness 1.20x, pitched 1.00 of 0.90, RMS 4.20x, 21% at full scale; 1:" in capsys.readouterr().out


def test_the_saved_output_gain_brings_the_chosen_audio_to_the_training_loudness(trained):
    """The gain is the training part's RMS over the chosen temperature's audio's (the median over
    the calibration's own seeds), no more than brings its peak (their median) to the training
    part's peak."""
    result, _ = trained
    model, calibration = result.model, result.model.metadata["temperature_calibration"]
    heard = likeness_of_training(trained)[3]
    audio = [model.sample(int(calibration["seconds"] * model.sample_rate), values=mu_law_values(256),
                          temperature=calibration["chosen"], seed=seed) for seed in calibration["seeds"]]
    loudness = float(np.median([metrics.rms(a) for a in audio]))
    peak = float(np.median([np.max(np.abs(a)) for a in audio]))
    expected = min(metrics.rms(heard) / loudness, np.max(np.abs(heard)) / peak)
    expected = min(max(expected, 1 / MAX_CALIBRATED_GAIN), MAX_CALIBRATED_GAIN)
    assert model.metadata["output_gain"] == calibration["output_gain"] == pytest.approx(expected, abs=1e-4)


def test_the_output_gain_on_known_signals(rng):
    rate, n = 8000, 16000
    reference = tone(rate, n, 0.3, rng)
    grid = (0.5, 1.0)

    def gain_for(generated):
        return calibrate_temperature(FakeModel({0.5: generated, 1.0: generated}), reference, temperatures=grid)

    # A third of the loudness: about three times, as far as the peak (a third too) allows.
    third = tone(rate, n, 0.1, rng, noise=0.003)
    heard = third.astype(np.float32)  # as the model generates it
    expected = min(metrics.rms(reference) / metrics.rms(heard), np.max(np.abs(reference)) / np.max(np.abs(heard)))
    assert gain_for(third)["output_gain"] == pytest.approx(expected, abs=1e-4)
    assert 2.8 < gain_for(third)["output_gain"] < 3.2
    # As quiet, with one click as loud as the reference's peak: the peak binds, nothing is lifted past it.
    clicked = third.copy()
    clicked[100] = np.max(np.abs(reference))
    assert gain_for(clicked)["output_gain"] == pytest.approx(1.0, abs=1e-4)
    # Louder than the source: lowered; far quieter or far louder: at most MAX_CALIBRATED_GAIN either way.
    assert gain_for(2 * reference)["output_gain"] == pytest.approx(0.5, abs=1e-3)
    assert gain_for(tone(rate, n, 0.01, rng, noise=0.0003))["output_gain"] == MAX_CALIBRATED_GAIN
    assert gain_for(tone(rate, n, 0.3 * 10, rng))["output_gain"] == 1 / MAX_CALIBRATED_GAIN
    # Nothing measurable generated, or a training audio too short to measure: no gain.
    assert gain_for(np.zeros(n))["output_gain"] == 1.0
    assert calibrate_temperature(FakeModel({0.5: third}), np.full(1000, 0.1), temperatures=(0.5,))["output_gain"] == 1.0


def test_render_applies_the_output_gain_to_what_it_writes_only(trained):
    result, _ = trained
    model = result.model.copy()
    model.metadata["output_gain"] = 3.0
    own = render.render(model, 2000, seed=4, output_gain=1.0)
    assert np.any(own != 0)
    np.testing.assert_allclose(render.render(model, 2000, seed=4), 3.0 * own, rtol=1e-6)
    np.testing.assert_allclose(render.render(model, 2000, seed=4, output_gain=0.5), 0.5 * own, rtol=1e-6)
    for bad in (0, -1.0, float("nan"), float("inf"), 1001.0, "2", True):
        with pytest.raises(ParameterError, match="output_gain"):
            render.render(model, 10, seed=0, output_gain=bad)
    for stored in (0, -2.0, 1e4, "loud", None):
        model.metadata["output_gain"] = stored
        with pytest.raises(CwfastError, match="invalid output_gain"):
            render.render(model, 10, seed=0)
    memorize = cwfast.ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0, metadata={"mode": "memorize", "length": 20})
    with pytest.raises(CwfastError, match="takes no output gain"):
        render.render(memorize, 10, output_gain=2.0)
    # As the command line refuses --temperature for it: a temperature given is a mistake, not ignored.
    with pytest.raises(CwfastError, match="deterministic: it takes no temperature"):
        render.render(memorize, 10, temperature=0.5)


def test_temperature_is_bounded_where_every_one_is_the_same_noise(trained):
    """Past MAX_TEMPERATURE (100) a temperature is refused by render, sample, calibrate_temperature
    and the stored metadata (--temperature: tests/test_cli.py); 100 itself is taken."""
    from cwfast.modes import MAX_TEMPERATURE

    result, _ = trained
    model = result.model.copy()
    assert np.isfinite(render.render(model, 50, seed=1, temperature=MAX_TEMPERATURE)).all()
    for bad in (MAX_TEMPERATURE * 1.01, 1e308):
        with pytest.raises(ParameterError, match="temperature=.* must be at most 100"):
            render.render(model, 10, seed=0, temperature=bad)
        with pytest.raises(ParameterError, match="temperature=.* must be at most 100"):
            model.sample(10, values=None, temperature=bad, seed=0)
        with pytest.raises(ParameterError, match="temperatures=.* must be at most 100"):
            calibrate_temperature(model, np.full(1000, 0.1), temperatures=(0.5, bad))
    model.metadata["temperature"] = 101.0
    with pytest.raises(CwfastError, match="invalid temperature 101"):
        render.render(model, 10, seed=0)


def test_info_prints_a_ratio_to_a_pure_tone_in_three_figures():
    """A pure tone's flatness is near 0: the ratio to it printed as 9443204299437.74x."""
    from cwfast.cli import _calibration_text

    text = _calibration_text({"table": [{"temperature": 0.5, "flatness": 9443204299437.74, "pitched": 1.0, "rms": 0.5},
                                        {"temperature": 1.0, "flatness": 999.0, "pitched": 0.5, "rms": 1.0}]})
    assert "0.5: flatness 9.44e+12x, pitched 1.00" in text and "1: flatness 999.00x" in text
