"""scripts/bench_post_training.py: it runs train's post-training steps on a saved model, each timed."""

from pathlib import Path

import pytest
import soundfile

import cwfast

from cwfast.audio import load_audio
from cwfast.train_audio import train_audio

import script_loading

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"


def load_script():
    return script_loading.load_script("bench_post_training")


def test_each_step_is_timed_and_what_it_found_is_the_steps_results(tmp_path, capsys):
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    soundfile.write(tmp_path / "clip.wav", samples, rate, subtype="FLOAT")
    run = train_audio(samples, rate, mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    run.model.save(tmp_path / "m.npz")
    script = load_script()
    script.main([str(tmp_path / "m.npz"), str(tmp_path / "clip.wav")])
    lines = capsys.readouterr().out.splitlines()
    assert [word for word in lines[0].split()[::2]] == ["fitting_parts", "fit_scale", "fit_surprise", "figures",
                                                        "calibrate", "calibrate_later", "total"]
    # What it found is what the steps return: each fit no worse on validation than the head it
    # started from, and the figures of every part.
    times, found = script.steps(cwfast.load(tmp_path / "m.npz"), [str(tmp_path / "clip.wav")])
    assert [name for name, _ in times] == ["fitting_parts", "fit_scale", "fit_surprise", "figures", "calibrate",
                                          "calibrate_later"]
    for fit in ("fit_scale", "fit_surprise"):
        assert found[fit]["bits_after"] <= found[fit]["bits_before"]
    # split as the run split it: the figures are the ones the run recorded, bit for bit
    assert found["figures"] == run.model.metadata["figures"]
    assert found["calibrate_later"] == found["calibrate"]  # (the later run's measures handed to it)


def test_audio_other_than_the_models_is_refused(tmp_path, capsys):
    """Other audio (the untrimmed recording, another file) would be split and timed without a word."""
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    soundfile.write(tmp_path / "clip.wav", samples, rate, subtype="FLOAT")
    soundfile.write(tmp_path / "longer.wav", load_audio(EXCERPT, sample_rate=8000)[0], rate, subtype="FLOAT")
    run = train_audio(samples, rate, mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    run.model.save(tmp_path / "m.npz")
    for files in (["longer.wav"], ["clip.wav", "clip.wav"]):
        with pytest.raises(SystemExit) as stopped:
            load_script().main([str(tmp_path / "m.npz"), *(str(tmp_path / f) for f in files)])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("bench_post_training.py: error: the model was trained on 1 clip of 12000 samples at "
                              "8000 Hz, and the files given have ") and err.count("\n") == 1, err


def test_a_model_that_is_not_an_autoregressive_mixture_is_refused(tmp_path, capsys):
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=0.5)
    soundfile.write(tmp_path / "clip.wav", samples, rate, subtype="FLOAT")
    run = train_audio(samples, rate, mode="memorize", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    run.model.save(tmp_path / "m.npz")
    with pytest.raises(SystemExit) as stopped:
        load_script().main([str(tmp_path / "m.npz"), str(tmp_path / "clip.wav")])
    assert stopped.value.code == 2
    assert "autoregressive mixture model" in capsys.readouterr().err
