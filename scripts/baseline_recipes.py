"""A recipe search with the same budget for every model, for the paper's audio-generation task.

The generation table in ``docs/results.md`` compares the CW-RNN with an SRN and an LSTM trained by
a handful of fixed recipes. This script gives every model the same search instead:

- the same grid size for each model: 5 optimiser settings (Adam at learning rate 3e-3, 1e-2,
  3e-2; Nesterov SGD with momentum 0.95 at 0.0096 and 0.096 on cwfast's mean loss, which are the
  paper's 3e-5 and 3e-4 on the summed error), x 3 initial scales (every parameter from
  N(0, s^2) with s = 0.1, the paper's, 0.2 and 0.4), x 2 values of one more knob: the LSTM's
  forget-gate bias (5, the paper's, or 1); for the SRN and the CW-RNN, which have no gates, the
  learning-rate schedule (constant or cosine). 30 settings, the gradient norm clipped to 1;
- the same seeds (``--seeds``, default 2) per setting;
- chosen on ONE validation piece, 320 samples of ``data/brahms-hungarian-dance-5-excerpt.wav``
  starting at sample 26300, between the first and second of the five test pieces of
  ``scripts/paper_generation.py`` and overlapping none of them;
- ``refine``: the ``--top`` (5) best settings of each model get ``--more-seeds`` (4) more seeds on
  the validation piece, and the best mean over their 6 seeds is chosen (the seed-to-seed spread
  of the LSTM and the SRN is as large as the gaps between settings);
- then the chosen setting of each model is trained on the five test pieces (``--eval-seeds``
  seeds each) and reported next to the paper's numbers.

    python scripts/baseline_recipes.py search --out runs/recipes        # the grid on the validation piece
    python scripts/baseline_recipes.py refine --out runs/recipes        # the 5 best per model: 4 more seeds
    python scripts/baseline_recipes.py evaluate --out runs/recipes      # chosen settings on the 5 pieces
    python scripts/baseline_recipes.py evaluate --out runs/recipes --budget 500 --chosen-at 1000
    python scripts/baseline_recipes.py search --quick --out /tmp/r      # seconds: 2 settings, 30 epochs

Runs are appended to ``search.jsonl`` and ``evaluate.jsonl`` in ``--out`` as they finish; a
command run again skips the runs already there, so an interrupted search resumes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_generation as pg  # noqa: E402

VALIDATION_START = 26300
OPTIMISERS = (("adam", 3e-3), ("adam", 1e-2), ("adam", 3e-2), ("sgd", 3e-5 * 320), ("sgd", 3e-4 * 320))
INIT_SCALES = (0.1, 0.2, 0.4)
#: The third knob, two values per model (the same count for every model).
KNOB = {"lstm": ("forget_bias", (5.0, 1.0)), "srn": ("lr_schedule", ("constant", "cosine")),
        "cw": ("lr_schedule", ("constant", "cosine"))}
MARKS = (100, 250, 500, 1000, 1500)


def grid(arch):
    """The settings searched for ``arch``: a list of dicts of ``train_piece`` keyword arguments."""
    name, values = KNOB[arch]
    return [{"optimizer": opt, "lr": lr, "init_scale": scale, name: value}
            for (opt, lr), scale, value in itertools.product(OPTIMISERS, INIT_SCALES, values)]


def validation_piece(path=pg.DATA):
    """The 320-sample validation piece, scaled to peak 1."""
    from cwfast.audio import load_audio, scale_to_unit

    samples, rate = load_audio(path)
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    return scale_to_unit(samples[VALIDATION_START : VALIDATION_START + pg.PIECE])[0]


def lowpassed_pieces(starts, cutoff, path=pg.DATA):
    """The pieces at ``starts`` of the clip low-passed at ``cutoff`` Hz, each scaled to peak 1."""
    from scipy.signal import butter, sosfiltfilt

    from cwfast.audio import load_audio, scale_to_unit

    samples, rate = load_audio(path)
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    low = sosfiltfilt(butter(4, cutoff, btype="low", fs=rate, output="sos"), samples)
    return np.stack([scale_to_unit(low[s : s + pg.PIECE])[0] for s in starts])


def label(setting):
    """A short name for a setting."""
    parts = [f"{setting['optimizer']} {setting['lr']:g}", f"init {setting['init_scale']:g}"]
    if "forget_bias" in setting:
        parts.append(f"forget bias {setting['forget_bias']:g}")
    if setting.get("lr_schedule", "constant") != "constant":
        parts.append(setting["lr_schedule"])
    return ", ".join(parts)


def run_job(job):
    """Train one network; the job's fields plus NMSE, NMSE at a few epochs and seconds."""
    import numba

    numba.set_num_threads(1)
    started = time.perf_counter()
    target = np.asarray(job["target"])
    model, score, curve = pg.train_piece(job["arch"], job["n_hidden"], target, job["seed"], job["epochs"],
                                         **job["setting"])
    out = {k: v for k, v in job.items() if k != "target"}
    out.update(nmse=score, seconds=time.perf_counter() - started,
               at={str(m): float(curve[m]) for m in MARKS if curve is not None and m < curve.size})
    if math.isfinite(score):
        # Where the error is: the paper's SRN "learns the first 20-50 steps, then goes flat".
        y = model.forward(np.zeros((target.size, 0), np.float32))[:, 0].astype(np.float64)
        err, var = (y - target) ** 2, float(np.var(target))
        out.update(nmse_first_50=float(err[:50].mean() / var), nmse_after_50=float(err[50:].mean() / var))
    return out


def key(run):
    return json.dumps([run["arch"], run["n_hidden"], run["piece"], run["seed"], run["epochs"], run["setting"]],
                      sort_keys=True)


def run_all(jobs, path, n_procs):
    """Run the jobs not yet in ``path`` (JSON lines), appending each result as it finishes."""
    done = []
    if path.exists():
        done = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seen = {key(r) for r in done}
    todo = [j for j in jobs if key(j) not in seen]
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} already in {path})", file=sys.stderr)
    if n_procs > 1 and len(todo) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(n_procs)
        iterator = pool.imap_unordered(run_job, todo)
    else:
        pool, iterator = None, map(run_job, todo)
    with open(path, "a") as fh:
        for k, res in enumerate(iterator, 1):
            fh.write(json.dumps(res) + "\n")
            fh.flush()
            done.append(res)
            print(f"[{k}/{len(todo)}] {pg.NAMES[res['arch']]:6s} piece {res['piece']} seed {res['seed']} "
                  f"{label(res['setting'])}: NMSE {res['nmse']:.4f} ({res['seconds']:.1f} s)", file=sys.stderr)
    if pool is not None:
        pool.close()
    wanted = {key(j) for j in jobs}
    return [r for r in done if key(r) in wanted]


def choose(runs, arch):
    """Settings ranked by mean validation NMSE over seeds (a diverged run counts as infinite).

    Settings that ``refine`` gave more seeds rank first: the best is chosen among them.
    """
    by = {}
    for r in runs:
        if r["arch"] == arch:
            by.setdefault(json.dumps(r["setting"], sort_keys=True), []).append(r["nmse"])
    scored = sorted((-len(vals), float(np.mean([v if math.isfinite(v) else math.inf for v in vals])), s)
                    for s, vals in by.items())
    return [(score, json.loads(s)) for _, score, s in scored]


def search_table(runs, archs, top=5):
    lines = ["| model | rank | setting | validation NMSE (mean over seeds) |", "|---|---|---|---|"]
    for arch in archs:
        for rank, (score, setting) in enumerate(choose(runs, arch)[:top], 1):
            lines.append(f"| {pg.NAMES[arch]} | {rank} | {label(setting)} | {score:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("search", "refine", "evaluate"))
    parser.add_argument("--out", type=Path, required=True, help="directory for search.jsonl / evaluate.jsonl")
    parser.add_argument("--archs", nargs="+", default=list(pg.ARCHS), choices=pg.ARCHS)
    parser.add_argument("--budget", type=int, default=1000, choices=pg.BUDGETS, help="parameters (default 1000)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per setting in the search (default 2)")
    parser.add_argument("--eval-seeds", type=int, default=3, help="seeds per test piece (default 3)")
    parser.add_argument("--top", type=int, default=5, help="refine: settings per model given more seeds (default 5)")
    parser.add_argument("--more-seeds", type=int, default=4, help="refine: seeds added to each (default 4)")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 settings per model, 1 seed, 30 epochs")
    parser.add_argument("--chosen-at", type=int, choices=pg.BUDGETS,
                        help="evaluate: take the settings chosen at this budget (default: --budget's own search)")
    parser.add_argument("--lowpass", type=float, metavar="HZ",
                        help="evaluate: on the five pieces low-passed at HZ (zero-phase 4th-order Butterworth "
                             "on the whole clip, then cut and scaled), into evaluate-lowpassHZ.jsonl")
    args = parser.parse_args(argv)
    if args.quick:
        given = [f"--{name.replace('_', '-')}" for name in ("seeds", "eval_seeds", "epochs")
                 if getattr(args, name) != parser.get_default(name)]
        if given:  # (it replaced them without a word)
            parser.error(f"--quick sets --seeds, --eval-seeds and --epochs itself: leave out {' and '.join(given)}")
        args.seeds, args.eval_seeds, args.epochs = 1, 1, 30
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"cannot make --out {str(args.out)!r}: {error.strerror or error}")
    b = pg.BUDGETS.index(args.budget)

    if args.stage == "search":
        target = validation_piece()
        jobs = [dict(arch=arch, n_hidden=pg.SIZES[arch][b], piece="validation", seed=seed, epochs=args.epochs,
                     setting=setting, target=target.tolist())
                for arch in args.archs for setting in grid(arch)[: 2 if args.quick else None]
                for seed in range(args.seeds)]
        runs = run_all(jobs, args.out / "search.jsonl", args.jobs)
        print(search_table(runs, args.archs))
        return 0

    if not (args.out / "search.jsonl").is_file():
        parser.error(f"{args.stage}: no search.jsonl in --out {str(args.out)!r}; run 'search' there first")
    search = [json.loads(line) for line in (args.out / "search.jsonl").read_text().splitlines() if line.strip()]
    search = [r for r in search if r["epochs"] == args.epochs]

    def searched(arch, index):
        """The search's runs of ``arch`` at the budget of ``index`` (refused if there are none)."""
        rows = [r for r in search if r["n_hidden"] == pg.SIZES[arch][index]]
        if not rows:
            parser.error(f"{args.stage}: search.jsonl in --out holds no run of {arch} at {pg.BUDGETS[index]} "
                         f"parameters and {args.epochs} epochs; run 'search' with those first")
        return rows

    if args.stage == "refine":
        # Successive halving with the same budget per model: the top settings get more seeds.
        target = validation_piece()
        jobs = [dict(arch=arch, n_hidden=pg.SIZES[arch][b], piece="validation", seed=seed, epochs=args.epochs,
                     setting=setting, target=target.tolist())
                for arch in args.archs
                for _, setting in choose(searched(arch, b), arch)[: args.top]
                for seed in range(args.seeds, args.seeds + args.more_seeds)]
        runs = run_all(jobs, args.out / "search.jsonl", args.jobs)
        search = [json.loads(line) for line in (args.out / "search.jsonl").read_text().splitlines() if line.strip()]
        print(search_table([r for r in search if r["epochs"] == args.epochs], args.archs, top=args.top))
        return 0
    pieces, starts = pg.excerpts(5)
    name = "evaluate.jsonl"
    if args.lowpass:
        pieces = lowpassed_pieces(starts, args.lowpass)
        name = f"evaluate-lowpass{args.lowpass:g}.jsonl"
    c = pg.BUDGETS.index(args.chosen_at or args.budget)
    chosen = {arch: choose(searched(arch, c), arch)[0][1] for arch in args.archs}
    jobs = [dict(arch=arch, n_hidden=pg.SIZES[arch][b], piece=p, seed=seed, epochs=args.epochs,
                 setting=chosen[arch], target=pieces[p].tolist())
            for arch in args.archs for p in range(len(pieces)) for seed in range(args.eval_seeds)]
    runs = run_all(jobs, args.out / name, args.jobs)
    lines = ["| model | units | chosen setting | NMSE mean ± std (n) | median | NMSE steps 0-49 / 50-319 | paper |",
             "|---|---|---|---|---|---|---|"]
    for arch in args.archs:
        scores = np.array([r["nmse"] for r in runs if r["arch"] == arch])
        finite = scores[np.isfinite(scores)]
        text = f"{finite.mean():.4f} ± {finite.std():.4f} ({finite.size})" if finite.size else "diverged"
        if finite.size < scores.size:
            text += f", {scores.size - finite.size} diverged"
        median = f"{np.median(finite):.4f}" if finite.size else "-"
        paper = pg.PAPER_1000[arch] if args.budget == 1000 else f"{pg.PAPER_NMSE[arch][b]}"
        first = [r["nmse_first_50"] for r in runs if r["arch"] == arch and "nmse_first_50" in r]
        after = [r["nmse_after_50"] for r in runs if r["arch"] == arch and "nmse_after_50" in r]
        split = f"{np.mean(first):.3f} / {np.mean(after):.3f}" if first else "-"
        lines.append(f"| {pg.NAMES[arch]} | {pg.SIZES[arch][b]} | {label(chosen[arch])} | {text} | {median} | {split} "
                     f"| {paper} |")
    print("\n".join(lines))
    print(f"\npieces start at samples {starts}; validation piece at {VALIDATION_START}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
