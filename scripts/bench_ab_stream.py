"""Stream of this checkout against the Stream of another checkout, in one process, interleaved.

    python scripts/bench_ab_stream.py OTHER_CHECKOUT [--sizes 64 144 256] [--block 64] [--runs 41]
                                      [--samples 44100] [--voices V] [--windows W]

On a machine shared with other work, two benchmark runs minutes apart differ by more than most
kernel changes (load averages of 2 to 6 moved the figures of ``bench_export.py`` by 30%). This
script imports the other checkout's package as ``cwfast_other`` next to this one's ``cwfast``
(both compiled afresh into a temporary numba cache: a kernel cached under the name
``cwfast_other`` in the other checkout's own cache would break its later imports as ``cwfast``),
builds the same Clockwork RNN (n units, 8 modules, periods
1..128, one input and output, float32, seed 0) in both, and times ``Stream.process(block,
out=...)`` over ``--samples`` samples alternately, run by run, in the calling thread's CPU time.
It prints the medians and minimums in microseconds a sample and their ratio, and the largest
difference between the two outputs (kernels that sum in another order differ in the last bits).
With ``--voices V`` both run ``Stream(model, voices=V)`` on V sequences of ``--samples`` each,
and the times are per sample per voice. With ``--windows W`` both models take
``input_windows=W`` (``period`` or an int).
"""

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent


def _load(name, root):
    spec = importlib.util.spec_from_file_location(name, root / "cwfast" / "__init__.py",
                                                  submodule_search_locations=[str(root / "cwfast")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _runner(cw, n, x, block, voices, windows=None):
    """x: (samples, 1), or (voices, samples, 1) with voices."""
    kw = {} if windows is None else {"input_windows": windows if windows == "period" else int(windows)}
    model = cw.ClockworkRNN(1, 1, n_hidden=n, n_modules=8, seed=0, **kw)
    stream = cw.Stream(model, max_block=block, voices=voices)
    out = np.empty((*x.shape[:-2], block, 1), np.float32)
    steps = x.shape[-2]

    def run():
        stream.reset()
        start = time.thread_time()
        for a in range(0, steps, block):
            m = min(block, steps - a)
            stream.process(x[..., a : a + m, :], out=out[..., :m, :])
        return time.thread_time() - start

    return run, cw.Stream(model, voices=voices).process(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (a folder holding cwfast/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 144, 256])
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--samples", type=int, default=44100)
    parser.add_argument("--voices", type=int, default=None, help="run Stream(model, voices=V) instead")
    parser.add_argument("--windows", default=None, help="input_windows of both models: period or an int")
    args = parser.parse_args(argv)
    if not (args.other / "cwfast" / "__init__.py").is_file():
        parser.error(f"{str(args.other)!r} is not a checkout of cwfast (no cwfast/__init__.py in it)")
    if min(args.sizes + [args.block, args.runs, args.samples, args.voices or 1]) < 1:
        parser.error("--sizes, --block, --runs, --samples and --voices must be positive")
    if args.windows not in (None, "period") and not (args.windows.isdigit() and int(args.windows) > 0):
        parser.error(f"--windows {args.windows!r} must be period or a positive integer")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    cache = tempfile.mkdtemp(prefix="bench_ab_numba_")
    os.environ["NUMBA_CACHE_DIR"] = cache  # read when numba is first imported, by _load below
    try:
        return _compare(args)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _compare(args):
    other = _load("cwfast_other", args.other.resolve())
    this = _load("cwfast", HERE)
    print(f"# this: {HERE}; other: {args.other.resolve()}; block {args.block}, {args.samples} samples, "
          f"{f'{args.voices} voices, ' if args.voices else ''}{f'input windows {args.windows}, ' if args.windows else ''}"
          f"medians (minimums) of {args.runs} interleaved runs, CPU us/sample{' per voice' if args.voices else ''}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for n in args.sizes:
        lanes = (args.voices,) if args.voices else ()
        x = np.random.default_rng(1).uniform(-1, 1, (*lanes, args.samples, 1)).astype(np.float32)
        run_other, y_other = _runner(other, n, x, args.block, args.voices, args.windows)
        run_this, y_this = _runner(this, n, x, args.block, args.voices, args.windows)
        times = {"other": [], "this": []}
        for _ in range(args.runs):
            times["other"].append(run_other())
            times["this"].append(run_this())
        per = args.samples * (args.voices or 1)
        med = {k: 1e6 * float(np.median(v)) / per for k, v in times.items()}
        low = {k: 1e6 * float(np.min(v)) / per for k, v in times.items()}
        print(f"CW {n}/8: other {med['other']:.3f} ({low['other']:.3f}), this {med['this']:.3f} ({low['this']:.3f}), "
              f"this faster {med['other'] / med['this']:.2f}x ({low['other'] / low['this']:.2f}x); "
              f"max |difference| {float(np.abs(y_other - y_this).max()):.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
