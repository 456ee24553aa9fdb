"""Is memorisation robust across sounds? The CW-RNN of ``cwfast train --mode memorize`` on many excerpts.

The paper's task (320 samples at 44.1 kHz scaled to peak 1, no input, one linear output; a
CW-RNN of 40 units in 9 modules with periods 1..256, 971 parameters) on excerpts of every
recording in a directory (``--music``, e.g. ``../shared/data/music``) and on low-frequency
material made from them:

- ``<recording>``: ``--per-file`` (default 10) excerpts of each recording, evenly spaced over
  its non-silent stretches (an excerpt whose RMS is under 5% of the recording's peak is skipped);
- ``lowpass``: excerpts of the first recording after a zero-phase 4th-order Butterworth low-pass
  at 100 Hz (periods of 441 samples and more: an excerpt is under one cycle);
- ``slowed``: 40 samples of each recording stretched 8x by linear interpolation to 320 (three
  octaves down, as a tape slowed eight times).

Each excerpt is trained with one or more recipes (``--recipes``; ``default`` is what ``cwfast
train --mode memorize`` does: Adam, learning rate 3e-3, gradient norm clipped to 1, 2000
epochs). The NMSE after 250, 500, 1000 and 2000 epochs and the first epoch at which it is at most
0.05 and 0.01 are written, one JSON line per run, to ``--out``; the summary gives the median
and worst NMSE per source and over everything.

    python scripts/memorize_robustness.py --music ../shared/data/music --out runs/robust.jsonl
    python scripts/memorize_robustness.py --music ../shared/data/music --out runs/robust.jsonl \\
        --recipes default adam-1e-2-cosine
    python scripts/memorize_robustness.py --quick --out /tmp/r.jsonl     # seconds: the shipped clip

``--diagnose`` instead prints, for the excerpts given by ``--only``, where the gradient goes: the
norm of the loss gradient on each module's parameters (its rows of W_h, W_in, b_h and its columns
of W_out) at initialisation, and the share of the target's energy in its mean.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
PIECE = 320
HIDDEN, MODULES = 40, 9
LOWPASS_HZ = 100.0
SLOW = 8
MARKS = (250, 500, 1000, 2000)
#: Training recipes: fit keyword arguments (besides epochs). ``default`` is the CLI's memorize mode.
RECIPES = {
    "default": dict(optimizer="adam", lr=3e-3),
    "adam-1e-2": dict(optimizer="adam", lr=1e-2),
    "adam-1e-2-cosine": dict(optimizer="adam", lr=1e-2, lr_schedule="cosine"),
    "adam-3e-2-cosine": dict(optimizer="adam", lr=3e-2, lr_schedule="cosine"),
    "adam-3e-3-cosine": dict(optimizer="adam", lr=3e-3, lr_schedule="cosine"),
}


def read_mono(path):
    """A recording as float64 mono at its own rate (44.1 kHz expected)."""
    from cwfast.audio import load_audio

    samples, rate = load_audio(path)
    if rate != 44100:
        raise SystemExit(f"{path}: expected 44.1 kHz, got {rate} Hz")
    return np.asarray(samples, dtype=np.float64).reshape(-1)


def spread_starts(samples, count, length=PIECE, floor=0.05, candidates=200):
    """``count`` excerpt starts evenly spread over the excerpts that are not near-silent.

    An excerpt is near-silent when its RMS is under ``floor`` times the recording's peak.
    """
    peak = float(np.max(np.abs(samples)))
    span = samples.size - length
    if span < 0:
        return []
    cands = np.unique(np.linspace(0, span, candidates).astype(int))
    loud = [int(s) for s in cands if np.sqrt(np.mean(samples[s : s + length] ** 2)) >= floor * peak]
    if len(loud) <= count:
        return loud
    return [loud[int(i)] for i in np.linspace(0, len(loud) - 1, count).round()]


def lowpass(samples, cutoff=LOWPASS_HZ, rate=44100):
    """Zero-phase 4th-order Butterworth low-pass."""
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(4, cutoff, btype="low", fs=rate, output="sos"), samples)


def slowed(samples, start, factor=SLOW, length=PIECE):
    """``length // factor`` samples from ``start`` stretched ``factor`` times by linear interpolation."""
    short = samples[start : start + length // factor + 1]
    return np.interp(np.arange(length) / factor, np.arange(short.size), short)


def unit(piece):
    """Scaled to peak 1 (the memorize task's target)."""
    return piece / np.max(np.abs(piece))


def make_excerpts(paths, per_file):
    """[(source, start, target)]: per-file excerpts, then the low-passed and slowed ones."""
    out = []
    recordings = [(Path(p).stem, read_mono(p)) for p in paths]
    for name, samples in recordings:
        for s in spread_starts(samples, per_file):
            out.append((name, s, unit(samples[s : s + PIECE])))
    first = recordings[0][1]
    low = lowpass(first)
    for s in spread_starts(low, per_file):
        out.append(("lowpass", s, unit(low[s : s + PIECE])))
    each = max(1, int(math.ceil(per_file / len(recordings))))
    for name, samples in recordings:
        for s in spread_starts(samples, each, length=PIECE // SLOW + 1):
            out.append((f"slowed", f"{name}@{s}", unit(slowed(samples, s))))
    return out


def train(target, recipe, epochs, seed):
    """The CLI's memorize model trained on ``target``: (model, NMSE per epoch incl. the end)."""
    import cwfast
    from cwfast.metrics import nmse
    from cwfast.train import fit

    model = cwfast.ClockworkRNN(0, 1, n_hidden=HIDDEN, n_modules=MODULES, seed=seed)
    x = np.zeros((target.size, 0), dtype=np.float32)
    y = target.astype(np.float32)[:, None]
    result = fit(model, x, y, epochs=epochs, seed=seed, **RECIPES[recipe])
    curve = np.asarray(result.losses, dtype=np.float64) / float(np.var(y))
    final = float(nmse(model.forward(x)[:, 0], y[:, 0]))
    return model, np.append(curve, final)


def run_job(job):
    import numba

    numba.set_num_threads(1)
    started = time.perf_counter()
    target = np.asarray(job["target"])
    try:
        _, curve = train(target, job["recipe"], job["epochs"], job["seed"])
        final = float(curve[-1])
        at = {str(m): float(curve[m]) for m in MARKS if m < curve.size}
        first = {str(t): int(np.argmax(curve <= t)) if np.any(curve <= t) else None for t in (0.05, 0.01)}
    except Exception as exc:  # noqa: BLE001 - a diverged run is a result, not a crash
        final, at, first = math.nan, {}, {"error": str(exc)}
    out = {k: v for k, v in job.items() if k != "target"}
    out.update(nmse=final, at=at, first_epoch_at_most=first, seconds=time.perf_counter() - started)
    return out


def key(run):
    return json.dumps([run["source"], run["start"], run["recipe"], run["epochs"], run["seed"]])


def summary(runs):
    lines = ["| recipe | source | excerpts | NMSE median | NMSE worst | worst at 1000 epochs | share <= 0.01 |",
             "|---|---|---|---|---|---|---|"]
    recipes = list(dict.fromkeys(r["recipe"] for r in runs))
    for recipe in recipes:
        mine = [r for r in runs if r["recipe"] == recipe]
        sources = list(dict.fromkeys(r["source"] for r in mine)) + ["all"]
        for source in sources:
            sel = [r for r in mine if source == "all" or r["source"] == source]
            v = np.array([r["nmse"] if math.isfinite(r["nmse"]) else np.inf for r in sel])
            mid = np.array([r["at"].get("1000", np.nan) for r in sel])
            lines.append(f"| {recipe} | {source} | {v.size} | {np.median(v):.4f} | {v.max():.4f} | "
                         f"{np.nanmax(mid):.4f} | {np.mean(v <= 0.01):.0%} |")
    return "\n".join(lines)


def module_gradients(target, seed=0):
    """Gradient norm on each module's parameters at initialisation, and the hidden state's spread."""
    import cwfast

    model = cwfast.ClockworkRNN(0, 1, n_hidden=HIDDEN, n_modules=MODULES, seed=seed)
    x = np.zeros((target.size, 0), dtype=np.float32)
    _, grad = model.loss_and_grad(x, target.astype(np.float32)[:, None])
    sizes = model.module_sizes
    edges = np.concatenate([[0], np.cumsum(sizes)])
    rows = []
    for i in range(len(sizes)):
        a, b = edges[i], edges[i + 1]
        parts = [grad["W_h"][a:b], grad["b_h"][a:b], grad["W_out"][:, a:b]]
        if grad.get("W_in") is not None and grad["W_in"].size:
            parts.append(grad["W_in"][a:b])
        rows.append(float(np.sqrt(sum(float(np.sum(np.square(p))) for p in parts))))
    return rows, float(np.linalg.norm(grad["b_out"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--music", type=Path, help="directory of recordings (*.ogg, *.wav, *.flac)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file; runs already in it are skipped")
    parser.add_argument("--per-file", type=int, default=10, help="excerpts per recording (default 10)")
    parser.add_argument("--recipes", nargs="+", default=["default"], choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", nargs="+", help="sources to run (e.g. lowpass slowed)")
    parser.add_argument("--quick", action="store_true", help="the shipped clip, 2 excerpts each, 30 epochs")
    parser.add_argument("--diagnose", action="store_true", help="print per-module gradient norms at init")
    args = parser.parse_args(argv)
    if args.quick:
        paths, args.per_file, args.epochs = [SHIPPED], 2, 30
    else:
        if args.music is None:
            parser.error("--music is required (or --quick)")
        paths = sorted(p for p in args.music.iterdir() if p.suffix.lower() in (".ogg", ".wav", ".flac"))
        if not paths:
            parser.error(f"{args.music}: no recordings")
        # The first recording is the one low-passed; put Brahms first when it is there.
        paths.sort(key=lambda p: "brahms" not in p.name)
    excerpts = make_excerpts(paths, args.per_file)
    if args.only:
        excerpts = [e for e in excerpts if e[0] in args.only]

    if args.diagnose:
        print("| source | start | mean^2 / mean square | grad norm per module (period 1 .. 256) | b_out |")
        print("|---|---|---|---|---|")
        for source, start, target in excerpts:
            norms, g_out = module_gradients(target)
            share = float(np.mean(target) ** 2 / np.mean(target ** 2))
            print(f"| {source} | {start} | {share:.2f} | {' '.join(f'{n:.3f}' for n in norms)} | {g_out:.3f} |")
        return 0

    jobs = [dict(source=s, start=st, recipe=r, epochs=args.epochs, seed=seed, target=t.tolist())
            for r in args.recipes for seed in range(args.seeds) for s, st, t in excerpts]
    done = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()] if args.out.exists() else []
    seen = {key(r) for r in done}
    todo = [j for j in jobs if key(j) not in seen]
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} already in {args.out})", file=sys.stderr)
    if args.jobs > 1 and len(todo) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(args.jobs)
        iterator = pool.imap_unordered(run_job, todo)
    else:
        pool, iterator = None, map(run_job, todo)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        for k, res in enumerate(iterator, 1):
            fh.write(json.dumps(res) + "\n")
            fh.flush()
            done.append(res)
            print(f"[{k}/{len(todo)}] {res['recipe']} {res['source']} {res['start']}: NMSE {res['nmse']:.4f} "
                  f"({res['seconds']:.1f} s)", file=sys.stderr)
    if pool is not None:
        pool.close()
    wanted = {key(j) for j in jobs}
    print(summary([r for r in done if key(r) in wanted]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
