"""Is memorisation robust across sounds? The CW-RNN of ``cwfast train --mode memorize`` on many excerpts.

The paper's task (320 samples at 44.1 kHz scaled to peak 1, no input, one linear output; a
CW-RNN of 40 units in 9 modules with periods 1..256, 971 parameters) on excerpts of every
recording in a directory (``--music``, e.g. ``../shared/data/music``) and on low-frequency
material made from them:

- ``<recording>``: ``--per-file`` (default 10) excerpts of each recording, evenly spaced over
  its non-silent stretches (an excerpt whose RMS is under 5% of the recording's peak is skipped);
- ``lowpass``: excerpts of the first recording after a zero-phase 4th-order Butterworth low-pass
  at 100 Hz (periods of 441 samples and more: an excerpt is under one cycle);
- ``lowpass40``: the same at 40 Hz;
- ``slowed``: 40 samples of each recording stretched 8x by linear interpolation to 320 (three
  octaves down, as a tape slowed eight times); ``slowed32``: 10 samples stretched 32x;
- ``tone``: synthetic low tones, fundamentals 20 to 80 Hz with two harmonics, random phases.

Each excerpt is trained with one or more recipes (``--recipes``; ``adam-1e-2``, the default, is
what ``cwfast train --mode memorize`` does: Adam, learning rate 1e-2, gradient norm clipped to 1,
2000 epochs; it did the same with ``adam-3e-3`` before these measurements). The NMSE after 250, 500, 1000 and 2000 epochs and the first epoch at which it is at most
0.05 and 0.01 are written, one JSON line per run, to ``--out``; the summary gives the median
and worst NMSE per source and over everything.

    python scripts/memorize_robustness.py --music ../shared/data/music --out runs/robust.jsonl
    python scripts/memorize_robustness.py --music ../shared/data/music --out runs/robust.jsonl \\
        --recipes adam-3e-3 adam-1e-2-cosine
    python scripts/memorize_robustness.py --quick --out /tmp/r.jsonl     # seconds: the shipped clip

``--diagnose`` instead trains the excerpts chosen by ``--only`` / ``--starts`` for ``--epochs`` and
prints, after 0, 100, 250, 500, 1000 and 2000 epochs (those before ``--epochs``) and at ``--epochs``,
the NMSE, the RMS of the loss gradient on each module's parameters, and where the remaining error is (its share in the first 32 steps, and below 1 kHz).
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
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, str(ROOT))
SHIPPED = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
PIECE = 320
HIDDEN, MODULES = 40, 9
LOWPASS_HZ = 100.0
SLOW = 8
MARKS = (250, 500, 1000, 2000)
#: Training recipes: fit keyword arguments (besides epochs). ``adam-1e-2`` is what ``cwfast train
#: --mode memorize`` does (fit's default since these measurements; before them ``adam-3e-3``).
RECIPES = {
    "adam-3e-3": dict(optimizer="adam", lr=3e-3),
    "adam-1e-2": dict(optimizer="adam", lr=1e-2),
    "adam-1e-2-cosine": dict(optimizer="adam", lr=1e-2, lr_schedule="cosine"),
    "adam-3e-2-cosine": dict(optimizer="adam", lr=3e-2, lr_schedule="cosine"),
    "adam-3e-3-cosine": dict(optimizer="adam", lr=3e-3, lr_schedule="cosine"),
    # Not a fit option: the output bias starts at the target's mean instead of N(0, 0.1^2).
    "adam-3e-3-mean-bias": dict(optimizer="adam", lr=3e-3, mean_bias=True),
    "adam-1e-2-mean-bias": dict(optimizer="adam", lr=1e-2, mean_bias=True),
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
    for cutoff, source in ((LOWPASS_HZ, "lowpass"), (40.0, "lowpass40")):
        low = lowpass(first, cutoff)
        for s in spread_starts(low, per_file):
            out.append((source, s, unit(low[s : s + PIECE])))
    each = max(1, int(math.ceil(per_file / len(recordings))))
    for factor, source in ((SLOW, "slowed"), (32, "slowed32")):
        for name, samples in recordings:
            for s in spread_starts(samples, each, length=PIECE // factor + 1):
                out.append((source, f"{name}@{s}", unit(slowed(samples, s, factor))))
    for k in range(per_file):
        out.append(("tone", k, unit(low_tone(k))))
    return out


def low_tone(k, rate=44100, length=PIECE):
    """A low-pitched tone: fundamental 20..80 Hz, two harmonics, phases drawn from seed ``k``.

    Under 320 samples a 20 Hz period (2205 samples) is a seventh of a cycle.
    """
    rng = np.random.default_rng(k)
    f0 = 20.0 * 4.0 ** (k / 9.0) if k < 10 else rng.uniform(20, 80)
    t = np.arange(length) / rate
    return sum(a * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
               for h, a in ((1, 1.0), (2, 0.5), (3, 0.25)))


def train(target, recipe, epochs, seed):
    """The CLI's memorize model trained on ``target``: (model, NMSE per epoch incl. the end)."""
    import cwfast
    from cwfast.metrics import nmse
    from cwfast.train import fit

    model = cwfast.ClockworkRNN(0, 1, n_hidden=HIDDEN, n_modules=MODULES, seed=seed)
    x = np.zeros((target.size, 0), dtype=np.float32)
    y = target.astype(np.float32)[:, None]
    settings = dict(RECIPES[recipe])
    if settings.pop("mean_bias", False):
        model.b_out[:] = np.mean(target)
    result = fit(model, x, y, epochs=epochs, seed=seed, **settings)
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
            mid = [r["at"]["1000"] for r in sel if "1000" in r["at"]]
            mid = f"{max(mid):.4f}" if len(mid) == len(sel) else "-"
            lines.append(f"| {recipe} | {source} | {v.size} | {np.median(v):.4f} | {v.max():.4f} | "
                         f"{mid} | {np.mean(v <= 0.01):.0%} |")
    return "\n".join(lines)


def module_gradients(model, target):
    """RMS of the loss gradient over each module's parameters (its rows of W_h and b_h, its
    columns of W_out), fastest module first, and the gradient on b_out."""
    x = np.zeros((target.size, 0), dtype=np.float32)
    _, grad = model.loss_and_grad(x, target.astype(np.float32)[:, None])
    edges = np.concatenate([[0], np.cumsum(model.module_sizes)])
    rows = []
    for i in range(len(model.module_sizes)):
        a, b = edges[i], edges[i + 1]
        parts = np.concatenate([grad["W_h"][a:b].ravel(), grad["b_h"][a:b].ravel(), grad["W_out"][:, a:b].ravel()])
        rows.append(float(np.sqrt(np.mean(np.square(parts)))))
    return rows, float(np.abs(grad["b_out"]).max())


def diagnose(target, recipe="adam-1e-2", epochs=2000, marks=(0, 100, 250, 500, 1000, 2000), seed=0):
    """Train as ``recipe`` does for ``epochs``, and at each of ``marks`` before then and at ``epochs``
    measure where the gradient and the error are.

    Returns a list of dicts: epoch, NMSE, per-module gradient RMS, |dL/db_out|, the share of the
    squared error in the first 32 steps, and in the residual's part below 1 kHz.
    """
    import cwfast
    from cwfast.train import fit

    model = cwfast.ClockworkRNN(0, 1, n_hidden=HIDDEN, n_modules=MODULES, seed=seed)
    x = np.zeros((target.size, 0), dtype=np.float32)
    y = target.astype(np.float32)[:, None]
    optimizer = None
    rows, done = [], 0
    marks = [mark for mark in marks if mark < epochs] + [epochs]
    from cwfast.train.optimizers import Adam

    settings = dict(RECIPES[recipe])
    if settings.pop("mean_bias", False):
        model.b_out[:] = np.mean(target)
    if settings.pop("optimizer") == "adam":
        optimizer = Adam(lr=settings.pop("lr"))
    schedule = settings.pop("lr_schedule", None)
    for mark in marks:
        if mark > done:
            # One optimizer object carries Adam's moments across the pieces of the run.
            span = mark - done
            rule = None if schedule is None else (lambda e, d=done: 0.5 * (1 + math.cos(math.pi * (e + d) / epochs)))
            fit(model, x, y, epochs=span, seed=seed, optimizer=optimizer, lr_schedule=rule, **settings)
            done = mark
        out = model.forward(x)[:, 0].astype(np.float64)
        err = out - target
        spec = np.abs(np.fft.rfft(err)) ** 2
        freqs = np.fft.rfftfreq(err.size, 1 / 44100)
        grads, g_out = module_gradients(model, target)
        rows.append(dict(epoch=mark, nmse=float(np.mean(err ** 2) / np.var(target)), module_grad_rms=grads,
                         b_out_grad=g_out, error_share_first_32=float(np.sum(err[:32] ** 2) / np.sum(err ** 2)),
                         error_share_below_1khz=float(spec[freqs < 1000].sum() / spec.sum())))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--music", type=Path, help="directory of recordings (*.ogg, *.wav, *.flac)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file; runs already in it are skipped")
    parser.add_argument("--per-file", type=int, default=10, help="excerpts per recording (default 10)")
    parser.add_argument("--recipes", nargs="+", default=["adam-1e-2"], choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", nargs="+", help="sources to run (e.g. lowpass slowed)")
    parser.add_argument("--starts", nargs="+", help="only the excerpts with these starts (as printed)")
    parser.add_argument("--quick", action="store_true", help="the shipped clip, 2 excerpts each, 30 epochs")
    parser.add_argument("--diagnose", action="store_true", help="instead: train and print the NMSE, each module's gradient RMS and where the error "
                        "is, after 0, 100, 250, 500, 1000 and 2000 epochs and at --epochs (nothing is written to --out)")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {str(args.out)!r} is a directory; give a JSON lines file")
    if min(args.epochs, args.per_file, args.seeds, args.jobs) < 1:  # (every run's NMSE was NaN, or none ran)
        parser.error("--epochs, --per-file, --seeds and --jobs must be at least 1")
    if args.quick:
        given = [f"--{name.replace('_', '-')}" for name in ("epochs", "per_file")
                 if getattr(args, name) != parser.get_default(name)]
        if given:  # (it replaced them without a word)
            parser.error(f"--quick sets --epochs and --per-file itself: leave out {' and '.join(given)}")
        paths, args.per_file, args.epochs = [SHIPPED], 2, 30
    else:
        if args.music is None:
            parser.error("--music is required (or --quick)")
        if not args.music.is_dir():
            parser.error(f"--music {str(args.music)!r} is not a directory")
        paths = sorted(p for p in args.music.iterdir() if p.suffix.lower() in (".ogg", ".wav", ".flac"))
        if not paths:
            parser.error(f"{args.music}: no recordings")
        # The first recording is the one low-passed; put Brahms first when it is there.
        paths.sort(key=lambda p: "brahms" not in p.name)
    excerpts = make_excerpts(paths, args.per_file)
    if args.only:
        excerpts = [e for e in excerpts if e[0] in args.only]
    if args.starts:
        excerpts = [e for e in excerpts if str(e[1]) in args.starts]

    if args.diagnose:
        print("| source | start | epoch | NMSE | grad RMS per module (period 1 .. 256) | error in steps 0-31 "
              "| error below 1 kHz |")
        print("|---|---|---|---|---|---|---|")
        for source, start, target in excerpts:
            for recipe in args.recipes:
                for row in diagnose(target, recipe, args.epochs):
                    print(f"| {source} {recipe} | {start} | {row['epoch']} | {row['nmse']:.4f} | "
                          f"{' '.join(f'{g:.1e}' for g in row['module_grad_rms'])} | "
                          f"{row['error_share_first_32']:.0%} | {row['error_share_below_1khz']:.0%} |", flush=True)
        return 0

    jobs = [dict(source=s, start=st, recipe=r, epochs=args.epochs, seed=seed, target=t.tolist())
            for r in args.recipes for seed in range(args.seeds) for s, st, t in excerpts]
    done = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()] if args.out.exists() else []
    seen = {key(r) for r in done}
    todo = [j for j in jobs if key(j) not in seen]
    try:  # before the first run, not after it
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fh = open(args.out, "a")
    except OSError as error:
        parser.error(f"cannot write --out {str(args.out)!r}: {error.strerror or error}")
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} already in {args.out})", file=sys.stderr)
    if args.jobs > 1 and len(todo) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(args.jobs)
        iterator = pool.imap_unordered(run_job, todo)
    else:
        pool, iterator = None, map(run_job, todo)
    with fh:
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
