"""How near its training audio's loudness does a model generate, with and without its output gain?

For each source of ``scripts/generation_goals.py --out DIR`` runs (``DIR/SOURCE/cw.npz`` beside
``DIR/SOURCE/SOURCE.wav``): the output gain as ``cwfast train`` sets it
(:func:`cwfast.train_audio.calibrate_temperature` on the model's training part, seed 0, which also
chooses the temperature), then 10 s generated at that temperature with seeds 3, 4 and 5 (which the
gain never heard), their RMS relative to the training part's without the gain and with it
(medians), and the loudest peak with it relative to the training part's peak. ``A,B`` in place
of a DIR keeps, per source, the model of A or B with the lower validation bits (as ``cwfast
train --lr 0.01,0.003`` keeps one of two runs)::

    python scripts/measure_output_gain.py DIR [A,B ...] [--json OUT [--overwrite]]

(docs/results.md, "The output gain".) One thread; about ten seconds a model.
"""

import argparse
import json
import math
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)
sys.path.insert(0, os.path.join(REPOSITORY_ROOT, "scripts"))

import numpy as np  # noqa: E402

import cwfast  # noqa: E402
from cwfast import metrics, render  # noqa: E402
from cwfast.train_audio import calibrate_temperature  # noqa: E402
from compare_temperature_grids import check_runs, load_run, write_json  # noqa: E402

SEEDS = (3, 4, 5)
SECONDS = 10.0
#: Within this many dB of the training part's RMS counts as its loudness.
WITHIN_DB = 3.0


def better_on_validation(runs, name):
    """Of goals runs ``runs``, the one whose model of ``name`` has the lowest validation bits (the
    models alone are read: their audio is read once, by :func:`measure`)."""
    return min(runs, key=lambda run: cwfast.load(os.path.join(run, name, "cw.npz"))
               .metadata["figures"]["validation"]["bits_per_sample"])


def measure(run, name):
    model, _, training = load_run(run, name)
    calibration = calibrate_temperature(model, training / model.metadata["scale"])
    rate, gain = int(model.sample_rate), calibration["output_gain"]
    rms, peaks = [], []
    for seed in SEEDS:
        audio = render.render(model, int(SECONDS * rate), seed=seed, temperature=calibration["chosen"], output_gain=1.0)
        rms.append(metrics.rms(audio) / metrics.rms(training))
        peaks.append(float(np.max(np.abs(audio))) / float(np.max(np.abs(training))))
    chosen = next(row for row in calibration["table"] if row["temperature"] == calibration["chosen"])
    return {"run": run, "source": name, "temperature": calibration["chosen"], "saved_temperature":
            model.metadata.get("temperature"), "gain": gain, "calibration_rms": chosen["rms"],
            "calibration_peak": chosen["peak"], "rms_without": float(np.median(rms)),
            "rms_with": float(np.median(rms)) * gain, "per_seed_with": [r * gain for r in rms],
            "peak_with": max(peaks) * gain}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="generation_goals.py --out folders, or A,B pairs of them")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    check_runs(parser, [run for spec in args.runs for run in spec.split(",")], args.json, args.overwrite)
    for spec in args.runs:  # every run of a pair holds every source of its first
        runs = spec.split(",")
        with open(os.path.join(runs[0], "goals.json")) as f:
            names = list(json.load(f)["sources"])
        for run in runs:
            for name in names:
                for file in ("cw.npz", name + ".wav"):
                    if not os.path.isfile(os.path.join(run, name, file)):
                        parser.error(f"{os.path.join(run, name, file)} is missing: each run of {spec} needs "
                                     f"every source of {runs[0]}")
    rows = []
    print("| run | source | temperature | gain | RMS without -> with (seeds 3-5) | peak with |")
    print("|---|---|---:|---:|---|---:|")
    for spec in args.runs:
        choices = spec.split(",")
        with open(os.path.join(choices[0], "goals.json")) as f:
            sources = json.load(f)["sources"]
        for name in sources:
            run = better_on_validation(choices, name) if len(choices) > 1 else choices[0]
            row = measure(run, name)
            rows.append(row)
            print(f"| {os.path.basename(os.path.normpath(run))} | {name} | {row['temperature']:g} | {row['gain']:.2f} | "
                  f"{row['rms_without']:.2f}x -> {row['rms_with']:.2f}x | {row['peak_with']:.2f}x |", flush=True)

    def within(key):
        return sum(abs(20 * math.log10(row[key])) <= WITHIN_DB for row in rows)

    def median_db(key):
        return float(np.median([abs(20 * math.log10(row[key])) for row in rows]))

    print(f"within {WITHIN_DB:g} dB of the training part's RMS: {within('rms_without')} of {len(rows)} without the "
          f"gain, {within('rms_with')} with; median {median_db('rms_without'):.1f} dB off without, "
          f"{median_db('rms_with'):.1f} with")
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
