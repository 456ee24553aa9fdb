"""Peak memory of one ``loss_and_grad`` call (BPTT) against the sizes of the state history it needs.

    python scripts/bench_memory.py [--steps 44100] [--hidden 512] [--modules 8] [--batch 1]

What it measures, in a fresh process after a warm-up call (so compilation is not counted):

- ``tracemalloc peak``: the largest total of live NumPy allocations during the call, above what was
  live before it (NumPy reports its buffers to tracemalloc). Buffers numba allocates inside a
  kernel (``np.empty`` in compiled code) are not included: they do not go through Python's
  allocator; the NRT counters below show how many there were.
- ``peak RSS growth``: how far the process's resident set rose above its size before the call, at
  its highest (Linux: the high-water mark ``VmHWM`` is reset through ``/proc/self/clear_refs``
  first), which does include numba's buffers, and allocator slack too. Elsewhere it falls back on
  ``getrusage``, which only shows growth beyond the process's earlier peak.

And, for comparison, two sizes computed from the layout:

- ``dense history``: T x n states, what BPTT stores if it keeps the whole state at every step;
- ``active-only history``: the states that actually changed, summed over the steps (a module of
  period T_i changes every T_i steps): about a quarter of the dense size for periods 1..128.
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)


os.environ.setdefault("NUMBA_NRT_STATS", "1")  # before numba is imported: count its allocations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=44100)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--modules", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")

    from numba.core.runtime import rtsys

    from cwfast import ClockworkRNN
    from cwfast.bench import machine_summary

    model = ClockworkRNN(1, 1, n_hidden=args.hidden, n_modules=args.modules, seed=0)
    rng = np.random.default_rng(0)
    shape = (args.batch, args.steps, 1) if args.batch > 1 else (args.steps, 1)
    x = (0.3 * rng.standard_normal(shape)).astype(model.dtype)
    target = np.sin(3 * x).astype(model.dtype)
    model.loss_and_grad(x[..., :64, :], target[..., :64, :])  # compile and warm up

    itemsize = model.dtype.itemsize
    n, steps, batch = model.n_hidden, args.steps, args.batch
    dense = batch * steps * n * itemsize
    active_per_step = model.layout.active_units(steps).sum(axis=1)
    active = batch * int(active_per_step.sum()) * itemsize

    nrt_before = rtsys.get_allocation_stats()
    hwm_reset = _reset_peak_rss()
    rss_before = _status_kb("VmRSS") * 1024 if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    model.loss_and_grad(x, target, flat=True)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _status_kb("VmHWM") * 1024 if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss_growth = rss_peak - rss_before
    nrt_after = rtsys.get_allocation_stats()

    mb = 1e6
    print(f"machine: {machine_summary()}")
    print(f"loss_and_grad, {model.n_hidden} units in {model.n_modules} modules (periods {model.periods.tolist()}), "
          f"batch {batch}, T = {steps}, {model.dtype.name}: {seconds:.2f} s")
    rows = [
        ("tracemalloc peak (NumPy buffers, during the call)", (peak - base) / mb),
        ("peak RSS growth (whole process, during the call)", rss_growth / mb),
        ("dense history, T x n", dense / mb),
        ("active-only history (states that changed)", active / mb),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value:9.1f} MB")
    print(f"  active-only / dense = {active / dense:.3f}; tracemalloc peak / dense = {(peak - base) / dense:.2f}")
    if os.environ["NUMBA_NRT_STATS"] == "1":
        print(f"  numba NRT allocations during the call: {nrt_after.alloc - nrt_before.alloc}")
    return 0


def _reset_peak_rss():
    """Reset Linux's resident-set high-water mark (VmHWM); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kb("VmHWM") > 0
    except OSError:
        return False


def _status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    from cwfast.errors import CwfastError

    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path or size: one line, not a traceback
        print(f"bench_memory.py: error: {error}", file=sys.stderr)
        sys.exit(2)
