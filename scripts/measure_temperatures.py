"""How a trained autoregressive model's generated audio changes with the sampling temperature.

For each model of a ``scripts/generation_goals.py --out DIR`` run (``DIR/SOURCE/cw.npz`` beside
the source audio it was trained on, ``DIR/SOURCE/SOURCE.wav``), generate 10 s at each temperature
with seeds 0, 1, 2 and print the medians of issue 12's likeness measures: RMS over the training
part's (the first 80%), spectral flatness over the training part's (the whole source's, test part
included, before 2026-12-06),
the pitched-frame fraction, the most common note's share of the pitched frames
(``likeness.note_share``: 1 for a drone; the median of the seeds that have a pitched frame, "-"
if none has), and the long-term spectrum's distance to the training part (dB)::

    python scripts/measure_temperatures.py DIR/*/cw.npz [--temperatures 0.5,0.7,1] [--json OUT [--overwrite]]

(docs/results.md, "The generation temperature".) Runs on one thread: about a second per model
and temperature at 16 kHz.
"""

import argparse
import json
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)

import numpy as np  # noqa: E402

import cwfast  # noqa: E402
from cwfast import likeness, metrics, render  # noqa: E402
from cwfast._atomic import atomic_path, check_output  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402

SEEDS = (0, 1, 2)
SECONDS = 10.0


def source_of(path):
    """The source audio a generation_goals.py model was trained on: SOURCE.wav beside SOURCE/cw.npz."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, os.path.basename(folder) + ".wav")


def measure(path, model, temperatures):
    source, rate = load_audio(source_of(path), sample_rate=model.sample_rate)
    training = source[: int(0.8 * source.size)]
    rows = {}
    for temperature in temperatures:
        figures = []
        for seed in SEEDS:
            audio = render.render(model, int(SECONDS * rate), seed=seed, temperature=temperature)
            figures.append((metrics.rms(audio) / metrics.rms(training),
                            likeness.spectral_flatness(audio) / likeness.spectral_flatness(training),
                            likeness.pitched_fraction(audio, rate), likeness.ltas_distance(audio, training),
                            _nan_if_none(likeness.note_share(audio, rate))))
        figures = np.array(figures)
        rows[temperature] = dict(zip(("rms", "flatness", "pitched", "ltas_db"), np.median(figures[:, :4], axis=0).tolist()))
        shares = figures[:, 4][~np.isnan(figures[:, 4])]
        rows[temperature]["note_share"] = float(np.median(shares)) if shares.size else None
    return rows


def _nan_if_none(value):
    return np.nan if value is None else value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="cw.npz files of generation_goals.py --out folders")
    parser.add_argument("--temperatures", default="0.5,0.6,0.7,0.85,1.0")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    try:
        temperatures = [float(t) for t in args.temperatures.split(",")]
    except ValueError:
        temperatures = []
    if not temperatures or not all(0 < t < np.inf for t in temperatures) or len(set(temperatures)) < len(temperatures):
        parser.error(f"--temperatures {args.temperatures!r} must be comma-separated positive numbers, none repeated")
    for path in args.models:  # before any generation
        if not os.path.isfile(source_of(path)):
            parser.error(f"{path}: no {os.path.basename(source_of(path))} beside it (a generation_goals.py --out "
                         "folder's model)")
    try:
        if args.json:
            check_output(args.json, args.overwrite, what="JSON")
        models = {path: cwfast.load(path) for path in args.models}  # every one readable before any generation
        return report(models, temperatures, args.json)
    except CwfastError as error:
        parser.exit(2, f"measure_temperatures.py: error: {error}\n")


def report(models, temperatures, json_path):
    table = {}
    print("| model | temperature | RMS / training | flatness / training | pitched | note share | LTAS to training (dB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path, model in models.items():
        table[path] = measure(path, model, temperatures)
        for temperature, row in table[path].items():
            share = "-" if row["note_share"] is None else f"{row['note_share']:.2f}"
            print(f"| {path} | {temperature:g} | {row['rms']:.2f} | {row['flatness']:.2f} | {row['pitched']:.2f} | "
                  f"{share} | {row['ltas_db']:.2f} |", flush=True)
    if json_path:
        with atomic_path(json_path, what="JSON") as tmp, open(tmp, "w") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
