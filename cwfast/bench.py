"""``cwfast bench``: how fast a model streams, against the real-time budget of its sample rate.

For each block size the benchmark streams noise through :meth:`Stream.process` (prepared, with
``out=``: the real-time path, one thread) and times every block. It reports microseconds per
sample (from the median block of each run, and from the total time of each run, both as medians
over repeated runs), how many times faster than real time that is, and the median and
99th-percentile time of one block against the block's budget (block / sample rate).

Without ``-m`` it measures Clockwork RNNs of standard widths (8 modules, periods 1..128) next to
SRNs of the same widths (one module of period 1, the same engine), interleaved run by run so both
see the same machine load, and prints the measured SRN/CW time ratio next to the ratio of
recurrent multiply-adds per step that the paper predicts. It also measures two references a
kernel is held against: a dense matrix-vector product of each width, in numba one row at a time
and through NumPy's BLAS, and reports each model's multiply-adds per second as a fraction of both.
They are references, not ceilings: the kernels take four to sixteen rows a pass and beat the
one-row product (an SRN of 256 at 1.55 of it), and BLAS's gemv at the widest.
With ``--voices V`` each model is also
run as one ``Stream(model, voices=V)``, interleaved with its one-voice stream, and a table gives
the cost per sample per voice against one voice. With ``--blocked`` each Clockwork RNN (and SRN)
also runs as ``Stream(model, blocked=True)`` (the block module by module), and a table gives its
speed-up over the step-by-step stream. The CLI calls :func:`add_arguments`
and :func:`run`; numba-heavy modules are imported inside :func:`run` only.
"""

from __future__ import annotations

import json
import os
import platform
import sys

# The subcommand shares the command line's argument types (one-line errors, exit status 2).
from ._argtypes import bench_seconds as _bench_seconds
from ._argtypes import block as _block
from ._argtypes import path as _path
from ._argtypes import repeats as _repeats
from ._argtypes import voices as _voices

DEFAULT_BLOCKS = (32, 128, 512, 2048)
DEFAULT_WIDTHS = (64, 256, 1024)
DEFAULT_MODULES = 8
DEFAULT_RATE = 44100
#: The most blocks one run times (each block's time is kept: 8 MB).
MAX_BLOCKS_A_RUN = 2**20


def add_arguments(parser):
    """Add the bench options to ``parser`` (an argparse parser or subparser)."""
    parser.add_argument("-m", "--model", type=_path, metavar="MODEL",
                        help="a model file to measure (default: CW-RNNs of 64, 256 and 1024 units in 8 modules "
                        "next to SRNs of the same widths)")
    parser.add_argument("--block", type=_block, nargs="+", default=list(DEFAULT_BLOCKS), metavar="N",
                        help=f"block sizes in samples (default: {' '.join(map(str, DEFAULT_BLOCKS))})")
    parser.add_argument("--seconds", type=_bench_seconds, default=1.0, metavar="S",
                        help="wall-clock time to spend on each model and block size (shared by --voices and "
                        "--blocked's streams), at most 3600 (default: %(default)s)")
    parser.add_argument("--repeats", type=_repeats, default=5, metavar="R",
                        help="runs per model and block size, at most 1000; the table shows medians (default: "
                        "%(default)s)")
    parser.add_argument("--voices", type=_voices, metavar="V",
                        help="also run each model as one stream of V voices and report the cost per voice "
                        "against one voice")
    parser.add_argument("--blocked", action="store_true",
                        help="also run each Clockwork RNN module by module over each block (Stream(model, "
                        "blocked=True)) and report its speed-up")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def machine_summary():
    """One line: CPU model, cores, whether numba compiles for AVX-512 (the row kernels then sum
    sixteen rows at a time: faster, and trained models differ from those of a CPU without it),
    and the versions that matter for speed."""
    import numba
    import numpy as np

    from ._jit import has_avx512

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores available, {'' if has_avx512() else 'no '}AVX-512, numba {numba.__version__}, "
            f"numpy {np.__version__}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")


def standard_models(widths=DEFAULT_WIDTHS, n_modules=DEFAULT_MODULES):
    """Pairs (label, model) for the default run: a CW-RNN and an SRN of each width, one input, one output."""
    from .model import ClockworkRNN

    models = []
    for n in widths:
        models.append((f"CW {n}x{n_modules}", ClockworkRNN(1, 1, n_hidden=n, n_modules=n_modules, seed=0)))
        models.append((f"SRN {n}", ClockworkRNN(1, 1, module_sizes=[n], periods=[1], seed=0)))
    return models


def measure(models, blocks, *, seconds=1.0, repeats=5, sample_rate=None, progress=None, voices=None, blocked=False):
    """Time streaming of each model at each block size; models interleaved run by run.

    Parameters
    ----------
    models : list of (str, ClockworkRNN)
    blocks : list of int
    seconds : float
        Wall-clock time to spend per model and block size, split over the repeats and the stream
        variants (one voice, ``voices``, ``blocked``; at least one block per run, at most
        :data:`MAX_BLOCKS_A_RUN`), after a few untimed warm blocks; at most 3600.
    repeats : int
    sample_rate : int, optional
        Rate for the real-time budget; default each model's own, else 44.1 kHz.
    progress : callable, optional
        Called with a short text after each (block size, repeat).
    voices : int, optional
        At least 2: also time each model as one stream of this many voices, in the same interleaving; its records carry ``voices`` and count time per sample per voice.
    blocked : bool
        Also time each model a blocked stream can run as ``Stream(model, blocked=True)``, in the
        same interleaving; its records carry ``blocked`` True.

    Returns
    -------
    list of dict
        One record per model and block size: ``label``, ``block``, ``sample_rate``,
        ``us_per_sample`` (the median block time of a run divided by the block size and the voices,
        median over runs: robust to the process being descheduled on a shared machine),
        ``us_per_sample_runs``, ``mean_us_per_sample`` (total time of a run over its samples,
        median over runs: includes every hiccup), ``realtime_factor`` (how many times faster
        than real time the stream runs, all its voices together: ``budget_us`` over the block's
        time),
        ``block_p50_us``, ``block_p99_us`` (over all blocks timed), ``budget_us``, ``blocks_timed``,
        ``recurrent_macs``, ``voices`` (1 for a one-voice stream), ``blocked``.
    """
    import gc
    import time

    import numpy as np

    from . import validate
    from .errors import ParameterError
    from .stream import Stream

    seconds = validate.positive_float("seconds", seconds, maximum=3600)
    repeats = validate.positive_int("repeats", repeats)
    if voices is not None:
        voices = validate.positive_int("voices", voices)
        if voices < 2:  # one voice is timed anyway
            raise ParameterError(f"voices={voices} must be at least 2 (or None): every model is timed as one voice")
    records = []
    for block in blocks:
        cases = []
        for label, model in models:
            rate = sample_rate or model.sample_rate or DEFAULT_RATE
            variants = [(1, False)] + ([] if voices is None else [(voices, False)])
            if blocked and _runs_blocked(model):
                variants.append((1, True))
            for v, by_module in variants:
                stream = Stream(model, voices=None if v == 1 else v, blocked=by_module).prepare(block)
                lead = () if v == 1 else (v,)
                rng = np.random.default_rng(0)
                inputs = (0.3 * rng.standard_normal((8, *lead, block, model.n_in))).astype(model.dtype)
                out = np.empty((*lead, block, model.n_out), dtype=model.dtype)
                # Calibrate on warm blocks (the first ones after prepare may load kernels or fault
                # pages in): the blocks per run that fill this variant's share of the model and block
                # size's time.
                for x in inputs[:2]:
                    stream.process(x, out=out)
                start = time.perf_counter()
                for x in inputs:
                    stream.process(x, out=out)
                per_block = (time.perf_counter() - start) / len(inputs)
                share = seconds / len(variants) / repeats
                n_blocks = min(max(1, int(share / max(per_block, 1e-9))), MAX_BLOCKS_A_RUN)
                name = f"{label} blocked" if by_module else (label if v == 1 else f"{label} x{v} voices")
                cases.append(dict(label=name, model=model, stream=stream, inputs=inputs, out=out, rate=rate,
                                  n_blocks=n_blocks, runs=[], throughput=[], times=[], voices=v, base=label,
                                  blocked=by_module))
        was_enabled = gc.isenabled()
        gc.disable()  # process() allocates nothing; keep other garbage out of the block times
        try:
            for r in range(repeats):
                for case in cases:
                    stream, inputs, out = case["stream"], case["inputs"], case["out"]
                    times = np.empty(case["n_blocks"])
                    clock = time.perf_counter_ns
                    for i in range(case["n_blocks"]):
                        x = inputs[i % 8]
                        t0 = clock()
                        stream.process(x, out=out)
                        times[i] = clock() - t0
                    case["times"].append(times)
                    per = block * case["voices"]  # samples per block, all voices
                    case["runs"].append(float(np.median(times)) / 1e3 / per)
                    case["throughput"].append(times.sum() / 1e3 / (per * case["n_blocks"]))
                if progress is not None:
                    progress(f"block {block}, run {r + 1}/{repeats}")
        finally:
            if was_enabled:
                gc.enable()
        for case in cases:
            all_times = np.concatenate(case["times"]) / 1e3
            us = float(np.median(case["runs"]))
            records.append({
                "label": case["label"],
                "block": block,
                "sample_rate": case["rate"],
                "us_per_sample": us,
                "us_per_sample_runs": [float(v) for v in case["runs"]],
                "mean_us_per_sample": float(np.median(case["throughput"])),
                "realtime_factor": 1e6 / case["rate"] / (us * case["voices"]),  # all voices together
                "block_p50_us": float(np.percentile(all_times, 50)),
                "block_p99_us": float(np.percentile(all_times, 99)),
                "budget_us": 1e6 * block / case["rate"],
                "blocks_timed": int(all_times.size),
                "recurrent_macs": case["model"].recurrent_macs_per_step(),
                "voices": case["voices"],
                "blocked": case["blocked"],
                "model_label": case["base"],
            })
    return records


def _runs_blocked(model):
    """Whether ``Stream(model, blocked=True)`` runs ``model`` (the stream's own check decides)."""
    from .errors import ParameterError
    from .stream import Stream

    try:
        Stream(model, blocked=True)
    except ParameterError:
        return False
    return True


def macs_per_step(model):
    """Multiply-adds of one streamed step, on average: the recurrence (only the blocks that exist,
    at the steps their modules fire), the input weights of the units that fire (each its module's
    input window long), the output layer."""
    lay = getattr(model, "layout", None)
    if lay is not None:
        firing = sum(int(k) * int(w) / int(p) for k, p, w in zip(lay.module_sizes, lay.periods, lay.input_windows))
    else:  # an LSTM: the four gates of every cell, every step
        firing = 4 * model.n_hidden
    return model.recurrent_macs_per_step() + firing * model.n_in + model.n_out * model.n_hidden


def ceilings(widths, *, dtype="float32", seconds=0.2):
    """GMAC/s of a dense n x n matrix-vector product for each width: numba one row at a time
    (``cwfast._kernels._matvec_repeat``; the kernels now take several rows a pass and run faster)
    and the BLAS behind NumPy (``W @ h``, sgemv for float32),
    one thread each (the stream's kernel runs on one), best of five timed runs. Each method's runs
    together take about ``seconds / 2`` per width: the repeats of a run are set from a timed probe,
    so a small width's Python loop of BLAS calls (a microsecond of call overhead each) does not
    run for millions of calls."""
    import contextlib
    import time

    import numpy as np

    from . import _kernels

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it BLAS may use every core: its figure is then an upper bound
        threadpool_limits = None
    out = {}
    # One limit around the whole measurement: entering it inspects the loaded libraries, which
    # inside a timed run would be most of a small run's time.
    with threadpool_limits(limits=1) if threadpool_limits else contextlib.nullcontext():
        for n in sorted(set(widths)):
            rng = np.random.default_rng(0)
            w = rng.standard_normal((n, n)).astype(dtype)
            h = rng.standard_normal(n).astype(dtype)
            y = np.empty(n, dtype=dtype)

            def blas(repeats):
                for _ in range(repeats):
                    np.matmul(w, h, out=y)

            runs = {"numba": lambda repeats: _kernels._matvec_repeat(w, h, y, repeats), "blas": blas}
            runs["numba"](1)  # compile
            best = {}
            for name, run in runs.items():
                repeats = _repeats_lasting(run, seconds / 10)
                best[name] = 0.0
                for _ in range(5):
                    t0 = time.perf_counter()
                    run(repeats)
                    best[name] = max(best[name], repeats * n * n / (time.perf_counter() - t0) / 1e9)
            out[n] = best
    return out


def _repeats_lasting(run, seconds):
    """How many repeats ``run(repeats)`` needs to last about ``seconds`` (1 to 2**30): doubled
    from one until a probe lasts a millisecond, then scaled."""
    import time

    repeats = 1
    while True:
        t0 = time.perf_counter()
        run(repeats)
        elapsed = time.perf_counter() - t0
        if elapsed >= 1e-3 or repeats >= 1 << 30:
            return min(1 << 30, max(1, round(repeats * seconds / max(elapsed, 1e-9))))
        repeats *= 2


def ceiling_rows(records, models, ceiling):
    """For each model, at its largest block: the kernel's GMAC/s and that as a fraction of the ceilings."""
    by_label = dict(models)
    rows = []
    for r in records:
        model = by_label.get(r["label"])
        if model is None or r["block"] != max(x["block"] for x in records if x["label"] == r["label"]):
            continue
        gmacs = macs_per_step(model) / r["us_per_sample"] / 1e3
        top = ceiling[model.n_hidden]
        rows.append({"label": r["label"], "block": r["block"], "gmacs": gmacs, "numba_gmacs": top["numba"],
                     "blas_gmacs": top["blas"], "of_numba": gmacs / top["numba"], "of_blas": gmacs / top["blas"]})
    return rows


def _has_threadpoolctl():
    import importlib.util

    return importlib.util.find_spec("threadpoolctl") is not None


def format_ceilings(rows):
    lines = [("model", "block", "kernel GMAC/s", "dense matvec numba", "BLAS gemv", "of numba", "of BLAS")]  # sgemv or dgemv: the model's dtype
    for r in rows:
        lines.append((r["label"], str(r["block"]), f"{r['gmacs']:.2f}", f"{r['numba_gmacs']:.2f}",
                      f"{r['blas_gmacs']:.2f}", f"{r['of_numba']:.2f}", f"{r['of_blas']:.2f}"))
    return _align(lines)


def voice_ratios(records):
    """Per model and block: the cost per sample per voice of a many-voice stream over one voice."""
    one = _step_by_step(records)
    rows = []
    for r in records:
        single = one.get((r["model_label"], r["block"]))
        if r["voices"] > 1 and single:
            rows.append({"model": r["model_label"], "block": r["block"], "voices": r["voices"],
                         "one_us": single["us_per_sample"], "per_voice_us": r["us_per_sample"],
                         "ratio": r["us_per_sample"] / single["us_per_sample"]})
    return rows


def _step_by_step(records):
    """(model, block) -> the record of its one-voice, step-by-step stream."""
    return {(r["model_label"], r["block"]): r for r in records if r["voices"] == 1 and not r.get("blocked")}


def blocked_ratios(records):
    """Per model and block: the step-by-step stream's time per sample over the blocked stream's."""
    one = _step_by_step(records)
    rows = []
    for r in records:
        single = one.get((r["model_label"], r["block"]))
        if r.get("blocked") and single:
            rows.append({"model": r["model_label"], "block": r["block"], "step_us": single["us_per_sample"],
                         "blocked_us": r["us_per_sample"], "speedup": single["us_per_sample"] / r["us_per_sample"],
                         "blocked_realtime_factor": r["realtime_factor"]})
    return rows


def format_blocked_ratios(rows):
    lines = [("model", "block", "step by step us/sample", "blocked us/sample", "speed-up", "blocked x real time")]
    for r in rows:
        lines.append((r["model"], str(r["block"]), f"{r['step_us']:.3f}", f"{r['blocked_us']:.3f}",
                      f"{r['speedup']:.2f}", f"{r['blocked_realtime_factor']:.1f}"))
    return _align(lines)


def format_voice_ratios(rows):
    lines = [("model", "block", "voices", "one voice us/sample", "per voice us/sample", "per voice / one")]
    for r in rows:
        lines.append((r["model"], str(r["block"]), str(r["voices"]), f"{r['one_us']:.3f}",
                      f"{r['per_voice_us']:.3f}", f"{r['ratio']:.2f}"))
    return _align(lines)


def ratios(records, widths=DEFAULT_WIDTHS, n_modules=DEFAULT_MODULES):
    """SRN/CW time ratios per width and block next to the paper's recurrent operation ratio."""
    by_key = {(r["label"], r["block"]): r for r in records}
    rows = []
    for n in widths:
        for block in sorted({r["block"] for r in records}):
            cw = by_key.get((f"CW {n}x{n_modules}", block))
            srn = by_key.get((f"SRN {n}", block))
            if cw and srn:
                rows.append({
                    "width": n,
                    "block": block,
                    "measured": srn["us_per_sample"] / cw["us_per_sample"],
                    "predicted": srn["recurrent_macs"] / cw["recurrent_macs"],
                })
    return rows


def describe(model):
    """A short line: units, modules, periods, dtype, recurrent multiply-adds per step."""
    if model.realtime_kind == "lstm":
        size = f"{model.description} of {model.n_hidden} cells"
    else:
        periods = model.periods.tolist()
        shown = ",".join(map(str, periods)) if len(periods) <= 4 else f"{periods[0]}..{periods[-1]}"
        size = (f"{model.n_hidden} units in {model.n_modules} module{'s' if model.n_modules > 1 else ''} "
                f"(periods {shown})")
    return (f"{size}, {model.n_in} in, {model.n_out} out, {model.dtype.name}, "
            f"{model.recurrent_macs_per_step():.0f} recurrent multiply-adds per step")


def format_table(records):
    header = ("model", "block", "us/sample", "mean us/sample", "x real time", "block p50 us", "block p99 us",
              "budget us", "blocks")
    lines = [header]
    for r in records:
        lines.append((
            r["label"], str(r["block"]), f"{r['us_per_sample']:.3f}", f"{r['mean_us_per_sample']:.3f}",
            f"{r['realtime_factor']:.1f}",
            f"{r['block_p50_us']:.1f}", f"{r['block_p99_us']:.1f}", f"{r['budget_us']:.1f}", str(r["blocks_timed"]),
        ))
    return _align(lines)


def format_ratios(rows):
    lines = [("width", "block", "SRN/CW measured", "SRN/CW predicted (recurrent MACs)")]
    for r in rows:
        lines.append((str(r["width"]), str(r["block"]), f"{r['measured']:.2f}", f"{r['predicted']:.2f}"))
    return _align(lines)


def _align(lines):
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = []
    for k, row in enumerate(lines):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def run(args):
    """Run ``cwfast bench`` with parsed ``args``; print the results to stdout; return 0."""
    from .persistence import load

    quiet = getattr(args, "quiet", False)

    def note(text):
        if not quiet:
            print(f"cwfast bench: {text}", file=sys.stderr, flush=True)

    if args.model:
        model = load(args.model)
        models = [(os.path.basename(args.model), model)]
    else:
        models = standard_models()
    if getattr(args, "blocked", False):
        for label, model in models:
            if not _runs_blocked(model):
                print(f"cwfast bench: {label} ({model.description}) cannot run blocked (a Clockwork RNN or SRN "
                      "without input windows, periods strictly increasing): measured step by step only",
                      file=sys.stderr)
    note("compiling and warming up")
    voices = getattr(args, "voices", None)
    records = measure(models, args.block, seconds=args.seconds, repeats=args.repeats, progress=note, voices=voices,
                      blocked=getattr(args, "blocked", False))
    rows = [] if args.model else ratios(records)
    voice_rows = voice_ratios(records)
    blocked_rows = blocked_ratios(records)
    note("measuring the matrix-vector references (dense products in numba and BLAS)")
    ceiling = ceilings([model.n_hidden for _, model in models], dtype=models[0][1].dtype)
    ceiling_table = ceiling_rows(records, models, ceiling)
    summary = machine_summary()
    if args.json:
        print(json.dumps({"machine": summary, "results": records, "ratios": rows, "voice_ratios": voice_rows,
                          "blocked_ratios": blocked_rows, "ceilings": ceiling_table}, indent=1))
        return 0
    print(f"machine: {summary}")
    rates = sorted({r["sample_rate"] for r in records})
    runs = "one run" if args.repeats == 1 else f"median of {args.repeats} runs"
    print(f"streaming, one thread, Stream.process(out=...); {runs}; "
          f"real time at {', '.join(f'{r} Hz' for r in rates)}")
    print("us/sample: median block time / block size; mean us/sample: total time / samples, which also counts "
          "the moments the process was descheduled")
    for label, model in models:
        print(f"  {label}: {describe(model)}")
    print()
    print(format_table(records))
    if rows:
        print()
        print(format_ratios(rows))
        print("(the paper's ratio counts recurrent multiply-adds only; input, output and call overhead are "
              "the same for both)")
    print()
    print(format_ceilings(ceiling_table))
    print("(kernel GMAC/s: multiply-adds of a streamed step (recurrence as fired, input, output) per second, at "
          "the largest block; the references, not ceilings: a dense n x n matrix-vector product, in numba one "
          "row at a time (the kernels take several a pass, and may beat it) and by BLAS, one thread, best of 5"
          + ("" if _has_threadpoolctl() else "; BLAS may use every core here (threadpoolctl is not installed)")
          + ")")
    if voice_rows:
        print()
        print(format_voice_ratios(voice_rows))
        print("(voices: us/sample counts one sample of one voice; issue 14's goal for 16 voices is <= 0.40)")
    if blocked_rows:
        print()
        print(format_blocked_ratios(blocked_rows))
        print("(blocked: Stream(model, blocked=True), the block module by module; the same outputs within float "
              "rounding)")
    return 0
