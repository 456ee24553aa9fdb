"""``Stream(model, blocked=True)`` against the step-by-step ``Stream(model)``: one voice, one thread,
float32, interleaved runs (issue 14: "CW 1024/8 streaming >= 3x real time at 44.1 kHz").

For each model and block length, both streams are prepared for the block, fed the same float32
blocks with ``out=``, and timed alternately (a run of the one, then of the other, so that the
machine's load hits both alike; each run streams ``--samples`` samples). Prints medians and the
fastest runs in us/sample, x real time at 44.1 kHz, the ratio of medians, and the largest difference
between the two streams' outputs (the blocked one sums in another order).

    python scripts/bench_blocked.py [--sizes 256 1024] [--blocks 64 512 2048] [--repeats 15]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cwfast import ClockworkRNN, Stream  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="hidden units (8 modules)")
    parser.add_argument("--blocks", type=int, nargs="+", default=[64, 512, 2048])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--samples", type=int, default=8192)
    args = parser.parse_args(argv)
    if min(args.sizes + args.blocks + [args.repeats, args.samples]) < 1:
        parser.error("--sizes, --blocks, --repeats and --samples must be positive")
    print(f"float32, one thread, {args.samples} samples a run, medians of {args.repeats} interleaved runs "
          "(fastest in brackets)")
    print(f"{'model':9s} {'block':>5s}  {'step by step us/sample':>24s}  {'blocked us/sample':>19s}  "
          f"{'x real time (44.1 kHz)':>22s}  {'speed-up':>8s}  {'max |diff|':>10s}")
    for n in args.sizes:
        model = ClockworkRNN(1, 1, n_hidden=n, n_modules=8, seed=0, dtype=np.float32)
        x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 1)).astype(np.float32)
        for block in args.blocks:
            streams = (Stream(model, max_block=block), Stream(model, max_block=block, blocked=True))
            outputs = [np.empty((args.samples // block * block, 1), np.float32) for _ in streams]
            times = ([], [])
            for _ in range(args.repeats):
                for stream, y, runs in zip(streams, outputs, times):
                    start = time.perf_counter()
                    for a in range(0, y.shape[0], block):
                        stream.process(x[a : a + block], out=y[a : a + block])
                    runs.append((time.perf_counter() - start) / y.shape[0] * 1e6)
            step, blocked = (float(np.median(runs)) for runs in times)
            diff = float(np.abs(outputs[0] - outputs[1]).max())
            print(f"CW {n}/8 {block:>5d}  {step:15.2f} ({min(times[0]):6.2f})  {blocked:10.2f} ({min(times[1]):6.2f})  "
                  f"{1e6 / 44100 / step:9.2f} -> {1e6 / 44100 / blocked:6.2f}  {step / blocked:7.2f}x  {diff:10.2e}")


if __name__ == "__main__":
    main()
