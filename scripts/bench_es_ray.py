"""``evolve(..., cluster="ray")`` on this machine: members per second with 1 and 2 actors, bytes per
generation per actor, driver time per generation, beside the local run.

The model and data are the memorisation task as ``cwfast train`` sets it up (a Clockwork RNN of 40
units in 9 modules, 971 parameters, float32; 320 samples of the bundled Brahms excerpt) with
``evolve``'s defaults (population 256: 257 members with the centre). A local Ray instance starts on
127.0.0.1 with ``--cpus`` CPUs (no dashboard); with A actors each asks for cpus / A of them and runs
that many numba threads. The first ``--skip`` generations (actor start-up), and those before every
actor scores (an actor joins once its kernels are compiled or loaded, one a few generations after
another), are left out of every figure. Figures:

- members per second: 257 members x generations / seconds between the ends of generations;
- bytes per generation per actor: the centre sent (8 bytes per parameter) and the losses
  received (8 bytes per member), as arrays; Ray adds a task description of a few hundred bytes;
- driver time per generation: the generation's time less the time the driver waited for losses
  (Ray calls, noise gather, ranks, Adam: everything that does not shrink with more actors);
- round trip: a no-op actor call on this Ray instance.

Usage::

    python scripts/bench_es_ray.py                      # 1 and 2 actors, 60 generations
    python scripts/bench_es_ray.py --actors 1 2 --generations 100 --cpus 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--generations", type=int, default=60)
    parser.add_argument("--skip", type=int, default=5, help="generations left out of the rates (default 5; at least 1)")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args(argv)
    # The rates are taken from the end of generation --skip: one at least, and one after it.
    if not 1 <= args.skip < args.generations:
        parser.error(f"--skip {args.skip} must be at least 1 and less than --generations {args.generations}")
    if args.cpus < 1 or min(args.actors) < 1:
        parser.error("--cpus and --actors must be positive")

    os.environ.pop("RAY_ADDRESS", None)
    import numba
    import numpy as np

    import cwfast
    from cwfast.audio import load_audio, scale_to_unit
    from cwfast.train import cluster, evolve

    ray = cluster.import_ray()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)

    samples, _ = load_audio(ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav", duration=321 / 44100)
    target, _ = scale_to_unit(samples[:320])
    target = target[:, None]
    x = np.zeros((320, 0), dtype=np.float32)
    base = cwfast.ClockworkRNN(0, 1, n_hidden=40, n_modules=9, seed=0)
    members = 257

    scorers = []
    enter = cluster.RayScorer.__enter__

    def keep(self):
        scorers.append(self)
        return enter(self)

    cluster.RayScorer.__enter__ = keep

    keys = ("wait_seconds", "calls", "bytes_out", "bytes_in")

    def timed(actors=None, **options):
        """The model, seconds per generation, and the scorer's stats (``keys``) over the generations
        measured: from the end of generation --skip, or of the first with every actor scoring (an
        actor joins once it has compiled or loaded its kernels, one a few generations after another)."""
        ends = []

        def note(info):
            stats = scorers[0].stats if scorers else {}
            ends.append((time.perf_counter(), [stats.get(key, 0) for key in keys],
                         len(scorers[0].actor_names) if scorers else 0))

        model = base.copy()
        evolve(model, x, target, generations=args.generations, seed=0, on_step_end=note,
               **(dict(actors=actors) if actors else {}), **options)
        first = next((i for i, end in enumerate(ends) if i >= args.skip - 1 and (not actors or end[2] == actors)),
                     len(ends) - 2)
        n = len(ends) - 1 - first
        stats = {key: b - a for key, a, b in zip(keys, ends[first][1], ends[-1][1])}
        return model, (ends[-1][0] - ends[first][0]) / n, dict(stats, generations=n)

    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; Ray {ray.__version__} "
          f"on {args.cpus} CPUs; model {base.n_params} parameters, {members} members per generation")
    numba.set_num_threads(min(args.cpus, numba.config.NUMBA_NUM_THREADS))
    reference, per_gen, _ = timed()
    print(f"local ({numba.get_num_threads()} numba threads): {per_gen * 1e3:.2f} ms per generation, "
          f"{members / per_gen:,.0f} members/s")

    rtt = ray.remote(num_cpus=0)(type("Ping", (), {"ping": lambda self: None}))
    pinger = rtt.remote()
    ray.get(pinger.ping.remote())
    started = time.perf_counter()
    for _ in range(200):
        ray.get(pinger.ping.remote())
    print(f"no-op actor call round trip: {(time.perf_counter() - started) / 200 * 1e3:.2f} ms")
    ray.kill(pinger)

    for actors in args.actors:
        scorers.clear()
        model, per_gen, stats = timed(cluster="ray", actors=actors)
        wait_per_gen = stats["wait_seconds"] / stats["generations"]
        calls_per_gen = stats["calls"] / stats["generations"]
        same = np.array_equal(model.params, reference.params)
        print(f"{actors} actor(s): {per_gen * 1e3:.2f} ms per generation, {members / per_gen:,.0f} members/s; "
              f"per actor per generation {stats['bytes_out'] / stats['calls']:,.0f} bytes out, "
              f"{stats['bytes_in'] / stats['calls']:,.0f} bytes in ({calls_per_gen:.2f} calls per generation); "
              f"driver {max(0.0, per_gen - wait_per_gen) * 1e3:.2f} ms per generation outside the wait "
              f"(waited {wait_per_gen * 1e3:.2f}); same parameters as local: {same}")
    ray.shutdown()


if __name__ == "__main__":
    main()
