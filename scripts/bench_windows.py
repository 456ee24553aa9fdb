"""Real-time cost of input windows: Stream and C export of plain and windowed Clockwork RNNs, one core.

    python scripts/bench_windows.py [--models 64/8 64/8:period] [--samples 200000] [--block 64]
                                    [--repeats 7] [--voices V] [--no-c]

Each model is ``UNITS/MODULES[:WINDOWS]`` (periods 1, 2, 4, ..., one input, one linear output;
WINDOWS is ``period``, an int, or comma-separated ints, as ``ClockworkRNN(input_windows=...)``
takes them). For every model it times, interleaved run by run so that all share the machine's
load: ``Stream.process(block, out=...)`` (numba, one thread), with ``--voices V`` a stream of V
voices (reported per voice-sample), and the C export compiled at ``-O3 -march=native
-ffp-contract=fast`` driven by a small harness that times ``NAME_process`` with
``clock_gettime`` inside the process. Medians over ``--repeats`` runs of the timing thread's CPU
time, in microseconds per sample (wall time beside it). Before timing, the export's output is
checked against the Stream's.

Runs with the cwfast of the checkout it lives in; ``--no-c`` times the Stream alone (for
before/after comparisons of checkouts that predate input windows, run it from each checkout in
turn).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's cwfast
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scripts

import bench_export  # noqa: E402

HARNESS = bench_export.HARNESS  # the same timing driver

FLAGS = ["-O3", "-march=native", "-ffp-contract=fast"]


def build_model(spec):
    import cwfast

    sizes, _, windows = spec.partition(":")
    units, modules = map(int, sizes.split("/"))
    kw = {}
    if windows:
        kw["input_windows"] = windows if windows == "period" else (
            [int(w) for w in windows.split(",")] if "," in windows else int(windows))
    return cwfast.ClockworkRNN(1, 1, n_hidden=units, n_modules=modules, seed=0, sample_rate=44100,
                               metadata={"mode": "effect"}, **kw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["64/8", "64/8:period"])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--voices", type=int, default=0)
    parser.add_argument("--no-c", action="store_true", help="time the Stream only")
    args = parser.parse_args(argv)
    if min(args.samples, args.block, args.repeats) < 1 or args.voices < 0:
        parser.error("--samples, --block and --repeats must be positive, --voices 0 or more")
    import cwfast

    for spec in args.models:  # a mistyped one now, not after timing the others
        try:
            build_model(spec)
        except (ValueError, cwfast.CwfastError) as error:
            parser.error(f"--models {spec!r}: {error} (give UNITS/MODULES[:period|:N|:N1,N2,...])")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # (read when numba starts its threads)

    n, block = args.samples, args.block
    x = np.random.default_rng(1).uniform(-1, 1, size=(n, 1)).astype(np.float32)
    cc = None if args.no_c else shutil.which(os.environ.get("CC", "cc"))
    work = Path(tempfile.mkdtemp(prefix="cwfast-bench-windows-"))
    contestants, notes = {}, []
    try:
        x.tofile(work / "x.f32")
        (work / "harness.c").write_text(HARNESS)
        for i, spec in enumerate(args.models):
            model = build_model(spec)
            windows = getattr(model, "max_window", 1)
            label = f"CW {spec}"
            notes.append(f"{label}: {model.n_params} parameters, longest input window {windows}")
            run_stream = bench_export.stream_runner(cwfast.Stream(model, max_block=block), x, block)
            contestants[f"{label}, Stream"] = (run_stream, n)
            if args.voices:
                V = args.voices
                voices = cwfast.Stream(model, voices=V, max_block=block)
                xv = np.ascontiguousarray(np.broadcast_to(x[None, : n // V], (V, n // V, 1)))
                outv = np.empty((V, block, 1), dtype=np.float32)

                def run_voices(voices=voices, xv=xv, outv=outv):
                    voices.reset()
                    t, c = time.perf_counter(), time.thread_time()
                    for a in range(0, xv.shape[1], block):
                        m = min(block, xv.shape[1] - a)
                        voices.process(xv[:, a : a + m], out=outv[:, :m])
                    return time.perf_counter() - t, time.thread_time() - c

                contestants[f"{label}, Stream {V} voices (per voice)"] = (run_voices, V * (n // V))
            if cc is not None:
                name = f"m{i}"
                cwfast.export_c(model, work, name)
                exe = work / f"bench-{name}"
                subprocess.run([cc, "-std=c99", *FLAGS, f'-DHEADER="{name}.h"', f"-DNAME={name}", "-I", str(work),
                                str(work / "harness.c"), str(work / f"{name}.c"), "-lm", "-o", str(exe)], check=True)
                subprocess.run([str(exe), str(n), str(block), str(work / "x.f32"), str(work / "y.f32")], check=True,
                               capture_output=True)
                err = float(np.max(np.abs(np.fromfile(work / "y.f32", dtype=np.float32)
                                          - cwfast.Stream(model).process(x)[:, 0])))
                notes.append(f"{label}: C export vs Stream max |difference| {err:.2e}")

                def run_c(exe=exe):
                    out = subprocess.run([str(exe), str(n), str(block), str(work / "x.f32")], check=True,
                                         capture_output=True, text=True).stdout
                    wall, cpu = map(float, out.split())
                    return wall, cpu

                contestants[f"{label}, C export"] = (run_c, n)
        for f, _ in contestants.values():  # warm up
            f()
        times = {k: [] for k in contestants}
        for _ in range(args.repeats):
            for k, (f, _) in contestants.items():
                times[k].append(f())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"# {n} samples in blocks of {block}, median of {args.repeats} interleaved runs, one thread; "
          f"load average {os.getloadavg()[0]:.1f}")
    for note in notes:
        print(f"# {note}")
    print(f"{'contestant':<48} {'cpu us/sample':>14} {'wall us/sample':>15}")
    for k, v in times.items():
        count = contestants[k][1]
        cpu = 1e6 * float(np.median([c for _, c in v])) / count
        wall = 1e6 * float(np.median([w for w, _ in v])) / count
        print(f"{k:<48} {cpu:>14.3f} {wall:>15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
