"""A file cut short (a download that stopped, a copy to a full disk) is read for what it holds and
said to be cut short, never taken silently for a shorter recording: through the API's readers
(``on_note``) and the command line's train, process and generate --prime (a note on stderr).

The files are real ones, written by libsndfile and cut with ``os.truncate`` as ``truncate -s``
cuts them; what libsndfile then reports is what the notes are made from."""

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast import ClockworkRNN
from cwfast.audio import load_audio, read_audio_blocks
from cwfast.cli import main
from cwfast.errors import CwfastError

ROOT = Path(__file__).resolve().parents[1]
BRAHMS = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
RATE = 8000


def cut(path, n_bytes):
    """Cut the last ``n_bytes`` off the file at ``path``, as ``truncate -s -N`` does."""
    os.truncate(path, os.path.getsize(path) - n_bytes)


@pytest.fixture(scope="module")
def clip():
    """0.5 s of the bundled Brahms excerpt at 8 kHz, mono, float32."""
    return load_audio(BRAHMS, sample_rate=RATE, start=0.5, duration=0.5)[0]


def written(path, samples, **kwargs):
    soundfile.write(path, samples, RATE, **kwargs)
    return path


def notes_of(read):
    """The notes ``read(on_note)`` gives, and what it returns."""
    notes = []
    result = read(notes.append)
    return notes, result


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, channels, subtype, sample_bytes, chunk_extra",
                         [("cut.wav", 1, "PCM_16", 2, 0), ("cut.wav", 2, "FLOAT", 4, 0), ("cut.aiff", 1, "PCM_24", 3, 8),
                          ("cut.au", 1, "PCM_16", 2, 0), ("cut.caf", 1, "PCM_16", 2, 4)])
def test_a_file_cut_short_is_read_for_what_it_holds_and_said_to_be(tmp_path, clip, name, channels, subtype,
                                                                   sample_bytes, chunk_extra):
    """The note gives the sizes of the audio chunk (AIFF's counts 8 bytes more, CAF's 4) as the
    header says and as the file holds."""
    samples = np.stack([clip] * channels, axis=1) if channels > 1 else clip
    path = written(tmp_path / name, samples, subtype=subtype)
    whole = soundfile.read(path, dtype="float32", always_2d=True)[0].mean(axis=1, dtype=np.float64).astype(np.float32)
    cut(path, 1000 * channels * sample_bytes)
    notes, (read, rate) = notes_of(lambda on_note: load_audio(path, on_note=on_note))
    assert rate == RATE and read.size == soundfile.info(path).frames and 2990 <= read.size <= 3000
    np.testing.assert_array_equal(read, whole[: read.size])
    assert len(notes) == 1 and "\n" not in notes[0]
    said = clip.size * channels * sample_bytes + chunk_extra
    assert notes[0].startswith(f"'{path}' is cut short: its audio chunk holds ")
    assert notes[0].endswith(f" of the {said:,} bytes its header says; reading the {read.size / RATE:.3f} s it holds")


@pytest.mark.parametrize("name, unit, said", [("cut.w64", "bytes", 8104), ("cut.rf64", "frames", 4000)])
def test_a_w64_or_rf64_file_cut_short_is_said_to_be(tmp_path, clip, name, unit, said):
    """Their headers say their size in 64 bits, and libsndfile logs it differently from a WAV's:
    a W64 file's whole size (its "riff" size: 8000 bytes of audio and 104 of headers), an RF64
    file's frames (its ds64 chunk). Both were read silently for what they held. Junk after the
    whole file's audio is no cut (libsndfile reads a W64 file's as audio: not said either way)."""
    path = written(tmp_path / name, clip, subtype="PCM_16")
    whole = soundfile.read(path, dtype="float32")[0]
    cut(path, 2000)
    notes, (read, _) = notes_of(lambda on_note: load_audio(path, on_note=on_note))
    assert read.size == 3000
    np.testing.assert_array_equal(read, whole[:3000])
    holds = {"bytes": said - 2000, "frames": 3000}[unit]
    assert notes == [f"'{path}' is cut short: it holds {holds:,} of the {said:,} {unit} its header says; "
                     "reading the 0.375 s it holds"]
    junk = written(tmp_path / ("junk" + name[3:]), clip, subtype="PCM_16")
    with open(junk, "ab") as out:
        out.write(b"\0" * 64)
    notes, (read, _) = notes_of(lambda on_note: load_audio(junk, on_note=on_note))
    assert notes == [] and read.size >= clip.size


def test_every_reader_says_so(tmp_path, clip):
    """Resampled as it is read, channels kept apart, and block by block (process's reader)."""
    path = written(tmp_path / "cut.wav", np.stack([clip, clip], axis=1), subtype="PCM_16")
    cut(path, 4 * 1000)
    for read in (lambda on_note: load_audio(path, sample_rate=16000, on_note=on_note),
                 lambda on_note: load_audio(path, mono=False, on_note=on_note),
                 lambda on_note: load_audio(path, start=0.1, on_note=on_note),
                 lambda on_note: list(read_audio_blocks(path, 256, on_note=on_note)[2])):
        notes, _ = notes_of(read)
        assert notes == [f"'{path}' is cut short: its audio chunk holds 12,000 of the 16,000 bytes its header says; "
                         "reading the 0.375 s it holds"]


def test_a_flac_file_cut_short_is_read_up_to_where_its_decoder_stops(tmp_path, clip):
    """libsndfile's FLAC decoder raises where the file is cut (it was refused as "not an audio
    file"): what it decoded before is exact, and kept, and said to end early."""
    path = written(tmp_path / "cut.flac", np.tile(clip, 4), subtype="PCM_16")  # (2 s: several FLAC frames)
    whole = soundfile.read(path, dtype="float32")[0]
    cut(path, os.path.getsize(path) // 3)
    for read in (lambda on_note: load_audio(path, on_note=on_note)[0],
                 lambda on_note: load_audio(path, sample_rate=4000, on_note=on_note)[0],
                 lambda on_note: np.concatenate(list(read_audio_blocks(path, 300, on_note=on_note)[2]))):
        notes, read_samples = notes_of(read)
        assert len(notes) == 1 and notes[0].startswith(f"'{path}' is cut short or damaged: its decoder stopped at "), notes
        assert f"of the {whole.size / RATE:.3f} s its header says (" in notes[0]
    read = load_audio(path)[0]
    assert 0 < read.size < whole.size
    np.testing.assert_array_equal(read, whole[: read.size])
    assert f"stopped at {read.size / RATE:.3f} s" in notes[0]


def test_a_flac_file_read_up_to_where_its_decoder_stops_is_read_whole(tmp_path, clip):
    """A read that ends where the decoder will stop decodes all it asks for; what fails is the
    seek soundfile makes after it, to the damaged frame ("Internal psf_fseek() failed", the file's
    position lost). That read's frames are kept: blocks that end there (process's, 4096 frames by
    default, a FLAC frame's length) and an excerpt that ends there were refused as unreadable."""
    path = written(tmp_path / "cut.flac", np.tile(clip, 4), subtype="PCM_16")
    whole = soundfile.read(path, dtype="float32")[0]
    cut(path, os.path.getsize(path) // 3)
    held = load_audio(path)[0].size
    for read in (lambda on_note: np.concatenate(list(read_audio_blocks(path, held, on_note=on_note)[2])),
                 lambda on_note: np.concatenate(list(read_audio_blocks(path, held // 3, on_note=on_note)[2])),
                 lambda on_note: load_audio(path, duration=held / RATE, on_note=on_note)[0]):
        notes, read_samples = notes_of(read)
        np.testing.assert_array_equal(read_samples, whole[:held])
        assert len(notes) == 1 and notes[0].startswith(f"'{path}' is cut short or damaged: its decoder stopped at "
                                                       f"{held / RATE:.3f} s of the {whole.size / RATE:.3f} s "), notes


def test_a_flac_excerpt_that_starts_past_where_its_decoder_stops_says_so(tmp_path, clip):
    path = written(tmp_path / "cut.flac", np.tile(clip, 4), subtype="PCM_16")
    cut(path, os.path.getsize(path) // 3)
    start = (load_audio(path)[0].size + 100) / RATE
    with pytest.raises(CwfastError) as error:
        load_audio(path, start=start)
    assert str(error.value).startswith(f"cannot read '{path}' from {start} s: its decoder fails before there (")
    assert str(error.value).endswith("): it is cut short or damaged")


def test_a_wav_excerpt_that_starts_past_what_it_holds_says_it_is_cut_short(tmp_path, clip):
    """The length the refusal gives is what the file holds, not its header's 0.5 s: say why."""
    path = written(tmp_path / "cut.wav", clip, subtype="PCM_16")
    cut(path, 2 * 1000)
    with pytest.raises(CwfastError) as error:
        load_audio(path, start=0.45)
    assert str(error.value) == (f"start=0.45 s is at or past the end of '{path}', which is 0.375 s long ('{path}' is "
                                "cut short: its audio chunk holds 6,000 of the 8,000 bytes its header says; reading "
                                "the 0.375 s it holds)")


def test_an_ogg_file_cut_short_is_said_to_lack_its_end(tmp_path, clip):
    """An Ogg stream's header says no length; a stream cut short lacks the end-of-stream mark on
    its last page, which libsndfile reports."""
    path = written(tmp_path / "cut.ogg", np.tile(clip, 10))  # (5 s: several pages)
    cut(path, os.path.getsize(path) // 2)
    notes, (read, _) = notes_of(lambda on_note: load_audio(path, on_note=on_note))
    assert 0 < read.size < 10 * clip.size
    assert notes == [f"'{path}' ends without an Ogg stream's end mark, as a file cut short does: it holds "
                     f"{read.size / RATE:.3f} s"]


def test_whole_files_say_nothing(tmp_path, clip):
    """Healthy files, a few bytes of junk after a WAV's audio, and a WAV written to a pipe (its
    sizes the 0xFFFFFFFF a streaming writer leaves, ffmpeg's) are not cut short."""
    paths = [written(tmp_path / "a.wav", clip), written(tmp_path / "a.flac", clip), written(tmp_path / "a.ogg", clip),
             written(tmp_path / "a.aiff", clip)]
    junk = written(tmp_path / "junk.wav", clip)
    with open(junk, "ab") as file:
        file.write(b"\0junk\0")
    streamed = written(tmp_path / "streamed.wav", clip, subtype="PCM_16")
    data = bytearray(streamed.read_bytes())
    at = data.index(b"data")
    data[4:8] = data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(bytes(data))
    for path in [*paths, junk, streamed]:
        notes, (read, _) = notes_of(lambda on_note, path=path: load_audio(path, on_note=on_note))
        assert notes == [] and read.size == clip.size, path
        notes, _ = notes_of(lambda on_note, path=path: list(read_audio_blocks(path, 512, on_note=on_note)[2]))
        assert notes == [], path


def test_the_bundled_audio_says_nothing():
    for path in sorted((ROOT / "data").rglob("*")):
        if path.suffix.lower() in (".wav", ".flac", ".ogg"):
            notes, _ = notes_of(lambda on_note, path=path: load_audio(path, duration=0.01, on_note=on_note))
            assert notes == [], path


# --- the command line ----------------------------------------------------------------------------


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def cut_wav(tmp_path, clip):
    path = written(tmp_path / "cut.wav", clip, subtype="PCM_16")
    cut(path, 2 * 1000)
    return path


def said(err, path):
    """The stderr lines that say ``path`` is cut short."""
    return [line for line in err.splitlines()
            if line == f"cwfast: '{path}' is cut short: its audio chunk holds 6,000 of the 8,000 bytes its header says; "
                       "reading the 0.375 s it holds"]


@pytest.mark.parametrize("whole", [False, True])
def test_train_says_a_file_is_cut_short_and_trains_on_what_it_holds(capsys, tmp_path, clip, cut_wav, whole):
    path = written(tmp_path / "whole.wav", clip, subtype="PCM_16") if whole else cut_wav
    status, _, err = run(capsys, "train", path, "-o", tmp_path / "m.npz", "--mode", "autoregressive", "--epochs", 1,
                         "--hidden", 6, "--modules", 3, "--quiet")
    assert status == 0, err
    assert ("cut short" in err) is not whole, err
    if not whole:
        assert len(said(err, path)) == 1, err


def test_process_says_a_file_is_cut_short_and_processes_what_it_holds(capsys, tmp_path, cut_wav):
    model = ClockworkRNN(1, 1, n_hidden=6, n_modules=3, seed=2, sample_rate=RATE, metadata={"mode": "effect"})
    model.save(tmp_path / "effect.npz")
    status, _, err = run(capsys, "process", "-m", tmp_path / "effect.npz", cut_wav, "-o", tmp_path / "out.wav",
                         "--quiet")
    assert status == 0, err
    assert len(said(err, cut_wav)) == 1, err
    assert soundfile.info(str(tmp_path / "out.wav")).frames == 3000


def test_generate_says_its_prime_is_cut_short(capsys, tmp_path, cut_wav):
    model = ClockworkRNN(1, 256, n_hidden=6, n_modules=3, seed=2, sample_rate=RATE, output="softmax",
                         metadata={"mode": "autoregressive", "scale": 0.4, "n_classes": 256})
    model.save(tmp_path / "ar.npz")
    status, _, err = run(capsys, "generate", "-m", tmp_path / "ar.npz", "-o", tmp_path / "out.wav", "--samples", 50,
                         "--seed", 1, "--prime", cut_wav, "--quiet")
    assert status == 0, err
    assert len(said(err, cut_wav)) == 1, err


def test_process_reads_a_flac_file_cut_short_up_to_where_its_decoder_stops(capsys, tmp_path, clip):
    """At process's 4096-frame blocks, a FLAC frame's length, the block that ends where the decoder
    stops was refused ('Internal psf_fseek() failed') once the note had said the file was read."""
    path = written(tmp_path / "cut.flac", np.tile(clip, 4), subtype="PCM_16")
    cut(path, os.path.getsize(path) // 3)
    held = load_audio(path)[0].size
    model = ClockworkRNN(1, 1, n_hidden=6, n_modules=3, seed=2, sample_rate=RATE, metadata={"mode": "effect"})
    model.save(tmp_path / "effect.npz")
    status, _, err = run(capsys, "process", "-m", tmp_path / "effect.npz", path, "-o", tmp_path / "out.wav", "--quiet")
    assert status == 0, err
    assert err.count("is cut short or damaged") == 1, err
    assert soundfile.info(str(tmp_path / "out.wav")).frames == held
