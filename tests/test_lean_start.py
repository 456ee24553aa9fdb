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


def test_the_submodules_the_docs_name_are_attributes_after_import_cwfast():
    """``import cwfast`` then ``cwfast.likeness`` (as the README writes it) was an AttributeError
    unless something had imported the submodule before; each is imported on first use, no sooner."""
    code = ("import sys, cwfast\n"
            "assert 'cwfast.likeness' not in sys.modules and 'numba' not in sys.modules\n"
            "for name in sorted(cwfast._SUBMODULES):\n"
            "    assert getattr(cwfast, name) is sys.modules['cwfast.' + name], name\n"
            "assert 'likeness' in dir(cwfast) and not hasattr(cwfast, 'no_such_module')\n"
            "print(cwfast.likeness.ltas.__name__, cwfast.lpc.baseline.__name__, cwfast.model.Surprise.__name__)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ltas", "baseline", "Surprise"]


def test_the_package_namespace_shows_only_its_public_names():
    """``dir(cwfast)`` listed ``importlib`` beside the API (the lazy loader's own import). In a
    fresh interpreter: a submodule imported since (cwfast.cli, say) is bound in the package too."""
    code = ("import cwfast\n"
            "public = {name for name in dir(cwfast) if not name.startswith('_')}\n"
            "assert public == (set(cwfast.__all__) | cwfast._SUBMODULES) - {'__version__'}, public\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
