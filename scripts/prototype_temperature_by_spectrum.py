"""Prototype: choose the generation temperature by the long-term spectrum among those that qualify.

``cwfast train`` keeps 0.5 when its audio qualifies (flatness within 3x and at least half the pitched
frames of the training audio, audible), and otherwise the qualifying temperature nearest the
training audio's loudness (:func:`cwfast.train_audio.calibrate_temperature`). The long-term
spectrum, the goals table's third likeness test, is not looked at. This prototype chooses, among the
qualifying temperatures, the one whose audio's long-term spectrum is nearest the training audio's
(the same generated clips, seed 0), and otherwise what the calibration chooses; then compares both
choices on 10 s generated with seeds 3, 4 and 5 (medians), as ``compare_temperature_grids.py`` does::

    python scripts/prototype_temperature_by_spectrum.py DIR ... [--json OUT]

(docs/results.md, "The temperature by the long-term spectrum".) One thread; about 15 s a model.
"""

import argparse
import json
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)
sys.path.insert(0, os.path.join(REPOSITORY_ROOT, "scripts"))

import numpy as np  # noqa: E402

import cwfast  # noqa: E402
from cwfast import likeness, metrics, render, tasks  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast.train_audio import CALIBRATION_SECONDS, calibrate_temperature  # noqa: E402

SEEDS = (3, 4, 5)


def by_spectrum(model, calibration, heard):
    """The qualifying temperature whose seed-0 audio's long-term spectrum is nearest ``heard``'s,
    or the calibration's own choice if none qualifies."""
    qualifying = [row["temperature"] for row in calibration["table"] if row["qualifies"]]
    if not qualifying:
        return calibration["chosen"]
    rate = int(model.sample_rate)
    distances = {t: likeness.ltas_distance(render.render(model, int(CALIBRATION_SECONDS * rate), seed=0,
                                                         temperature=t), heard) for t in qualifying}
    return min(distances, key=distances.get)


def compare(run, name, goals):
    model = cwfast.load(os.path.join(run, name, "cw.npz"))
    rate = int(model.sample_rate)
    samples, _ = load_audio(os.path.join(run, name, name + ".wav"), sample_rate=rate)
    split = model.metadata["split"]
    train = tasks.split_task(tasks.autoregressive(samples), validation=split["validation"], test=split["test"]).train
    training = samples[: train.n_steps]
    calibration = calibrate_temperature(model, training / model.metadata["scale"])
    choices = {"current": calibration["chosen"], "by spectrum": by_spectrum(model, calibration, training)}
    like = goals["likeness"]
    bounds = {"ltas": 1.3 * like["stretches"]["median_ltas_to_rest"], "pitched": 0.5 * like["source"]["pitched"]}
    row = {"run": run, "source": name}
    for label, chosen in choices.items():
        figures = []
        for seed in SEEDS:
            audio = render.render(model, int(10 * rate), seed=seed, temperature=chosen)
            figures.append((likeness.ltas_distance(audio, samples),
                            likeness.spectral_flatness(audio) / like["source"]["flatness"],
                            likeness.pitched_fraction(audio, rate), metrics.rms(audio) / metrics.rms(training)))
        ltas, flatness, pitched, rms = np.median(figures, axis=0).tolist()
        cells = int(ltas <= bounds["ltas"]) + int(1 / 3 <= flatness <= 3) + int(pitched >= bounds["pitched"])
        row[label] = {"temperature": chosen, "ltas_db": ltas, "flatness": flatness, "pitched": pitched, "rms": rms,
                      "cells": cells}
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="generation_goals.py --out folders")
    parser.add_argument("--json", help="also write every figure here")
    args = parser.parse_args(argv)
    rows = []
    print("| run | source | choice | temperature | LTAS to the source (dB) | flatness / source | pitched | "
          "RMS / training | cells |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for run in args.runs:
        with open(os.path.join(run, "goals.json")) as f:
            sources = json.load(f)["sources"]
        for name, goals in sources.items():
            row = compare(run, name, goals)
            rows.append(row)
            for label in ("current", "by spectrum"):
                r = row[label]
                print(f"| {os.path.basename(os.path.normpath(run))} | {name} | {label} | {r['temperature']:g} | "
                      f"{r['ltas_db']:.2f} | {r['flatness']:.2f}x | {r['pitched']:.2f} | {r['rms']:.2f}x | {r['cells']} |",
                      flush=True)
    for label in ("current", "by spectrum"):
        print(f"{label}: {sum(r[label]['cells'] for r in rows)} cells of {3 * len(rows)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
