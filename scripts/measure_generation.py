"""Print issue 12's likeness table: how much a model's generated audio sounds like its source.

For an autoregressive model and its source recording as it was trained on (one file, or several
concatenated in the order given, e.g. one FSDD speaker's takes; ``--trim`` if it was trained with
``--trim``: another length is warned of), both at the model's sample rate:

- generates ``--seconds`` (10) of audio with each of ``--seeds`` (by default the first three
  the model's temperature calibration did not draw with, whose audio chose the temperature:
  3, 4, 5 for models trained since 2026-12-07, 1, 2, 3 for those before and the bundled model;
  ``cwfast.train_audio.measuring_seeds``) through the command line,
  ``python -m cwfast generate`` (run from this repository's root, so that its ``cwfast`` is used),
  once per ``--temperature`` (default: the model's own);
- splits the source into a training part and a held-out stretch (the last ``--heldout``: the
  model's own test fraction, 10% by default, as
  ``cwfast train`` does with one file; a model trained on several files, each split on its own,
  is refused: train on the joined file, as ``scripts/generation_goals.py`` does) and prints, for
  the generated audio (median over seeds, and each seed), the training part and the held-out
  stretch: the LTAS distance to the training part, the spectral flatness and the pitched-frame
  fraction (``cwfast.likeness``), with the issue's goals, whose references are the training part's
  (never the held-out stretch the bits are scored on; before 2026-12-06 the whole source's), and
  the most common note's share of the pitched frames (``likeness.note_share``: 1 for a drone; no
  goal, since the issue set none, but the other measures do not see whether notes change);
- prints the held-out bits per sample of the model and of the 32-tap linear-predictor baseline
  (``cwfast.lpc``: adaptive Laplace scale; also a fixed Laplace and a fixed Gaussian scale) on the
  source's held-out stretch, both reading the past as the model does (its ``history``).

``--stretches N`` also cuts the training part into N equal stretches and measures each against the
rest of it: what real stretches of the music score, a steadier yardstick than one held-out stretch
(which may be the recording's fade-out), for the generated audio's LTAS distance to the training
part.

``--lpc-only`` skips the model and generation and prints only the baseline, for a recording at
``--sample-rate``. ``--trim`` first drops the 50-ms blocks at either end of the source whose RMS is
60 dB or more below the whole source's (silence and noise floor, not a fade), so that a silent
ending is not what the held-out stretch measures.

Examples::

    python scripts/measure_generation.py data/brahms-hungarian-dance-5.ogg --trim    # the bundled model
    python scripts/measure_generation.py data/brahms-hungarian-dance-5.ogg --trim --temperature 0.7,0.85,1
    python scripts/measure_generation.py --lpc-only --sample-rate 8000 FSDD/recordings/*_george_*.wav
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cwfast import likeness, lpc, render  # noqa: E402
from cwfast._atomic import check_output  # noqa: E402
from cwfast.errors import CwfastError, ParameterError  # noqa: E402
from cwfast.metadata import measuring_seeds  # noqa: E402
from cwfast.modes import MAX_TEMPERATURE  # noqa: E402
from cwfast.validate import MAX_COUNT  # noqa: E402
from cwfast.audio import load_audio, trim_silence  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", help="source recording(s), concatenated in this order")
    p.add_argument("-m", "--model", default=str(ROOT / "cwfast" / "models" / "default.npz"))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seeds", default=None,
                   help="comma-separated generation seeds (default: the first three the model's temperature "
                        "calibration did not generate with, whose audio chose the temperature: 3,4,5, or 1,2,3 "
                        "for a model calibrated before 2026-12-07 on seed 0)")
    p.add_argument("--temperature", default=None, help="comma-separated temperatures (default: the model's)")
    p.add_argument("--heldout", type=float, default=None,
                   help="held-out fraction at the end of the source (default: the model's own test fraction; "
                        "0.1 for --lpc-only or a model that stores none)")
    p.add_argument("--trim", action="store_true", help="drop blocks 60 dB below the source's RMS at both ends")
    p.add_argument("--lpc-only", action="store_true", help="only the linear-predictor baseline")
    p.add_argument("--sample-rate", type=int, default=None, help="rate for --lpc-only (default: the first file's)")
    p.add_argument("--keep", default=None, help="directory to keep the generated WAV files in (made if missing)")
    p.add_argument("--overwrite", action="store_true", help="replace WAV files an earlier run left in --keep")
    p.add_argument("--stretches", type=int, default=0,
                   help="also cut the source into this many equal stretches and measure each against the rest")
    args = p.parse_args(argv)
    # Every figure needs whole 2048-sample frames; checked here, not after minutes of generating.
    if args.heldout is not None and not (0.0 < args.heldout < 1.0):
        p.error(f"--heldout {args.heldout} must be a fraction between 0 and 1")
    if not (args.seconds > 0.0 and np.isfinite(args.seconds)):
        p.error(f"--seconds {args.seconds} must be positive")
    if args.stretches < 0 or args.stretches == 1:
        p.error(f"--stretches {args.stretches} must be 0 (none) or at least 2 (each is measured against the rest)")
    # (bounded as cwfast generate's --seed is: past it, generate failed after the header was printed)
    if args.seeds is not None:
        args.seeds = number_list(p, "--seeds", args.seeds, int, f"integers from 0 to {MAX_COUNT}",
                                 lambda v: 0 <= v <= MAX_COUNT)
    if args.temperature is not None:
        args.temperature = number_list(p, "--temperature", args.temperature, float,
                                       f"positive numbers up to {MAX_TEMPERATURE:g}",
                                       lambda v: 0.0 < v <= MAX_TEMPERATURE)
    if args.keep is not None and os.path.exists(args.keep) and not os.path.isdir(args.keep):
        p.error(f"--keep {args.keep!r} is a file; it names the directory to keep the generated audio in")
    if args.keep is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.keep))):
        p.error(f"--keep {args.keep!r}: the folder it would be made in does not exist")
    if args.sample_rate is not None and args.sample_rate <= 0:
        p.error(f"--sample-rate {args.sample_rate} must be a positive number of samples per second")
    return args


def number_list(p, option, text, kind, what, valid):
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(valid(v) for v in values) or len(set(values)) < len(values):
        p.error(f"{option} {text!r} must be comma-separated {what}, none repeated")
    return values


def load_sources(paths, rate):
    parts = []
    for path in paths:
        x, file_rate = load_audio(path, sample_rate=rate,
                                  on_resample=lambda note: print(f"measure_generation: {note}", file=sys.stderr))
        rate = rate or file_rate
        parts.append(x)
    joined = np.concatenate(parts)
    if not np.any(joined):  # else lpc's own words: "samples is silent"
        raise CwfastError(f"{', '.join(paths)}: silent (all zeros); there is nothing to measure")
    return joined, rate


def trim(x, rate):
    """Drop the 50-ms blocks at either end whose RMS is 60 dB or more below the whole clip's
    (``cwfast train --trim`` does the same: :func:`cwfast.audio.trim_silence`)."""
    return trim_silence(x, rate)


def repository_env(env=None):
    """``env`` (default: this process's) with the repository first on the import path, so that
    ``python -m cwfast`` started from the user's folder runs this checkout's cwfast."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def generate(model, seconds, seed, temperature, out):
    cmd = [sys.executable, "-m", "cwfast", "generate", "-m", model, "-o", out, "--seconds", str(seconds),
           "--seed", str(seed), "-q", "--overwrite"]
    if temperature is not None:
        cmd += ["--temperature", str(temperature)]
    subprocess.run(cmd, env=repository_env(), check=True, stdout=subprocess.DEVNULL)
    return load_audio(out)[0]


def generated_name(seed, temperature):
    """The file the audio generated with ``seed`` at ``temperature`` (None: the model's) is kept in."""
    return f"gen-seed{seed}" + ("" if temperature is None else f"-t{temperature:g}") + ".wav"


def model_bits(model_path, source, heldout):
    """Held-out bits/sample of the model on the source's last 10%, from the state the rest leaves."""
    import cwfast
    from cwfast import tasks

    from cwfast.render import classes_of, history_of

    model = cwfast.load(model_path)
    # (the classes generation uses: a mixture without the key scores 256, not its n_out outputs)
    # (one clip's corpus: scaled as cwfast train scales it, by its peak before the held-out part)
    train, _, test = tasks.corpus([source], n_classes=classes_of(model), history=history_of(model), test=heldout)[0]
    return tasks.evaluate(model, test, state=tasks.final_state(model, train))["bits_per_sample"]


def _share(x, rate):
    """:func:`cwfast.likeness.note_share`, NaN where no frame is pitched (a table's cell, not a goal)."""
    share = likeness.note_share(x, rate)
    return math.nan if share is None else share


def _share_text(share):
    return "- (none pitched)" if math.isnan(share) else f"{share:.2f}"


def stretch_rows(source, rate, n):
    """Each of n equal stretches of the source against the rest: rows of (LTAS distance to the
    rest in dB, flatness, pitched fraction), shape (n, 3)."""
    size = source.size // n
    rows = []
    for i in range(n):
        piece = source[i * size : (i + 1) * size]
        rest = np.concatenate([source[: i * size], source[(i + 1) * size :]])
        m = likeness.measure(piece, rate)
        rows.append((likeness.ltas_distance(piece, rest), m["flatness"], m["pitched"]))
    return np.array(rows)


def print_stretches(source, rate, n):
    """Each of n equal stretches of ``source`` (the training part) against the rest: what real music scores."""
    size = source.size // n
    rows = stretch_rows(source, rate, n)
    print(f"the training part cut into {n} stretches of {size / rate:.2f} s, each against the rest of it "
          f"(1.3x their median LTAS distance: {1.3 * np.median(rows[:, 0]):.2f} dB, a steadier bound than "
          "the held-out stretch's)\n")
    print("| stretch (s) | LTAS distance to the rest (dB) | flatness | pitched |\n|---|---|---|---|")
    for i, (ltas, flatness, pitched) in enumerate(rows):
        print(f"| {i * size / rate:.1f}-{(i + 1) * size / rate:.1f} | {ltas:.2f} | {flatness:.4f} | {pitched:.2f} |")
    print("| median (min-max) | " + " | ".join(
        f"{np.median(rows[:, j]):.{d}f} ({rows[:, j].min():.{d}f}-{rows[:, j].max():.{d}f})"
        for j, d in ((0, 2), (1, 4), (2, 2))) + " |\n")


def _alpha_text(alpha):
    """The adaptive scale's rate as the tables print it: 1/N, or 0 for a fixed scale."""
    return f"1/{round(1 / alpha)}" if alpha else "0"


def print_lpc(out, source, rate, label):
    print(f"| {label} | {rate} | {source.size / rate:.1f} | {out['n_test'] / rate:.2f} | "
          f"{out['bits_per_sample']:.3f} | {_alpha_text(out['alpha'])} | "
          f"{out['fixed_bits_per_sample']:.3f} | {out['gaussian_bits_per_sample']:.3f} |")
    return out


LPC_HEADER = ("| source | rate (Hz) | length (s) | held out (s) | LPC-32 adaptive Laplace | alpha | fixed Laplace | "
              "fixed Gaussian |\n|---|---|---|---|---|---|---|---|")


def _note(text):
    print(f"measure_generation: {text}", file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    label = ", ".join(os.path.basename(p) for p in args.sources[:3]) + (
        f" and {len(args.sources) - 3} more" if len(args.sources) > 3 else "")
    if args.lpc_only:
        args.heldout = 0.1 if args.heldout is None else args.heldout
        source, rate = load_sources(args.sources, args.sample_rate)
        if args.trim:
            source = trim(source, rate)
        # Fitted on everything before the held-out part, as the issue measured it (its 6.03 for the
        # excerpt's fixed Gaussian); the table against a model below holds out the model's
        # validation part too, as the model did.
        base = lpc.split_baseline(source, validation=0.0, test=args.heldout)  # before any output
        print("held-out bits per 8-bit mu-law sample (last "
              f"{args.heldout:.0%} held out, fitted on all before it{', silence trimmed' if args.trim else ''})\n")
        print(LPC_HEADER)
        print_lpc(base, source, rate, label)
        return 0

    import cwfast
    from cwfast.render import history_of

    model = cwfast.load(args.model)
    rate, history = model.sample_rate, history_of(model)
    if not rate:
        raise CwfastError("the model stores no sample rate")
    if model.metadata.get("mode") != "autoregressive":
        raise CwfastError(f"the model's mode is {model.metadata.get('mode')!r}; this script measures an "
                          "autoregressive model's generated audio")
    if len(model.metadata.get("clips") or ()) > 1:
        # cwfast train holds out the end of each file; this script holds out the end of the joined
        # source, which would score such a model partly on audio it trained on.
        raise CwfastError(f"the model was trained on {len(model.metadata['clips'])} files, each split on its own; "
                          "this script measures a model trained on one file (join them first, as "
                          "scripts/generation_goals.py does)")
    # The model's own test fraction: another would score it partly on audio it trained on.
    test = (model.metadata.get("split") or {}).get("test")
    if args.heldout is None:
        args.heldout = test if isinstance(test, float) and 0.0 < test < 1.0 else 0.1
    elif isinstance(test, float) and args.heldout < test:
        _note(f"--heldout {args.heldout:g} is less than the model's test fraction {test:g}: part of what is scored "
              "as held out was held out from training too, but not all of the test part is scored")
    elif isinstance(test, float) and args.heldout > test:
        _note(f"--heldout {args.heldout:g} is more than the model's test fraction {test:g}: what is scored as held "
              "out includes audio the model trained or chose its epoch on")
    source, _ = load_sources(args.sources, rate)
    if args.trim:
        source = trim(source, rate)
    # The held-out stretch is the end of the source given: of another length than the model trained
    # on (a part of it, the untrimmed recording of a trimmed model), that end is not what it held out.
    length = model.metadata.get("length")
    if isinstance(length, int) and length != source.size:
        _note(f"the model was trained on {length} samples at {rate} Hz and the source has {source.size} there"
              f"{'' if args.trim else ' (--trim drops its silent ends, as cwfast train --trim does)'}: what is "
              "scored as held out is not the end of its training audio, and may be audio it trained on")
    cut = source.size - int(round(source.size * args.heldout))
    train, held = source[:cut], source[cut:]
    frame = likeness.MIN_SAMPLES  # every figure needs a whole frame: said now, not after generating
    for what, n in ((f"--seconds {args.seconds:g}", round(args.seconds * rate)), ("the held-out stretch", held.size),
                    (f"each of --stretches {args.stretches}", train.size // max(args.stretches, 1))):
        if n < frame:
            raise CwfastError(f"{what} holds {n} samples at {rate} Hz; the measures need at least {frame}")
    seeds = list(measuring_seeds(model)) if args.seeds is None else args.seeds
    temperatures = [None] if args.temperature is None else args.temperature

    src = likeness.measure(train, rate)  # the references: the training part's, never the held-out stretch's
    try:
        ref = likeness.measure(held, rate)
    except ParameterError as error:
        hint = "" if args.trim else " (--trim cuts the recording's silent ends off)"
        raise CwfastError(f"the held-out stretch, the last {held.size / rate:.2f} s, cannot be measured: "
                          f"{error}{hint}") from None
    ref_ltas = likeness.ltas_distance(held, train)
    train_share, held_share = _share(train, rate), _share(held, rate)  # (once, not per temperature)
    if args.keep is not None:  # made, and found writable, before anything is printed or generated
        try:
            os.makedirs(args.keep, exist_ok=True)
        except OSError as error:
            raise CwfastError(f"cannot make --keep {args.keep!r}: {error.strerror or error}") from None
        for temperature in temperatures:
            for seed in seeds:
                check_output(os.path.join(args.keep, generated_name(seed, temperature)), args.overwrite, what="audio")
    print(f"model {os.path.relpath(args.model, ROOT)} at {rate} Hz; source {label}: {source.size / rate:.1f} s"
          f"{' (silence trimmed)' if args.trim else ''}, held-out stretch the last {held.size / rate:.2f} s; "
          f"{args.seconds:g} s generated per seed, seeds {', '.join(map(str, seeds))}\n")
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or tmp
        for temperature in temperatures:
            rows = []
            for seed in seeds:
                g = generate(args.model, args.seconds, seed, temperature,
                             os.path.join(directory, generated_name(seed, temperature)))
                try:
                    m = likeness.measure(g, rate)
                except CwfastError as error:  # generated audio the measures cannot use: a failure, not bad input
                    raise RuntimeError(f"the audio of seed {seed}: {error}") from None
                rows.append((likeness.ltas_distance(g, train), m["flatness"], m["pitched"], _share(g, rate)))
            rows = np.array(rows)
            med = np.median(rows, axis=0)
            each = lambda i, d: " / ".join(f"{v:.{d}f}" for v in rows[:, i])  # noqa: E731
            t = "the model's" if temperature is None else f"{temperature:g}"
            print(f"temperature {t}\n")
            print("| figure | generated (median) | seeds " + ", ".join(map(str, seeds))
                  + " | training part | held-out stretch | goal | met |")
            print("|---|---|---|---|---|---|---|")
            print(f"| LTAS distance to the training part (dB) | {med[0]:.2f} | {each(0, 2)} | - | {ref_ltas:.2f} | "
                  f"<= {1.3 * ref_ltas:.2f} (1.3x held-out) | {'yes' if med[0] <= 1.3 * ref_ltas else 'no'} |")
            ratio = med[1] / src["flatness"]
            print(f"| spectral flatness | {med[1]:.4f} | {each(1, 4)} | {src['flatness']:.4f} | {ref['flatness']:.4f} "
                  f"| {src['flatness'] / 3:.4f} to {3 * src['flatness']:.4f} (3x) | "
                  f"{'yes' if 1 / 3 <= ratio <= 3 else 'no'} ({ratio:.1f}x) |")
            print(f"| pitched-frame fraction | {med[2]:.2f} | {each(2, 2)} | {src['pitched']:.2f} | {ref['pitched']:.2f} "
                  f"| >= {0.5 * src['pitched']:.2f} (0.5x) | {'yes' if med[2] >= 0.5 * src['pitched'] else 'no'} |")
            shares = [_share_text(v) for v in (med[3], *rows[:, 3], train_share, held_share)]
            print(f"| the most common note's share of the pitched frames (1: a drone) | {shares[0]} | "
                  f"{' / '.join(shares[1:-2])} | {shares[-2]} | {shares[-1]} | - (no goal) | - |")
            print()
    if args.stretches:
        print_stretches(train, rate, args.stretches)
    # The model's own split (the validation part, which chose its epoch, not fitted on) and classes:
    # the baseline scored on the very samples the model's test figure is.
    split = model.metadata.get("split") or {}
    base = lpc.split_baseline(source, validation=split.get("validation", args.heldout), test=args.heldout,
                              history=history, n_classes=render.classes_of(model))
    ours = model_bits(args.model, source, args.heldout)
    print("held-out bits per 8-bit mu-law sample on the source's last "
          f"{args.heldout:.0%} ({base['n_test']} samples)\n")
    print("| predictor | bits/sample |\n|---|---|")
    print(f"| the model (state from the training part) | {ours:.3f} |")
    print(f"| LPC-32 reading the model's {history} history, adaptive Laplace scale (alpha "
          f"{_alpha_text(base['alpha'])}) | "
          f"{base['bits_per_sample']:.3f} |")
    print(f"| LPC-32, fixed Laplace scale | {base['fixed_bits_per_sample']:.3f} |")
    print(f"| LPC-32, fixed Gaussian | {base['gaussian_bits_per_sample']:.3f} |")
    print(f"\ngoal: the model >= 0.5 bit below the adaptive LPC ({base['bits_per_sample'] - 0.5:.3f}): "
          f"{'met' if ours <= base['bits_per_sample'] - 0.5 else 'not met'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # ParameterError too: a bad file or argument, said in one line
        print(f"measure_generation: {error}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        sys.exit(f"measure_generation: cwfast generate failed (exit {error.returncode})")
    except RuntimeError as error:
        sys.exit(f"measure_generation: {error}")
