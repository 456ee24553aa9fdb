"""Per-voice cost of ``Stream(model, voices=V)`` against a one-voice ``Stream`` (issue 14: 16 voices
at <= 0.4x the cost of one, per voice).

Both streams are prepared for the block length, fed float32 blocks with ``out=``, and timed
interleaved (a V-voice block, then a one-voice block, and so on) so that the machine's load hits
both alike. Prints, per model, the median and the fastest time per sample of one voice, and per
sample per voice of the V-voice stream, and their ratios, in CPU time of the calling thread
(``time.thread_time``) and in wall time. On a crowded machine, wall time is biased against the
longer V-voice calls (a call of several milliseconds is more often descheduled than a short one);
CPU time is not.

Usage: python scripts/bench_voices.py [--voices 16] [--block 512] [--repeat 200] [--models "CW 256/8,SRN 256"]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cwfast import LSTM, SRN, ClockworkRNN, Stream  # noqa: E402

MODELS = {
    "CW 256/8": lambda: ClockworkRNN(1, 1, n_hidden=256, n_modules=8, seed=0),
    "CW 144/8": lambda: ClockworkRNN(1, 1, n_hidden=144, n_modules=8, seed=0),
    "CW 1024/8": lambda: ClockworkRNN(1, 1, n_hidden=1024, n_modules=8, seed=0),
    "SRN 64": lambda: SRN(1, 1, n_hidden=64, seed=0),
    "SRN 256": lambda: SRN(1, 1, n_hidden=256, seed=0),
    "LSTM 64": lambda: LSTM(1, 1, n_hidden=64, seed=0),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=16)
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, among {', '.join(MODELS)} (default: all)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(map(repr, unknown))}; choose among {', '.join(MODELS)}")
    if min(args.voices, args.block, args.repeat) < 1:
        parser.error("--voices, --block and --repeat must be positive")
    V, n = args.voices, args.block
    rng = np.random.default_rng(0)
    print(f"{V} voices vs one, float32, blocks of {n}, interleaved runs (us per sample per voice)")
    print(f"{'model':10s} {'clock':5s} {'one: median':>12s} {'min':>7s} {'voices: median':>15s} {'min':>7s} "
          f"{'ratio med':>10s} {'ratio min':>10s}")
    for name in names:
        model = MODELS[name]()
        one, many = Stream(model, max_block=n), Stream(model, voices=V, max_block=n)
        x1 = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
        xv = rng.uniform(-1, 1, size=(V, n, 1)).astype(np.float32)
        y1, yv = np.empty((n, 1), np.float32), np.empty((V, n, 1), np.float32)
        repeat = max(5, args.repeat * 256 // model.n_hidden // 4) if model.n_hidden > 256 else args.repeat
        times = {"cpu": ([], []), "wall": ([], [])}
        for _ in range(3):
            one.process(x1, out=y1), many.process(xv, out=yv)
        for _ in range(repeat):
            a, ca = time.perf_counter(), time.thread_time()
            many.process(xv, out=yv)
            b, cb = time.perf_counter(), time.thread_time()
            one.process(x1, out=y1)
            c, cc = time.perf_counter(), time.thread_time()
            times["wall"][1].append((b - a) / n / V * 1e6)
            times["wall"][0].append((c - b) / n * 1e6)
            times["cpu"][1].append((cb - ca) / n / V * 1e6)
            times["cpu"][0].append((cc - cb) / n * 1e6)
        for clock, (t1, tv) in times.items():
            m1, mv = np.median(t1), np.median(tv)
            print(f"{name:10s} {clock:5s} {m1:12.3f} {min(t1):7.3f} {mv:15.3f} {min(tv):7.3f} {mv / m1:10.2f} "
                  f"{min(tv) / min(t1):10.2f}")

if __name__ == "__main__":
    main()
