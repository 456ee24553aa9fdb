"""cwfast.likeness: the three likeness measures against known signals and slow twins."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cwfast import likeness
from cwfast.errors import ParameterError

RATE = 16000


def tone(freq, seconds=2.0, rate=RATE, phase=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return np.sin(2 * np.pi * freq * t + phase)


# ------------------------------------------------------------------------------- slow twins


def naive_flatness(x):
    """Straight from the definition: loop over frames, periodic Hann, geometric / arithmetic mean."""
    n = 2048
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)])
    values, energies = [], []
    for start in range(0, len(x) - n + 1, n // 2):
        p = np.abs(np.fft.fft(x[start : start + n] * window)[: n // 2 + 1]) ** 2
        energies.append(p.sum())
        values.append(math.exp(np.mean(np.log(p))) / np.mean(p))
    keep = [v for v, e in zip(values, energies) if e >= 1e-10 * max(energies)]
    return float(np.median(keep))


def naive_autocorrelation(frame, lag):
    """r(lag) / r(0) of the frame, its mean removed: issue 12's normalised autocorrelation."""
    frame = frame - frame.mean()
    a, b = frame[: len(frame) - lag], frame[lag:]
    return float(np.dot(a, b) / np.dot(frame, frame))


def naive_pitched(x, rate):
    level = math.sqrt(np.mean(x**2))
    lo, hi = math.ceil(rate / 1000), math.floor(rate / 60)
    loud = pitched = 0
    for start in range(0, len(x) - 2048 + 1, 1024):
        frame = x[start : start + 2048]
        if math.sqrt(np.mean(frame**2)) <= 0.1 * level:
            continue
        loud += 1
        r = {lag: naive_autocorrelation(frame, lag) for lag in range(lo - 1, hi + 2)}
        if any(r[lag] >= 0.6 and r[lag] >= r[lag - 1] and r[lag] >= r[lag + 1] for lag in range(lo, hi + 1)):
            pitched += 1
    return pitched / loud


def naive_note_share(x, rate):
    """The most common note's share of the pitched frames, frame by frame from the definitions."""
    level = math.sqrt(np.mean(x**2))
    lo, hi = math.ceil(rate / 1000), math.floor(rate / 60)
    notes = []
    for start in range(0, len(x) - 2048 + 1, 1024):
        frame = x[start : start + 2048]
        if math.sqrt(np.mean(frame**2)) <= 0.1 * level:
            continue
        r = {lag: naive_autocorrelation(frame, lag) for lag in range(lo - 1, hi + 2)}
        peaks = [lag for lag in range(lo, hi + 1) if r[lag] >= 0.6 and r[lag] >= r[lag - 1] and r[lag] >= r[lag + 1]]
        if peaks:
            lag = max(peaks, key=lambda k: (r[k], -k))  # the highest peak; the shortest lag of equals
            notes.append(round(12 * math.log2(rate / lag / 440)))
    if not notes:
        return None
    return max(notes.count(n) for n in set(notes)) / len(notes)


def naive_ltas(x):
    """Welch by hand: unit-std clip, Hann segments of 1024 with hop 512, mean-detrended, averaged."""
    x = (x - x.mean()) / x.std()
    n = 1024
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)])
    spectra = []
    for start in range(0, len(x) - n + 1, n // 2):
        seg = x[start : start + n]
        spectra.append(np.abs(np.fft.rfft((seg - seg.mean()) * window)) ** 2)
    p = np.mean(spectra, axis=0)[1:]
    p[:-1] *= 2  # one-sided density doubles every bin but DC and Nyquist (scaling cancels in a distance)
    return 10 * np.log10(np.maximum(p, 1e-10 * p.mean()))


# ------------------------------------------------------------------------------- flatness


def test_white_noise_flatness_is_exp_minus_gamma(rng):
    # A periodogram bin of white noise is exponential: geometric / arithmetic mean = e^-gamma.
    flatness = likeness.spectral_flatness(rng.standard_normal(RATE * 4))
    assert abs(flatness - math.exp(-np.euler_gamma)) < 0.01


def test_pure_tone_flatness_is_near_zero():
    assert likeness.spectral_flatness(tone(440.0)) < 1e-6


def test_flatness_orders_noise_tone_mixtures(rng):
    noise = rng.standard_normal(RATE * 2)
    values = [likeness.spectral_flatness(tone(440.0) + g * noise) for g in (0.001, 0.03, 1.0)]
    assert values[0] < values[1] < values[2]


def test_flatness_matches_naive_twin(rng):
    x = np.cumsum(rng.standard_normal(9000)) * 0.01 + tone(300.0, 9000 / RATE)
    assert_allclose(likeness.spectral_flatness(x), naive_flatness(x), rtol=1e-9)


def test_flatness_drops_silent_frames(rng):
    # Half digital silence: the silent frames would score flatness 1 from the floor; they are dropped.
    x = np.concatenate([tone(440.0, 1.0), np.zeros(RATE)])
    assert likeness.spectral_flatness(x) < 1e-6


def test_flatness_ignores_gain(rng):
    x = rng.standard_normal(8192) + tone(500.0, 8192 / RATE)
    assert_allclose(likeness.spectral_flatness(1e-3 * x), likeness.spectral_flatness(x), rtol=1e-9)


# ------------------------------------------------------------------------------- pitch


@pytest.mark.parametrize("freq", [70.0, 220.0, 440.0, 950.0])
def test_pure_tone_is_pitched(freq):
    assert likeness.pitched_fraction(tone(freq), RATE) == 1.0


def test_white_noise_is_not_pitched(rng):
    assert likeness.pitched_fraction(rng.standard_normal(RATE * 4), RATE) == 0.0


def test_lowpassed_noise_is_not_pitched(rng):
    # r(16) of this noise is above 0.6 but falls from there: a local-maximum rule, not a maximum
    # over the lag range, keeps it unpitched.
    from scipy.signal import lfilter

    x = lfilter([0.02], [1.0, -0.98], rng.standard_normal(RATE * 2))
    frame = x[4096:6144]
    assert naive_autocorrelation(frame, 16) > 0.6
    assert likeness.pitched_fraction(x, RATE) < 0.1


def test_tones_outside_the_pitch_range_are_not_pitched(rng):
    # 30 Hz: its autocorrelation falls all the way from lag 0 to lag 267 > rate / 60, so no lag in
    # the range is a peak, although r(16) is 0.98.
    assert likeness.pitched_fraction(tone(30.0) + 0.01 * rng.standard_normal(2 * RATE), RATE) == 0.0


def test_pitched_fraction_counts_only_loud_frames(rng):
    # 1 s of tone, then 1 s at 1e-3 of the level (quieter than 0.1 x the clip's RMS): all loud
    # frames are pitched, whatever the quiet noise does.
    x = np.concatenate([tone(440.0, 1.0), 1e-3 * rng.standard_normal(RATE)])
    assert likeness.pitched_fraction(x, RATE) == 1.0
    y = np.concatenate([tone(440.0, 1.0), rng.standard_normal(RATE)])
    assert 0.3 < likeness.pitched_fraction(y, RATE) < 0.7


def test_a_constant_stretch_is_not_pitched(rng):
    # A clip that settles on an offset (a model that has collapsed, or clipped) was 97% pitched:
    # the constant frames pass the loudness gate, and their mean removed left rounding whose
    # correlation is 1 at every lag. The same clip settling on zero scores 0; this one may count
    # the one frame that is half noise, half offset (1 of 159), not the 155 constant ones.
    for offset in (0.2, -0.7, 3e-5):
        x = np.concatenate([0.3 * rng.standard_normal(4096), np.full(10 * RATE, offset)])
        assert likeness.pitched_fraction(x, RATE) <= 1 / 159
    assert not likeness.frame_autocorrelation(np.full((2, 2048), 0.3), 20).any()
    # an offset under a tone changes nothing
    assert likeness.pitched_fraction(0.2 + tone(220.0), RATE) == 1.0


def test_autocorrelation_matches_naive_twin(rng):
    frames = rng.standard_normal((3, 2048)) + np.sin(np.arange(2048) / 9.0)
    r = likeness.frame_autocorrelation(frames, 300)
    for i in range(3):
        for lag in (0, 1, 17, 150, 299, 300):
            assert_allclose(r[i, lag], naive_autocorrelation(frames[i], lag), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_pitched_fraction_matches_naive_twin(rng, rate):
    # Half the frames pitched (a tone in noise), half not, at several rates.
    n = 6 * 2048
    x = rng.standard_normal(n)
    x[: n // 2] = 3 * tone(200.0, (n // 2) / rate, rate) + 0.5 * x[: n // 2]
    fast = likeness.pitched_fraction(x, rate)
    assert fast == naive_pitched(x, rate)
    assert 0.2 < fast < 0.8


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_measures_by_batches_of_frames_equal_all_at_once(rng, monkeypatch, batch):
    # The flatness and the pitch measure their frames a batch at a time (so that an hour's
    # training audio does not hold gigabytes of spectra): any batch size gives the same figures,
    # the loudest frame (the flatness's floors) and the clip's RMS (the pitch's loud frames) being
    # the whole clip's. Quiet, silent and pitched stretches land in different batches.
    x = rng.standard_normal(40 * 1024)
    x[: 8 * 1024] = tone(220.0, 8 * 1024 / RATE)
    x[12 * 1024 : 20 * 1024] *= 1e-7
    x[24 * 1024 : 28 * 1024] = 0.0
    whole = likeness.measure(x, RATE)
    assert 0.0 < whole["pitched"] < 1.0
    monkeypatch.setattr(likeness, "FRAME_BATCH", batch)
    assert likeness.measure(x, RATE) == whole
    with np.errstate(divide="ignore", invalid="ignore"):  # (the twin measures the silent frames, then drops them)
        assert math.isclose(whole["flatness"], naive_flatness(x / np.max(np.abs(x))), rel_tol=1e-9)
    assert whole["pitched"] == naive_pitched(x / np.max(np.abs(x)), RATE)


def test_a_held_note_is_all_on_one_note():
    assert likeness.note_share(tone(220.0, 4.0), RATE) == 1.0
    assert likeness.note_share(tone(440.0, 4.0) + 0.3 * tone(880.0, 4.0), RATE) == 1.0


def test_notes_held_equally_long_share_the_frames():
    # A4, C#5, E5 and D5, a second each: about a quarter of the frames each
    # (the frames across a change may be read as either note, or as none).
    x = np.concatenate([tone(f, 1.0) for f in (440.0, 554.37, 659.26, 587.33)])
    assert 0.2 < likeness.note_share(x, RATE) < 0.33
    assert likeness.note_share(np.concatenate([tone(440.0, 3.0), tone(587.33, 1.0)]), RATE) > 0.7


def test_unpitched_audio_has_no_note_share(rng):
    assert likeness.note_share(rng.standard_normal(RATE * 2), RATE) is None


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_note_share_matches_naive_twin(rng, rate):
    # Three notes, noise between and over them, at several rates.
    n = 12 * 2048
    x = 0.4 * rng.standard_normal(n)
    for i, f in enumerate((196.0, 261.63, 196.0, 329.63)):
        x[i * 2 * 2048 : (i + 1) * 2 * 2048] += 2 * tone(f, 2 * 2048 / rate, rate)
    share = likeness.note_share(x, rate)
    assert share == naive_note_share(x, rate)
    assert 0.3 < share < 0.8


def test_note_share_of_stretches_is_that_of_the_clip_joined(rng):
    x = np.concatenate([tone(220.0, 1.5), tone(330.0, 0.5)]) + 0.01 * rng.standard_normal(2 * RATE)
    joined = likeness.note_share(x.astype(np.float32), RATE)
    assert likeness.note_share(likeness.Stretches(split(x, [5000, 20000])), RATE) == joined
    assert 0.6 < joined < 0.9


def split(x, at):
    """``x`` as float32 parts cut at ``at``: consecutive stretches of one recording."""
    return np.split(x.astype(np.float32), at)


def test_stretches_measure_as_the_clip_joined_in_float64(rng, monkeypatch):
    # The training audio is measured as its clips' training parts joined and divided by the
    # scale, a piece at a time (its float64 copy was 8 bytes a sample kept through the run): the
    # figures are the whole float64 array's, the frames straddling the parts' ends and the pieces'.
    monkeypatch.setattr(likeness, "PIECE", 3001)
    monkeypatch.setattr(likeness, "FRAME_BATCH", 5)
    n = 60 * 1024 + 517
    x = 0.3 * rng.standard_normal(n)
    x[: 20 * 1024] = 0.5 * tone(220.0, 20 * 1024 / RATE)
    x[30 * 1024 : 34 * 1024] *= 1e-3  # quiet frames, left out of the pitch
    parts, scale = split(x, [7000, 7001, 33333]), 0.78
    whole = np.concatenate(parts).astype(np.float64) / scale  # as training measured it before
    stretches = likeness.Stretches(parts, scale)
    assert stretches.size == n and likeness.Stretches([x]).size == n
    peak = np.max(np.abs(whole))
    flatness, pitched = likeness.spectral_flatness(stretches), likeness.pitched_fraction(stretches, RATE)
    assert 0.0 < pitched < 1.0
    assert math.isclose(flatness, naive_flatness(whole / peak), rel_tol=1e-9)
    assert pitched == naive_pitched(whole / peak, RATE)
    rms, loudest = likeness.rms_and_peak(stretches)
    assert loudest == peak and math.isclose(rms, math.sqrt(np.mean(whole**2)), rel_tol=1e-9)
    # Every piece is the joined samples' stretch, in float64.
    pieces = list(stretches.pieces())
    assert [p.size for p in pieces] == [3001] * (n // 3001) + [n % 3001]
    assert all(p.dtype == np.float64 for p in pieces) and np.array_equal(np.concatenate(pieces), whole)


def test_stretches_are_checked_as_a_clip_is():
    tone_ = tone(220.0, 0.5).astype(np.float32)
    nan = tone_.copy()
    nan[5000] = np.nan
    for parts, says in [([tone_[:2000], nan], "contains NaN"), ([np.zeros(3000), np.zeros(2000)], "is silent"),
                        ([tone_[:1000], tone_[:1000]], "has 2000 samples"), ([tone_, tone_[:, None]], "shape"),
                        ([tone_, np.array(["a"] * 3000)], "dtype")]:
        with pytest.raises(ParameterError, match=says):
            likeness.spectral_flatness(likeness.Stretches(parts))
    with pytest.raises(ParameterError, match="scale"):
        likeness.Stretches([tone_], 0.0)


# ------------------------------------------------------------------------------- LTAS


def test_ltas_distance_of_a_clip_with_itself_is_zero(rng):
    x = rng.standard_normal(5000) + tone(300.0, 5000 / RATE)
    assert likeness.ltas_distance(x, x) == 0.0


def test_ltas_distance_ignores_gain_and_offset(rng):
    x = np.cumsum(rng.standard_normal(20000)) * 0.01
    assert likeness.ltas_distance(x, 37.0 * x + 0.5) < 1e-9


def test_ltas_distance_is_symmetric_and_grows_with_difference(rng):
    from scipy.signal import lfilter

    noise = rng.standard_normal(RATE * 2)
    other = rng.standard_normal(RATE * 2)
    dull = lfilter([1.0], [1.0, -0.9], rng.standard_normal(RATE * 2))
    same = likeness.ltas_distance(noise, other)
    far = likeness.ltas_distance(noise, dull)
    assert same < 1.0  # two white noises: only the estimate's variance
    assert far > 5.0
    assert likeness.ltas_distance(dull, noise) == far


def test_ltas_of_a_known_filter(rng):
    # A first-order lowpass has |H|^2 = 1 / (1 - 2a cos w + a^2): white noise through it has that
    # spectrum, up to a constant that the unit-std normalisation removes.
    from scipy.signal import lfilter

    a = 0.7
    x = lfilter([1.0], [1.0, -a], rng.standard_normal(RATE * 20))
    w = 2 * np.pi * np.arange(1, 513) / 1024
    expected = -10 * np.log10(1 - 2 * a * np.cos(w) + a * a)
    measured = likeness.ltas(x)
    offset = np.mean(measured - expected)
    assert np.sqrt(np.mean((measured - offset - expected) ** 2)) < 0.3


def test_ltas_matches_naive_twin(rng):
    x = rng.standard_normal(7000) * np.linspace(0.1, 2.0, 7000) + 0.3
    fast, slow = likeness.ltas(x), naive_ltas(x)
    # Same shape up to Welch's density scale (a constant in dB).
    assert_allclose(fast - fast.mean(), slow - slow.mean(), atol=1e-9)


def test_compare_reports_every_measure(rng):
    source = tone(300.0) + 0.01 * rng.standard_normal(2 * RATE)
    out = likeness.compare(rng.standard_normal(RATE), source, RATE, reference=source[: RATE // 2])
    assert set(out) == {"ltas_distance", "flatness", "pitched", "source_flatness", "source_pitched",
                        "reference_ltas_distance", "reference_flatness", "reference_pitched"}
    assert out["ltas_distance"] > 10 * out["reference_ltas_distance"]
    assert out["pitched"] == 0.0 and out["source_pitched"] == 1.0 == out["reference_pitched"]


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call", [
    lambda x: likeness.ltas(x),
    lambda x: likeness.spectral_flatness(x),
    lambda x: likeness.pitched_fraction(x, RATE),
    lambda x: likeness.note_share(x, RATE),
])
@pytest.mark.parametrize("bad", [
    np.zeros(4096),  # silent
    np.ones((4096, 2)),  # stereo
    np.full(4096, np.nan),
    np.ones(100),  # too short
    np.array(["a"] * 4096),
])
def test_bad_clips_raise_parameter_error(call, bad):
    with pytest.raises(ParameterError):
        call(bad)


@pytest.mark.parametrize("rate", [0, -8000, 8000.5, True, 30, 200000])
def test_bad_rates_raise_parameter_error(rng, rate):
    with pytest.raises(ParameterError):
        likeness.pitched_fraction(rng.standard_normal(4096), rate)
    with pytest.raises(ParameterError):
        likeness.note_share(rng.standard_normal(4096), rate)


def test_ltas_of_a_constant_clip_raises(rng):
    with pytest.raises(ParameterError, match="constant"):
        likeness.ltas(np.full(4096, 0.5))


@pytest.mark.parametrize("tail", [[1.0], [1.0, 0.7], [0.3, 0.2, 0.9]])
def test_sound_only_past_the_last_whole_segment_is_an_error_not_infinity(tail):
    """One sample left exact zeros after the mean's removal; two or three left rounding residue,
    scored 360 dB."""
    late = np.r_[np.zeros(7700), tail, np.zeros(300 - len(tail))]  # 8000 samples: segments end at 7680
    with pytest.raises(ParameterError, match="^b has no sound in any whole 1024-sample segment"):
        likeness.ltas_distance(np.sin(np.arange(8000) * 0.1), late)


@pytest.mark.parametrize("gain", [1e160, 1e-200])
def test_extreme_gains_measure_as_the_clip_does(gain):
    """The squares overflowed (1e160: -inf, NaN, 'no frame louder') or underflowed (1e-200:
    'constant'): every measure ignores gain, so the figures must be the clip's."""
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000) + 0.1 * rng.standard_normal(16000)
    y = rng.standard_normal(16000)
    assert likeness.ltas_distance(x * gain, y) == pytest.approx(likeness.ltas_distance(x, y), rel=1e-9)
    assert likeness.measure(x * gain, 16000) == pytest.approx(likeness.measure(x, 16000), rel=1e-9)


@pytest.mark.parametrize("generated, says", [
    (np.ones(100), "^generated has 100 samples; this measure needs at least 2048"),
    (np.ones(1500), "^generated has 1500 samples"),
    (np.ones(4000), "^generated is constant"),
    (np.r_[np.zeros(3400), np.sin(np.arange(100)), np.zeros(500)], "^generated is silent in every whole frame"),
])
def test_compare_names_the_argument(generated, says):
    with pytest.raises(ParameterError, match=says):
        likeness.compare(generated, np.sin(np.arange(4000) * 0.1), 16000)
    with pytest.raises(ParameterError, match="^sample_rate=0 must be a positive whole number of Hz"):
        likeness.compare(np.ones(100), np.ones(100), 0)  # before any other check


def test_the_excerpt_scores_the_issues_figures():
    """Issue 12 quoted the 16-kHz excerpt's flatness 0.0073 and 0.47 of its frames pitched; the
    pitch figure is r(tau) / r(0)'s (21 frames of 45). The correlation coefficient of the frame's
    two ends, used before, counted 22 (0.49)."""
    from pathlib import Path

    from cwfast.audio import load_audio

    x, rate = load_audio(Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav",
                         sample_rate=16000)
    assert round(likeness.spectral_flatness(x), 4) == 0.0073
    # ...and that figure is the definition's, not only the one the code once printed.
    assert likeness.spectral_flatness(x) == pytest.approx(naive_flatness(np.asarray(x, np.float64)), rel=1e-9)
    assert likeness.pitched_fraction(x, rate) == pytest.approx(21 / 45)
    assert naive_pitched(np.asarray(x, np.float64), rate) == pytest.approx(21 / 45)
