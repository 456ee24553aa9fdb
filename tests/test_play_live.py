"""The callback of scripts/play_live.py, driven without a sound card."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import script_loading
from cwfast import ClockworkRNN, ParameterError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "play_live.py"


@pytest.fixture(scope="module")
def play_live():
    return script_loading.load_script("play_live")


def test_effect_callback_plays_the_forward_output_to_every_channel(play_live, rng):
    model = ClockworkRNN(1, 1, n_hidden=12, n_modules=3, sample_rate=8000, seed=0)
    dry = rng.normal(size=(1000, 1)).astype(np.float32)
    player = play_live.LivePlayer(model, sample_rate=8000, block=128, channels=2, source=dry)
    played = []
    outdata = np.empty((128, 2), dtype=np.float32)
    for frames in [128, 100, 128, 128, 128, 128, 128, 128, 128]:  # the device may ask for fewer frames
        status = SimpleNamespace(output_underflow=frames == 100, input_overflow=False)
        player.callback(None, outdata[:frames], frames, None, status)
        played.append(outdata[:frames].copy())
    played = np.concatenate(played)
    expected = model.forward(np.concatenate([dry, np.zeros((len(played) - len(dry), 1), np.float32)]))
    np.testing.assert_array_equal(played[:, 0], expected[:, 0])
    np.testing.assert_array_equal(played[:, 1], expected[:, 0])
    assert player.finished and player.callbacks == 9 and player.under_runs == 1
    report = player.report()
    assert "9 callbacks" in report and "over-runs" in report and "1 output" in report


def test_a_bad_input_sample_is_read_as_zero_and_reported_not_raised_in_the_callback(play_live, rng):
    """An exception in a sounddevice callback stops the stream: one NaN from the microphone's
    driver would have ended playback. It is read as 0, and the report says how many blocks held one."""
    model = ClockworkRNN(1, 1, n_hidden=12, n_modules=3, sample_rate=8000, seed=0)
    player = play_live.LivePlayer(model, sample_rate=8000, block=64, channels=1)
    indata = rng.normal(size=(192, 1)).astype(np.float32)
    indata[70, 0] = np.nan
    outdata = np.empty((64, 1), dtype=np.float32)
    played = []
    for a in range(0, 192, 64):
        player.callback(indata[a : a + 64], outdata, 64, None, None)
        played.append(outdata.copy())
    zeroed = indata.copy()
    zeroed[70, 0] = 0.0
    np.testing.assert_array_equal(np.concatenate(played), model.forward(zeroed))
    assert "input blocks with NaN or infinite samples, read as 0: 1" in player.report()


def test_generator_and_refusals(play_live):
    model = ClockworkRNN(0, 1, n_hidden=9, n_modules=3, seed=0)
    player = play_live.LivePlayer(model, sample_rate=44100, block=64)
    play_live.simulate(player, 64, 0.01)
    assert player.callbacks == 6 and player.position == 384
    # simulate drove the model from silence for those 384 steps...
    np.testing.assert_array_equal(player.stream.state.h, model.forward(np.zeros((384, 0)), return_state=True)[1].h)
    # ...and what a generator plays, block by block, is forward's output on every channel.
    player = play_live.LivePlayer(model, sample_rate=44100, block=64, channels=2)
    outdata = np.empty((64, 2), dtype=np.float32)
    played = []
    for frames in (64, 30, 64):
        player.callback(None, outdata[:frames], frames, None, None)
        played.append(outdata[:frames].copy())
    played = np.concatenate(played)
    expected = model.forward(np.zeros((158, 0)))[:, 0]
    assert np.std(expected) > 0  # the biases drive it: a silent or stuck player would differ
    np.testing.assert_array_equal(played[:, 0], expected)
    np.testing.assert_array_equal(played[:, 1], expected)
    for head, n_out in (("softmax", 4), ("mixture", 30)):  # a mixture model was called a softmax one
        model = ClockworkRNN(1, n_out, n_hidden=8, n_modules=2, output=head, seed=0)
        with pytest.raises(ParameterError, match=rf"an autoregressive model \({head} head\).*cwfast generate"):
            play_live.LivePlayer(model, sample_rate=16000, block=64)


def test_main_plays_an_effect_over_a_file_without_a_sound_card(play_live, tmp_path, capsys):
    """--input was indexed as an array where load_audio returns (samples, rate): a TypeError."""
    import soundfile

    model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, sample_rate=8000, seed=0, metadata={"mode": "effect"})
    model.save(tmp_path / "fx.npz")
    soundfile.write(tmp_path / "dry.wav", np.sin(np.arange(4000) * 0.05).astype(np.float32) * 0.5, 8000)
    assert play_live.main([str(tmp_path / "fx.npz"), "--input", str(tmp_path / "dry.wav"), "--dry-run",
                           "--block", "256", "--seconds", "1"]) == 0
    assert "16 callbacks, 4096 samples (0.5 s)" in capsys.readouterr().out  # the file is done: it stops


def test_without_sounddevice_it_says_what_to_install_in_one_line(play_live, tmp_path, monkeypatch, capsys):
    """It exited 1 with four lines (after loading the model and describing it); a missing optional
    package is bad input, said in one line as cwfast says it of matplotlib and Ray: exit 2."""
    ClockworkRNN(0, 1, n_hidden=8, n_modules=2, sample_rate=8000, seed=0).save(tmp_path / "m.npz")
    monkeypatch.setitem(__import__("sys").modules, "sounddevice", None)  # import sounddevice: ImportError
    with pytest.raises(SystemExit) as stopped:
        play_live.main([str(tmp_path / "m.npz")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "play_live.py: error: live playback needs sounddevice, which is not installed: pip install sounddevice "
        "(or, in cwfast's folder, '.[live]'); --dry-run plays to a simulated device without it\n")


@pytest.mark.parametrize("block", ["0", "-3", "3000000000"])
def test_a_block_out_of_range_is_refused_naming_the_option(play_live, tmp_path, capsys, block):
    """--block 0 was handed to Stream, whose refusal named its own argument: 'max_block=0 must be a
    positive integer'. It is the option's range, said as --channels says its own, before the model loads."""
    ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0).save(tmp_path / "m.npz")
    with pytest.raises(SystemExit) as stopped:
        play_live.main([str(tmp_path / "m.npz"), "--dry-run", "--block", block])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(f": error: --block {block} must be between 1 and 2147483647")
    assert "max_block" not in err


def test_the_model_line_names_modules_only_where_there_is_a_clock(play_live, tmp_path, capsys):
    """An LSTM and an SRN were described as '4 units, 1 modules': neither has modules (and 1 is not plural)."""
    from cwfast import LSTM, SRN

    models = {"lstm": (LSTM(0, 1, n_hidden=4, seed=0), "LSTM, 4 units, 44100 Hz"),
              "srn": (SRN(0, 1, n_hidden=4, seed=0), "simple RNN (SRN), 4 units, 44100 Hz"),
              "cw": (ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0), "Clockwork RNN, 8 units in 2 modules, 44100 Hz")}
    for name, (model, described) in models.items():
        model.save(tmp_path / f"{name}.npz")
        assert play_live.main([str(tmp_path / f"{name}.npz"), "--dry-run", "--seconds", "0.01", "--block", "64"]) == 0
        assert capsys.readouterr().err == f"{tmp_path / name}.npz: {described}, blocks of 64\n"
