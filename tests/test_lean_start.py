"""``cwfast generate`` imports nothing it does not use (issue 14): scipy.signal alone, imported by
``cwfast.audio`` at module level, used to take 1.2 s of a warm 2.7 s run."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Heavy modules `generate` never needs (scipy.signal brings scipy.stats and scipy.optimize).
NOT_FOR_GENERATE = {"scipy.signal", "scipy.stats", "scipy.optimize", "matplotlib"}


def imported_modules(args):
    """The modules a fresh ``python -X importtime -m cwfast ARGS`` imports, from its stderr."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "cwfast", *args], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}


def test_generate_imports_neither_scipy_signal_stats_optimize_nor_matplotlib(tmp_path):
    modules = imported_modules(["generate", "-q", "-o", str(tmp_path / "x.wav"), "--seconds", "0.05"])  # -q: no bar in stderr
    # The list is read right. (cwfast.model itself is loaded by importlib through the registry, and
    # -X importtime reports only what import statements load: its kernels stand for it.)
    assert {"numba", "soundfile", "cwfast.audio", "cwfast._kernels"} <= modules
    assert not NOT_FOR_GENERATE & modules
    assert (tmp_path / "x.wav").exists()
