"""The paper's memorisation task with cwfast's trainers: NMSE reached and wall time.

Task (Koutník et al. 2014, sequence generation): no input, one linear output, a 320-sample piece
of music scaled to [-1, 1]; a Clockwork RNN of 40 units in 9 modules with periods 1, 2, ..., 256
(971 parameters here); NMSE = MSE / var(target). The paper reports CW-RNN NMSE 0.007 +- 0.004 over
100 runs on 5 sequences, after 2000 epochs of Nesterov SGD (lr 3e-4, momentum 0.95).

Trainers compared (each on a fresh model with the same initial weights per seed):

- ``adam``: :func:`cwfast.train.fit` with its defaults (Adam, lr 1e-2 since docs/results.md "Memorisation
  across sounds", 3e-3 before; clip 1.0).
- ``sgd``: the paper's recipe, Nesterov momentum 0.95, 2000 epochs, with fit's default lr for
  it: the paper's 3e-4 on the *summed* squared error, i.e. 3e-4 * 320 on cwfast's mean; and fit's
  default gradient clipping (norm 1.0).
- ``sgd-noclip``: the same without clipping (as the paper describes it).
- ``sgd-literal``: lr = 3e-4 applied to cwfast's mean squared error as it stands (no clipping).
- ``es``: :func:`cwfast.train.evolve` with its defaults (population 256, sigma 0.01, Adam lr 0.01).

Kernels are compiled before any timing. Usage::

    python scripts/memorize_benchmark.py                       # 5 excerpts x 1 seed, all trainers
    python scripts/memorize_benchmark.py --starts 0 --seeds 0 1 2 --trainers adam es
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import CwfastError  # noqa: E402
from cwfast._atomic import atomic_path, check_output  # noqa: E402
from cwfast.audio import load_audio, scale_to_unit  # noqa: E402
from cwfast.train import evolve, fit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
N_SAMPLES = 320
TRAINERS = ("adam", "sgd", "sgd-noclip", "sgd-literal", "es")


def excerpt(start):
    samples, rate = load_audio(AUDIO, start=start, duration=(N_SAMPLES + 1) / 44100)
    if samples.size < N_SAMPLES:
        raise CwfastError(f"--starts {start:g}: {AUDIO.name} holds only {samples.size} samples from there, "
                          f"not the {N_SAMPLES} of an excerpt")
    scaled, _ = scale_to_unit(samples[:N_SAMPLES])
    return scaled[:, None], rate


def make_model(seed, hidden=40):
    return cwfast.ClockworkRNN(0, 1, n_hidden=hidden, n_modules=9, seed=seed)


def run(trainer, target, seed, epochs, generations, es_options=None, hidden=40):
    x = np.zeros((N_SAMPLES, 0), dtype=np.float32)
    var = float(np.var(target, dtype=np.float64))
    model = make_model(seed, hidden)
    reached = []

    def watch(info):
        if not reached and info.loss / var <= 0.01:
            reached.append((info.elapsed, info.step))

    started = time.perf_counter()
    try:
        if trainer == "adam":
            result = fit(model, x, target, epochs=epochs, seed=seed, on_step_end=watch)
        elif trainer in ("sgd", "sgd-noclip"):
            result = fit(model, x, target, optimizer="sgd", momentum=0.95, epochs=epochs, seed=seed,
                         clip_norm=1.0 if trainer == "sgd" else None, on_step_end=watch)
        elif trainer == "sgd-literal":
            result = fit(model, x, target, optimizer="sgd", lr=3e-4, momentum=0.95, epochs=epochs, clip_norm=None,
                         seed=seed, on_step_end=watch)
        elif trainer == "es":
            result = evolve(model, x, target, generations=generations, seed=seed, on_step_end=watch,
                            **(es_options or {}))
        else:
            raise ValueError(trainer)
    except CwfastError as error:
        return {"trainer": trainer, "seed": seed, "nmse": float("nan"), "seconds": time.perf_counter() - started,
                "updates": None, "seconds_to_0.01": None, "updates_to_0.01": None, "diverged": str(error)}
    return {
        "trainer": trainer,
        "seed": seed,
        "nmse": result.final_loss / var,
        "seconds": result.wall_time,
        "updates": result.steps,
        "seconds_to_0.01": reached[0][0] if reached else None,
        "updates_to_0.01": reached[0][1] if reached else None,
        "diverged": None,
    }


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0],
                        help="excerpt starts in seconds within the 3 s clip (default: five excerpts)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trainers", nargs="+", choices=TRAINERS, default=list(TRAINERS))
    parser.add_argument("--epochs", type=int, default=2000, help="epochs for adam and sgd (paper: 2000)")
    parser.add_argument("--generations", type=int, default=1000, help="ES generations")
    parser.add_argument("--hidden", type=int, default=40,
                        help="units (9 modules); the paper's budgets 100/250/500/1000 are 11/19/27/40 (default 40)")
    parser.add_argument("--population", type=int, help="ES population (default: evolve's)")
    parser.add_argument("--sigma", type=float, help="ES noise scale (default: evolve's)")
    parser.add_argument("--json", type=Path, help="also write every run as JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.generations < 1:  # (each run failed alike, and was reported as diverged)
        parser.error("--epochs and --generations must be at least 1")
    try:
        return benchmark(args)
    except CwfastError as error:  # a bad option or --json path, said before any run: one line
        print(f"memorize_benchmark.py: error: {error}", file=sys.stderr)
        return 2


def benchmark(args):
    # Every option checked now, not found out by a run (whose CwfastError would read as divergence):
    # the excerpts, the --json path, and the model and trainers in the warm-up.
    targets = {start: excerpt(start)[0] for start in args.starts}
    if args.json:
        check_output(args.json, args.overwrite, what="JSON")
    es_options = {k: v for k, v in (("population", args.population), ("sigma", args.sigma)) if v is not None}

    # Compile every kernel the runs use before timing anything.
    warm_x, warm_y = np.zeros((N_SAMPLES, 0), np.float32), np.zeros((N_SAMPLES, 1), np.float32)
    t = time.perf_counter()
    fit(make_model(0, args.hidden), warm_x, warm_y, epochs=1)
    evolve(make_model(0, args.hidden), warm_x, warm_y, generations=1, **({"population": 2} | es_options))
    compile_seconds = time.perf_counter() - t

    load_before = os.getloadavg()
    runs = []
    for start in args.starts:
        target = targets[start]
        for seed in args.seeds:
            for trainer in args.trainers:
                row = run(trainer, target, seed, args.epochs, args.generations, es_options, args.hidden)
                row["start"] = start
                runs.append(row)
                note = f" (<= 0.01 after {row['seconds_to_0.01']:.1f} s)" if row["seconds_to_0.01"] else ""
                if row["diverged"]:
                    note = f" ({row['diverged'].split(';')[0]})"
                print(f"start {start:g} s, seed {seed}, {trainer:11s}: NMSE {row['nmse']:.4g} in {row['seconds']:.1f} s"
                      + note, file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), numpy {np.__version__}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; compilation (first run only) "
          f"{compile_seconds:.1f} s")
    print(f"task: {N_SAMPLES} samples of {AUDIO.name} at {', '.join(f'{s:g}' for s in args.starts)} s, "
          f"seeds {args.seeds}; CW-RNN {args.hidden} units, 9 modules, periods 1..256, "
          f"{make_model(0, args.hidden).n_params} parameters")
    print()
    print("| trainer | runs | diverged | NMSE median | NMSE min..max | wall s median "
          "| NMSE <= 0.01 after: s, updates (median; runs) |")
    print("|---|---|---|---|---|---|---|")
    for trainer in args.trainers:
        rows = [r for r in runs if r["trainer"] == trainer]
        done = [r for r in rows if not r["diverged"]]
        hit = [(r["seconds_to_0.01"], r["updates_to_0.01"]) for r in done if r["seconds_to_0.01"] is not None]
        hit_text = f"never (0/{len(rows)})"
        if hit:
            seconds, updates = np.median(np.array(hit), axis=0)
            hit_text = f"{seconds:.2f} s, {updates:.0f} ({len(hit)}/{len(rows)})"
        if done:
            nmse = np.array([r["nmse"] for r in done])
            secs = np.array([r["seconds"] for r in done])
            figures = f"{np.median(nmse):.4f} | {nmse.min():.4f}..{nmse.max():.4f} | {np.median(secs):.1f}"
        else:
            figures = "- | - | -"
        print(f"| {trainer} | {len(rows)} | {len(rows) - len(done)} | {figures} | {hit_text} |")
    if args.json:
        with atomic_path(args.json, what="JSON") as tmp, open(tmp, "w") as f:
            json.dump({"runs": runs, "compile_seconds": compile_seconds, "load_average": [load_before, load_after]},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
