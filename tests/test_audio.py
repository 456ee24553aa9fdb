"""Tests of cwfast.audio: reading, writing, resampling and scaling audio."""

import math
import re
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast import audio
from cwfast.audio import load_audio, resample, scale_to_unit, write_audio
from cwfast.errors import CwfastError, ParameterError

DATA_DIRECTORY = Path(__file__).resolve().parents[1] / "data"
BUNDLED_EXCERPT = DATA_DIRECTORY / "brahms-hungarian-dance-5-excerpt.wav"

# One 16-bit step. Reading back PCM_16 is off by at most half a step from rounding, plus up to one
# step from libsndfile scaling by 32767 on one side and 32768 on the other; two steps covers both.
PCM_16_TOLERANCE = 2 / 32768
PCM_24_TOLERANCE = 2 / 2**23


def random_samples(shape, *, amplitude=0.9):
    rng = np.random.default_rng(440)
    return rng.uniform(-amplitude, amplitude, size=shape).astype(np.float32)


def files_in(directory):
    return sorted(entry.name for entry in Path(directory).iterdir())


# --- round trips ----------------------------------------------------------------------------------


def test_float_wav_round_trip_is_exact(tmp_path):
    samples = random_samples(1000)
    path = tmp_path / "float.wav"
    write_audio(path, samples, 8000)
    loaded, rate = load_audio(path)
    assert rate == 8000
    assert soundfile.info(str(path)).subtype == "FLOAT"
    np.testing.assert_array_equal(loaded, samples)


def test_float_wav_keeps_values_outside_unit_range(tmp_path):
    samples = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    write_audio(tmp_path / "loud.wav", samples, 8000)
    loaded, _ = load_audio(tmp_path / "loud.wav")
    np.testing.assert_array_equal(loaded, samples)


@pytest.mark.parametrize(
    "extension, subtype, tolerance",
    [
        (".wav", "PCM_16", PCM_16_TOLERANCE),
        (".wav", "PCM_24", PCM_24_TOLERANCE),
        (".flac", "PCM_16", PCM_16_TOLERANCE),
        (".flac", "PCM_24", PCM_24_TOLERANCE),
    ],
)
def test_pcm_round_trip_is_within_quantisation(tmp_path, extension, subtype, tolerance):
    samples = random_samples(2000)
    path = tmp_path / f"pcm{extension}"
    write_audio(path, samples, 22050, subtype=subtype)
    info = soundfile.info(str(path))
    assert info.subtype == subtype
    assert info.format == ("WAV" if extension == ".wav" else "FLAC")
    loaded, rate = load_audio(path)
    assert rate == 22050
    assert np.max(np.abs(loaded - samples)) <= tolerance


@pytest.mark.parametrize("spelling", ["pcm_16", "Pcm_16"])
def test_subtype_is_case_insensitive(tmp_path, spelling):
    write_audio(tmp_path / "x.wav", random_samples(10), 8000, subtype=spelling)
    assert soundfile.info(str(tmp_path / "x.wav")).subtype == "PCM_16"


def test_pcm_clips_instead_of_wrapping(tmp_path):
    samples = np.array([1.5, -2.0, 0.5, 3.0], dtype=np.float32)
    write_audio(tmp_path / "clipped.wav", samples, 8000, subtype="PCM_16")
    loaded, _ = load_audio(tmp_path / "clipped.wav")
    np.testing.assert_allclose(loaded, [1.0, -1.0, 0.5, 1.0], atol=PCM_16_TOLERANCE)


@pytest.mark.parametrize("subtype, clipped", [("PCM_16", True), ("PCM_24", True), ("FLOAT", False)])
def test_pcm_samples_are_clipped_before_libsndfile_sees_them(
    tmp_path, monkeypatch, subtype, clipped
):
    # Some libsndfile builds clip on their own and others wrap around, so check what cwfast hands
    # over rather than what comes back.
    handed_over = []
    real_write = soundfile.write

    def spy(file, data, *arguments, **keywords):
        handed_over.append(np.array(data))
        real_write(file, data, *arguments, **keywords)

    monkeypatch.setattr(audio.soundfile, "write", spy)
    samples = np.array([1.5, -2.0, 0.5], dtype=np.float32)
    write_audio(tmp_path / "x.wav", samples, 8000, subtype=subtype)
    expected = np.clip(samples, -1.0, 1.0) if clipped else samples
    np.testing.assert_array_equal(handed_over[0], expected)


def test_string_path_works(tmp_path):
    samples = random_samples(100)
    path = str(tmp_path / "string.wav")
    write_audio(path, samples, 8000)
    loaded, _ = load_audio(path)
    np.testing.assert_array_equal(loaded, samples)


def test_a_name_that_is_not_utf8_is_read_and_written(tmp_path):
    """Linux names are bytes; soundfile encoded Python's str as UTF-8 and raised UnicodeEncodeError."""
    path = os.fsdecode(os.fsencode(tmp_path) + b"/\xff\xfe.wav")  # the str Python gives such a name
    samples = random_samples((300,))
    try:
        write_audio(path, samples, 8000)
    except CwfastError:  # a file system that holds names as Unicode (macOS) refuses the name itself
        pytest.skip("this file system takes no such name")
    assert os.listdir(os.fsencode(tmp_path)) == [b"\xff\xfe.wav"]
    np.testing.assert_array_equal(load_audio(path)[0], samples)
    rate, frames, blocks = audio.read_audio_blocks(path, 128)
    assert (rate, frames) == (8000, 300) and np.array_equal(np.concatenate(list(blocks)), samples)
    assert audio.sound_info(path).frames == 300
    copy = os.fsdecode(os.fsencode(tmp_path) + b"/\xfd.wav")
    assert audio.write_audio_blocks(copy, [samples[:100], samples[100:]], 8000) == (300, 0)
    np.testing.assert_array_equal(load_audio(copy)[0], samples)


def test_written_file_gets_ordinary_permissions(tmp_path):
    if os.name != "posix":
        pytest.skip("permission bits are POSIX only")
    umask = os.umask(0)
    os.umask(umask)
    write_audio(tmp_path / "x.wav", random_samples(10), 8000)
    assert (tmp_path / "x.wav").stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(tmp_path / "x.wav", 0o600)  # written over: the file keeps its mode, as open() would
    write_audio(tmp_path / "x.wav", random_samples(10), 8000, overwrite=True)
    assert (tmp_path / "x.wav").stat().st_mode & 0o777 == 0o600


# --- channels, dtype, layout ----------------------------------------------------------------------


def test_mono_averages_the_channels(tmp_path):
    stereo = random_samples((500, 2))
    write_audio(tmp_path / "stereo.wav", stereo, 8000)
    mixed, _ = load_audio(tmp_path / "stereo.wav")
    assert mixed.shape == (500,)
    np.testing.assert_allclose(mixed, (stereo[:, 0] + stereo[:, 1]) / 2, atol=1e-7)


def test_mono_false_keeps_the_channels(tmp_path):
    stereo = random_samples((500, 3))
    write_audio(tmp_path / "three.wav", stereo, 8000)
    loaded, _ = load_audio(tmp_path / "three.wav", mono=False)
    assert loaded.shape == (500, 3)
    np.testing.assert_array_equal(loaded, stereo)


def test_mono_false_on_a_mono_file_gives_one_column(tmp_path):
    samples = random_samples(300)
    write_audio(tmp_path / "mono.wav", samples, 8000)
    loaded, _ = load_audio(tmp_path / "mono.wav", mono=False)
    assert loaded.shape == (300, 1)
    np.testing.assert_array_equal(loaded[:, 0], samples)


@pytest.mark.parametrize("mono", [True, False])
@pytest.mark.parametrize("sample_rate", [None, 16000])
def test_loaded_samples_are_float32_c_contiguous(tmp_path, mono, sample_rate):
    write_audio(tmp_path / "stereo.wav", random_samples((1000, 2)), 8000)
    loaded, _ = load_audio(tmp_path / "stereo.wav", mono=mono, sample_rate=sample_rate)
    assert loaded.dtype == np.float32
    assert loaded.flags["C_CONTIGUOUS"]


def test_float64_input_is_written_as_float32(tmp_path):
    samples = random_samples(100).astype(np.float64)
    write_audio(tmp_path / "x.wav", samples, 8000)
    loaded, _ = load_audio(tmp_path / "x.wav")
    np.testing.assert_array_equal(loaded, samples.astype(np.float32))


def test_ogg_vorbis_is_read(tmp_path):
    # Vorbis is lossy, so compare loosely: the tone must survive and the length must match.
    rate = 22050
    time = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)
    soundfile.write(str(tmp_path / "tone.ogg"), tone, rate, format="OGG", subtype="VORBIS")
    loaded, loaded_rate = load_audio(tmp_path / "tone.ogg", start=0.25, duration=0.5)
    assert loaded_rate == rate
    assert loaded.shape == (rate // 2,)
    reference = tone[rate // 4 : rate // 4 + rate // 2]
    assert np.corrcoef(loaded, reference)[0, 1] > 0.99


# --- excerpts -------------------------------------------------------------------------------------


@pytest.fixture
def ramp_file(tmp_path):
    """A one-second float WAV at 8000 Hz whose sample i is i / 8000: frames identify themselves."""
    samples = (np.arange(8000) / 8000).astype(np.float32)
    path = tmp_path / "ramp.wav"
    write_audio(path, samples, 8000)
    return path, samples


def test_excerpt_is_exactly_the_requested_frames(ramp_file):
    path, samples = ramp_file
    excerpt, _ = load_audio(path, start=0.25, duration=0.5)
    np.testing.assert_array_equal(excerpt, samples[2000:6000])


def test_excerpt_times_round_to_the_nearest_frame(tmp_path):
    # At 100 Hz, 0.29 s is 28.999999999999996 frames and 0.57 s is 56.99999999999999 frames in
    # floating point; they must still mean frames 29 and 57, not be truncated to 28 and 56.
    samples = (np.arange(100) / 100).astype(np.float32)
    write_audio(tmp_path / "slow.wav", samples, 100)
    excerpt, _ = load_audio(tmp_path / "slow.wav", start=0.29, duration=0.57)
    np.testing.assert_array_equal(excerpt, samples[29:86])


def test_excerpt_without_duration_reads_to_the_end(ramp_file):
    path, samples = ramp_file
    excerpt, _ = load_audio(path, start=0.75)
    np.testing.assert_array_equal(excerpt, samples[6000:])


def test_excerpt_past_the_end_is_cut_short(ramp_file):
    path, samples = ramp_file
    excerpt, _ = load_audio(path, start=0.9, duration=5.0)
    np.testing.assert_array_equal(excerpt, samples[7200:])


def test_excerpt_of_stereo_keeps_channels_aligned(tmp_path):
    left = np.arange(4000, dtype=np.float32) / 4000
    stereo = np.stack([left, -left], axis=1)
    write_audio(tmp_path / "stereo.wav", stereo, 4000)
    excerpt, _ = load_audio(tmp_path / "stereo.wav", mono=False, start=0.5, duration=0.25)
    np.testing.assert_array_equal(excerpt, stereo[2000:3000])


def test_excerpt_is_cut_before_resampling(ramp_file):
    path, samples = ramp_file
    excerpt, rate = load_audio(path, start=0.25, duration=0.5, sample_rate=16000)
    assert rate == 16000
    assert excerpt.shape == (8000,)
    # The ramp names its frames: 0.25 s to 0.75 s of it, cut first, then resampled (resampling the
    # whole file and cutting after differs by up to 0.37 at the edges, 10 frames late by 1.6e-3).
    np.testing.assert_array_equal(excerpt, resample(samples[2000:6000], 8000, 16000))


@pytest.mark.parametrize(
    "keywords, phrase",
    [
        ({"start": -0.1}, "start=-0.1 must be at least 0"),
        ({"start": float("nan")}, "start=nan must be a finite number"),
        ({"start": "1"}, "must be a finite number"),
        ({"start": 1.0}, "at or past the end"),
        ({"start": 2.5}, "at or past the end"),
        ({"duration": 0}, "duration=0.0 must be a positive"),
        ({"duration": -1.0}, "must be a positive"),
        ({"duration": float("inf")}, "must be a finite number"),
        ({"duration": 1e-6}, "shorter than one sample"),
    ],
)
def test_bad_excerpt_raises_parameter_error(ramp_file, keywords, phrase):
    path, _ = ramp_file
    with pytest.raises(ParameterError, match=phrase):
        load_audio(path, **keywords)


# --- resampling -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, orig_rate, new_rate, expected_length",
    [
        (44100, 44100, 16000, 16000),
        (1000, 44100, 16000, math.ceil(1000 * 16000 / 44100)),
        (1000, 8000, 16000, 2000),
        (999, 48000, 44100, math.ceil(999 * 44100 / 48000)),
    ],
)
def test_resample_changes_length_by_the_rate_ratio(length, orig_rate, new_rate, expected_length):
    resampled = resample(random_samples(length), orig_rate, new_rate)
    assert resampled.shape == (expected_length,)
    assert resampled.dtype == np.float32
    assert resampled.flags["C_CONTIGUOUS"]


def test_resample_preserves_a_low_frequency_sine():
    # A 100 Hz sine resampled from 44.1 kHz to 16 kHz must match the same sine sampled at 16 kHz.
    # The filter treats the signal as zero outside the clip, so skip 50 ms at each end; inside,
    # the polyphase filter is accurate to about 1e-4, and 1e-3 leaves room for scipy changes.
    frequency = 100.0
    original = np.sin(2 * np.pi * frequency * np.arange(44100) / 44100)
    resampled = resample(original, 44100, 16000)
    expected = np.sin(2 * np.pi * frequency * np.arange(len(resampled)) / 16000)
    edge = 800
    assert np.max(np.abs(resampled[edge:-edge] - expected[edge:-edge])) < 1e-3


def test_resample_removes_frequencies_above_the_new_nyquist():
    # A 6 kHz tone cannot exist at 8 kHz; it must be filtered out, not aliased down to 2 kHz.
    original = np.sin(2 * np.pi * 6000 * np.arange(44100) / 44100)
    resampled = resample(original, 44100, 8000)
    assert np.sqrt(np.mean(resampled[400:-400] ** 2)) < 0.01


def test_resample_works_per_channel():
    stereo = random_samples((1000, 2))
    resampled = resample(stereo, 8000, 11025)
    assert resampled.shape == (math.ceil(1000 * 11025 / 8000), 2)
    for channel in range(2):
        np.testing.assert_allclose(
            resampled[:, channel], resample(stereo[:, channel], 8000, 11025), atol=1e-6
        )


def test_resample_at_the_same_rate_returns_a_copy():
    samples = random_samples(100)
    resampled = resample(samples, 8000, 8000)
    np.testing.assert_array_equal(resampled, samples)
    resampled[0] = 5.0
    assert samples[0] != 5.0


@pytest.mark.parametrize(
    "orig_rate, new_rate, phrase",
    [
        (0, 8000, "orig_rate=0 must be a positive whole number of Hz"),
        (8000, -1, "new_rate=-1 must be a positive whole number of Hz"),
        (8000.5, 16000, "orig_rate=8000.5 must be a positive whole number of Hz"),
        (True, 16000, "orig_rate=True must be a positive whole number of Hz"),
        # A whole float is named as given, not as the int it would be (301 digits for 1e300).
        (1e300, 16000, r"^orig_rate=1e\+300 must be at most 4611686018427387904$"),
        (8000, np.float64(-16000.0), r"^new_rate=-16000.0 must be a positive whole number of Hz$"),
    ],
)
def test_resample_rejects_bad_rates(orig_rate, new_rate, phrase):
    with pytest.raises(ParameterError, match=phrase):
        resample(random_samples(10), orig_rate, new_rate)


def test_load_audio_resamples_and_reports_it(tmp_path):
    write_audio(tmp_path / "x.wav", random_samples(8000), 8000)
    messages = []
    loaded, rate = load_audio(tmp_path / "x.wav", sample_rate=16000, on_resample=messages.append)
    assert rate == 16000
    assert loaded.shape == (16000,)
    assert len(messages) == 1
    assert "8000 Hz" in messages[0] and "16000 Hz" in messages[0] and "x.wav" in messages[0]


def test_load_audio_does_not_report_when_rate_already_matches(tmp_path):
    samples = random_samples(800)
    write_audio(tmp_path / "x.wav", samples, 8000)
    messages = []
    loaded, rate = load_audio(tmp_path / "x.wav", sample_rate=8000, on_resample=messages.append)
    assert rate == 8000
    assert messages == []
    np.testing.assert_array_equal(loaded, samples)


@pytest.mark.parametrize(
    "keywords, phrase",
    [
        ({"sample_rate": 0}, "sample_rate=0 must be a positive whole number of Hz"),
        ({"sample_rate": 16000.5}, "sample_rate=16000.5 must be a positive whole number of Hz"),
        ({"on_resample": "stderr"}, "on_resample='stderr' must be a callable"),
        ({"mono": 1}, "mono must be True or False, not 1"),  # as every other flag: 1 was taken for True
        ({"empty": "memmap"}, r"empty='memmap' must be a callable \(shape, dtype\) -> array, or None"),
        ({"empty": lambda shape, dtype: np.empty(shape[0] - 1, dtype)},
         r"must return a writable C-contiguous array of shape \(100,\) and dtype float32; it returned a writable "
         r"array of shape \(99,\) and dtype float32"),
        ({"empty": lambda shape, dtype: np.empty(shape, np.float64)}, r"it returned .* dtype float64"),
        ({"empty": lambda shape, dtype: list(range(shape[0]))}, "it returned a list"),
    ],
)
def test_load_audio_rejects_bad_options(tmp_path, keywords, phrase):
    write_audio(tmp_path / "x.wav", random_samples(100), 8000)
    with pytest.raises(ParameterError, match=phrase):
        load_audio(tmp_path / "x.wav", **keywords)


def test_parameter_error_is_also_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_audio(tmp_path / "x.wav", sample_rate=0)


# --- bad files ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(CwfastError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_directory(tmp_path):
    with pytest.raises(CwfastError, match="is a directory"):
        load_audio(tmp_path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(CwfastError, match="not an audio file soundfile can read") as caught:
        load_audio(path)
    assert not isinstance(caught.value, ParameterError)
    assert "notes.wav" in str(caught.value)
    assert "\n" not in str(caught.value)



def test_sound_info_refuses_what_load_audio_refuses_in_its_words(tmp_path):
    """It raised soundfile's LibsndfileError ("System error", "Format not recognised")."""
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    for path, match in ((tmp_path / "missing.wav", "no such file"), (tmp_path, "it is a directory"),
                        (text, "not an audio file soundfile can read")):
        with pytest.raises(CwfastError, match=f"^cannot read '{re.escape(str(path))}': {match}") as caught:
            audio.sound_info(path)
        assert "\n" not in str(caught.value)
    with pytest.raises(ParameterError, match="^path=None must be a str or os.PathLike"):
        audio.sound_info(None)
    write_audio(tmp_path / "ok.wav", random_samples((300,)), 8000)
    assert (audio.sound_info(tmp_path / "ok.wav").frames, audio.sound_info(tmp_path / "ok.wav").samplerate) == (300, 8000)

def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(CwfastError, match="contains no audio"):
        load_audio(path)


def test_file_with_zero_frames(tmp_path):
    path = tmp_path / "zero.wav"
    # A valid WAV header followed by no samples.
    with soundfile.SoundFile(str(path), "w", samplerate=8000, channels=1, subtype="PCM_16"):
        pass
    assert soundfile.info(str(path)).frames == 0
    with pytest.raises(CwfastError, match="contains no audio"):
        load_audio(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_file_with_non_finite_samples(tmp_path, bad_value):
    samples = random_samples(1000)
    samples[500] = bad_value
    path = tmp_path / "bad.wav"
    # write_audio refuses such samples, so write the file with soundfile directly.
    soundfile.write(str(path), samples, 1000, subtype="FLOAT")
    with pytest.raises(CwfastError, match="contains NaN or infinite samples") as caught:
        load_audio(path)
    assert "0.500000 s" in str(caught.value)


def test_a_double_file_beyond_float32_is_refused_by_name_whole_or_in_blocks(tmp_path):
    """1e300 is a finite double, but read as float32 it is infinite: the refusal says both."""
    samples = random_samples(1000).astype(np.float64)
    samples[250] = 1e300
    path = tmp_path / "huge.wav"
    soundfile.write(str(path), samples, 1000, subtype="DOUBLE")
    with pytest.raises(CwfastError, match=r"too large for float32 \(first at 0.250000 s\)"):
        load_audio(path)
    _, _, blocks = audio.read_audio_blocks(path, 100)
    with pytest.raises(CwfastError, match=r"too large for float32 \(first at 0.250000 s\)"):
        list(blocks)


def test_non_finite_samples_outside_the_excerpt_are_not_an_error(tmp_path):
    samples = random_samples(1000)
    samples[900] = np.nan
    path = tmp_path / "bad-tail.wav"
    soundfile.write(str(path), samples, 1000, subtype="FLOAT")
    excerpt, _ = load_audio(path, start=0.1, duration=0.5)
    np.testing.assert_array_equal(excerpt, samples[100:600])


def test_bad_path_type():
    with pytest.raises(ParameterError, match="must be a str or os.PathLike"):
        load_audio(42)


# --- writing: refusals and atomicity --------------------------------------------------------------


def test_write_refuses_to_overwrite(tmp_path):
    path = tmp_path / "out.wav"
    first = random_samples(100)
    write_audio(path, first, 8000)
    with pytest.raises(CwfastError, match=r"exists; pass overwrite=True \(CLI: --overwrite\)"):
        write_audio(path, np.zeros(50, dtype=np.float32), 8000)
    loaded, _ = load_audio(path)
    np.testing.assert_array_equal(loaded, first)
    assert files_in(tmp_path) == ["out.wav"]


def test_write_overwrites_when_asked(tmp_path):
    path = tmp_path / "out.wav"
    write_audio(path, random_samples(100), 8000)
    second = np.full(50, 0.25, dtype=np.float32)
    write_audio(path, second, 16000, overwrite=True)
    loaded, rate = load_audio(path)
    assert rate == 16000
    np.testing.assert_array_equal(loaded, second)
    assert files_in(tmp_path) == ["out.wav"]


@pytest.mark.parametrize(
    "file_name, keywords, samples, phrase",
    [
        ("out.mp3", {}, None, "unsupported extension"),
        ("out", {}, None, "unsupported extension"),
        ("out.wav", {"subtype": "PCM_8"}, None, "subtype='PCM_8' must be one of"),
        ("out.wav", {"subtype": 16}, None, "subtype=16 must be one of"),
        ("out.flac", {"subtype": "FLOAT"}, None, "cannot be written to FLAC; use PCM_16 or PCM_24"),
        ("out.flac", {"subtype": "float"}, None, "subtype='float' cannot be written to FLAC"),
        ("out.wav", {}, np.array([0.1, np.nan, 0.2]), "contains NaN or infinite"),
        ("out.wav", {}, np.array([0.1, np.inf]), "contains NaN or infinite"),
        ("out.wav", {}, np.array([0.1, 1e300]), "contains NaN or infinite"),
        ("out.wav", {}, np.array([1, 2, 3], dtype=np.int16), "integer dtype int16"),
        ("out.wav", {}, np.array([True, False]), "expected floating-point"),
        ("out.wav", {}, np.array([0.1j]), "expected real floating-point"),
        ("out.wav", {}, np.zeros(0), "at least one sample"),
        ("out.wav", {}, np.zeros((2, 2, 2)), "expected \\(n,\\) or \\(n, channels\\)"),
        ("out.wav", {}, np.zeros((2, 1000)), "more channels than frames"),
    ],
)
def test_write_rejects_bad_arguments_and_leaves_nothing(
    tmp_path, file_name, keywords, samples, phrase
):
    if samples is None:
        samples = random_samples(100)
    with pytest.raises(ParameterError, match=phrase):
        write_audio(tmp_path / file_name, samples, 8000, **keywords)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("sample_rate", [0, -8000, 8000.5, None])
def test_write_rejects_bad_sample_rate(tmp_path, sample_rate):
    phrase = f"sample_rate={sample_rate!r} must be a positive whole number of Hz"
    with pytest.raises(ParameterError, match=phrase):
        write_audio(tmp_path / "x.wav", random_samples(10), sample_rate)
    assert files_in(tmp_path) == []


def test_write_into_missing_directory(tmp_path):
    with pytest.raises(CwfastError, match="does not exist"):
        write_audio(tmp_path / "no" / "such" / "x.wav", random_samples(10), 8000)
    assert files_in(tmp_path) == []


def test_write_onto_a_directory(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(CwfastError, match="is a directory"):
        write_audio(tmp_path / "folder.wav", random_samples(10), 8000, overwrite=True)
    assert files_in(tmp_path) == ["folder.wav"]


def test_failed_write_removes_the_temporary_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    original = random_samples(100)
    write_audio(path, original, 8000)
    temporary_paths = []
    real_write = soundfile.write

    def write_half_then_fail(file, data, samplerate, **keywords):
        # Leave a real partial file behind, as a disk filling up mid-write would.
        temporary_paths.append(os.fsdecode(file))  # as the OS holds it: bytes
        real_write(file, data[: len(data) // 2], samplerate, **keywords)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio.soundfile, "write", write_half_then_fail)
    with pytest.raises(CwfastError, match="cannot write .*out.wav.*No space left on device"):
        write_audio(path, np.zeros(1000, dtype=np.float32), 8000, overwrite=True)

    # The temporary file was in the target's directory, and has been removed.
    assert len(temporary_paths) == 1
    assert Path(temporary_paths[0]).parent == tmp_path
    assert Path(temporary_paths[0]).suffix == ".wav"
    assert not os.path.exists(temporary_paths[0])
    assert files_in(tmp_path) == ["out.wav"]
    monkeypatch.undo()
    loaded, _ = load_audio(path)
    np.testing.assert_array_equal(loaded, original)


def test_interrupted_write_removes_the_temporary_file(tmp_path, monkeypatch):
    def interrupt(file, *arguments, **keywords):
        Path(os.fsdecode(file)).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(audio.soundfile, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_audio(tmp_path / "out.wav", random_samples(10), 8000)
    assert files_in(tmp_path) == []


# --- scaling --------------------------------------------------------------------------------------


def test_scale_to_unit_makes_the_peak_exactly_one():
    samples = random_samples(1000, amplitude=0.3)
    scaled, scale = scale_to_unit(samples)
    assert scale == pytest.approx(float(np.max(np.abs(samples))), rel=0, abs=0)
    assert np.max(np.abs(scaled)) == 1.0
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled * scale, samples, rtol=1e-6, atol=1e-7)


def test_scale_to_unit_uses_the_negative_peak_too():
    scaled, scale = scale_to_unit(np.array([0.1, -0.5, 0.25], dtype=np.float32))
    assert scale == 0.5
    np.testing.assert_array_equal(scaled, np.array([0.2, -1.0, 0.5], dtype=np.float32))


def test_scale_to_unit_scales_all_channels_together():
    stereo = np.array([[0.1, 0.2], [0.4, -0.05]], dtype=np.float32)
    scaled, scale = scale_to_unit(stereo)
    assert scale == pytest.approx(0.4)
    np.testing.assert_allclose(scaled, stereo / np.float32(0.4), rtol=1e-6)


def test_scale_to_unit_does_not_modify_its_input():
    samples = random_samples(100, amplitude=0.3)
    before = samples.copy()
    scale_to_unit(samples)
    np.testing.assert_array_equal(samples, before)


def test_scale_to_unit_refuses_silence():
    with pytest.raises(CwfastError, match="is silent"):
        scale_to_unit(np.zeros(100, dtype=np.float32))


def test_scale_to_unit_refuses_non_finite_samples():
    with pytest.raises(ParameterError, match="contains NaN or infinite"):
        scale_to_unit(np.array([0.5, np.nan], dtype=np.float32))


# --- the bundled excerpt --------------------------------------------------------------------------


def test_bundled_excerpt_is_readable_music():
    samples, rate = load_audio(BUNDLED_EXCERPT)
    assert rate == 44100
    assert samples.shape == (3 * 44100,)
    assert samples.dtype == np.float32
    info = soundfile.info(str(BUNDLED_EXCERPT))
    assert (info.channels, info.subtype) == (1, "PCM_16")
    # A busy passage, not silence: loud throughout, with no 0.1 s stretch near silence.
    assert np.sqrt(np.mean(samples**2)) > 0.05
    windows = samples[: len(samples) // 4410 * 4410].reshape(-1, 4410)
    assert np.sqrt(np.mean(windows**2, axis=1)).min() > 0.01
    assert np.max(np.abs(samples)) <= 1.0


def test_bundled_excerpt_can_be_resampled_and_scaled():
    samples, rate = load_audio(BUNDLED_EXCERPT, sample_rate=16000, start=1.0, duration=1.0)
    assert (rate, samples.shape) == (16000, (16000,))
    scaled, scale = scale_to_unit(samples)
    assert np.max(np.abs(scaled)) == 1.0
    assert 0 < scale <= 1.0


def test_trim_silence_drops_quiet_ends_only():
    from cwfast.audio import trim_silence

    rate = 1000  # blocks of 50 samples
    loud = np.sin(np.arange(500) / 3.0).astype(np.float32)
    music = np.concatenate([loud, 1e-6 * loud, loud])  # a quiet passage inside stays
    x = np.concatenate([np.zeros(120), 1e-5 * np.ones(100), music, np.zeros(130)]).astype(np.float32)
    # Blocks 0-3 (samples 0-199) are quiet, block 4 holds the music's start (220); the music ends
    # at 1720, inside block 34 (1700-1749); blocks 35 and 36 are silence.
    np.testing.assert_array_equal(trim_silence(x, rate), x[200:1750])
    np.testing.assert_array_equal(trim_silence(loud, rate), loud)  # nothing to drop
    # A loud last partial block is kept (it was dropped with the silence); a quiet one goes.
    np.testing.assert_array_equal(trim_silence(loud[:490], rate), loud[:490])
    np.testing.assert_array_equal(trim_silence(x[:1780], rate), x[200:1750])
    with pytest.raises(ParameterError, match="silent throughout"):
        trim_silence(np.zeros(500), rate)
    with pytest.raises(ParameterError, match="shorter than one 50-ms block"):
        trim_silence(np.ones(10), rate)


@pytest.mark.parametrize("rate, more", [(16000, ""), (4000, ""), (20000, " (2.5x its samples, nothing above 4000 Hz)")])
def test_the_resample_note_says_what_upsampling_adds(ramp_file, rate, more):
    """`train --sample-rate 100000000` resampled as asked without a word on what it bought."""
    path, _ = ramp_file
    notes = []
    load_audio(path, duration=0.1, sample_rate=rate, on_resample=notes.append)
    assert notes == [f"resampled '{path}' from 8000 Hz to {rate} Hz{more}"]


def test_one_frame_of_stereo_resamples_channel_by_channel(tmp_path):
    """A sound file's one stereo frame was taken for a transposed array by resample's check and
    refused, naming an argument the caller never passed."""
    path = tmp_path / "one.wav"
    soundfile.write(path, np.array([[0.5, -0.25]]), 48000, subtype="FLOAT")
    samples, rate = load_audio(path, mono=False, sample_rate=16000)
    assert rate == 16000 and samples.shape == (1, 2)
    for channel, value in enumerate((0.5, -0.25)):  # each channel as its own one-sample clip
        np.testing.assert_array_equal(samples[:, channel], resample(np.array([value]), 48000, 16000))


@pytest.mark.parametrize("blocks", [False, True])
def test_float_wav_of_the_same_samples_is_the_same_file(tmp_path, blocks):
    # libsndfile stamps a float WAV's PEAK chunk with the time of writing: `cwfast generate` of
    # one seed made files that differed in 4 bytes from one second to the next. The stamp is
    # zeroed; the chunk's peak (value and frame) stays as libsndfile wrote it.
    samples = np.linspace(-0.25, 0.5, 301)
    path = tmp_path / "out.wav"
    if blocks:
        audio.write_audio_blocks(path, [samples[:100], samples[100:]], 16000)
    else:
        write_audio(path, samples, 16000)
    data = path.read_bytes()
    at = data.index(b"PEAK")
    size, version, stamp = np.frombuffer(data[at + 4 : at + 16], "<u4")
    assert (size, version, stamp) == (16, 1, 0)
    value, frame = np.frombuffer(data[at + 16 : at + 20], "<f4")[0], np.frombuffer(data[at + 20 : at + 24], "<u4")[0]
    assert (value, frame) == (np.float32(0.5), 300)
    assert np.array_equal(soundfile.read(path)[0], samples.astype(np.float32))


def test_clearing_the_peak_time_leaves_other_files_alone(tmp_path):
    # FLAC, PCM WAV (no PEAK chunk) and a WAV whose chunks end before any PEAK: byte for byte.
    for name, subtype in (("a.flac", "PCM_24"), ("b.wav", "PCM_16")):
        write_audio(tmp_path / name, np.full(50, 0.1), 8000, subtype=subtype)
        before = (tmp_path / name).read_bytes()
        audio._clear_peak_time(tmp_path / name)
        assert (tmp_path / name).read_bytes() == before
    odd = tmp_path / "odd.wav"
    odd.write_bytes(b"RIFF\x20\x00\x00\x00WAVEjunk\x03\x00\x00\x00abc\x00PEAK")  # a chunk cut short
    audio._clear_peak_time(odd)
    assert odd.read_bytes() == b"RIFF\x20\x00\x00\x00WAVEjunk\x03\x00\x00\x00abc\x00PEAK"


@pytest.mark.parametrize("orig_rate, new_rate", [(44100, 16000), (16000, 44100), (3, 2), (2, 3), (48000, 16000),
                                                 (1000, 8000)])
@pytest.mark.parametrize("n", [1, 5, 2000, 9001])
def test_resample_blocks_equals_resample_bit_for_bit(rng, orig_rate, new_rate, n):
    """A file resampled as it streams (cwfast process read an hour at 44.1 kHz whole to resample
    it: 2.8 GB) gives exactly the whole signal's resampling by scipy in float64, however its
    blocks arrive and however short the segments (block=1: the least the filter allows, several
    segments here); so does resample, which resamples a segment at a time."""
    import scipy.signal

    x = rng.standard_normal(n).astype(np.float32)
    g = math.gcd(orig_rate, new_rate)
    whole = scipy.signal.resample_poly(x.astype(np.float64), new_rate // g, orig_rate // g).astype(np.float32)
    np.testing.assert_array_equal(resample(x, orig_rate, new_rate).view(np.uint32), whole.view(np.uint32))
    for size in (1, 7, 1000):
        pieces = [x[i : i + size] for i in range(0, n, size)]
        streamed = np.concatenate(list(audio.resample_blocks(iter(pieces), orig_rate, new_rate, block=1)))
        assert streamed.dtype == np.float32
        np.testing.assert_array_equal(streamed.view(np.uint32), whole.view(np.uint32))
    assert list(audio.resample_blocks(iter([]), orig_rate, new_rate)) == []


def test_resample_blocks_cuts_the_signal_into_segments():
    """The equality above is worth something only if the segments are shorter than the signal."""
    x = np.zeros(20000, dtype=np.float32)
    assert len(list(audio.resample_blocks([x], 44100, 16000, block=1))) > 5


def test_load_audio_mixes_channels_as_before_a_few_rows_at_a_time(rng):
    """The mono mix, now taken a few rows at a time, is the float64 mean of each frame's channels
    as it was when taken whole; one channel is its own samples."""
    frames = rng.standard_normal((1001, 3)).astype(np.float32)
    whole = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(audio._mixed(frames, rows=7).view(np.uint32), whole.view(np.uint32))
    np.testing.assert_array_equal(audio._mixed(frames[:, :1]), frames[:, 0])


def test_resample_of_channels_is_scipys_of_the_whole_array_bit_for_bit(rng):
    import scipy.signal

    x = rng.standard_normal((9001, 3)).astype(np.float32)
    whole = scipy.signal.resample_poly(x.astype(np.float64), 160, 441, axis=0).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 44100, 16000).view(np.uint32), whole.view(np.uint32))


@pytest.mark.parametrize("fmt, subtype, ext", [("WAV", "FLOAT", ".wav"), ("FLAC", "PCM_24", ".flac"),
                                                ("OGG", "VORBIS", ".ogg")])
def test_load_audio_reads_and_mixes_several_channels_a_few_frames_at_a_time(tmp_path, rng, fmt, subtype, ext):
    """A file of several channels is read and mixed a few frames at a time (read whole first,
    an hour of stereo held its channels and its mix): the same mix as the whole read's, excerpts
    and a NaN's position included."""
    frames = (0.3 * rng.standard_normal((3001, 2))).astype(np.float32)
    path = tmp_path / f"s{ext}"
    soundfile.write(path, frames, 8000, format=fmt, subtype=subtype)
    whole = soundfile.read(path, dtype="float32", always_2d=True)[0]
    with soundfile.SoundFile(path) as sound_file:
        mixed = audio._read(sound_file, sound_file.frames, True, rows=7)
    expected = whole.mean(axis=1, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(mixed.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(load_audio(path, start=0.01, duration=0.2)[0], expected[80:1680])
    if fmt == "WAV":
        frames[2000, 1] = np.nan
        soundfile.write(path, frames, 8000, subtype="FLOAT")
        with pytest.raises(CwfastError, match=r"first at 0\.250000 s"):
            load_audio(path)


def test_resample_blocks_designs_its_filter_once(monkeypatch):
    """resample_poly designed its filter again for every segment: where the ratio's terms are
    large (44101 to 8000 Hz: 882,021 taps) that took ten times the filtering. The filter is
    designed once and handed to each segment (the same bits: the equality tests above)."""
    import scipy.signal

    windows = []
    real = scipy.signal.resample_poly

    def spy(x, up, down, **kwargs):
        windows.append(kwargs.get("window"))
        return real(x, up, down, **kwargs)

    monkeypatch.setattr(scipy.signal, "resample_poly", spy)
    x = np.zeros(20000, dtype=np.float32)
    list(audio.resample_blocks([x], 44100, 16000, block=1))
    assert len(windows) > 5
    assert all(isinstance(w, np.ndarray) and w is windows[0] for w in windows)


def test_resample_blocks_refuses_what_is_no_iterable_when_called():
    """As process_blocks does: a ParameterError when called, not a TypeError at the first block."""
    with pytest.raises(ParameterError, match="blocks must be an iterable of sample blocks, not int"):
        audio.resample_blocks(5, 44100, 16000)


@pytest.mark.parametrize("channels", [1, 2])
def test_load_audio_resamples_as_it_reads_with_the_whole_reads_bits(tmp_path, rng, monkeypatch, channels):
    """load_audio(sample_rate=...) mixes and resamples the file as it reads it (read whole first,
    an hour at 44.1 kHz to 16 kHz peaked at 1.11 GB; now 0.33 GB): the same bits as the whole
    mix resampled, here in reads of 7 frames and segments of the fewest samples the filter
    allows; excerpts and a NaN's position as before."""
    frames = (0.3 * rng.standard_normal((3001, channels))).astype(np.float32)
    path = tmp_path / "s.wav"
    soundfile.write(path, frames, 44100, subtype="FLOAT")
    whole = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    blocks = []
    real = audio._resample_blocks

    def spy(source, *args, **kwargs):
        def counted():
            for block in source:
                blocks.append(block.size)
                yield block

        return real(counted(), *args, **kwargs)

    monkeypatch.setattr(audio, "_resample_blocks", spy)
    monkeypatch.setattr(audio, "READ_ROWS", 7)
    monkeypatch.setattr(audio, "RESAMPLE_BLOCK", 1)
    notes = []
    samples, rate = load_audio(path, sample_rate=16000, on_resample=notes.append)
    assert rate == 16000 and samples.dtype == np.float32 and notes
    assert max(blocks) == 7 and sum(blocks) == 3001
    np.testing.assert_array_equal(samples.view(np.uint32), resample(whole, 44100, 16000).view(np.uint32))
    excerpt, _ = load_audio(path, sample_rate=16000, start=0.01, duration=0.02)
    np.testing.assert_array_equal(excerpt.view(np.uint32), resample(whole[441:1323], 44100, 16000).view(np.uint32))
    frames[2000, -1] = np.inf
    soundfile.write(path, frames, 44100, subtype="FLOAT")
    with pytest.raises(CwfastError, match=r"first at 0\.045351 s"):
        load_audio(path, sample_rate=16000)


def test_resample_blocks_holds_copies_of_a_reused_buffer(rng):
    """A source that fills one buffer again for each block (as soundfile's blocks(out=...) does)
    was resampled wrong: the blocks held were the buffer, refilled."""
    x = rng.standard_normal(200000).astype(np.float32)

    def reused():
        buffer = np.empty(1000, dtype=np.float32)
        for start in range(0, x.size, 1000):
            buffer[:] = x[start : start + 1000]
            yield buffer

    streamed = np.concatenate(list(audio.resample_blocks(reused(), 44100, 16000)))
    np.testing.assert_array_equal(streamed.view(np.uint32), resample(x, 44100, 16000).view(np.uint32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pcm_write_clips_without_touching_the_callers_samples(tmp_path, dtype):
    # A PCM subtype clips to [-1, 1]; the clip is done in place only on write_audio's own copy.
    samples = np.array([-2.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.0] * 10, dtype=dtype)
    before = samples.copy()
    write_audio(tmp_path / "a.wav", samples, 8000, subtype="PCM_24")
    np.testing.assert_array_equal(samples, before)
    read, _ = soundfile.read(tmp_path / "a.wav")
    np.testing.assert_allclose(read, np.clip(before, -1.0, 1.0), atol=2.0**-23)


@pytest.mark.parametrize("channels, mono, rate", [(1, True, None), (2, True, None), (2, False, None), (1, True, 16000),
                                                  (2, True, 16000), (2, False, 16000), (1, False, 16000)])
def test_load_audio_writes_into_the_array_empty_makes(tmp_path, rng, channels, mono, rate):
    """load_audio(empty=) reads, mixes and resamples into the array ``empty`` makes (a scratch
    file's memory map: a corpus's hour is never whole in memory) and returns that array, with the
    bits the default read gives, excerpts included."""
    frames = (0.3 * rng.standard_normal((3001, channels))).astype(np.float32)
    path = tmp_path / "s.wav"
    soundfile.write(path, frames, 44100, subtype="FLOAT")
    made = []

    def empty(shape, dtype):
        made.append(np.full(shape, np.nan, dtype))  # (garbage where nothing is written)
        return made[-1]

    for excerpt in ({}, {"start": 0.01, "duration": 0.02}):
        expected, expected_rate = load_audio(path, mono=mono, sample_rate=rate, **excerpt)
        samples, got_rate = load_audio(path, mono=mono, sample_rate=rate, empty=empty, **excerpt)
        assert samples is made[-1] and got_rate == expected_rate
        np.testing.assert_array_equal(samples.view(np.uint32), expected.view(np.uint32))
    assert len(made) == (4 if rate and not mono else 2)  # (channels kept apart are read, then resampled)


def test_load_audio_reads_into_scratch_files(tmp_path, rng):
    from cwfast.scratch import Scratch

    frames = (0.3 * rng.standard_normal((3001, 2))).astype(np.float32)
    soundfile.write(tmp_path / "s.wav", frames, 8000, subtype="FLOAT")
    samples, _ = load_audio(tmp_path / "s.wav", empty=Scratch(tmp_path).empty)
    assert isinstance(samples, np.memmap)
    np.testing.assert_array_equal(samples, load_audio(tmp_path / "s.wav")[0])
    assert files_in(tmp_path) == ["s.wav"]  # (the scratch file has no name)


class _ShortFile:
    """A sound file of one channel whose reads stop ``short`` frames before what was asked: a
    header that promised more than the file holds."""

    channels = 1

    def __init__(self, short):
        self.short = short

    def tell(self):
        return 0

    def read(self, frames=-1, out=None):  # (SoundFile's: all of out's rows by default)
        frames = len(out) if frames == -1 else frames
        out[: frames - self.short] = np.arange(frames - self.short)
        return out[: frames - self.short]


def test_a_short_read_keeps_what_was_read_in_the_array_empty_made():
    """Fewer frames than the header says: NumPy's array is copied to its length (not to keep the
    rest of its memory), the array ``empty`` made is cut (a view: a scratch file is on disk)."""
    default = audio._read(_ShortFile(3), 10, True)
    assert default.base is None and default.size == 7
    made = []
    into = audio._read(_ShortFile(3), 10, True, made=audio._maker(lambda shape, dtype: made.append(np.empty(shape, dtype)) or made[-1]))
    assert into.base is made[0] and into.size == 7
    np.testing.assert_array_equal(into, np.arange(7))
    np.testing.assert_array_equal(default, np.arange(7))


def test_a_non_finite_sample_is_found_a_block_at_a_time():
    """The check of a whole read's samples looks at a few rows at a time (a mask of the whole
    clip was a byte a sample), and finds the same first frame."""
    x = np.zeros((50, 2), np.float32)
    assert audio._first_not_finite(x, rows=7) is None
    x[23, 1] = np.inf
    x[40, 0] = np.nan
    assert audio._first_not_finite(x, rows=7) == 23
    assert audio._first_not_finite(x[:, 0], rows=7) == 40


def test_whole_rates_given_as_floats_are_the_same_rates(tmp_path):
    # Audio hosts report rates as floats (sounddevice's 48000.0); a whole one is that many Hz.
    samples = random_samples(400)
    np.testing.assert_array_equal(resample(samples, 8000.0, np.float32(16000)), resample(samples, 8000, 16000))
    write_audio(tmp_path / "x.wav", samples, 8000.0)
    assert soundfile.info(str(tmp_path / "x.wav")).samplerate == 8000
    loaded, rate = load_audio(tmp_path / "x.wav", sample_rate=16000.0)
    assert rate == 16000 and type(rate) is int
    np.testing.assert_array_equal(loaded, load_audio(tmp_path / "x.wav", sample_rate=16000)[0])
