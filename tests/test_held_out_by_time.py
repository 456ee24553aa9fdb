"""scripts/held_out_by_time.py: its stretches add up to the figures training reports."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast.audio import load_audio
from cwfast.train_audio import train_audio

import script_loading

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"


def load_script():
    return script_loading.load_script("held_out_by_time")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A mixture model and a softmax model trained on one clip, saved beside it."""
    directory = tmp_path_factory.mktemp("held_out")
    samples, rate = load_audio(EXCERPT, sample_rate=8000, start=0.5, duration=1.5)
    soundfile.write(directory / "clip.wav", samples, rate, subtype="FLOAT")
    options = dict(mode="autoregressive", hidden=6, modules=3, epochs=1, seed=0, progress=False)
    # (the softmax of 64 classes: the script scored every model on 256 and ended in an IndexError)
    runs = {"mixture": train_audio(samples, rate, **options),
            "softmax": train_audio(samples, rate, head="softmax", classes=64, **options)}
    for name, run in runs.items():
        run.model.save(directory / f"{name}.npz")
    return directory, runs


def test_the_whole_parts_are_the_trained_figures_and_the_stretches_add_up_to_them(saved):
    directory, runs = saved
    rows = load_script().table(str(directory / "clip.wav"), [str(directory / "mixture.npz"),
                                                             str(directory / "softmax.npz")], 0.1)
    for part in ("validation", "test"):
        mine = [row for row in rows if row[0] == part]
        stretches, whole = mine[:-1], mine[-1]
        assert whole[1] is None and len(stretches) >= 2
        assert sum(row[2] for row in stretches) == whole[2]
        # Each stretch starts where the one before ended.
        rate = runs["mixture"].model.sample_rate
        np.testing.assert_allclose(np.diff([row[1] for row in stretches]) * rate,
                                   [row[2] for row in stretches[:-1]])
        for i, name in enumerate(("mixture", "softmax")):
            reported = runs[name].figures[part]["bits_per_sample"]
            assert whole[4][i][0] == pytest.approx(reported, abs=1e-4)
            weighted = sum(row[4][i][0] * row[2] for row in stretches) / whole[2]
            assert weighted == pytest.approx(reported, abs=1e-4)
        # The RMS is the level of the samples the stretch predicts (it was read one sample late).
        samples, _ = load_audio(directory / "clip.wav")
        for _, start, steps, level, _ in stretches:
            a = round(start * rate)
            assert level == pytest.approx(np.sqrt(np.mean(np.square(samples[a : a + steps], dtype=np.float64))))
        # A mixture predicts a positive spread; a softmax head has none to show.
        assert all(row[4][0][1] > 0 for row in mine)
        assert all(row[4][1][1] is None for row in mine)


def test_the_command_line_prints_a_table_and_refuses_models_of_different_rates(saved, tmp_path, capsys):
    directory, runs = saved
    script = load_script()
    script.main([str(directory / "clip.wav"), str(directory / "mixture.npz"), "--block", "0.5"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| part | from (s) | RMS |")
    assert sum("whole part" in line for line in out) == 2
    other = runs["mixture"].model.copy()
    other.sample_rate = 16000
    other.save(tmp_path / "other.npz")
    with pytest.raises(SystemExit) as stopped:
        script.main([str(directory / "clip.wav"), str(directory / "mixture.npz"), str(tmp_path / "other.npz")])
    assert stopped.value.code == 2
    assert "one sample rate" in capsys.readouterr().err


def test_what_it_cannot_score_is_one_line(saved, tmp_path, capsys):
    """Each of these ended in a traceback, or (an effect model) printed 41,212 bits a sample."""
    directory, runs = saved
    script = load_script()
    model = runs["mixture"].model
    effect = model.copy()
    effect.metadata["mode"] = "effect"
    effect.save(tmp_path / "effect.npz")
    nothing_held = model.copy()
    nothing_held.metadata["split"] = {"validation": 0.0, "test": 0.0}
    nothing_held.save(tmp_path / "all-trained.npz")
    soundfile.write(tmp_path / "one.wav", np.array([0.1], np.float32), model.sample_rate)
    corpus = model.copy()
    corpus.metadata["clips"] = [6000, 6000]
    corpus.save(tmp_path / "corpus.npz")
    clip, mixture = str(directory / "clip.wav"), str(directory / "mixture.npz")
    for argv, says in (([clip, str(tmp_path / "effect.npz")], "is of mode 'effect'; this script scores autoregressive models"),
                       ([clip, str(tmp_path / "all-trained.npz")], "leave no validation or test part to score"),
                       # other audio than the model's (the untrimmed recording of a trimmed model
                       # scored 5.697 / 5.951 bits for the bundled model's 5.028 / 6.313)
                       ([str(tmp_path / "one.wav"), mixture], "was trained on 12000 samples at 8000 Hz and"),
                       ([clip, str(tmp_path / "corpus.npz")], "was trained on 2 files, each split on its own"),
                       ([clip, mixture, "--block", "inf"], "--block must be a positive number of seconds")):
        with pytest.raises(SystemExit) as stopped:
            script.main(argv)
        assert stopped.value.code == 2 and says in capsys.readouterr().err, argv
    # A model that holds out only a test part is scored on it alone.
    test_only = model.copy()
    test_only.metadata["split"] = {"validation": 0.0, "test": 0.1}
    test_only.save(tmp_path / "test-only.npz")
    rows = script.table(clip, [str(tmp_path / "test-only.npz")], 0.1)
    assert {row[0] for row in rows} == {"test"}
