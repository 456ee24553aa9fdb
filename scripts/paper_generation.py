"""The paper's sequence-generation experiment (Koutník et al. 2014, Table 2 row 1, Figures 3 and 5).

Each network has no input and one linear output and must emit a 320-sample piece of music (44.1
kHz, scaled to [-1, 1]); one network per piece. Five pieces, four parameter budgets (100, 250, 500,
1000: SRN 9/15/22/31 units, LSTM 4/7/10/15 cells, CW-RNN 11/19/27/40 units in 9 modules with
periods 1..256), several seeds, and these training recipes, 2000 epochs of full BPTT each:

- ``paper``: Nesterov SGD, momentum 0.95, learning rate 3e-4 (SRN, CW-RNN) or 3e-5 (LSTM) on the
  error summed over the 320 steps (cwfast's loss is the mean, so the step is 320 times that), no
  gradient clipping (the paper mentions none);
- ``paper-clip``: the same with ``fit``'s default clipping of the gradient norm to 1;
- ``default``: what ``cwfast.train.fit`` did when given nothing but the epochs when the table was
  first made (Adam, learning rate 3e-3, gradient norm clipped to 1);
- ``adam-1e-2``: the same with Adam's learning rate at 1e-2, ``fit``'s default since the
  measurements of docs/results.md, "Memorisation across sounds".

``scripts/baseline_recipes.py`` gives each model the same recipe search instead.

The five pieces come from ``data/brahms-hungarian-dance-5-excerpt.wav`` (3 s of a public-domain
recording, shipped with the repository): 320 samples starting at the middle of each fifth of the
clip, each scaled to a peak of 1. The metric is NMSE, ``mean((y - target)^2) / var(target)``.

    python scripts/paper_generation.py --seeds 5 --out docs/paper_generation
    python scripts/paper_generation.py --quick          # seconds: one piece, one seed, few epochs

Prints a Markdown table (NMSE mean +- std over pieces and seeds, next to the paper's numbers) and,
with ``--out``, writes ``results.json`` and a Figure-5-style plot ``figure5.png`` (target and the
best output of each model on each piece at the largest budget; needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
BUDGETS = (100, 250, 500, 1000)
ARCHS = ("srn", "lstm", "cw")
NAMES = {"srn": "SRN", "lstm": "LSTM", "cw": "CW-RNN"}
#: Hidden units (LSTM: cells) the paper used for each budget.
SIZES = {"srn": (9, 15, 22, 31), "lstm": (4, 7, 10, 15), "cw": (11, 19, 27, 40)}
CW_MODULES = 9
#: The paper's learning rates (per summed squared error of a sequence).
PAPER_LR = {"srn": 3e-4, "lstm": 3e-5, "cw": 3e-4}
PAPER_MOMENTUM = 0.95
#: NMSE read off the paper's box plot (Figure 4) for 100/250/500/1000 parameters; at 1000 the
#: text gives mean +- std over 100 runs: SRN 0.46 +- 0.08, LSTM 0.04 +- 0.01, CW-RNN 0.007 +- 0.004.
PAPER_NMSE = {"srn": (0.47, 0.47, 0.47, 0.47), "lstm": (0.068, 0.050, 0.043, 0.034),
              "cw": (0.038, 0.017, 0.010, 0.007)}
PAPER_1000 = {"srn": "0.46 ± 0.08", "lstm": "0.04 ± 0.01", "cw": "0.007 ± 0.004"}
RECIPES = ("paper", "paper-clip", "default", "adam-1e-2")
#: fit keyword arguments of the recipes that are the same for every model.
RECIPE_SETTINGS = {"default": {"lr": 3e-3}, "adam-1e-2": {"lr": 1e-2}}
PIECE = 320


def excerpts(n_pieces, path=DATA):
    """``n_pieces`` pieces of 320 samples, each scaled to peak 1: (n_pieces, 320) float32, and their starts."""
    from cwfast.audio import load_audio, scale_to_unit

    samples, rate = load_audio(path)
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    if rate != 44100:
        raise SystemExit(f"{path}: expected 44.1 kHz audio, got {rate} Hz")
    fifth = samples.size / 5
    starts = [int(round((k + 0.5) * fifth)) - PIECE // 2 for k in range(5)][:n_pieces]
    pieces = np.stack([scale_to_unit(samples[s : s + PIECE])[0] for s in starts])
    return pieces, starts


def build(arch, n_hidden, seed, *, init_scale=0.1, forget_bias=5.0):
    """A model of the paper's task with every parameter drawn from N(0, init_scale^2).

    cwfast draws from N(0, 0.1^2), the paper's initialisation; scaling the draw by ``init_scale /
    0.1`` gives the same random directions at another scale. The LSTM's forget-gate biases are
    then set to ``forget_bias`` (the paper's 5.0).
    """
    import cwfast

    if arch == "srn":
        model = cwfast.SRN(0, 1, n_hidden=n_hidden, seed=seed)
    elif arch == "lstm":
        model = cwfast.LSTM(0, 1, n_hidden=n_hidden, seed=seed, forget_bias=forget_bias)
    else:
        model = cwfast.ClockworkRNN(0, 1, n_hidden=n_hidden, n_modules=CW_MODULES, seed=seed)
    if init_scale != 0.1:
        model.params = model.params * np.float32(init_scale / 0.1)
        if arch == "lstm":
            model.b_h[n_hidden : 2 * n_hidden] = forget_bias
    return model


def train_piece(arch, n_hidden, target, seed, epochs, *, optimizer="adam", lr=None, clip_norm=1.0,
                momentum=PAPER_MOMENTUM, init_scale=0.1, forget_bias=5.0, lr_schedule=None):
    """Train one fresh network to emit ``target`` from its clock alone.

    Returns ``(model, nmse, curve)``; ``nmse`` is NaN when training diverged, ``curve`` the NMSE
    before each epoch's update (the loss is full-batch, so the epoch's loss is the model's).
    """
    from cwfast import CwfastError
    from cwfast.metrics import nmse
    from cwfast.train import fit

    model = build(arch, n_hidden, seed, init_scale=init_scale, forget_bias=forget_bias)
    x = np.zeros((target.size, 0), dtype=np.float32)
    y_target = target[:, None].astype(np.float32)
    try:
        result = fit(model, x, y_target, epochs=epochs, seed=seed, optimizer=optimizer, lr=lr,
                     momentum=momentum, clip_norm=clip_norm, lr_schedule=lr_schedule)
        score = float(nmse(model.forward(x)[:, 0], target))
        curve = np.asarray(result.losses, dtype=np.float64) / float(np.var(target))
    except CwfastError:  # "training diverged"
        score, curve = math.nan, None
    if not math.isfinite(score):
        score = math.nan
    return model, score, curve


def run_one(job):
    """Train one network on one piece; returns the job with its NMSE, output and time."""
    import numba

    numba.set_num_threads(1)
    arch, budget_index, seed, recipe, epochs, target = (
        job["arch"], job["budget_index"], job["seed"], job["recipe"], job["epochs"], job["target"])
    kwargs = dict(RECIPE_SETTINGS.get(recipe, {}))
    if recipe.startswith("paper"):
        kwargs = dict(optimizer="sgd", lr=PAPER_LR[arch] * PIECE, momentum=PAPER_MOMENTUM)
        if recipe == "paper":
            kwargs["clip_norm"] = None
    started = time.perf_counter()
    model, score, _ = train_piece(arch, SIZES[arch][budget_index], target, seed, epochs, **kwargs)
    y = None if not math.isfinite(score) else model.forward(np.zeros((PIECE, 0), np.float32))[:, 0]
    out = {k: v for k, v in job.items() if k != "target"}
    out.update(n_params=model.n_params, nmse=score, seconds=time.perf_counter() - started,
               output=None if y is None else y.tolist())
    return out


def summarise(results, budgets):
    """Markdown table: per budget and model, NMSE mean +- std per recipe, and the paper's."""
    recipes = [r for r in RECIPES if any(res["recipe"] == r for res in results)]
    head = "| params | model | units | " + " | ".join(f"NMSE {r} (mean ± std, n)" for r in recipes)
    lines = [head + " | paper |", "|" + "---|" * (4 + len(recipes))]
    for b_index, budget in enumerate(BUDGETS):
        if budget not in budgets:
            continue
        for arch in ARCHS:
            cells = []
            for recipe in recipes:
                scores = np.array([r["nmse"] for r in results
                                   if r["arch"] == arch and r["budget_index"] == b_index and r["recipe"] == recipe])
                if scores.size == 0:
                    cells.append("")
                    continue
                finite = scores[np.isfinite(scores)]
                text = f"{finite.mean():.4f} ± {finite.std():.4f} ({finite.size})" if finite.size else "diverged"
                if finite.size < scores.size:
                    text += f", {scores.size - finite.size} diverged"
                cells.append(text)
            if not any(cells):
                continue
            paper = f"{PAPER_NMSE[arch][b_index]}"
            if budget == 1000:
                paper = PAPER_1000[arch]
            lines.append(f"| {budget} | {NAMES[arch]} | {SIZES[arch][b_index]} | " + " | ".join(cells) + f" | {paper} |")
    return "\n".join(lines)


def plot(results, pieces, path):
    """Figure 5 of the paper: for each piece, the target and the best output of each model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(r["budget_index"] for r in results)
    shown = [a for a in ARCHS if any(r["arch"] == a for r in results)]
    n_pieces = len(pieces)
    fig, axes = plt.subplots(n_pieces, len(shown), figsize=(3.6 * len(shown), 1.8 * n_pieces), squeeze=False,
                             sharex=True, sharey=True)
    for p in range(n_pieces):
        for a, arch in enumerate(shown):
            ax = axes[p, a]
            ax.plot(pieces[p], color="0.6", lw=1.6, label="target")
            runs = [r for r in results if r["arch"] == arch and r["piece"] == p and r["budget_index"] == top
                    and np.isfinite(r["nmse"])]
            if runs:
                best = min(runs, key=lambda r: r["nmse"])
                ax.plot(best["output"], color="C3", lw=0.9, label="output")
                ax.set_title(f"{NAMES[arch]}  NMSE {best['nmse']:.4f} ({best['recipe']})", fontsize=8)
            ax.tick_params(labelsize=7)
            if a == 0:
                ax.set_ylabel(f"piece {p + 1}", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Best of each model at {BUDGETS[top]} parameters", fontsize=10)
    fig.tight_layout()
    from cwfast._atomic import atomic_path

    with atomic_path(path, what="figure") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one piece, the smallest budget, one seed, 30 epochs (a smoke test)")
    parser.add_argument("--pieces", type=int, default=5, help="how many of the five pieces (default 5)")
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS), choices=BUDGETS)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", type=int, default=3, help="seeds (random restarts) per setting (default 3)")
    parser.add_argument("--epochs", type=int, default=2000, help="epochs per run (default 2000, the paper's)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    parser.add_argument("--out", type=Path, help="directory for results.json and figure5.png")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    args = parser.parse_args(argv)
    if args.quick:
        args.pieces, args.budgets, args.seeds, args.epochs = 1, [100], 1, 30
    if not 1 <= args.pieces <= 5 or args.seeds < 1 or args.epochs < 1 or args.jobs < 1:
        parser.error("--pieces must be 1..5; --seeds, --epochs and --jobs must be positive")
    if args.out is not None:
        from cwfast._atomic import check_output
        from cwfast.errors import CwfastError

        try:  # now, not after hours of training
            args.out.mkdir(parents=True, exist_ok=True)
            for name in ("results.json", "figure5.png"):
                check_output(args.out / name, args.overwrite, what="output")
        except OSError as error:
            parser.error(f"cannot make --out {str(args.out)!r}: {error.strerror or error}")
        except CwfastError as error:
            parser.error(str(error))

    pieces, starts = excerpts(args.pieces)
    jobs = [
        dict(arch=arch, budget_index=BUDGETS.index(budget), piece=p, seed=seed, recipe=recipe, epochs=args.epochs,
             target=pieces[p])
        for budget in sorted(args.budgets) for arch in args.archs for recipe in args.recipes
        for p in range(args.pieces) for seed in range(args.seeds)
    ]
    print(f"{len(jobs)} runs of {args.epochs} epochs on {args.jobs} process(es)", file=sys.stderr)
    started = time.perf_counter()
    results = []
    if args.jobs == 1:
        iterator = map(run_one, jobs)
    else:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(args.jobs)
        iterator = pool.imap(run_one, jobs)
    for k, res in enumerate(iterator, 1):
        results.append(res)
        print(f"[{k}/{len(jobs)}] {res['recipe']:10s} {NAMES[res['arch']]:6s} {res['n_params']:4d} params "
              f"piece {res['piece'] + 1} seed {res['seed']}: NMSE {res['nmse']:.4f} ({res['seconds']:.1f} s)",
              file=sys.stderr)
    if args.jobs > 1:
        pool.close()
    elapsed = time.perf_counter() - started

    table = summarise(results, args.budgets)
    print(table)
    print(f"\n{len(results)} runs, {elapsed:.0f} s; pieces start at samples {starts} of {DATA.name}")
    if args.out is not None:
        from cwfast._atomic import atomic_path

        meta = dict(command=" ".join(["scripts/paper_generation.py"] + (argv if argv is not None else sys.argv[1:])),
                    machine=f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}",
                    python=platform.python_version(), seconds=elapsed, starts=starts, epochs=args.epochs)
        # Keep the waveform of the best run per model, budget and piece only (the figure's).
        best = {}
        for i, r in enumerate(results):
            key = (r["arch"], r["budget_index"], r["piece"])
            if np.isfinite(r["nmse"]) and (key not in best or r["nmse"] < results[best[key]]["nmse"]):
                best[key] = i
        kept = set(best.values())
        runs = [dict(r, output=np.round(r["output"], 5).tolist() if i in kept else None)
                for i, r in enumerate(results)]
        with atomic_path(args.out / "results.json", what="results") as tmp, open(tmp, "w") as fh:
            json.dump(dict(meta=meta, table=table, runs=runs), fh, indent=0)
        try:
            plot(results, pieces, args.out / "figure5.png")
        except ImportError:
            print("matplotlib is not installed: no figure", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
