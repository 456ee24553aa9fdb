"""What the surprise-following scale (``cwfast train``'s default since it was added) does to saved models.

For each MODEL.npz (an autoregressive mixture model) and the audio it was trained on, as
trained, at the model's rate: the model as ``cwfast train`` leaves it today before its last
step (its scale fitted on the validation part, :func:`cwfast.scale_fit.fit_scale`, if it was
saved without; any surprise-following scale it has set aside), then with the scale that
:func:`cwfast.scale_fit.fit_surprise` fits on the validation part; the validation and test
bits per sample of both (docs/results.md, "Scales that follow the surprise"). One JSON line per
model.

    python scripts/measure_surprise_fit.py MODEL.npz AUDIO.wav [MODEL.npz AUDIO.wav ...]

``generation_goals.py --out`` keeps each source's audio beside its models (``SOURCE/SOURCE.wav``).
"""

import argparse
import json

import cwfast
from cwfast import audio, tasks
from cwfast.scale_fit import fit_scale, fit_surprise
from cwfast.train_audio import state_before


def measure(model_path, audio_path):
    model = cwfast.load(model_path)
    model.surprise = None
    samples, _ = audio.load_audio(audio_path, sample_rate=model.sample_rate)
    split = model.metadata.get("split", {})
    per = tasks.corpus([samples], validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                       history=model.metadata.get("history", "mu-law"))[0]

    def held_out():
        return [(per.validation.inputs, per.validation.targets, state_before(model, per, "validation"))]

    def figures():
        return {part: tasks.evaluate(model, getattr(per, part), state=state_before(model, per, part))["bits_per_sample"]
                for part in ("validation", "test")}

    scale = model.metadata.get("scale_fit", {}).get("factor")
    if scale is None:
        scale = fit_scale(model, held_out())["factor"]
    before = figures()
    fit = fit_surprise(model, held_out())
    after = figures()
    return {"model": model_path, "scale": scale, "alpha": fit["alpha"], "beta": fit["beta"], "mean": fit["mean"],
            "validation": [before["validation"], after["validation"]], "test": [before["test"], after["test"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="MODEL AUDIO")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give MODEL AUDIO pairs")
    for model_path, audio_path in zip(args.pairs[::2], args.pairs[1::2]):
        print(json.dumps(measure(model_path, audio_path)), flush=True)


if __name__ == "__main__":
    main()
