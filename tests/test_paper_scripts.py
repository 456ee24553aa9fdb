"""The paper-reproduction scripts on tiny settings (the full runs live in docs/results.md)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generation():
    return load_script("paper_generation")


def test_generation_pieces_come_from_the_shipped_clip(generation):
    pieces, starts = generation.excerpts(5)
    assert pieces.shape == (5, 320) and pieces.dtype == np.float32
    np.testing.assert_allclose(np.abs(pieces).max(axis=1), 1.0)  # each scaled to peak 1
    assert starts == sorted(starts) and starts[-1] + 320 <= 132_300
    assert all(np.std(p) > 0.1 for p in pieces)  # music, not silence


def test_generation_sizes_are_the_papers(generation):
    for arch in generation.ARCHS:
        counts = [generation.build(arch, n, 0).n_params for n in generation.SIZES[arch]]
        if arch == "cw":
            counts = [c + generation.CW_MODULES for c in counts]  # the paper counts the periods
        for count, budget in zip(counts, generation.BUDGETS):
            assert abs(count - budget) <= 0.15 * budget


def test_generation_quick_run(generation, tmp_path, capsys):
    assert generation.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 100 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["SRN", "LSTM", "CW-RNN"]
    assert "0.47" in rows[0] and "0.038" in rows[2]  # the paper's numbers beside ours
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert len(runs) == 3 * len(generation.RECIPES) and {r["recipe"] for r in runs} == set(generation.RECIPES)
    assert all(np.isfinite(r["nmse"]) and 0 < r["nmse"] < 2 for r in runs)
    # Only the best waveform per model, budget and piece is kept.
    kept = [r for r in runs if r["output"] is not None]
    assert sorted(r["arch"] for r in kept) == sorted(generation.ARCHS) and all(len(r["output"]) == 320 for r in kept)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "figure5.png").stat().st_size > 1000
    # An existing result is not overwritten without --overwrite.
    with pytest.raises(SystemExit) as exc:
        generation.main(["--quick", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_memorize_benchmark_quick_run(tmp_path, capsys):
    bench = load_script("memorize_benchmark")
    out = tmp_path / "runs.json"
    argv = ["--starts", "0", "--trainers", "adam", "sgd", "es", "--epochs", "5", "--generations", "3",
            "--hidden", "11", "--population", "6", "--sigma", "0.05", "--json", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "CW-RNN 11 units, 9 modules" in text
    rows = [line.split("|") for line in text.splitlines() if line.startswith(("| adam", "| sgd", "| es"))]
    assert [row[1].strip() for row in rows] == ["adam", "sgd", "es"]
    runs = json.loads(out.read_text())["runs"]
    assert [r["trainer"] for r in runs] == ["adam", "sgd", "es"]
    assert [r["updates"] for r in runs] == [5, 5, 3]
    assert all(np.isfinite(r["nmse"]) and 0 < r["nmse"] < 2 and r["seconds"] > 0 for r in runs)
