"""``evolve`` at its default population on 1 and 2 (or more) numba threads: time per generation and
whether the trained parameters are the same bits.

The model and data are the paper's memorisation task as ``cwfast train`` sets it up (a Clockwork
RNN of 40 units in 9 modules, periods 1..256, no input, 320 samples of the bundled Brahms
excerpt); ``evolve`` runs with its defaults (population 256, sigma 0.01, lr 0.01). Each thread
count runs in its own process, after one warm-up generation (compilation), several times,
alternating between thread counts so that a load from other processes hits both alike; the
figures are the fastest run of each, and the mean of the fastest tenth of all its generations
(on a shared machine, the generations least disturbed by other processes). Usage::

    python scripts/bench_es_threads.py                      # 1 and 2 threads, 100 generations, 5 rounds
    python scripts/bench_es_threads.py --threads 1 2 4 --generations 50 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, str(ROOT))


def thread_cpu_ticks():
    """CPU time (clock ticks, user + system) of each thread of this process, from /proc (Linux)."""
    ticks = {}
    root = f"/proc/{os.getpid()}/task"
    if not os.path.isdir(root):
        return ticks
    for tid in os.listdir(root):
        try:
            with open(f"{root}/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


def child(threads, generations):
    import numba
    import numpy as np

    import cwfast
    from cwfast.audio import load_audio, scale_to_unit
    from cwfast.train import evolve

    numba.set_num_threads(threads)
    samples, _ = load_audio(ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav", duration=321 / 44100)
    target, _ = scale_to_unit(samples[:320])
    target = target[:, None]
    x = np.zeros((320, 0), dtype=np.float32)
    model = cwfast.ClockworkRNN(0, 1, n_hidden=40, n_modules=9, seed=0)
    evolve(model.copy(), x, target, generations=1, seed=0)  # compile
    trained = model.copy()
    ends = []
    before = thread_cpu_ticks()
    wall, cpu = time.perf_counter(), time.process_time()
    evolve(trained, x, target, generations=generations, seed=0, on_step_end=lambda info: ends.append(time.perf_counter()))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = thread_cpu_ticks()
    busy = sorted((after[t] - before.get(t, 0) for t in after if after[t] > before.get(t, 0)), reverse=True)
    each = np.diff(ends)
    digest = hashlib.sha256(trained.params.tobytes()).hexdigest()[:16]
    print(json.dumps({"threads": threads, "ms_per_generation": 1e3 * wall / generations,
                      "cpu_ms_per_generation": 1e3 * cpu / generations, "params_sha256": digest,
                      "fastest_generations_ms": 1e3 * float(np.mean(np.sort(each)[: max(1, len(each) // 10)])),
                      "thread_cpu_ticks": busy}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.generations)
        return
    # (the fastest tenth is of the times between generations' ends: one generation has none)
    if args.generations < 2 or args.rounds < 1 or min(args.threads) < 1:
        parser.error("--generations must be at least 2, --rounds and --threads positive")
    env = dict(os.environ, NUMBA_NUM_THREADS=str(max(args.threads)))
    runs = {t: [] for t in args.threads}
    for _ in range(args.rounds):
        for t in args.threads:
            out = subprocess.run([sys.executable, __file__, "--child", str(t), "--generations", str(args.generations)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            runs[t].append(json.loads(out.strip().splitlines()[-1]))
    print(f"load average before/after: {os.getloadavg()[0]:.2f} (1 min); cores: {os.cpu_count()}")
    base = min(r["ms_per_generation"] for r in runs[args.threads[0]])
    digests = set()
    for t in args.threads:
        best = min(runs[t], key=lambda r: r["ms_per_generation"])
        digests.update(r["params_sha256"] for r in runs[t])
        print(f"{t} thread(s): {best['ms_per_generation']:.2f} ms per generation (best of {args.rounds}; "
              f"median {sorted(r['ms_per_generation'] for r in runs[t])[len(runs[t]) // 2]:.2f}), "
              f"CPU {best['cpu_ms_per_generation']:.2f} ms; {base / best['ms_per_generation']:.2f}x "
              f"vs {args.threads[0]} thread(s); CPU ticks per busy thread {best['thread_cpu_ticks']}; "
              f"params {best['params_sha256']}")
    fastest = {t: min(r["fastest_generations_ms"] for r in runs[t]) for t in args.threads}
    print("mean of the fastest tenth of the generations (the least disturbed by other processes): "
          + ", ".join(f"{t} thread(s) {ms:.2f} ms ({fastest[args.threads[0]] / ms:.2f}x)" for t, ms in fastest.items()))
    print("same parameters on every thread count:", len(digests) == 1)


if __name__ == "__main__":
    main()
