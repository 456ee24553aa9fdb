"""What the scale fits (``cwfast train``'s default since they were added) do to saved models.

For each MODEL.npz (an autoregressive mixture model) and the audio it was trained on, as
trained, at the model's rate: its validation and test bits per sample as saved, the factor
:func:`cwfast.scale_fit.fit_scale` fits on the validation part, and both figures with it
(docs/results.md, "The mixture's scale, fitted on validation"). One JSON line per model.

With ``--surprise``, the model as ``cwfast train`` now leaves it before its last step instead
(its scale fitted if it was saved without, any surprise-following scale set aside), then with
the one :func:`cwfast.scale_fit.fit_surprise` fits on the validation part: the figures of both,
and the rate and exponent chosen (docs/results.md, "Scales that follow the surprise").

    python scripts/measure_scale_fit.py [--surprise] MODEL.npz AUDIO.wav [MODEL.npz AUDIO.wav ...]

``generation_goals.py --out`` keeps each source's audio beside its models (``SOURCE/SOURCE.wav``).
"""

import argparse
import json
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import audio, tasks  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.scale_fit import fit_scale, fit_surprise  # noqa: E402
from cwfast.train_audio import check_training_audio, fitting_parts, state_before  # noqa: E402


def measure(model_path, audio_path, surprise=False):
    model = cwfast.load(model_path)
    model.surprise = None
    if "scale_fit" in model.metadata and not surprise:
        raise CwfastError(f"{model_path}: already fitted (factor {model.metadata['scale_fit']['factor']:.3g})")
    samples, _ = audio.load_audio(audio_path, sample_rate=model.sample_rate)
    check_training_audio(model, samples, model_path, audio_path)
    split = model.metadata.get("split", {})
    per = tasks.corpus([samples], validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                       history=model.metadata.get("history", "mu-law"))[0]

    def held_out():
        return fitting_parts(model, [per])

    def figures():
        return {part: tasks.evaluate(model, getattr(per, part), state=state_before(model, per, part))["bits_per_sample"]
                for part in ("validation", "test")}

    if surprise:
        factor = model.metadata.get("scale_fit", {}).get("factor")
        if factor is None:
            factor = fit_scale(model, held_out())["factor"]
        before = figures()
        fit = fit_surprise(model, held_out())
        row = {"model": model_path, "scale": factor, "alpha": fit["alpha"], "beta": fit["beta"], "mean": fit["mean"]}
    else:
        before = figures()
        fit = fit_scale(model, held_out())
        row = {"model": model_path, "factor": fit["factor"], "bounded": fit["bounded"]}
    after = figures()
    return row | {"validation": [before["validation"], after["validation"]], "test": [before["test"], after["test"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="MODEL AUDIO")
    parser.add_argument("--surprise", action="store_true",
                        help="measure the surprise-following scale, after the factor, instead of the factor")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give MODEL AUDIO pairs")
    for model_path, audio_path in zip(args.pairs[::2], args.pairs[1::2]):
        print(json.dumps(measure(model_path, audio_path, args.surprise)), flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path, a model of another kind: one line, not a traceback
        print(f"measure_scale_fit.py: error: {error}", file=sys.stderr)
        sys.exit(2)
