"""Would another set of calibration temperatures make a trained model's audio more like its source?

For each model of ``scripts/generation_goals.py --out DIR`` runs (``DIR/SOURCE/cw.npz`` beside
``DIR/SOURCE/SOURCE.wav`` and ``DIR/goals.json``), choose the generation temperature as
``cwfast train`` does (:func:`cwfast.train_audio.calibrate_temperature`, on the model's training
part, seed 0) from each of two grids, generate 10 s at each choice with seeds 3, 4 and 5 (not the
calibration's seed) and count the goals table's three likeness cells (LTAS to the training audio
against its stretches, flatness within 3x, pitched frames at least half the training audio's: the
references goals.json holds, the whole source's in runs before 2026-12-06), medians over the seeds::

    python scripts/compare_temperature_grids.py DIR ... [--grid 0.35,0.4,0.45,0.5,0.6,0.7,0.85,1]
        [--current 0.5,0.6,0.7,0.85,1] [--json OUT [--overwrite]]

(docs/results.md, "Lower temperatures to choose from".) One thread; about a minute a model.
"""

import argparse
import json
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)

import numpy as np  # noqa: E402

import cwfast  # noqa: E402
from cwfast import likeness, metrics, render, tasks  # noqa: E402
from cwfast._atomic import atomic_path, check_output  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.train_audio import CALIBRATION_TEMPERATURES, calibrate_temperature  # noqa: E402

SEEDS = (3, 4, 5)
SECONDS = 10.0


def check_runs(parser, runs, json_path=None, overwrite=False):
    """``parser.error`` now, before minutes of generating, unless every run is a goals run with
    each of its sources' model and audio, and ``json_path`` (if any) can be written: a new file,
    or with ``overwrite`` (--overwrite) an existing one."""
    for run in runs:
        try:
            with open(os.path.join(run, "goals.json")) as f:
                names = list(json.load(f)["sources"])
        except (OSError, ValueError, KeyError, TypeError):
            parser.error(f"{run}: not a generation_goals.py --out folder (no readable goals.json in it)")
        for name in names:
            for file in ("cw.npz", name + ".wav"):
                if not os.path.isfile(os.path.join(run, name, file)):
                    parser.error(f"{os.path.join(run, name, file)} is missing: {run} is not a whole goals run")
    if json_path:
        try:
            check_output(json_path, overwrite, what="JSON")
        except CwfastError as error:
            parser.error(str(error))


def write_json(json_path, rows):
    """``rows`` as JSON at ``json_path``, whole or not at all."""
    with atomic_path(json_path, what="JSON") as tmp, open(tmp, "w") as f:
        json.dump(rows, f, indent=1)


def load_run(run, name):
    """A goals run's model of ``name``, its source at the model's rate before the test part (what the
    goals' likeness is measured against) and the training part (what ``train_audio`` calibrates on)."""
    model = cwfast.load(os.path.join(run, name, "cw.npz"))
    samples, _ = load_audio(os.path.join(run, name, name + ".wav"), sample_rate=int(model.sample_rate))
    split = model.metadata["split"]
    parts = tasks.split_task(tasks.autoregressive(samples), validation=split["validation"], test=split["test"])
    held = 0 if parts.test is None else parts.test.n_steps
    return model, samples[: samples.size - held], samples[: parts.train.n_steps]


def likeness_at(model, samples, training, like, temperature):
    """The goals' likeness of 10 s generated at ``temperature`` with :data:`SEEDS` (medians), and its
    cells (``like``: the goals run's likeness figures of the source)."""
    rate = int(model.sample_rate)
    figures = []
    for seed in SEEDS:
        audio = render.render(model, int(SECONDS * rate), seed=seed, temperature=temperature)
        figures.append((likeness.ltas_distance(audio, samples),  # (the whole source, its test part too, before 2026-12-06)
                        likeness.spectral_flatness(audio) / like["source"]["flatness"],
                        likeness.pitched_fraction(audio, rate), metrics.rms(audio) / metrics.rms(training)))
    ltas, flatness, pitched, rms = np.median(figures, axis=0).tolist()
    cells = (int(ltas <= 1.3 * like["stretches"]["median_ltas_to_rest"]) + int(1 / 3 <= flatness <= 3)
             + int(pitched >= 0.5 * like["source"]["pitched"]))
    return {"temperature": temperature, "ltas_db": ltas, "flatness": flatness, "pitched": pitched, "rms": rms,
            "cells": cells}


def compare_all(runs, labels, choose, json_path=None):
    """For every model of ``runs``: ``choose(model, training)`` -> {label: temperature}; print the
    likeness at each choice and the cells of each label over all of them."""
    rows = []
    print("| run | source | choice | temperature | LTAS to the source (dB) | flatness / source | pitched | "
          "RMS / training | cells |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        with open(os.path.join(run, "goals.json")) as f:
            sources = json.load(f)["sources"]
        for name, goals in sources.items():
            model, samples, training = load_run(run, name)
            row = {"run": run, "source": name}
            for label, temperature in choose(model, training).items():
                r = row[label] = likeness_at(model, samples, training, goals["likeness"], temperature)
                print(f"| {os.path.basename(os.path.normpath(run))} | {name} | {label} | {r['temperature']:g} | "
                      f"{r['ltas_db']:.2f} | {r['flatness']:.2f}x | {r['pitched']:.2f} | {r['rms']:.2f}x | {r['cells']} |",
                      flush=True)
            rows.append(row)
    for label in labels:
        print(f"{label}: {sum(r[label]['cells'] for r in rows)} cells of {3 * len(rows)}")
    if json_path:
        write_json(json_path, rows)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="generation_goals.py --out folders")
    parser.add_argument("--grid", default="0.35,0.4,0.45,0.5,0.6,0.7,0.75,0.8,0.85,1",
                        help="the temperatures compared with --current")
    parser.add_argument("--current", default=",".join(f"{t:g}" for t in CALIBRATION_TEMPERATURES),
                        help="the grid compared against (default: cwfast train's own)")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    try:
        grids = {label: tuple(float(t) for t in text.split(","))
                 for label, text in (("current grid", args.current), ("other grid", args.grid))}
    except ValueError:
        parser.error(f"--grid {args.grid!r} and --current {args.current!r} must be comma-separated temperatures")
    check_runs(parser, args.runs, args.json, args.overwrite)

    def choose(model, training):
        return {label: calibrate_temperature(model, training / model.metadata["scale"], temperatures=grid)["chosen"]
                for label, grid in grids.items()}

    compare_all(args.runs, list(grids), choose, args.json)


if __name__ == "__main__":
    main()
