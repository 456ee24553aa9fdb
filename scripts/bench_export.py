"""The C export against cwfast's numba Stream and a fused torch.nn.LSTM(1, 64), one core.

    python scripts/bench_export.py [--repeats 7] [--samples 441000] [--block 64] [--quick]

The model is the issue's: a Clockwork RNN of 144 units in 8 modules (periods 1..128, 18 units
each; the recurrent weights of a GRU of 64 units), one input, one linear output. It is exported
with :func:`cwfast.export_c` and compiled with the system C compiler at ``-O3 -march=native
-ffp-contract=fast`` (contraction into FMA is the only floating-point liberty: the exported loops
vectorise without reassociation, see cwfast/export/_codegen.py), and at portable ``-O2``. A small
C harness times ``NAME_process`` over the whole clip in blocks of ``--block`` with
``clock_gettime`` inside the process, so neither process start nor file I/O is counted.

Against it, in the same run and interleaved run by run so they share the machine's load:
cwfast's ``Stream.process(block, out=...)`` of the same model (numba), and, if PyTorch is
installed, ``torch.nn.LSTM(1, 64)`` with ``torch.set_num_threads(1)`` over the same blocks
(the fused ATen LSTM, state carried between blocks, under ``inference_mode``). Medians over
``--repeats`` runs, in microseconds per sample, of wall time and of the timing thread's CPU time
(on a machine shared with other work the CPU time is the steadier figure; the ratios use it),
and the fastest run's CPU time and ratio (the run least disturbed by the other work). One more C
run feeds denormal input (1e-39) to show that denormals cost nothing, and the compiler's
vectoriser report is counted.

Before timing, the compiled export's output over the clip is checked against the Stream's. What it
is doing (compiling, checking, warming up, run k of --repeats) is said on stderr as it goes.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's cwfast

#: The timing driver, for any exported model: compile with -DHEADER='"NAME.h"' -DNAME=NAME.
HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include HEADER

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(NAME, x)

int main(int argc, char **argv)
{
    static F(state) s;
    long n = atol(argv[1]), block = atol(argv[2]), i;
    float *in = malloc((size_t)n * sizeof(float)), *out = malloc((size_t)n * sizeof(float));
    FILE *f = fopen(argv[3], "rb");
    struct timespec a, b, ca, cb;
    if (!in || !out || !f || fread(in, sizeof(float), (size_t)n, f) != (size_t)n)
        return 2;
    fclose(f);
    F(reset)(&s);
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
    for (i = 0; i < n; i += block)
        F(process)(&s, in + i, out + i, (int)(n - i < block ? n - i : block));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.9f %.9f\n", (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec),
           (double)(cb.tv_sec - ca.tv_sec) + 1e-9 * (double)(cb.tv_nsec - ca.tv_nsec));
    if (argc > 4) {
        f = fopen(argv[4], "wb");
        if (!f || fwrite(out, sizeof(float), (size_t)n, f) != (size_t)n)
            return 2;
        fclose(f);
    }
    free(in);
    free(out);
    return 0;
}
"""

def stream_runner(stream, x, block):
    """A function that runs ``x`` (n, 1) through ``stream`` from a reset, in blocks of ``block``,
    and returns (wall, thread) seconds."""
    out = np.empty((block, 1), dtype=np.float32)

    def run():
        stream.reset()
        t, c = time.perf_counter(), time.thread_time()
        for a in range(0, x.shape[0], block):
            m = min(block, x.shape[0] - a)
            stream.process(x[a : a + m], out=out[:m])
        return time.perf_counter() - t, time.thread_time() - c

    return run


FLAGS = {
    "O3-native": ["-O3", "-march=native", "-ffp-contract=fast"],
    "O2-portable": ["-O2"],
}


def note(text):
    """Progress on stderr, between the timed runs (as ``cwfast bench`` says it): the table alone is on stdout."""
    print(f"bench_export.py: {text}", file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=441_000)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a short run, to check that the script works")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.samples = 2, 20_000
    if min(args.repeats, args.samples, args.block) < 1:
        parser.error("--repeats, --samples and --block must be positive")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        print("no C compiler (cc) on PATH", file=sys.stderr)
        return 1

    import cwfast

    model = cwfast.ClockworkRNN(1, 1, n_hidden=144, n_modules=8, seed=0, sample_rate=44100,
                                metadata={"mode": "effect"})
    n, block = args.samples, args.block
    x = np.random.default_rng(1).uniform(-1, 1, size=(n, 1)).astype(np.float32)
    work = Path(tempfile.mkdtemp(prefix="cwfast-bench-export-"))
    try:
        cwfast.export_c(model, work, "cw144")
        (work / "harness.c").write_text(HARNESS)
        x.tofile(work / "x.f32")
        np.full(n, 1e-39, dtype=np.float32).tofile(work / "denormal.f32")
        exes = {}
        note(f"compiling the export ({' '.join(FLAGS['O3-native'])}, and {' '.join(FLAGS['O2-portable'])})")
        for label, flags in FLAGS.items():
            exe = work / f"bench-{label}"
            subprocess.run([cc, "-std=c99", *flags, '-DHEADER="cw144.h"', "-DNAME=cw144", "-I", str(work),
                            str(work / "harness.c"), str(work / "cw144.c"),
                            "-lm", "-o", str(exe)], check=True)
            exes[label] = exe
        report = subprocess.run([cc, "-std=c99", *FLAGS["O3-native"], "-fopt-info-vec-optimized", "-c",
                                 str(work / "cw144.c"), "-o", os.devnull], capture_output=True, text=True)
        vectorised = sum("loop vectorized" in line for line in report.stderr.splitlines())

        # Correctness first: the benchmarked build against the Stream.
        note("checking the export's output against the Stream's")
        subprocess.run([str(exes["O3-native"]), str(n), str(block), str(work / "x.f32"), str(work / "y.f32")],
                       check=True, capture_output=True)
        y_c = np.fromfile(work / "y.f32", dtype=np.float32)
        y_stream = cwfast.Stream(model).process(x)[:, 0]
        err = float(np.max(np.abs(y_c - y_stream)))

        def run_c(label, data="x.f32"):
            out = subprocess.run([str(exes[label]), str(n), str(block), str(work / data)], check=True,
                                 capture_output=True, text=True).stdout
            wall, cpu = map(float, out.split())
            return wall, cpu

        run_stream = stream_runner(cwfast.Stream(model, max_block=block), x, block)
        run_torch, torch_note = _torch_runner(x, block)
        contestants = {"C export -O3 -march=native": lambda: run_c("O3-native"),
                       "C export -O2 (portable)": lambda: run_c("O2-portable"),
                       "C export -O3 -march=native, denormal input": lambda: run_c("O3-native", "denormal.f32"),
                       "cwfast Stream (numba)": run_stream}
        if run_torch is not None:
            contestants["torch.nn.LSTM(1, 64), 1 thread"] = run_torch
        note("warming up every contestant")
        for f in contestants.values():
            f()
        times = {k: [] for k in contestants}
        for r in range(args.repeats):
            note(f"run {r + 1} of {args.repeats}")
            for k, f in contestants.items():
                times[k].append(f())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    wall = {k: 1e6 * float(np.median([w for w, _ in v])) / n for k, v in times.items()}
    cpu = {k: 1e6 * float(np.median([c for _, c in v])) / n for k, v in times.items()}
    cpu_min = {k: 1e6 * float(np.min([c for _, c in v])) / n for k, v in times.items()}
    best = "C export -O3 -march=native"
    print(f"# {n} samples in blocks of {block}, median of {args.repeats} runs, one thread each")
    print(f"# model: Clockwork RNN 144 units / 8 modules, periods 1..128, {model.n_params} parameters")
    print(f"# compiler: {_compiler_version(cc)}; flags {' '.join(FLAGS['O3-native'])} vs {' '.join(FLAGS['O2-portable'])}")
    print(f"# vectoriser: {vectorised} loops vectorized in cw144.c at {' '.join(FLAGS['O3-native'])}")
    print(f"# machine: {_cpu()}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(f"# compiled export vs Stream: max |difference| {err:.2e} (outputs up to {np.abs(y_stream).max():.3f})")
    if torch_note:
        print(f"# {torch_note}")
    print(f"{'contestant':<46} {'wall us/sample':>15} {'cpu us/sample':>14} {'export faster (cpu)':>20} "
          f"{'cpu min':>8} {'(min)':>6}")
    for k in times:
        print(f"{k:<46} {wall[k]:>15.3f} {cpu[k]:>14.3f} {cpu[k] / cpu[best]:>19.2f}x {cpu_min[k]:>8.3f} "
              f"{cpu_min[k] / cpu_min[best]:>5.2f}x")
    return 0


def _torch_runner(x, block):
    try:
        import torch
    except ImportError:
        return None, "PyTorch not installed: no torch figure"
    torch.set_num_threads(1)
    lstm = torch.nn.LSTM(1, 64, batch_first=True).eval()
    head = torch.nn.Linear(64, 1).eval()
    xt = torch.from_numpy(x).reshape(1, -1, 1)
    n = xt.shape[1]

    def run():
        with torch.inference_mode():
            state = None
            t, c = time.perf_counter(), time.thread_time()
            for a in range(0, n, block):
                y, state = lstm(xt[:, a : a + block], state)
                head(y)
            return time.perf_counter() - t, time.thread_time() - c

    return run, f"torch {torch.__version__}, threads {torch.get_num_threads()}"


def _compiler_version(cc):
    return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def _cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
        cpus = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("CPU(s)"))
        flags = open("/proc/cpuinfo").read()
        isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "SSE")
        return f"{model}, {cpus} vCPUs, {isa}"
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
