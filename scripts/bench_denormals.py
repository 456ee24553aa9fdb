"""Does a stream slow down when its state decays into denormal numbers? Time per sample, noise vs silence.

    python scripts/bench_denormals.py [--hidden 256] [--modules 8] [--repeats 5]

Three cases, each streamed in blocks of 512 through ``Stream.process`` (one thread):

1. a random model (weights N(0, 0.1^2) as the paper draws them): loud noise, then a long silence.
   Its biases keep the state away from zero, so no denormals are expected;
2. a decaying model (zero biases, W_h = 0.9 I plus small allowed couplings): loud noise, then
   silence, timed in consecutive windows while the state decays through the denormal range to 0;
3. the worst case: the same model started with every state value denormal (1e-39 in float32,
   1e-310 in float64) and W_h = 0.9999 I, so the state stays denormal, against the same model
   started at 1e-3 (normal) and at 0.

Each line gives the median time per sample over ``--repeats`` runs and how many state values are
denormal at the end of the window.
"""

import argparse
import os
import sys
import time

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)


BLOCK = 512


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--modules", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    from cwfast import ClockworkRNN, State, Stream
    from cwfast.bench import machine_summary

    dtype = np.dtype(args.dtype)
    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((44100, 1)).astype(dtype)
    silence = np.zeros((44100, 1), dtype=dtype)
    print(f"machine: {machine_summary()}")
    print(f"{args.hidden} units in {args.modules} modules, {dtype.name}, blocks of {BLOCK}, "
          f"median of {args.repeats} runs; 'denormal' counts state values with 0 < |h| < {tiny:.1e}")

    def stream_through(stream, x):
        out = np.empty((BLOCK, 1), dtype=dtype)
        start = time.perf_counter()
        for a in range(0, len(x) - BLOCK + 1, BLOCK):
            stream.process(x[a : a + BLOCK], out=out)
        return (time.perf_counter() - start) * 1e6 / (len(x) // BLOCK * BLOCK)

    def denormal_count(stream):
        h = np.abs(stream.state.h)
        return f"{np.count_nonzero((h > 0) & (h < tiny)):4d} denormal, {np.count_nonzero(h == 0):4d} zero"

    def timeline(model, windows):
        """Noise for 1 s, then silence; us/sample in each 1 s window, medians over repeats."""
        times = np.zeros((args.repeats, windows + 1))
        counts = [0] * (windows + 1)
        for r in range(args.repeats):
            stream = Stream(model, max_block=BLOCK)
            times[r, 0] = stream_through(stream, noise)
            counts[0] = denormal_count(stream)
            for w in range(windows):
                times[r, w + 1] = stream_through(stream, silence)
                counts[w + 1] = denormal_count(stream)
        medians = np.median(times, axis=0)
        for w in range(windows + 1):
            label = "noise, 1 s" if w == 0 else f"silence, second {w}"
            print(f"  {label:20s} {medians[w]:7.3f} us/sample   state at end: {counts[w]} of {model.n_hidden}")
        return medians

    model = ClockworkRNN(1, 1, n_hidden=args.hidden, n_modules=args.modules, seed=0, dtype=dtype)
    print("\n1. random model (paper's initialisation)")
    timeline(model, 3)

    dense = model.to_dense()
    allowed = model.layout.allowed_mask()
    dense["W_h"] = np.where(allowed, rng.normal(0, 1e-3, allowed.shape), 0) + 0.9 * np.eye(args.hidden)
    dense["b_h"][:] = 0
    decaying = ClockworkRNN.from_dense(dense, dtype=dtype)
    print("\n2. decaying model (zero biases, W_h = 0.9 I + N(0, 1e-3) couplings): noise, then silence")
    timeline(decaying, 6)

    dense["W_h"] = 0.9999 * np.eye(args.hidden)
    dense["W_in"][:] = 0
    holding = ClockworkRNN.from_dense(dense, dtype=dtype)
    print("\n3. every state value held at one magnitude (W_h = 0.9999 I, zero input), 1 s of silence")
    start_values = [("normal (1e-3)", 1e-3), ("denormal", 1e-39 if dtype == np.float32 else 1e-310), ("zero", 0.0)]
    results = {name: [] for name, _ in start_values}
    counts = {}
    for _ in range(args.repeats):
        for name, value in start_values:  # interleaved
            stream = Stream(holding, state=State(np.full(args.hidden, value, dtype=dtype), 0), max_block=BLOCK)
            results[name].append(stream_through(stream, silence))
            counts[name] = denormal_count(stream)
    for name, _ in start_values:
        print(f"  start {name:14s} {np.median(results[name]):7.3f} us/sample   state at end: "
              f"{counts[name]} of {args.hidden}")
    ratio = np.median(results["denormal"]) / np.median(results["normal (1e-3)"])
    print(f"  denormal / normal: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    from cwfast.errors import CwfastError

    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path or size: one line, not a traceback
        print(f"bench_denormals.py: error: {error}", file=sys.stderr)
        sys.exit(2)
