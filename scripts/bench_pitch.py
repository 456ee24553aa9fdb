"""What a pitch predictor (cwfast.model.Pitch) costs generation: a model with and without one, interleaved.

    python scripts/bench_pitch.py [-m MODEL] [--seconds 4] [--runs 7] [--c]

Takes the bundled default model (or ``-m``) with its own pitch predictor and a copy without it;
or, for a model that has none, the model and a copy with :meth:`Pitch.for_rate`'s predictor at
the model's rate (its short-term predictor fitted on a 220-Hz tone, its gain 0.8 and its bound
0.5: what it finds does not change its cost, which is one search of every lag each hop and one
window's RMS each step). It times ``sample`` of ``--seconds`` of audio by each, alternately, in
this thread (run it with ``NUMBA_NUM_THREADS=1``: generation is one thread). Prints the medians in
microseconds a sample, the times real time at the model's rate, and their ratio.

With ``--c`` it times the C export of both instead: each exported (:func:`cwfast.export_c`),
compiled with the test suite's driver (``tests/c/export_driver.c``) at ``-O3 -march=native
-ffp-contract=fast``, and run as ``driver generate`` over ``--seconds`` of audio, alternately;
the wall time of each process, its start included (a few milliseconds).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import lpc  # noqa: E402
from cwfast.cli import default_model_path  # noqa: E402
from cwfast.codec import mu_law_values  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.model import Pitch  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default=None, help="a saved model (default: the bundled one)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--c", action="store_true", help="time the C export of both instead")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    model = cwfast.load(args.model or default_model_path())
    rate = model.sample_rate or 16000
    plain, pitched = model.copy(), model.copy()
    if model.pitch is not None:
        plain.pitch = None
    else:
        tone = 0.3 * np.sin(np.arange(4 * rate) * 2 * np.pi * 220 / rate)
        pitched.pitch = Pitch.for_rate(lpc.coefficients([tone], 32), rate, reference=0.5)
        pitched.params[-1] = 0.8
    values = None if plain.metadata.get("history") == "linear" else mu_law_values()
    n = int(args.seconds * rate)
    models = {"without": plain, "with a pitch predictor": pitched}
    times = _c_times(models, n, args.runs) if args.c else _numba_times(models, n, args.runs, values)
    what = "the C export of " if args.c else ""
    print(f"{what}{args.model or 'the bundled default model'}, {n} samples at {rate} Hz, medians of {args.runs}:")
    for name, seconds in times.items():
        per = np.median(seconds) / n * 1e6
        print(f"  {name:24s} {per:.3f} us a sample, {1e6 / per / rate:.1f}x real time")
    print(f"  ratio {np.median(times['with a pitch predictor']) / np.median(times['without']):.2f}")


def _numba_times(models, n, runs, values):
    for model in models.values():  # compiled (or loaded from the cache) before timing
        model.sample(1000, values=values, seed=0)
    times = {name: [] for name in models}
    for run in range(runs):
        for name, model in models.items():
            began = time.perf_counter()
            model.sample(n, values=values, seed=run, temperature=0.85)
            times[name].append(time.perf_counter() - began)
    return times


def _c_times(models, n, runs):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("bench_pitch.py --c: no C compiler (cc or gcc) on PATH")
    driver = Path(__file__).resolve().parents[1] / "tests" / "c" / "export_driver.c"
    with tempfile.TemporaryDirectory() as tmp:
        exes = {}
        for i, (name, model) in enumerate(models.items()):
            c_name = f"m{i}"
            cwfast.export_c(model, tmp, c_name)
            exe = Path(tmp) / f"{c_name}_driver"
            subprocess.run([cc, "-std=c99", "-O3", "-march=native", "-ffp-contract=fast", f'-DHEADER="{c_name}.h"',
                            f"-DNAME={c_name}", f"-I{tmp}", str(driver), str(Path(tmp) / f"{c_name}.c"), "-lm", "-o",
                            str(exe)], check=True)
            exes[name] = exe
        times = {name: [] for name in models}
        for run in range(runs):
            for name, exe in exes.items():
                began = time.perf_counter()
                subprocess.run([str(exe), "generate", str(Path(tmp) / "out"), str(n), "256", str(run), "0.85"],
                               check=True)
                times[name].append(time.perf_counter() - began)
    return times


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path, a model of another kind: one line, not a traceback
        print(f"bench_pitch.py: error: {error}", file=sys.stderr)
        sys.exit(2)
