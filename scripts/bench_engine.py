"""Throughput of forward and loss_and_grad: a Clockwork RNN against an SRN of the same width.

The SRN is the same engine with one module of period 1, so the ratio isolates what skipping
inactive modules buys. Runs both side by side, interleaved, and reports medians.

    python scripts/bench_engine.py [--hidden 256] [--modules 8] [--steps 8192] [--batch 16] [--repeats 7] [--threads N]
"""

import argparse
import os
import sys
import time

import numba
import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

from cwfast import ClockworkRNN  # noqa: E402


def median_time(fn, repeats):
    fn()  # compile and warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--modules", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                        help="numba threads (default: NUMBA_NUM_THREADS)")
    args = parser.parse_args()
    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:  # (numba's own ValueError was a traceback)
        parser.error(f"--threads {args.threads}: give 1 to {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS)")
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be at least 1")
    numba.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    cw = ClockworkRNN(1, 1, n_hidden=args.hidden, n_modules=args.modules, seed=0)
    srn = ClockworkRNN(1, 1, module_sizes=[args.hidden], periods=[1], seed=0)
    x1 = rng.normal(size=(args.steps, 1)).astype(np.float32)
    xb = rng.normal(size=(args.batch, args.steps // 4, 1)).astype(np.float32)
    tb = rng.normal(size=(args.batch, args.steps // 4, 1)).astype(np.float32)
    predicted = srn.layout.recurrent_macs_per_step() / cw.layout.recurrent_macs_per_step()
    print(f"n_hidden={args.hidden}, {args.modules} modules, periods {cw.periods.tolist()}, threads={args.threads}")
    print(f"predicted recurrent multiply-add ratio SRN/CW: {predicted:.2f}")
    rows = []
    for name, fn_of, samples in [
        ("forward B=1", lambda m: (lambda: m.forward(x1)), args.steps),
        (f"loss_and_grad B={args.batch}", lambda m: (lambda: m.loss_and_grad(xb, tb, flat=True)), xb.shape[0] * xb.shape[1]),
    ]:
        t_cw, t_srn = [], []
        for _ in range(3):  # interleave so drift on a shared machine hits both alike
            t_cw.append(median_time(fn_of(cw), args.repeats))
            t_srn.append(median_time(fn_of(srn), args.repeats))
        t_cw, t_srn = float(np.median(t_cw)), float(np.median(t_srn))
        rows.append((name, samples / t_cw, samples / t_srn, t_srn / t_cw))
    print(f"{'':22s} {'CW-RNN samples/s':>18s} {'SRN samples/s':>15s} {'speed-up':>9s}")
    for name, cw_rate, srn_rate, ratio in rows:
        print(f"{name:22s} {cw_rate:18,.0f} {srn_rate:15,.0f} {ratio:9.2f}")


if __name__ == "__main__":
    from cwfast.errors import CwfastError

    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path or size: one line, not a traceback
        print(f"bench_engine.py: error: {error}", file=sys.stderr)
        sys.exit(2)
