"""scripts/measure_generation.py on tiny settings (the full runs live in docs/results.md)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = str(ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav")


def load_script():
    spec = importlib.util.spec_from_file_location("measure_generation", ROOT / "scripts" / "measure_generation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lpc_only_prints_the_baselines_figure(capsys):
    assert load_script().main(["--lpc-only", "--sample-rate", "16000", EXCERPT]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # The figure docs/results.md quotes for the excerpt (adaptive, fixed Laplace, fixed Gaussian).
    assert "| 5.984 | 1/64 | 6.052 | 6.031 |" in row


def test_full_table_runs_generate_and_prints_every_row(capsys):
    script = load_script()
    assert script.main([EXCERPT, "--seconds", "0.3", "--seeds", "0", "--stretches", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("| LTAS distance to the training part (dB) |", "| spectral flatness |", "| pitched-frame fraction |",
                "| the model (state from the training part) | ", "| LPC-32, adaptive Laplace scale (alpha 1/64) | 5.984 |"):
        assert row in out
    assert "| 0.0-1.5 |" in out and "| 1.5-3.0 |" in out and "| median (min-max) |" in out
