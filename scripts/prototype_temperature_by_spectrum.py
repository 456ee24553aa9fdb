"""Prototype: choose the generation temperature by the long-term spectrum among those that qualify.

``cwfast train`` keeps 0.5 when its audio qualifies (flatness within 3x and at least half the pitched
frames of the training audio, audible), and otherwise the qualifying temperature nearest the
training audio's loudness (:func:`cwfast.train_audio.calibrate_temperature`). The long-term
spectrum, the goals table's third likeness test, is not looked at. This prototype chooses, among the
qualifying temperatures, the one whose audio's long-term spectrum is nearest the training audio's
(the same generated clips, seed 0), and otherwise what the calibration chooses; then compares both
choices on 10 s generated with seeds 3, 4 and 5 (medians), as ``compare_temperature_grids.py`` does::

    python scripts/prototype_temperature_by_spectrum.py DIR ... [--json OUT [--overwrite]]

(docs/results.md, "The temperature by the long-term spectrum".) One thread; about 15 s a model.
"""

import argparse
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)
sys.path.insert(0, os.path.join(REPOSITORY_ROOT, "scripts"))

from cwfast import likeness, render  # noqa: E402
from cwfast.train_audio import CALIBRATION_SECONDS, calibrate_temperature  # noqa: E402

from compare_temperature_grids import check_runs, compare_all  # noqa: E402


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


def choose(model, training):
    calibration = calibrate_temperature(model, training / model.metadata["scale"])
    return {"current": calibration["chosen"], "by spectrum": by_spectrum(model, calibration, training)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="generation_goals.py --out folders")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    check_runs(parser, args.runs, args.json, args.overwrite)
    compare_all(args.runs, ["current", "by spectrum"], choose, args.json)


if __name__ == "__main__":
    main()
