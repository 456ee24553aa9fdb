"""Prototype, not built: the network's part of a levelled model's mixture means shrinking with the
level below the level band's floor (docs/results.md, "Scales that follow the surprise: built,
now the default", its last points).

A levelled model (:class:`cwfast.model.Level`) gives its component means as g(t) times (the
network's part plus its linear prediction), g the level b(t) held within the band [floor,
ceiling]. Below the floor g stays at the floor, so the network's part does not shrink with the
music (the prediction does: it reads the quiet input itself). This scores a trained model with
the network's part of every mean times rho(t) = min(b(t) / g(t), 1), without retraining, on the
validation and test parts of the audio it was trained on: bits per sample as it is and with
rho, each also with the model's surprise-following scale if it has one. One JSON line a model.

    python scripts/prototype_level_means.py MODEL.npz AUDIO.wav [MODEL.npz AUDIO.wav ...]

AUDIO must be the file the model was trained on, as trained, at the model's rate
(``generation_goals.py --out`` keeps it beside the model).
"""

import argparse
import json
import os
import sys

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import audio, tasks  # noqa: E402
from cwfast._head_kernels import _surprise_outputs  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.train_audio import check_training_audio  # noqa: E402


def shrunk_means(model, x):
    """The model's raw outputs over ``x`` (n, 1) from a zero state, without its surprise scale,
    and the same with the network's part of the means times rho."""
    k = model.n_out // 3
    plain = model.copy()
    plain.surprise = None
    y = plain.forward(x, raw=True)
    predicted = plain.copy()  # the linear prediction alone: the network's part of the means zeroed
    predicted.W_out[k : 2 * k] = 0
    predicted.b_out[k : 2 * k] = 0
    p = predicted.forward(x, raw=True)
    level = model.level
    b = level.levels(x[:, 0].astype(np.float64))
    rho = np.minimum(b / np.clip(b, level.floor, level.ceiling), 1.0)
    shrunk = y.copy()
    shrunk[:, k : 2 * k] = (p[:, k : 2 * k] + rho[:, None] * (y[:, k : 2 * k] - p[:, k : 2 * k])).astype(y.dtype)
    return y, shrunk


def measure(model_path, audio_path):
    model = cwfast.load(model_path)
    if model.level is None or model.output != "mixture":
        raise SystemExit(f"{model_path}: not a levelled mixture model")
    samples, _ = audio.load_audio(audio_path, sample_rate=model.sample_rate)
    check_training_audio(model, samples, model_path, audio_path)
    split = model.metadata.get("split", {})
    per = tasks.corpus([samples], validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                       history=model.metadata.get("history", "mu-law"))[0]
    parts = [per.train, per.validation, per.test]
    x = np.concatenate([p.inputs for p in parts])
    labels = np.concatenate([p.targets for p in parts])
    bounds = np.cumsum([0] + [p.n_steps for p in parts])
    y, shrunk = shrunk_means(model, x)
    row = {"model": model_path}
    for name, outputs in (("as_it_is", y), ("shrunk", shrunk)):
        versions = {name: outputs}
        if model.surprise is not None:  # the engine's own kernel, run over the whole clip from r = 1
            s = model.surprise
            moved = outputs[None].copy()
            _surprise_outputs(moved, np.ascontiguousarray(x[None, :, 0]), np.array([[1.0, 0.0, 0.0]]),
                              s.alpha, s.beta, 1.0 / s.mean)
            versions[name + "_with_surprise"] = moved[0]
        for key, out in versions.items():
            row[key] = [model.head.loss(out[lo:hi], labels[lo:hi]) / np.log(2)
                        for lo, hi in ((bounds[1], bounds[2]), (bounds[2], bounds[3]))]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="MODEL AUDIO")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give MODEL AUDIO pairs")
    for model_path, audio_path in zip(args.pairs[::2], args.pairs[1::2]):
        print(json.dumps(measure(model_path, audio_path)), flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path, a model of another kind: one line, not a traceback
        print(f"prototype_level_means.py: error: {error}", file=sys.stderr)
        sys.exit(2)
