"""Time the work ``cwfast train`` does after each run of an autoregressive model, step by step.

After a run trains, ``cwfast train`` (``train_audio``) gets the state before every clip's
validation part (``fitting_parts``), fits the mixture's scale and its surprise-following scale
on those parts (``fit_scale``, ``fit_surprise``), scores every clip's parts (``_figures``) and
chooses the generation temperature on the training audio (``calibrate``; ``calibrate_later``, as
every run after the first does, with the training audio's figures the first run measured). On a long corpus this
takes minutes a run, after the time budget's training. This script repeats those steps on a
trained model and the files it was trained on (each split as ``cwfast train`` split it, by the
model's metadata: by default its first 80% the training part, the next 10% validation, the last
10% test) and prints each step's wall seconds and what it found, so that a change to them can be timed and
checked to give the same figures (docs/benchmarks.md, sections 27, 29 and 30)::

    python scripts/bench_post_training.py MODEL.npz FILE [FILE ...] [--repeat N]

The model's own surprise-following scale is set aside first, as a run's model has none before
its fits. Run it on an otherwise idle machine, before and after a change, in alternation.
"""

import argparse
import os
import sys
import time

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import tasks, train_audio  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.likeness import Stretches  # noqa: E402
from cwfast.scale_fit import fit_scale, fit_surprise  # noqa: E402


def steps(model, files):
    """``[(step, seconds)]`` and ``{step: what it found}`` of one pass of the post-training work."""
    if tasks.mode_of(model) != "autoregressive" or model.output != "mixture":
        raise CwfastError("the model must be an autoregressive mixture model, as cwfast train's runs are")
    split = model.metadata.get("split", {})
    clips = [load_audio(f, sample_rate=model.sample_rate)[0] for f in files]
    # Other audio would be split, timed and scored as if it were the run's, without a word.
    trained = model.metadata.get("clips") or [model.metadata.get("length")]
    if None not in trained and [c.size for c in clips] != trained:  # (None: a model that does not say)
        raise CwfastError(f"the model was trained on {len(trained)} clip{'s' * (len(trained) > 1)} of "
                          f"{', '.join(map(str, trained))} samples at {model.sample_rate} Hz, and the files given have "
                          f"{', '.join(str(c.size) for c in clips)} there: give the audio it was trained on, in order "
                          "(trimmed with --trim?)")
    per_clip = tasks.corpus(clips, validation=split.get("validation", 0.1), test=split.get("test", 0.1),
                            n_classes=model.metadata.get("n_classes", 256),
                            history=model.metadata.get("history", "mu-law"))
    heard = Stretches([clip[: c.train.n_steps] for clip, c in zip(clips, per_clip)], model.metadata["scale"])
    model.surprise = None
    times, found = [], {}

    def timed(name, work):
        started = time.perf_counter()
        result = work()
        times.append((name, time.perf_counter() - started))
        return result

    parts = timed("fitting_parts", lambda: train_audio.fitting_parts(model, per_clip))
    found["fit_scale"] = timed("fit_scale", lambda: fit_scale(model, parts))
    found["fit_surprise"] = timed("fit_surprise", lambda: fit_surprise(model, parts))
    found["figures"] = timed("figures", lambda: train_audio._figures(model, per_clip))
    calibration = timed("calibrate", lambda: train_audio.calibrate(model, heard))
    found["calibrate"] = {k: calibration[k] for k in ("chosen", "output_gain")}
    # A later run's: cwfast train measures its training audio at the first run's calibration only.
    measured = calibration.get("training_audio")
    later = timed("calibrate_later", lambda: train_audio.calibrate(model, heard, measured=measured))
    found["calibrate_later"] = {k: later[k] for k in ("chosen", "output_gain")}
    return times, found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("files", nargs="+", metavar="FILE", help="the audio the model was trained on, in order")
    parser.add_argument("--repeat", type=int, default=1, help="passes, each from the saved model (default: 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    try:
        for _ in range(args.repeat):
            times, found = steps(cwfast.load(args.model), args.files)
            print(" ".join(f"{name} {seconds:.2f}" for name, seconds in times),
                  f"total {sum(s for _, s in times):.2f}")
            for name, result in found.items():
                print(f"  {name}: {result}")
    except CwfastError as error:
        parser.exit(2, f"bench_post_training.py: error: {error}\n")


if __name__ == "__main__":
    main()
