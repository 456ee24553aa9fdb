"""What the surprise-following scale costs ``Stream.process``: one fitted mixture model with its
:class:`cwfast.model.Surprise` and a copy with it off, interleaved runs over the same 16384
samples (blocks of ``--block``, ``out=`` given), thread CPU time, medians in microseconds a sample
and their ratio (docs/training.md, "Scales that follow the surprise"). Generation does not run
the scale, so it costs generation nothing.

    python scripts/bench_surprise_stream.py MODEL.npz [--block 256] [--runs 31]
"""

import argparse
import os
import sys
import time

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402


#: Samples streamed in each run.
SAMPLES = 16384


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args(argv)
    if args.runs < 1 or not 1 <= args.block <= SAMPLES:
        parser.error(f"--runs must be at least 1 and --block from 1 to {SAMPLES}")
    model = cwfast.load(args.model)
    if model.surprise is None:
        raise CwfastError(f"{args.model} has no surprise-following scale")
    off = model.copy()
    off.surprise = None
    x = (0.1 * np.sin(np.arange(SAMPLES) / 7.0)).astype(model.dtype)[:, None]
    streams = {"on": cwfast.Stream(model, max_block=args.block), "off": cwfast.Stream(off, max_block=args.block)}
    out = np.empty((args.block, model.n_out), model.dtype)
    times = {name: [] for name in streams}
    for _ in range(args.runs):
        for name, stream in streams.items():
            stream.reset()
            start = time.thread_time()
            for a in range(0, x.shape[0] - args.block + 1, args.block):
                stream.process(x[a : a + args.block], out=out)
            times[name].append((time.thread_time() - start) / (x.shape[0] // args.block * args.block) * 1e6)
    on, off_ = (float(np.median(times[name])) for name in ("on", "off"))
    print(f"block {args.block}: with the scale {on:.3f} us a sample, without {off_:.3f}, ratio {on / off_:.3f}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path, a model of another kind: one line, not a traceback
        print(f"bench_surprise_stream.py: error: {error}", file=sys.stderr)
        sys.exit(2)
