"""Prototype, not engine code: an output equaliser fitted on the training audio alone.

The generated audio of the goal sources' models is darker than its source (docs/results.md,
"Generation likeness"): too little above 1 kHz, the long-term spectrum 8-9 dB from vibe-ace's and
5-7 dB from FSDD's. This asks how much of that a fixed filter on the output would mend, fitted
the way the temperature is chosen: from 10 s the model generates with seed 0 at its temperature
and the training part of its source (never the held-out parts), then applied to other
generated clips. The filter is linear phase, 255 taps, its gain per 1024-point Welch bin the
difference of the two long-term spectra in dB, smoothed over 15 bins and held within +-24 dB.
It is not fed back into the model: the network still hears what it generated.

For each source of a ``scripts/generation_goals.py --out DIR`` run, it reads DIR/NAME/NAME.wav
(the source as trained), DIR/NAME/cw.npz and the generated DIR/NAME/cw-seed*.wav, and prints the
three likeness figures before and after the filter, with the goals from DIR/goals.json::

    python scripts/prototype_output_eq.py DIR [DIR ...]
"""

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from compare_temperature_grids import check_runs  # noqa: E402
from generation_goals import read_run  # noqa: E402
from cwfast import likeness  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast import render  # noqa: E402

TAPS = 255
SMOOTH_BINS = 15
MAX_DB = 24.0
FIT_SECONDS = 10.0


def fit_filter(model, training):
    """The output filter's taps, from the model's seed-0 audio at its temperature and ``training``."""
    rate = int(model.sample_rate)
    generated = model.sample(int(FIT_SECONDS * rate), values=render.feedback_values(model, 256),
                             temperature=model.metadata.get("temperature", 0.5), seed=0)
    gain_db = likeness.ltas(training) - likeness.ltas(generated)  # bins 1..512
    gain_db = np.convolve(gain_db, np.ones(SMOOTH_BINS) / SMOOTH_BINS, mode="same")
    gain_db = np.clip(gain_db, -MAX_DB, MAX_DB)
    response = 10.0 ** (np.concatenate([gain_db[:1], gain_db]) / 20.0)  # DC as the first bin
    impulse = np.roll(np.fft.irfft(response, 1024), TAPS // 2)[:TAPS]
    return impulse * np.hanning(TAPS + 2)[1:-1]


def figures(audio, source, rate):
    measured = likeness.measure(audio, rate)
    return likeness.ltas_distance(audio, source), measured["flatness"], measured["pitched"]


def run(directory):
    for name, result, model, source in read_run(directory):
        rate = int(model.sample_rate)
        split = model.metadata["split"]
        training = source[: int(round(source.size * (1 - split["validation"] - split["test"])))]
        taps = fit_filter(model, training)
        before, after = [], []
        for path in sorted(glob.glob(os.path.join(directory, name, "cw-seed*.wav"))):
            audio, _ = load_audio(path)
            before.append(figures(audio, source, rate))
            after.append(figures(np.convolve(audio, taps, mode="same"), source, rate))
        like = result["likeness"]
        goals = (1.3 * like["stretches"]["median_ltas_to_rest"], like["source"]["flatness"],
                 0.5 * like["source"]["pitched"])
        for label, rows in (("as generated", before), ("filtered", after)):
            ltas, flatness, pitched = np.median(np.asarray(rows), axis=0)
            met = (ltas <= goals[0], 1 / 3 <= flatness / goals[1] <= 3, pitched >= goals[2])
            print(f"{directory} {name:13s} {label:13s} LTAS {ltas:5.2f} dB (goal {goals[0]:.2f}), flatness "
                  f"{flatness / goals[1]:6.2f}x, pitched {pitched:.2f} (goal {goals[2]:.2f}): {sum(met)} of 3 met")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directories", nargs="+", help="--out folders of scripts/generation_goals.py")
    directories = p.parse_args(argv).directories
    check_runs(p, directories)
    for directory in directories:
        run(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
