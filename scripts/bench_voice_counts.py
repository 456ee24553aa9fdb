"""One ``Stream(model, voices=V)`` against V separate one-voice streams, for several voice counts.

For each model and each V, both sides are prepared for the block length and fed the same float32
blocks with ``out=``, interleaved call by call (the V-voice stream's block, then the V one-voice
streams' blocks, and so on), so the machine's load hits both alike. Prints, per model and V, the
medians in CPU time of the calling thread (``time.thread_time``) of one block of all V voices,
in microseconds per sample per voice, and their ratio (V voices in one stream over V streams:
below 1 the voices pay off), with the ratio of the fastest runs beside it. ``bench_voices.py``
measures the same against a single stream; this one also covers counts that are not a multiple
of the kernels' voice blocks, and models with a mixture head and its stages (the bundled default
model: level, linear prediction, pitch predictor, surprise-following scale, input windows), and an
LSTM (``--models "LSTM 64"``).

Usage: python scripts/bench_voice_counts.py [--counts 1 2 3 4 8 16] [--block 512] [--repeat 60]
                                            [--models default,CW 64/8,CW 256/8,LSTM 64]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cwfast  # noqa: E402
from cwfast import LSTM, ClockworkRNN, Stream  # noqa: E402

DEFAULT = Path(cwfast.__file__).parent / "models" / "default.npz"
MODELS = {
    "default": lambda: cwfast.load(DEFAULT),  # CW 64/8, mixture head, the autoregressive stages
    "CW 64/8": lambda: ClockworkRNN(1, 1, n_hidden=64, n_modules=8, seed=0),  # linear head, no stages
    "CW 256/8": lambda: ClockworkRNN(1, 1, n_hidden=256, n_modules=8, seed=0),
    "LSTM 64": lambda: LSTM(1, 1, n_hidden=64, seed=0),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3, 4, 8, 16])
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--models", default="default,CW 64/8", help=f"comma-separated, among {', '.join(MODELS)}")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(map(repr, unknown))}; choose among {', '.join(MODELS)}")
    if min(args.counts + [args.block, args.repeat]) < 1:
        parser.error("--counts, --block and --repeat must be positive")
    n = args.block
    rng = np.random.default_rng(0)
    print(f"# blocks of {n}, float32, {args.repeat} interleaved runs; CPU us per sample per voice, medians "
          f"(fastest); ratio: one V-voice stream over V one-voice streams")
    print(f"{'model':9s} {'V':>3s} {'V streams':>16s} {'voices=V':>16s} {'ratio med':>9s} {'ratio min':>9s}")
    for name in names:
        model = MODELS[name]()
        for V in args.counts:
            # Inputs well inside the model's range (a level-normalised model takes any scale).
            x = (0.3 * rng.uniform(-1, 1, size=(V, n, model.n_in))).astype(model.dtype)
            singles = [Stream(model, max_block=n) for _ in range(V)]
            many = Stream(model, voices=V, max_block=n)
            y1, yv = np.empty((n, model.n_out), model.dtype), np.empty((V, n, model.n_out), model.dtype)
            t_one, t_many = [], []
            for i in range(args.repeat + 3):
                a = time.thread_time()
                many.process(x, out=yv)
                b = time.thread_time()
                for v in range(V):
                    singles[v].process(x[v], out=y1)
                c = time.thread_time()
                if i >= 3:  # warm-up
                    t_many.append((b - a) / n / V * 1e6)
                    t_one.append((c - b) / n / V * 1e6)
            m1, mv = float(np.median(t_one)), float(np.median(t_many))
            print(f"{name:9s} {V:3d} {m1:8.3f} ({min(t_one):5.3f}) {mv:8.3f} ({min(t_many):5.3f}) {mv / m1:9.2f} "
                  f"{min(t_many) / min(t_one):9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
