"""Where in its held-out parts a model gains or loses its bits: per stretch of the validation and
test parts (a quarter of a second by default), the audio's RMS and, for each model, its bits per
sample and the spread it predicts (a mixture model's weight-averaged logistic scale, as an
amplitude; the median over the stretch), models side by side (docs/results.md, "Where the
Clockwork RNN loses its held-out bits: the recordings' quiet endings").

    python scripts/held_out_by_time.py AUDIO.wav MODEL.npz [MODEL.npz ...] [--block 0.25]

Every model must be an autoregressive model trained on AUDIO as it is, at one sample rate and with
one split (``generation_goals.py --out`` keeps each source's audio beside its models:
``SOURCE/SOURCE.wav``, ``cw.npz``, ``lstm.npz``). A part's last row is the whole part, which is
the figure ``cwfast train`` reports for it.
"""

import argparse
import math
import os
import sys

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import audio, render, tasks  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.train_audio import check_training_audio  # noqa: E402


def run(model, samples):
    """The model over ``samples``' train, validation and test parts from a zero state: its raw
    outputs, the labels, and where each held-out part starts and ends (a part the model's split
    has none of, or the audio is too short for, is left out)."""
    split = model.metadata.get("split", {})
    per = tasks.corpus([samples], validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                       n_classes=render.classes_of(model), history=model.metadata.get("history", "mu-law"))[0]
    parts = {name: part for name, part in (("train", per.train), ("validation", per.validation), ("test", per.test))
             if part is not None}
    if parts.keys() <= {"train"}:
        raise CwfastError(f"{samples.size} samples split as the model was trained ({split or 'the defaults'}) "
                          "leave no validation or test part to score")
    outputs = model.forward(np.concatenate([p.inputs for p in parts.values()]), raw=True)
    labels = np.concatenate([p.targets for p in parts.values()])
    bounds = np.cumsum([0] + [p.n_steps for p in parts.values()])
    where = {name: (bounds[i], bounds[i + 1]) for i, name in enumerate(parts)}
    return outputs, labels, {name: where[name] for name in ("validation", "test") if name in where}


def spread(model, outputs):
    """Per step, a mixture model's weight-averaged scale (None for another head)."""
    if model.head.name != "mixture":
        return None
    finished = model.head.finish(outputs)
    k = finished.shape[-1] // 3
    return (finished[:, :k] * finished[:, 2 * k :]).sum(axis=1)


def table(audio_path, model_paths, block_seconds):
    """Rows (part, start in seconds, steps, RMS, [(bits, median spread or None) per model]), each
    part's last row the whole part (start None)."""
    models = [cwfast.load(path) for path in model_paths]
    for path, model in zip(model_paths, models):
        if tasks.mode_of(model) != "autoregressive":
            raise CwfastError(f"'{path}' is of mode {tasks.mode_of(model)!r}; this script scores autoregressive models")
    rates = {m.sample_rate for m in models}
    if len(rates) != 1 or None in rates:
        raise CwfastError(f"the models must share one sample rate (they have {sorted(map(str, rates))})")
    rate = rates.pop()
    samples, _ = audio.load_audio(audio_path, sample_rate=rate)
    for path, model in zip(model_paths, models):
        check_training_audio(model, samples, path, audio_path, "this script scores")
    runs = []
    for model in models:
        outputs, labels, parts = run(model, samples)
        runs.append((model, outputs, labels, parts, spread(model, outputs)))
    if len({tuple(map(tuple, r[3].values())) for r in runs}) != 1:
        raise CwfastError("the models were trained with different splits: their parts differ")
    block = max(1, int(round(block_seconds * rate)))
    rows = []
    for part, (lo, hi) in runs[0][3].items():
        starts = list(range(lo, hi, block)) + [None]
        for start in starts:
            a, b = (lo, hi) if start is None else (start, min(start + block, hi))
            figures = []
            for model, outputs, labels, _, spreads in runs:
                bits = model.head.loss(outputs[a:b], labels[a:b]) / math.log(2)
                figures.append((bits, None if spreads is None else float(np.median(spreads[a:b]))))
            # The target of step t is sample t of the audio (its input, sample t - 1).
            level = float(np.sqrt(np.mean(np.square(samples[a:b], dtype=np.float64))))
            rows.append((part, None if start is None else a / rate, b - a, level, figures))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio")
    parser.add_argument("models", nargs="+", metavar="MODEL")
    parser.add_argument("--block", type=float, default=0.25, help="seconds a row covers (default: 0.25)")
    args = parser.parse_args(argv)
    if not 0 < args.block < math.inf:
        parser.error(f"--block must be a positive number of seconds, not {args.block}")
    try:
        rows = table(args.audio, args.models, args.block)
    except CwfastError as error:
        parser.exit(2, f"held_out_by_time.py: error: {error}\n")
    names = [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(p))), os.path.basename(p))
             for p in args.models]
    print("| part | from (s) | RMS | " + " | ".join(f"{n}: bits, spread" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for part, start, _, level, figures in rows:
        cells = [f"{bits:.3f}, " + ("-" if s is None else f"{s:.4f}") for bits, s in figures]
        where = "whole part" if start is None else f"{start:.2f}"
        print(f"| {part} | {where} | {level:.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
