"""What the scale fit (``cwfast train``'s default since it was added) does to saved models.

For each MODEL.npz (an autoregressive mixture model) and the audio it was trained on, as
trained, at the model's rate: its validation and test bits per sample as saved, the factor
:func:`cwfast.scale_fit.fit_scale` fits on the validation part, and both figures with it
(docs/results.md, "The mixture's scale, fitted on validation"). One JSON line per model.

    python scripts/measure_scale_fit.py MODEL.npz AUDIO.wav [MODEL.npz AUDIO.wav ...]

``generation_goals.py --out`` keeps each source's audio beside its models (``SOURCE/SOURCE.wav``).
"""

import argparse
import json

import cwfast
from cwfast import audio, tasks
from cwfast.scale_fit import fit_scale
from cwfast.train_audio import state_before


def measure(model_path, audio_path):
    model = cwfast.load(model_path)
    if "scale_fit" in model.metadata:
        raise SystemExit(f"{model_path}: already fitted (factor {model.metadata['scale_fit']['factor']:.3g})")
    samples, _ = audio.load_audio(audio_path, sample_rate=model.sample_rate)
    split = model.metadata.get("split", {})
    per = tasks.corpus([samples], validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                       history=model.metadata.get("history", "mu-law"))[0]

    def figure(part):
        return tasks.evaluate(model, getattr(per, part), state=state_before(model, per, part))["bits_per_sample"]

    before = {part: figure(part) for part in ("validation", "test")}
    fit = fit_scale(model, [(per.validation.inputs, per.validation.targets, state_before(model, per, "validation"))])
    after = {part: figure(part) for part in ("validation", "test")}
    return {"model": model_path, "factor": fit["factor"], "bounded": fit["bounded"],
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
