"""``cwfast bench`` runs and reports well-formed, positive, finite figures (a benchmark is not a test:
no wall-clock thresholds here)."""

import json
import math

import numpy as np
import pytest

import cwfast
from cwfast import LSTM, ClockworkRNN, bench
from cwfast.cli import main


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.npz"
    ClockworkRNN(1, 1, n_hidden=6, n_modules=3, sample_rate=16000, seed=0).save(path)
    return path


def test_bench_table_for_a_model_file(model_file, capsys):
    status = main(["bench", "-m", str(model_file), "--block", "4", "16", "--seconds", "0.02", "--repeats", "2", "-q"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("machine: ") and "numba" in lines[0] and "cores" in lines[0]
    assert "16000 Hz" in out
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[header].split() == ["model", "block", "us/sample", "mean", "us/sample", "x", "real", "time",
                                     "block", "p50", "us", "block", "p99", "us", "budget", "us", "blocks"]
    end = lines.index("", header)
    rows = [line.split() for line in lines[header + 2 : end]]
    assert [(r[0], int(r[1])) for r in rows] == [("tiny.npz", 4), ("tiny.npz", 16)]
    for r in rows:
        values = [float(v) for v in r[2:]]
        assert all(math.isfinite(v) and v > 0 for v in values)
        assert float(r[7]) == pytest.approx(1e6 * int(r[1]) / 16000, abs=0.05)  # the block's budget


@pytest.mark.parametrize("repeats, said", [(1, "; one run; "), (2, "; median of 2 runs; ")])
def test_bench_says_how_many_runs_its_figures_are_of(model_file, capsys, repeats, said):
    """--repeats 1 (the quickest bench) printed "median of 1 runs"."""
    argv = ["bench", "-m", str(model_file), "--block", "4", "--seconds", "0.02", "--repeats", str(repeats), "-q"]
    assert main(argv) == 0
    heading = capsys.readouterr().out.splitlines()[1]
    assert heading.startswith("streaming, one thread") and said in heading


def test_bench_runs_an_lstm_model(tmp_path, capsys):
    path = tmp_path / "lstm.npz"
    LSTM(1, 1, n_hidden=5, sample_rate=8000, seed=0).save(path)
    assert main(["bench", "-m", str(path), "--block", "8", "--seconds", "0.02", "--repeats", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["recurrent_macs"] == 4 * 5 * 5
    assert record["us_per_sample"] > 0 and record["sample_rate"] == 8000


def test_bench_json(model_file, capsys):
    assert main(["bench", "-m", str(model_file), "--block", "8", "--seconds", "0.02", "--repeats", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (record,) = report["results"]
    assert record["block"] == 8 and record["sample_rate"] == 16000 and len(record["us_per_sample_runs"]) == 3
    assert record["us_per_sample"] == pytest.approx(np.median(record["us_per_sample_runs"]))
    assert record["realtime_factor"] == pytest.approx(1e6 / 16000 / record["us_per_sample"])
    assert 0 < record["block_p50_us"] <= record["block_p99_us"]
    assert record["mean_us_per_sample"] > 0 and record["blocks_timed"] >= 3
    assert report["ratios"] == []


def test_cw_against_srn_ratios_next_to_the_paper(capsys):
    models = bench.standard_models(widths=(8, 16), n_modules=4)
    records = bench.measure(models, [4, 32], seconds=0.02, repeats=2)
    assert [(r["label"], r["block"]) for r in records] == [
        (label, block) for block in (4, 32) for label in ("CW 8x4", "SRN 8", "CW 16x4", "SRN 16")
    ]
    assert all(r["sample_rate"] == 44100 for r in records)
    rows = bench.ratios(records, widths=(8, 16), n_modules=4)
    assert [(r["width"], r["block"]) for r in rows] == [(8, 4), (8, 32), (16, 4), (16, 32)]
    for r in rows:
        # k^2 (2g - 2 + 2^(1-g)) multiply-adds per step against n^2 (paper appendix), g = 4, k = n / 4.
        k = r["width"] // 4
        assert r["predicted"] == pytest.approx(r["width"] ** 2 / (k * k * (2 * 4 - 2 + 2 ** (1 - 4))))
        assert math.isfinite(r["measured"]) and r["measured"] > 0
    assert "SRN/CW predicted" in bench.format_ratios(rows)


def test_bench_usage_errors(capsys):
    assert main(["bench", "--block", "0"]) == 2
    assert main(["bench", "--seconds", "nan"]) == 2
    assert main(["bench", "--seconds", "1e300"]) == 2  # was a traceback: an array of 1e300 block times
    assert "at most 3600" in capsys.readouterr().err
    assert main(["bench", "-m", "/nonexistent/model.npz", "--block", "4"]) == 2
    assert "cwfast: error" in capsys.readouterr().err
    # An empty model name is not "no model" (the default benchmark), nor a trillion runs a long wait.
    assert main(["bench", "-m", ""]) == 2
    assert "'' is not a path" in capsys.readouterr().err
    assert main(["bench", "--repeats", "1000000000000"]) == 2
    assert "must be at most 1000" in capsys.readouterr().err


def test_bench_reports_the_kernel_against_the_matvec_ceiling(model_file, capsys):
    argv = ["bench", "-m", str(model_file), "--block", "4", "16", "--seconds", "0.02", "--repeats", "2", "-q"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model") and "kernel GMAC/s" in line)
    assert lines[header + 2].split()[:2] == ["tiny.npz", "16"]  # the largest block
    assert main(argv + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [row] = report["ceilings"]
    result = next(r for r in report["results"] if r["block"] == 16)
    model = cwfast.load(model_file)
    assert row["gmacs"] == pytest.approx(bench.macs_per_step(model) / result["us_per_sample"] / 1e3)
    assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("gmacs", "numba_gmacs", "blas_gmacs"))
    assert row["of_numba"] == pytest.approx(row["gmacs"] / row["numba_gmacs"])
    assert row["of_blas"] == pytest.approx(row["gmacs"] / row["blas_gmacs"])


def test_macs_per_step_counts_what_a_step_computes():
    cw = ClockworkRNN(2, 3, module_sizes=[2, 2], periods=[1, 2], seed=0)
    # recurrence: module 0 reads 4 units every step (2 x 4), module 1 reads 2 every other step (2 x 2 / 2);
    # inputs: 2 units x 2 inputs every step, 2 more every other step; output: 3 x 4.
    assert bench.macs_per_step(cw) == pytest.approx(8 + 2 + 4 + 2 + 12)
    lstm = LSTM(2, 3, n_hidden=4, seed=0)
    assert bench.macs_per_step(lstm) == pytest.approx(4 * 4 * 4 + 16 * 2 + 12)


def test_matvec_ceiling_kernel_is_a_matrix_vector_product(rng):
    from cwfast import _kernels

    w = rng.standard_normal((5, 7)).astype(np.float32)
    h = rng.standard_normal(7).astype(np.float32)
    y = np.empty(5, dtype=np.float32)
    _kernels._matvec_repeat(w, h, y, 3)
    np.testing.assert_allclose(y, w @ h, rtol=1e-5, atol=1e-6)


def test_the_ceiling_repeats_are_set_by_time_not_by_the_width(monkeypatch):
    """A tiny width's BLAS loop once ran 2e7 / n^2 Python calls per timed run (20 s for a 3-cell
    LSTM). With a clock that advances 0.1 ms per repeat, the probe doubles to 16 repeats (1.6 ms)
    and a run of 0.05 s is 500 repeats; a run that takes no time at all stops doubling."""
    import time

    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    def run(repeats):
        now[0] += 1e-4 * repeats

    assert bench._repeats_lasting(run, 0.05) == 500
    assert bench._repeats_lasting(lambda repeats: None, 0.05) == 1 << 30



def test_the_seconds_are_shared_by_the_stream_variants_and_calibrated_on_warm_blocks(monkeypatch):
    """--seconds S is "on each model and block size": with --voices and --blocked each of the three
    stream variants took all of S. And the calibration timed the first two blocks after prepare.
    With a clock that advances 1 ms on each reading, a variant's blocks come from its share alone,
    and the calibration spans 8 blocks after 2 untimed ones (calls counted)."""
    import time

    model = ClockworkRNN(1, 1, n_hidden=6, n_modules=3, sample_rate=16000, seed=0)
    now = [0.0]

    def tick():
        now[0] += 1e-3
        return now[0]

    calls = []
    real_process = cwfast.Stream.process
    monkeypatch.setattr(cwfast.Stream, "process", lambda self, x, out=None: calls.append(1) or real_process(self, x,
                                                                                                         out=out))
    monkeypatch.setattr(time, "perf_counter", tick)
    one = bench.measure([("cw", model)], [64], seconds=0.1, repeats=1)
    assert len(calls) == 10 + one[0]["blocks_timed"]  # 2 warm, 8 timed for the calibration, then the run
    three = bench.measure([("cw", model)], [64], seconds=0.1, repeats=1, voices=4, blocked=True)
    assert abs(one[0]["blocks_timed"] - 800) <= 1  # 0.1 s over (1 ms / 8 blocks)
    assert [abs(r["blocks_timed"] - 267) <= 1 for r in three] == [True] * 3  # a third each
