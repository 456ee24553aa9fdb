"""PROTOTYPE (issue 14, "CW 1024/8 streaming >= 3x real time"): a block of a Clockwork RNN computed
module by module, slowest first, so that most of its multiply-adds become matrix products.

Not engine code: a numba kernel on top of cwfast's private kernels, to measure whether the idea is
worth building into ``Stream``. It is not a ``Stream`` mode yet (no compiled entry, no input windows,
no voices, strictly increasing periods only).

Why it can be faster. Module j feeds module i only if T_j >= T_i, so the slowest module depends on
nothing but itself and the input. Given a whole block of input, the modules can be run one after
the other, slowest first, each over the whole block: when module i runs, the states of every
slower module are already known at every step of the block, and its rows' products with them (all
but its own k x k diagonal block) are one matrix product over its active steps. Those products
run in the voice kernels' lane passes (:func:`cwfast._voice_kernels._rows_lanes16`), with 16 active
steps in the lanes instead of 16 voices: each weight is loaded once for 16 steps, where the
one-voice step loads every weight again at every step (CW 1024/8's 2.4 MB of float32 weights do
not fit the EPYC's 512 KiB L2, so that step is bound by the L3). Only the k x k diagonal block
stays sequential (:func:`cwfast._kernels._module_rows`, one step at a time).

The sums are the model's, in another order: the bias, the inputs, the slower modules' columns in
order, then the module's own (the engine's step sums each row in one vectorised dot product). So
the outputs differ from ``forward`` by float rounding (checked below), and are the same bits
however the input is split into blocks (checked below: each active step's sums run in one order
whatever its lane).

States of the block are kept time-minor, as the lane passes read them: entry e (the state before
step e, e = 0..T) at ``hs[e // 16, :, e % 16]``. A module of period 1 reads its slower modules'
entries of 16 consecutive steps as one (width, 16) view; a slower module gathers its 16 active
steps' entries first.

    python scripts/prototype_blocked_stream.py [--sizes 1024] [--block 512] [--repeats 15]

prints, per size, the largest difference from ``forward`` and, interleaved with the engine's
``Stream`` of the same model and block length, medians and fastest runs in us/sample and x real
time at 44.1 kHz.
"""

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cwfast import ClockworkRNN, Stream  # noqa: E402
from cwfast._kernels import _HOT, _module_rows, _tanh_inplace, _views  # noqa: E402
from cwfast._voice_kernels import LANES, _rows_lanes16  # noqa: E402


def split_blocks(model):
    """Each module's recurrent block split into its own k x k part and its slower columns, each packed
    row-major: (own weights, slower weights, their offsets per module)."""
    lay, n = model.layout, model.n_hidden
    if np.any(np.diff(lay.periods) <= 0):
        raise ValueError("the prototype needs strictly increasing periods")
    packed = np.asarray(model.W_h_packed)
    own, slow = [], []
    for i in range(len(lay.periods)):
        r0, r1 = lay.module_start[i], lay.module_start[i + 1]
        block = packed[lay.block_offset[i] : lay.block_offset[i + 1]].reshape(r1 - r0, n - r0)
        own.append(block[:, : r1 - r0].ravel())
        slow.append(block[:, r1 - r0 :].ravel())
    offsets = [np.concatenate([[0], np.cumsum([part.size for part in parts])]).astype(np.int64) for parts in (own, slow)]
    return np.concatenate(own), np.concatenate(slow), offsets[0], offsets[1]


@numba.njit(**_HOT)
def _fill(hs, r0, k, hcur, e_from, e_to):
    """Module rows r0..r0+k of entries e_from..e_to-1: the state ``hcur`` (held)."""
    for e in range(e_from, e_to):
        dst = hs[e // LANES]
        for r in range(k):
            dst[r0 + r, e % LANES] = hcur[r]


@numba.njit(**_HOT)
def _blocked_forward(theta, module_start, n_rec, periods, w_own, w_slow, own_off, slow_off, x, t0, h, hs, gather,
                     acc, col, hcur, lane_group, lane, inputs, y):
    """Run a plain Clockwork RNN (every input window 1) over the block ``x`` (T, n_in) from step t0
    and state ``h`` (updated in place); y (T, n_out) receives the outputs. Scratch: hs
    (T // 16 + 1, n, 16), gather (n, 16), acc (max(n, n_out), 16), col and hcur (n,), lane_group and
    lane (16,) int64, inputs (16,)."""
    T, n_in = x.shape
    n = h.shape[0]
    n_out = y.shape[1]
    g = periods.shape[0]
    w_in, _, bias, w_out, b_out = _views(theta, n, module_start[g] * n_in, n_rec, n_out)
    for i in range(g - 1, -1, -1):
        r0, r1 = module_start[i], module_start[i + 1]
        k, ws, p = r1 - r0, n - r1, periods[i]
        for r in range(k):
            hcur[r] = h[r0 + r]
        done = 0  # entries 0..done-1 of this module's rows are written
        s = (p - t0 % p) % p  # the first active step
        while s < T:
            m = min(LANES, (T - s + p - 1) // p)  # active steps s, s + p, ..., s + (m - 1) p in the lanes
            for r in range(k):
                for j in range(LANES):
                    acc[r, j] = bias[r0 + r]
            for q in range(n_in):
                for j in range(LANES):  # the lanes' inputs, contiguous (lanes past m repeat step s)
                    inputs[j] = x[s + j * p, q] if j < m else x[s, q]
                for r in range(k):
                    w = w_in[(r0 + r) * n_in + q]
                    for j in range(LANES):
                        acc[r, j] += w * inputs[j]
            if ws > 0 and p == 1:
                _rows_lanes16(w_slow, slow_off[i], ws, hs[s // LANES], r1, 0, k, acc)
            elif ws > 0:
                for j in range(LANES):
                    e = s + j * p if j < m else s
                    lane_group[j], lane[j] = e // LANES, e % LANES
                for c in range(ws):
                    row = gather[c]
                    for j in range(LANES):
                        row[j] = hs[lane_group[j], r1 + c, lane[j]]
                _rows_lanes16(w_slow, slow_off[i], ws, gather, 0, 0, k, acc)
            for j in range(m):
                e = s + j * p
                _fill(hs, r0, k, hcur, done, e + 1)
                done = e + 1
                for r in range(k):
                    col[r] = acc[r, j]
                _module_rows(w_own[:0], col[:0], w_own, col, own_off[i], k, 0, k, hcur[:k], col)
                _tanh_inplace(col[:k])
                for r in range(k):
                    hcur[r] = col[r]
            s += m * p
        _fill(hs, r0, k, hcur, done, T + 1)
        for r in range(k):
            h[r0 + r] = hcur[r]
    # y[s] from entry s + 1, 16 steps a pass.
    for group in range(T // LANES + 1):
        for o in range(n_out):
            for j in range(LANES):
                acc[o, j] = b_out[o]
        _rows_lanes16(w_out, 0, n, hs[group], 0, 0, n_out, acc)
        for j in range(LANES):
            s = group * LANES + j - 1
            if 0 <= s < T:
                for o in range(n_out):
                    y[s, o] = acc[o, j]


class BlockedRunner:
    """The prototype's state and scratch for one model and blocks of up to ``max_block`` steps."""

    def __init__(self, model, max_block):
        self.model, self.t = model, 0
        dt = np.dtype(model.dtype)
        n = model.n_hidden
        self.theta = np.asarray(model.params)
        self.weights = split_blocks(model)
        lay = model.layout
        self.layout = (np.asarray(lay.module_start, np.int64), int(lay.block_offset[-1]),
                       np.asarray(lay.periods, np.int64))
        self.h = np.zeros(n, dt)
        self.hs = np.zeros((max_block // LANES + 1, n, LANES), dt)
        self.scratch = (np.zeros((n, LANES), dt), np.zeros((max(n, model.n_out), LANES), dt), np.zeros(n, dt),
                        np.zeros(n, dt), np.zeros(LANES, np.int64), np.zeros(LANES, np.int64), np.zeros(LANES, dt))

    def process(self, x, out):
        _blocked_forward(self.theta, *self.layout, *self.weights, x, self.t, self.h, self.hs, *self.scratch, out)
        self.t += x.shape[0]
        return out


def check(model, steps, split):
    """Largest difference from ``forward``, and whether two blocks split at ``split`` give the same bits as one."""
    x = np.random.default_rng(1).uniform(-1, 1, (steps, model.n_in)).astype(model.dtype)
    whole = BlockedRunner(model, steps).process(x, np.zeros((steps, model.n_out), model.dtype))
    runner = BlockedRunner(model, steps)
    parts = [runner.process(x[a:b], np.zeros((b - a, model.n_out), model.dtype)) for a, b in ((0, split), (split, steps))]
    return float(np.abs(whole - model.forward(x)).max()), bool(np.array_equal(np.concatenate(parts), whole))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024])
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--samples", type=int, default=8192)
    args = parser.parse_args(argv)
    for n_in, n_out, n, g in ((1, 1, 72, 6), (3, 2, 64, 8)):
        model = ClockworkRNN(n_in, n_out, n_hidden=n, n_modules=g, seed=0, dtype=np.float32)
        diff, same = check(model, 300, 100)
        print(f"check CW {n}/{g} ({n_in} in, {n_out} out, float32): max |blocked - forward| {diff:.2e}, "
              f"split at 100 of 300 gives the same bits: {same}")
    print(f"CW n/8 float32, blocks of {args.block}, {args.samples} samples a run, medians of {args.repeats} "
          "interleaved runs (fastest in brackets), us/sample and x real time at 44.1 kHz")
    for n in args.sizes:
        model = ClockworkRNN(1, 1, n_hidden=n, n_modules=8, seed=0, dtype=np.float32)
        print(f"CW {n}/8: max |blocked - forward| over 2048 steps {check(model, 2048, 700)[0]:.2e}")
        x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 1)).astype(np.float32)
        blocked, stream = BlockedRunner(model, args.block), Stream(model, max_block=args.block)
        y = np.empty((args.block, 1), np.float32)
        times = {"Stream (engine)": [], "blocked (prototype)": []}
        for _ in range(args.repeats + 1):
            for name, runner in (("Stream (engine)", stream), ("blocked (prototype)", blocked)):
                start = time.perf_counter()
                for a in range(0, args.samples - args.block + 1, args.block):
                    runner.process(x[a : a + args.block], out=y)
                times[name].append((time.perf_counter() - start) / (args.samples // args.block * args.block) * 1e6)
        for name, runs in times.items():
            runs = runs[1:]  # the first run compiles
            med = float(np.median(runs))
            print(f"  {name:20s} {med:7.2f} ({min(runs):.2f}) us/sample, {1e6 / 44100 / med:.2f}x real time")


if __name__ == "__main__":
    main()
