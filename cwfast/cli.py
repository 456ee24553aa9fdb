"""The ``cwfast`` command line: parses arguments, calls the public API, prints, sets exit codes.

``cwfast train`` fits a Clockwork RNN to audio in one of three modes (see :mod:`cwfast.tasks`),
``cwfast generate`` makes audio with a trained model (or the default model bundled in the package),
``cwfast process`` runs an effect model over a file, ``cwfast info`` describes a model and
``cwfast bench`` (from :mod:`cwfast.bench`) measures speed. ``python -m cwfast`` is the same program.

Conventions: progress bars (tqdm) and notes go to stderr, results to stdout; every user mistake ends
with one line ``cwfast: error: ...`` on stderr and exit status 2, Ctrl-C with status 130, and no
command leaves a half-written file behind or replaces an existing one without ``--overwrite``.
Numba-heavy modules are imported inside the subcommands that need them, so ``cwfast --help`` does
not compile or load any kernel. There is no arithmetic here: tasks, metrics and audio conversion
live in :mod:`cwfast.tasks` and :mod:`cwfast.audio`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from .errors import CwfastError, ParameterError

MODES = ("memorize", "autoregressive", "effect")
TRAINERS = ("adam", "sgd", "es")

# Per-mode defaults, chosen by measurement (README, "What each mode is good for"). ``None`` leaves
# the choice to the trainer. ``window`` is the truncated-BPTT window for clips longer than it;
# memorize trains on full BPTT, since with no input a window edge cuts the only path to the past.
# Memorize sizes grow with clips longer than the paper's (tasks.memorize_size).
MODE_DEFAULTS = {
    "memorize": {"hidden": 40, "modules": 9, "epochs": 2000, "lr": None, "window": None, "batch_size": None,
                 "validation": 0.0},
    "autoregressive": {"hidden": 64, "modules": 8, "epochs": 30, "lr": 0.01, "window": 256, "batch_size": 8,
                       "validation": 0.1},
    "effect": {"hidden": 32, "modules": 8, "epochs": 50, "lr": 0.01, "window": 2048, "batch_size": 8,
               "validation": 0.1},
}

DEFAULT_MODEL = "the bundled default model"
#: Above this many scored steps per generation, ``train --trainer es`` warns that it will be slow
#: (at population 256, 8192 steps of the memorize model are about 0.2 s a generation).
ES_LONG_STEPS = 8192


# ----------------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (with a pointer to --help), exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive integer")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a non-negative integer")
    return value


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number")
    return value


def _positive_float(text):
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _non_negative_float(text):
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be zero or positive")
    return value


def _fraction(text):
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1)")
    return value


def _periods(text):
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be a comma-separated list of positive integers, e.g. 1,2,4,8")
    try:
        return [_positive_int(p) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a comma-separated list of positive integers, e.g. 1,2,4,8"
        ) from None


def _subtype(text):
    from .audio import WRITE_SUBTYPES  # soundfile and scipy, but no numba

    value = text.upper().replace("-", "_")
    value = {"PCM16": "PCM_16", "PCM24": "PCM_24", "16": "PCM_16", "24": "PCM_24", "32": "FLOAT"}.get(value, value)
    if value not in WRITE_SUBTYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(s.lower() for s in WRITE_SUBTYPES)}")
    return value


def _add_length(parser, what):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--samples", type=_positive_int, metavar="N", help=f"{what}, in samples")
    group.add_argument("--seconds", type=_positive_float, metavar="S", help=f"{what}, in seconds")


def build_parser():
    """The argument parser of ``cwfast`` (the bench subcommand's options are added on demand)."""
    # --quiet works before and after the command; SUPPRESS keeps a subcommand's default from
    # overwriting "cwfast --quiet COMMAND".
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")

    parser = _Parser(
        prog="cwfast",
        description="Clockwork RNNs on the CPU: train on audio, generate audio, process audio.",
        epilog="Run 'cwfast COMMAND --help' for a command's options. "
        "Quick start: cwfast generate -o demo.wav",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    # train
    p = commands.add_parser(
        "train", parents=[common], help="train a model on audio",
        description="Train a Clockwork RNN on audio and save it. memorize: learn to emit the clip from the "
        "clock alone (the paper's task); autoregressive: learn to continue audio, sample by sample; effect: "
        "learn the mapping from dry AUDIO to the processed --target.",
    )
    p.add_argument("audio", metavar="AUDIO", help="training audio (WAV, FLAC, OGG, ...); the dry input in effect mode")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="where to save the model (.npz)")
    p.add_argument("--mode", choices=MODES, default="memorize", help="what to learn (default: memorize)")
    p.add_argument("--target", metavar="WET", help="effect mode: the processed version of AUDIO, time-aligned")
    p.add_argument("--arch", choices=("cw", "srn", "lstm"), default="cw",
                   help="cw: Clockwork RNN (default); srn (simple RNN) or lstm: the paper's baselines, for comparison")
    p.add_argument("--hidden", type=_positive_int, metavar="N",
                   help="hidden units (default: 40 memorize, more for clips over 1024 samples; 64 autoregressive; 32 effect)")
    p.add_argument("--modules", type=_positive_int, metavar="G",
                   help="clock modules, periods 1, 2, 4, ... (default: 9 memorize, more for long clips; 8 otherwise)")
    p.add_argument("--periods", type=_periods, metavar="LIST", help="clock periods, e.g. 1,2,4,8 (one per module)")
    p.add_argument("--trainer", choices=TRAINERS, default="adam", help="adam (default), sgd (Nesterov, as the paper) or es")
    p.add_argument("--epochs", type=_positive_int, metavar="E",
                   help="passes over the data; generations for es (default: 2000 memorize, 30 autoregressive, 50 effect)")
    p.add_argument("--lr", type=_positive_float, metavar="LR",
                   help="learning rate (default: 0.01 for autoregressive, effect and es; for memorize with "
                   "adam or sgd, the trainer's own)")
    p.add_argument("--population", type=_positive_int, metavar="P",
                   help="es: members per generation, even (default: 256)")
    p.add_argument("--sigma", type=_positive_float, metavar="S", help="es: noise scale of the members (default: 0.01)")
    p.add_argument("--cluster", choices=("local", "ray"),
                   help="es: score the members here (local, default) or on Ray actors: the cluster named by "
                   "RAY_ADDRESS, else a local Ray (pip install 'cwfast[cluster]'); the same model either way")
    p.add_argument("--batch-size", type=_positive_int, metavar="B", help="streams trained side by side (long audio; default 8 for autoregressive and effect, fewer "
                   "if the clip is too short for 8 streams of whole clock cycles)")
    p.add_argument("--window", type=_positive_int, metavar="W", help="truncated BPTT window in samples (long audio)")
    p.add_argument("--start", type=_non_negative_float, default=0.0, metavar="SECONDS",
                   help="where the excerpt starts (default: 0)")
    _add_length(p, "excerpt length (default: to the end of the file)")
    p.add_argument("--sample-rate", type=_positive_int, metavar="HZ",
                   help="resample the audio to this rate first (default: the file's own rate)")
    p.add_argument("--validation", type=_fraction, metavar="FRACTION",
                   help="hold out this last part of the clip to measure on (default: 0.1; 0 for memorize)")
    p.add_argument("--classes", type=_positive_int, metavar="K",
                   help="autoregressive: mu-law classes (default: 256)")
    p.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="seed of weights and batches (default: 0)")
    p.add_argument("--checkpoint", metavar="PATH", help="write a checkpoint here every 100 updates, at the end and on Ctrl-C")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint (same options; --epochs may grow)")
    p.add_argument("--plot", metavar="FILE.png", help="plot target and output waveforms and spectrograms (needs matplotlib)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_train)

    # generate
    p = commands.add_parser(
        "generate", parents=[common], help="generate audio with a model (default: the bundled one)",
        description="Generate audio with a memorize or autoregressive model. Without -m it uses the default "
        "model bundled with cwfast, an autoregressive model of a Brahms excerpt.",
    )
    p.add_argument("-m", "--model", metavar="MODEL", help="a model saved by 'cwfast train' (default: the bundled model)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the audio file to write (.wav or .flac)")
    _add_length(p, "length (default: the trained length for memorize models, 5 s for autoregressive ones)")
    p.add_argument("--seed", type=_non_negative_int, metavar="S", help="sampling seed (default: random; printed)")
    p.add_argument("--temperature", type=_non_negative_float, metavar="T",
                   help="autoregressive sampling temperature: 0 always takes the likeliest sample, "
                   "1 samples as trained (default: the model's, else 1)")
    p.add_argument("--prime", metavar="AUDIO", help="autoregressive: continue this audio (its state is set by teacher forcing)")
    p.add_argument("--sample-rate", type=_positive_int, metavar="HZ", help="for models that do not store a sample rate")
    p.add_argument("--subtype", type=_subtype, metavar="TYPE", help="float, pcm_16 or pcm_24 (default: float for WAV)")
    p.add_argument("--plot", metavar="FILE.png", help="plot the waveform and spectrogram (needs matplotlib)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_generate)

    # process
    p = commands.add_parser(
        "process", parents=[common], help="run an effect model over an audio file",
        description="Run an effect (input-driven) model over a file, block by block through a Stream.",
    )
    p.add_argument("-m", "--model", required=True, metavar="MODEL", help="an effect model saved by 'cwfast train'")
    p.add_argument("input", metavar="IN", help="the audio to process")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the audio file to write (.wav or .flac)")
    p.add_argument("--block", type=_positive_int, default=4096, metavar="N", help="block size in samples (default: 4096)")
    p.add_argument("--subtype", type=_subtype, metavar="TYPE", help="float, pcm_16 or pcm_24 (default: float for WAV)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_process)

    # info
    p = commands.add_parser(
        "info", parents=[common], help="describe a model",
        description="Print a model's architecture, size, sample rate, mode and the training figure it reached.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help="a model file (default: the bundled model)")
    p.set_defaults(func=cmd_info)

    # bench: its options come from cwfast.bench, added only when the command is bench (see main)
    p = commands.add_parser("bench", parents=[common], help="measure speed (microseconds per sample, times real time)",
                            description="Measure how fast models stream through Stream.process, one thread: microseconds per "
                            "sample and times real time. Without -m: Clockwork RNNs of 64, 256 and 1024 units in 8 "
                            "modules next to SRNs of the same widths.")
    p.set_defaults(func=cmd_bench)
    parser.bench_parser = p
    return parser


def _command_of(argv):
    """The subcommand named in ``argv`` (the first word that is not an option), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def _load_bench():
    import importlib

    try:
        bench = importlib.import_module(f"{__package__}.bench")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.bench":
            raise CwfastError("the bench command is not available in this installation (cwfast.bench is missing)") from None
        raise
    return bench


# ----------------------------------------------------------------------------------- helpers


def _note(message):
    """A one-line note to the user on stderr (resampling, free-running, ...)."""
    print(f"cwfast: {message}", file=sys.stderr)


def _progress(args, total, desc, unit="sample"):
    from tqdm.auto import tqdm

    # delay: a bar appears only for work that takes more than a second.
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, disable=args.quiet,
                delay=1.0, leave=False, dynamic_ncols=True)


def _check_output(path, overwrite, *, audio=False):
    """Fail early, before any work, if ``path`` cannot or must not be written."""
    if audio:
        from .audio import WRITE_FORMATS

        extension = os.path.splitext(path)[1].lower()
        if extension not in WRITE_FORMATS:
            raise ParameterError(f"'{path}' must end in {' or '.join(WRITE_FORMATS)}")
    if os.path.isdir(path):
        raise CwfastError(f"cannot write '{path}': it is a directory")
    if os.path.lexists(path) and not overwrite:
        raise CwfastError(f"'{path}' exists; pass --overwrite to replace it")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise CwfastError(f"cannot write '{path}': directory '{directory}' does not exist")


def _check_plot(args):
    if getattr(args, "plot", None):
        from .plot import require_matplotlib

        _, canvas = require_matplotlib()
        extension = os.path.splitext(args.plot)[1].lower().lstrip(".")
        formats = canvas.get_supported_filetypes()
        if extension not in formats:
            # Checked here, not by matplotlib after training: a bad name must not cost the run.
            raise ParameterError(f"--plot '{args.plot}' must end in an image extension matplotlib writes "
                                 f"({', '.join('.' + f for f in sorted(formats))})")
        _check_output(args.plot, args.overwrite)
        if os.path.abspath(args.plot) == os.path.abspath(args.output):
            raise ParameterError("--plot and -o must be different files")


def _subtype_for(path, subtype):
    if subtype is not None:
        return subtype
    return "FLOAT" if os.path.splitext(path)[1].lower() == ".wav" else "PCM_24"


def default_model_path():
    """Where the default model bundled with the package lives."""
    from importlib.resources import files

    return str(files(__package__).joinpath("models", "default.npz"))


def _load_model(path):
    from .persistence import load

    if path is None:
        bundled = default_model_path()
        if not os.path.exists(bundled):
            raise CwfastError(f"the bundled default model is missing from this installation ({bundled}); pass -m MODEL")
        return load(bundled), DEFAULT_MODEL
    return load(path), path


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _format_figures(figures):
    # Metadata is free-form (a user may store their own "figures"): show only what reads as figures.
    if not isinstance(figures, dict):
        return "not readable"
    figures = {k: v for k, v in figures.items() if _is_number(v)}
    parts = []
    if "nmse" in figures and "esr" not in figures:
        parts.append(f"NMSE {figures['nmse']:.4g}")
    if "esr" in figures and "nmse" in figures:
        parts.append(f"ESR {figures['esr']:.4g} (NMSE {figures['nmse']:.4g})")
    if "cross_entropy" in figures and "bits_per_sample" in figures:
        parts.append(f"cross-entropy {figures['cross_entropy']:.4g} nats/sample ({figures['bits_per_sample']:.3f} bits/sample)")
    return ", ".join(parts) or "not readable"


def _duration(n_samples, rate):
    return f"{n_samples / rate:.2f} s at {rate} Hz" if rate else f"{n_samples} samples"


# ----------------------------------------------------------------------------------- train


def _architecture(args, defaults):
    """(n_hidden, n_modules, periods) from the options; n_modules and periods are None for srn/lstm."""
    n_hidden = args.hidden or defaults["hidden"]
    if args.arch != "cw":
        return n_hidden, None, None  # cmd_train refused --modules and --periods already
    if args.periods is not None:
        if args.modules is not None and args.modules != len(args.periods):
            raise ParameterError(f"--modules {args.modules} does not match the {len(args.periods)} --periods given")
        return n_hidden, len(args.periods), args.periods
    n_modules = args.modules or defaults["modules"]
    if n_modules > n_hidden:
        if args.modules is None:
            raise ParameterError(f"--hidden {n_hidden} is fewer units than the {n_modules} modules of the default; "
                                 f"pass --modules {n_hidden} or fewer")
        raise ParameterError(f"--modules {n_modules} must not exceed --hidden {n_hidden}")
    return n_hidden, n_modules, None


def _new_model(arch, task, n_hidden, n_modules, periods, *, seed, sample_rate, metadata):
    common = dict(seed=seed, sample_rate=sample_rate, metadata=metadata, output=task.output)
    if arch == "srn":
        from .baselines import SRN

        return SRN(task.n_in, task.n_out, n_hidden=n_hidden, **common)
    if arch == "lstm":
        from .lstm import LSTM

        return LSTM(task.n_in, task.n_out, n_hidden=n_hidden, **common)
    from .model import ClockworkRNN

    return ClockworkRNN(task.n_in, task.n_out, n_hidden=n_hidden, n_modules=n_modules, periods=periods, **common)


def _load_clip(path, args, sample_rate):
    from .audio import load_audio

    samples, rate = load_audio(path, sample_rate=sample_rate, start=args.start, duration=args.seconds,
                               on_resample=_note)
    # load_audio cuts an excerpt short at the end of the file; the CLI refuses, as for --samples.
    # One sample of slack: resampling rounds the length up.
    if args.seconds is not None and samples.size + 1 < args.seconds * rate:
        raise ParameterError(
            f"--seconds {args.seconds:g} asks for more than '{path}' holds from {args.start:g} s "
            f"({samples.size / rate:.3f} s)"
        )
    if args.samples is not None:
        if args.samples > samples.size:
            raise ParameterError(
                f"--samples {args.samples} asks for more than '{path}' holds from {args.start:g} s "
                f"({samples.size} samples at {rate} Hz)"
            )
        samples = samples[: args.samples]
    return samples, rate


def cmd_train(args):
    from . import tasks

    mode = args.mode
    defaults = MODE_DEFAULTS[mode]
    if mode == "effect" and args.target is None:
        raise ParameterError("effect mode needs --target WET, the processed version of AUDIO")
    if mode != "effect" and args.target is not None:
        raise ParameterError(f"--target is for effect mode; {mode} mode learns from AUDIO alone")
    if args.resume and not args.checkpoint:
        raise ParameterError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if args.classes is not None and mode != "autoregressive":
        raise ParameterError(f"--classes is for autoregressive mode; {mode} mode has a linear output")
    if args.arch != "cw" and (args.modules is not None or args.periods is not None):
        raise ParameterError(f"--arch {args.arch} has no clock modules; it takes no --modules or --periods")
    for name in ("population", "sigma", "cluster"):
        if getattr(args, name) is not None and args.trainer != "es":
            raise ParameterError(f"--{name} is for --trainer es; {args.trainer} follows the gradient")
    if args.population is not None and args.population % 2:
        raise ParameterError(f"--population {args.population}: must be even (the ES evaluates antithetic pairs)")
    inputs = [os.path.abspath(p) for p in (args.audio, args.target) if p]
    if os.path.abspath(args.output) in inputs:
        raise ParameterError("-o must not be one of the input files")
    from .audio import WRITE_FORMATS

    if os.path.splitext(args.output)[1].lower() in WRITE_FORMATS:
        # A model under an audio name is almost always `train` typed for `generate`.
        raise ParameterError(f"-o '{args.output}' names an audio file; train saves a model (.npz), "
                             "and cwfast generate writes audio")
    _check_output(args.output, args.overwrite)
    _check_plot(args)
    _check_checkpoint(args, inputs)
    samples, rate = _load_clip(args.audio, args, args.sample_rate)
    if mode == "memorize":
        sized = tasks.memorize_size(samples.size)
        # Name only the defaults this run takes: an SRN or LSTM has no modules, and options given win.
        chosen = [f"--{key} {sized[key]}" for key in ("hidden", "modules")
                  if sized[key] != defaults[key] and getattr(args, key) is None
                  and (key == "hidden" or (args.arch == "cw" and args.periods is None))]
        if chosen:
            _note(f"{samples.size} samples to memorize: defaulting to {' '.join(chosen)}")
        defaults = dict(defaults, **sized)
    n_hidden, n_modules, periods = _architecture(args, defaults)
    wet = None
    if mode == "effect":
        wet, _ = _load_clip(args.target, args, rate)
    task = tasks.make_task(mode, samples, target=wet, n_classes=args.classes or tasks.N_CLASSES)
    fraction = defaults["validation"] if args.validation is None else args.validation
    train_task, val_task = tasks.split_validation(task, fraction)
    # evaluate() runs after training; a figure it cannot compute must stop the run before it starts.
    reason = tasks.unmeasurable(train_task)
    if reason:
        raise CwfastError(f"cannot train on this clip: {reason}")
    reason = val_task is not None and tasks.unmeasurable(val_task)
    if reason:
        raise CwfastError(f"the held-out last {fraction:.0%} of the clip (--validation) cannot be scored: {reason}; "
                          "pass --validation 0, or another fraction, or trim the clip")

    metadata = dict(task.metadata)
    metadata.update(source=os.path.basename(args.audio), start=args.start, length=task.n_steps)
    model = _new_model(args.arch, task, n_hidden, n_modules, periods, seed=args.seed, sample_rate=rate,
                       metadata=metadata)
    if mode == "memorize" and task.n_steps > 20000:
        _note(f"memorizing {task.n_steps} samples from the clock alone is slow and rarely exact; the paper's task "
              "is 320 samples (--samples 320)")

    result = _fit(model, train_task, val_task, args, defaults)

    figures = tasks.evaluate(model, train_task)
    metadata = model.metadata
    metadata["trainer"] = {
        "name": args.trainer, "epochs": int(result.epochs), "updates": int(result.steps),
        "seconds": round(float(result.wall_time), 3),
        "stopped": str(result.stopped),
    }
    metadata["figures"] = {"train": figures}
    if val_task is not None:
        state = tasks.final_state(model, train_task)
        metadata["figures"]["validation"] = tasks.evaluate(model, val_task, state=state)
    model.save(args.output, overwrite=args.overwrite)

    summary = f"trained {mode} model ({model.n_params} parameters) in {result.wall_time:.1f} s: {_format_figures(figures)}"
    if val_task is not None:
        summary += f"; validation {_format_figures(metadata['figures']['validation'])}"
    print(summary)
    print(f"wrote {args.output}")
    if args.plot:
        _plot_training(model, task, args)
    return 0


def _check_checkpoint(args, inputs):
    """Refuse, before training, a --checkpoint that would clobber a file or fail at its first write."""
    if not args.checkpoint:
        return
    path = os.path.abspath(args.checkpoint)
    others = {"-o": args.output, "--plot": args.plot}
    for option, other in others.items():
        if other and path == os.path.abspath(other):
            raise ParameterError(f"--checkpoint and {option} must be different files")
    if path in inputs:
        raise ParameterError("--checkpoint must not be one of the input files")
    if args.resume:
        return  # the checkpoint must exist and is rewritten as training goes on; the trainer checks it
    if os.path.lexists(args.checkpoint) and not os.path.isdir(args.checkpoint) and not args.overwrite:
        raise CwfastError(f"checkpoint '{args.checkpoint}' exists; pass --resume to continue from it, "
                          "or --overwrite to start afresh")
    _check_output(args.checkpoint, True)


def _fit(model, train_task, val_task, args, defaults):
    """Call the trainer the user picked with this mode's defaults."""
    from . import train

    x, target = train_task.inputs, train_task.targets
    epochs = args.epochs or defaults["epochs"]
    window = args.window or defaults["window"]
    if window is not None and window >= train_task.n_steps:
        window = None  # the clip fits: full BPTT
    resume = dict(checkpoint=args.checkpoint, resume=args.resume, progress=not args.quiet, seed=args.seed)
    es_options = {k: v for k, v in (("population", args.population), ("sigma", args.sigma), ("cluster", args.cluster))
                  if v is not None}
    if args.trainer == "es":
        scored = x.shape[0] * x.shape[1] if x.ndim == 3 else x.shape[0]
        if scored > ES_LONG_STEPS:
            _note(f"--trainer es scores every member on all {scored} steps in every generation (no windows): "
                  "slow for long clips; --samples 320 or the gradient trainers (adam, sgd) are much faster")
        return train.evolve(model, x, target, lr=args.lr or 0.01, generations=epochs, **es_options, **resume)
    batch_size = args.batch_size or defaults["batch_size"]
    if window is None:
        batch_size = None
    elif x.ndim == 2:
        # fit cuts the one clip into batch_size streams of whole clock cycles: by default a short
        # clip takes fewer streams; an explicit --batch-size that does not fit is refused here, in
        # the CLI's words.
        cycle = math.lcm(*model.periods.tolist())
        most = max(1, train_task.n_steps // cycle)
        if args.batch_size is None:
            batch_size = batch_size and min(batch_size, most)
        elif args.batch_size > most:
            raise ParameterError(
                f"--batch-size {args.batch_size}: the {train_task.n_steps} training samples make at most {most} "
                f"stream{'s' if most > 1 else ''} of whole clock cycles ({cycle} samples); pass --batch-size "
                f"{most} or fewer, or a longer clip")
    validation = None if val_task is None else (val_task.inputs, val_task.targets)
    return train.fit(
        model, x, target, optimizer=args.trainer, lr=args.lr or defaults["lr"], epochs=epochs,
        batch_size=batch_size, window=window, validation=validation, **resume,
    )


def _plot_training(model, task, args):
    from . import tasks
    from .plot import plot_audio

    if task.mode == "memorize":
        output = tasks.render(model, task.n_steps)
        target = tasks.denormalize(task.targets[:, 0], model)
    elif task.mode == "effect":
        output = tasks.process(model, task.inputs[:, 0])
        target = task.targets[:, 0]
    else:
        output = tasks.render(model, task.n_steps, seed=args.seed)
        target = tasks.denormalize(tasks.mu_law_values(task.n_out)[task.targets], model)
    title = f"{task.mode}: target and output"
    plot_audio(args.plot, output, model.sample_rate, target=target, title=title, overwrite=args.overwrite)
    print(f"wrote {args.plot}")


# ----------------------------------------------------------------------------------- generate


def cmd_generate(args):
    from . import tasks

    _check_output(args.output, args.overwrite, audio=True)
    _check_plot(args)
    model, name = _load_model(args.model)
    mode = tasks.mode_of(model)
    if mode == "effect":
        raise CwfastError(f"{name} is an effect model: it needs an input, so use 'cwfast process -m MODEL IN -o OUT'")
    rate = model.sample_rate or args.sample_rate
    if rate is None:
        raise ParameterError("the model does not store a sample rate; pass --sample-rate HZ")
    from .audio import MAX_SAMPLE_RATE

    if rate > MAX_SAMPLE_RATE:
        raise ParameterError(f"--sample-rate {rate} is more than a sound file can store ({MAX_SAMPLE_RATE} Hz)")
    if args.sample_rate is not None and model.sample_rate is not None and args.sample_rate != model.sample_rate:
        raise ParameterError(f"--sample-rate {args.sample_rate} differs from the model's {model.sample_rate} Hz")
    n_samples = args.samples if args.seconds is None else tasks.seconds_to_samples(args.seconds, rate)
    trained = tasks.trained_length(model) if mode == "memorize" else 0
    if n_samples is None and not trained:
        # 5 s at the rate the file is written at (--sample-rate for a model that stores none).
        n_samples = tasks.seconds_to_samples(5.0, rate)

    prime = None
    if args.prime is not None:
        if mode != "autoregressive":
            raise ParameterError("--prime is for autoregressive models; a memorize model takes no input")
        from .audio import load_audio

        prime, _ = load_audio(args.prime, sample_rate=rate, on_resample=_note)
    if mode == "memorize":
        if args.temperature is not None:
            raise ParameterError("--temperature is for autoregressive models; a memorize model is deterministic")
        if trained and n_samples is not None and n_samples > trained:
            _note(f"the model was trained on {trained} samples; beyond them it runs free, on its clock alone")

    seed = args.seed
    if mode == "autoregressive" and seed is None:
        seed = tasks.fresh_seed()
    total = n_samples or trained
    with _progress(args, total, "generating") as bar:
        audio = tasks.render(model, n_samples, seed=seed, temperature=args.temperature, prime=prime,
                             on_progress=bar.update, default_seconds=5.0)
    from .audio import write_audio

    write_audio(args.output, audio, rate, subtype=_subtype_for(args.output, args.subtype), overwrite=args.overwrite)
    what = f"wrote {args.output}: {audio.size} samples ({_duration(audio.size, rate)}) from {name}"
    if mode == "autoregressive":
        what += f", seed {seed}"
    print(what)
    if args.plot:
        from .plot import plot_audio

        plot_audio(args.plot, audio, rate, title=f"generated by {os.path.basename(name)}", overwrite=args.overwrite)
        print(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------------------- process


def cmd_process(args):
    from . import tasks
    from .audio import load_audio, resample, write_audio

    _check_output(args.output, args.overwrite, audio=True)
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise ParameterError("the output must be a different file from the input")
    model, name = _load_model(args.model)
    tasks.check_processable(model)
    samples, file_rate = load_audio(args.input)
    rate = model.sample_rate or file_rate
    if rate != file_rate:
        samples = resample(samples, file_rate, rate)
        _note(f"resampled '{args.input}' from {file_rate} Hz to the model's {rate} Hz")
    with _progress(args, samples.size, "processing") as bar:
        out = tasks.process(model, samples, block_size=args.block, on_progress=bar.update)
    if rate != file_rate:
        out = resample(out, rate, file_rate)
        _note(f"resampled the output back to {file_rate} Hz")
    write_audio(args.output, out, file_rate, subtype=_subtype_for(args.output, args.subtype), overwrite=args.overwrite)
    print(f"wrote {args.output}: {out.size} samples ({_duration(out.size, file_rate)}) through {name}")
    return 0


# ----------------------------------------------------------------------------------- info


def cmd_info(args):
    from . import tasks

    model, name = _load_model(args.model)
    meta = model.metadata
    mode = tasks.mode_of(model)
    if model.output == "softmax":
        head = f"softmax output over {model.n_out} classes"
    else:
        head = f"{model.n_out} linear output{'s' if model.n_out > 1 else ''}"
    kind = {"srn": "simple RNN (SRN)", "lstm": "LSTM"}.get(getattr(model, "arch", ""), "Clockwork RNN")
    # An SRN is one module of period 1 and an LSTM has no clock: neither has modules to describe.
    clocks = ("" if getattr(model, "arch", "") in ("srn", "lstm")
              else f" in {model.n_modules} module{'s' if model.n_modules != 1 else ''}")
    rows = [
        ("model", name if name != DEFAULT_MODEL else f"{name} ({default_model_path()})"),
        ("architecture", f"{kind}, {model.n_hidden} hidden units{clocks}, "
                         f"{model.n_in} input{'s' if model.n_in != 1 else ''}, {head}"),
    ]
    if clocks:
        rows += [
            ("module sizes", " ".join(map(str, model.module_sizes.tolist()))),
            ("periods", " ".join(map(str, model.periods.tolist()))),
        ]
    rows += [
        ("parameters", f"{model.n_params:,} ({model.dtype.name})"),
        ("sample rate", f"{model.sample_rate} Hz" if model.sample_rate else "not stored"),
    ]
    detail = []
    if mode == "autoregressive":
        detail.append(f"mu-law, {meta.get('n_classes', model.n_out)} classes")
    if _is_number(meta.get("scale")):
        detail.append(f"scale {meta['scale']:.4g}")
    if tasks.trained_length(model):
        start = meta.get("start", 0)
        detail.append(f"trained on {meta['length']} samples from {start if not _is_number(start) else f'{start:g}'} "
                      f"s of {meta.get('source', 'its clip')}")
    rows.append(("mode", mode + (f" ({'; '.join(detail)})" if detail else "")))
    trainer = meta.get("trainer") if isinstance(meta.get("trainer"), dict) else None
    figures = meta.get("figures") if isinstance(meta.get("figures"), dict) else {}
    if trainer or figures:
        parts = []
        if trainer:
            seconds = trainer.get("seconds")
            took = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "time not stored"
            epochs = trainer.get("epochs")
            parts.append(f"{trainer.get('name')}, {epochs} epoch{'' if epochs == 1 else 's'}, {took}")
        if "train" in figures:
            parts.append(f"train {_format_figures(figures['train'])}")
        if "validation" in figures:
            parts.append(f"validation {_format_figures(figures['validation'])}")
        rows.append(("training", "; ".join(parts)))
    else:
        rows.append(("training", "no figures stored"))
    check = meta.get("check")
    if isinstance(check, dict) and {"rms", "source_rms", "centroid_hz", "source_centroid_hz"} <= set(check):
        rows.append(("check", f"{check.get('seconds', '?')} s generated at temperature {check.get('temperature', 1)}: "
                              f"RMS {check['rms']} (training audio {check['source_rms']}), spectral centroid "
                              f"{check['centroid_hz']} Hz (training audio {check['source_centroid_hz']} Hz)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


# ----------------------------------------------------------------------------------- bench


def cmd_bench(args):
    return _load_bench().run(args)


# ----------------------------------------------------------------------------------- main


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = build_parser()
    try:
        if _command_of(argv) == "bench":
            _load_bench().add_arguments(parser.bench_parser)
        args = parser.parse_args(argv)
        if args.version:
            from . import __version__

            print(f"cwfast {__version__}")
            return 0
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except CwfastError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"cwfast: error: {message}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        detail = " ".join(str(exc).split())
        print(f"cwfast: error: out of memory{': ' + detail if detail else ''}; ask for less (shorter audio, "
              "fewer samples, a smaller model or batch)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cwfast: interrupted", file=sys.stderr)
        return 130
