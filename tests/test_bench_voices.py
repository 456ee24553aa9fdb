"""``cwfast bench --voices V``: each model also runs as one stream of V voices, and a table gives
the cost per voice against one voice (well-formed and consistent; no wall-clock thresholds)."""

import json
import math

import pytest

from cwfast import LSTM, ClockworkRNN, ParameterError
from cwfast.cli import main


def test_bench_voices_table_and_json(tmp_path, capsys):
    path = tmp_path / "tiny.npz"
    ClockworkRNN(1, 1, n_hidden=6, n_modules=3, sample_rate=16000, seed=0).save(path)
    args = ["bench", "-m", str(path), "--block", "8", "--seconds", "0.02", "--repeats", "2", "-q", "--voices", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tiny.npz x3 voices" in out and "per voice / one" in out
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["voices"] for r in data["results"]] == [1, 3]
    for r in data["results"]:  # the whole stream's speed: its block's budget over its block's time
        assert r["realtime_factor"] == pytest.approx(1e6 / 16000 / (r["us_per_sample"] * r["voices"]))
    (row,) = data["voice_ratios"]
    assert (row["model"], row["block"], row["voices"]) == ("tiny.npz", 8, 3)
    assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    assert row["ratio"] == pytest.approx(row["per_voice_us"] / row["one_us"])


def test_bench_voices_runs_an_lstm_and_refuses_zero(tmp_path, capsys):
    path = tmp_path / "lstm.npz"
    LSTM(1, 1, n_hidden=3, seed=0).save(path)
    assert main(["bench", "-m", str(path), "--block", "4", "--seconds", "0.01", "--repeats", "1", "-q",
                 "--voices", "2"]) == 0
    assert "lstm.npz x2 voices" in capsys.readouterr().out
    assert main(["bench", "--voices", "0"]) == 2
    assert "error: argument --voices: 0 must be a positive integer" in capsys.readouterr().err
    # One voice timed the model twice, in two rows of the same name and no ratio.
    assert main(["bench", "--voices", "1"]) == 2
    assert "error: argument --voices: 1 must be at least 2" in capsys.readouterr().err
    from cwfast.bench import measure

    with pytest.raises(ParameterError, match="voices=1 must be at least 2"):
        measure([("lstm", LSTM(1, 1, n_hidden=3, seed=0))], [4], voices=1)
