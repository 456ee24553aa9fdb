"""The ``cwfast`` command line: parses arguments, calls the public API, prints, sets exit codes.

``cwfast train`` fits a Clockwork RNN (or an SRN or LSTM baseline) to audio in one of three modes
(see :mod:`cwfast.tasks`), ``cwfast generate`` makes audio with a trained model (or the default
model bundled in the package), ``cwfast process`` runs an effect model over a file, ``cwfast info``
describes a model, ``cwfast export`` writes one as C (from :mod:`cwfast.export`) and ``cwfast
bench`` (from :mod:`cwfast.bench`) measures speed. ``python -m cwfast`` is the same program.

Conventions: progress bars (tqdm) and notes go to stderr, results to stdout; every user mistake ends
with one line ``cwfast: error: ...`` on stderr and exit status 2, Ctrl-C with status 130, SIGTERM
with 143, and no command leaves a half-written file behind or replaces an existing one without
``--overwrite``.
Numba-heavy modules are imported inside the subcommands that need them, so ``cwfast --help`` does
not compile or load any kernel. There is no arithmetic here: tasks, metrics and audio conversion
live in :mod:`cwfast.tasks` and :mod:`cwfast.audio`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import re
import stat
import sys
import threading
import time

from . import registry
from . import _argtypes as types
from .errors import CwfastError, ParameterError, TrainingDiverged
from .modes import (AUDIBLE_RMS, AUDIO_HEADS, DEFAULT_COMPONENTS, HISTORIES, LEVEL_BAND, MIXTURE_HISTORY, MODES,
                    PITCH_CHOICES, PREDICTION_TAPS, TRAINERS, as_real, is_pinned)

DEFAULT_MODEL = "the bundled default model"
#: ``cwfast export``'s C prefix and file stem for the bundled model.
BUNDLED_EXPORT_NAME = "cwfast_default"


# ----------------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (with a pointer to --help), exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_length(parser, what):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--samples", type=types.positive_int, metavar="N", help=f"{what}, in samples")
    group.add_argument("--seconds", type=types.positive_float, metavar="S", help=f"{what}, in seconds")


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
    p.add_argument("audio", metavar="AUDIO", nargs="+", type=types.path,
                   help="training audio (WAV, FLAC, OGG, ...); the dry input in effect mode. Autoregressive mode "
                   "takes several files and folders (searched recursively for audio), resampled to one rate; "
                   "the end of every file is held out")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="where to save the model (.npz)")
    p.add_argument("--mode", choices=MODES, default="memorize", help="what to learn (default: memorize)")
    p.add_argument("--target", metavar="WET", type=types.path,
                   help="effect mode: the processed version of AUDIO, time-aligned")
    p.add_argument("--arch", choices=registry.cli_names(), default="cw",
                   help="cw: Clockwork RNN (default); srn (simple RNN) or lstm: the paper's baselines, for comparison")
    p.add_argument("--hidden", type=types.positive_int, metavar="N",
                   help="hidden units (default: 40 memorize, more for clips over 1024 samples; 64 autoregressive; 32 effect)")
    p.add_argument("--modules", type=types.modules, metavar="G",
                   help="clock modules, periods 1, 2, 4, ... (default: 9 memorize, more for long clips; 8 otherwise)")
    p.add_argument("--periods", type=types.periods, metavar="LIST", help="clock periods, e.g. 1,2,4,8 (one per module)")
    p.add_argument("--input-window", type=types.input_window, metavar="{1,period,N,LIST}",
                   help="cw: how many of the latest inputs each module reads when it ticks: 1 (the paper's "
                   "model; default for effect; memorize reads no input and takes none), period (all the "
                   "inputs since its last tick), N (default for autoregressive: 20 ms of samples, 320 at 16 kHz) or one per module, in the "
                   "order of the periods (e.g. 1,2,4,8,320,320,320,320)")
    p.add_argument("--trainer", choices=TRAINERS, default="adam", help="adam (default), sgd (Nesterov, as the paper) or es")
    p.add_argument("--epochs", type=types.non_negative_int, metavar="E",
                   help="passes over the data; generations for es (default: 2000 memorize, 30 autoregressive, 50 "
                   "effect); 0 trains until --time-budget, the learning rate's decay following the time")
    p.add_argument("--lr", type=types.positive_floats, metavar="LR",
                   help="learning rate, or several (0.01,0.003): a model is trained at each and the best on "
                   "validation kept, a near-silent or pinned one only if all are (default: 0.01,0.003 for autoregressive with adam or sgd, one rate with "
                   "--checkpoint; 0.01 for effect and es; for memorize with adam or sgd, the trainer's own)")
    p.add_argument("--lr-schedule", choices=("constant", "cosine", "linear"), default=None,
                   help="how the learning rate falls over the epochs: constant, cosine (along half a cosine, "
                   "towards 0 at the end) or linear; over --time-budget with --epochs 0 "
                   "(default: cosine for autoregressive, constant otherwise)")
    p.add_argument("--population", type=types.population, metavar="P",
                   help="es: members per generation, even (default: 256)")
    p.add_argument("--sigma", type=types.positive_float, metavar="S", help="es: noise scale of the members (default: 0.01)")
    p.add_argument("--cluster", choices=("local", "ray"),
                   help="es: score the members here (local, default) or on Ray actors: the cluster named by "
                   "RAY_ADDRESS, else a local Ray (pip install 'ray[default]'); the same model either way")
    p.add_argument("--batch-size", type=types.positive_int, metavar="B", help="streams trained side by side (long audio; default 8 for autoregressive and effect, fewer "
                   "if the clip is too short for 8 streams of whole clock cycles)")
    p.add_argument("--window", type=types.positive_int, metavar="W",
                   help="truncated BPTT window in samples (long audio; default: 256 autoregressive, 2048 effect; "
                   "memorize: full BPTT)")
    p.add_argument("--start", type=types.non_negative_float, default=0.0, metavar="SECONDS",
                   help="where the excerpt starts (default: 0)")
    _add_length(p, "excerpt length (default: to the end of the file)")
    p.add_argument("--sample-rate", type=types.sample_rate, metavar="HZ",
                   help="resample the audio to this rate first (default: the file's own rate; for several, "
                        "the first file's, in the order named, a folder's sorted by path)")
    p.add_argument("--validation", type=types.fraction, metavar="FRACTION",
                   help="the part of the clip before the test part that chooses the best epoch "
                   "(default: 0.1; 0 for memorize, which holds nothing out)")
    p.add_argument("--test", type=types.fraction, metavar="FRACTION",
                   help="the last part of the clip, scored once at the end and reported as held out "
                   "(default: 0.1; 0 for memorize)")
    p.add_argument("--classes", type=types.positive_int, metavar="K",
                   help="autoregressive: mu-law classes (default: 256; any other number trains the softmax "
                   "head, since the mixture scores the 256 classes)")
    p.add_argument("--head", choices=AUDIO_HEADS, metavar="mixture|softmax",
                   help="autoregressive: mixture (default: of logistics over the amplitude, integrated over the "
                        "mu-law classes; unquantised output; generates at temperature 0.5, or at the one its "
                        "training audio chooses when 0.5 misses its flatness or pitch, is near silence or is pinned at "
                        "full scale) or softmax "
                        "(over the classes; generates at temperature 1)")
    p.add_argument("--components", type=types.positive_int, metavar="K",
                   help=f"--head mixture: number of logistics (default: {DEFAULT_COMPONENTS})")
    p.add_argument("--level", type=types.level, metavar="N",
                   help="--head mixture: normalise the input by its level over about the last N samples, an "
                        "adaptive gain that predicts fades, decays and quiet passages better (default: 64; 0: off)")
    p.add_argument("--prediction", type=types.non_negative_int, metavar="K",
                   help="--head mixture: add a K-tap linear prediction of the next sample, trained with the "
                        "network, to the mixture's means, so the network models what it misses (LPCNet's split; "
                        f"default: {PREDICTION_TAPS} for --arch cw trained by gradient, else 0; 0: off; not with --trainer es)")
    p.add_argument("--pitch", choices=PITCH_CHOICES, metavar="{" + ",".join(PITCH_CHOICES) + "}",
                   help="--head mixture: add a pitch predictor to the mixture's means, the residual a pitch period "
                        "ago with a trained gain, bounded where the audio grows louder than the training audio "
                        "(on), or train every run with and without one and keep the better on validation, in the "
                        "same time budget (auto); not with --trainer es (default: auto for --arch cw trained by "
                        "gradient, else off; off with --checkpoint, or where the clip is too short for one)")
    p.add_argument("--level-band", type=types.percentiles, metavar="LO,HI",
                   help="--level: hold its gain between these percentiles of the training audio's level, so that "
                        "the network hears how loud it is beyond them and generates at about its source's loudness "
                        f"(default: {LEVEL_BAND[0]:g},{LEVEL_BAND[1]:g})")
    p.add_argument("--history", choices=HISTORIES,
                   help="autoregressive: what the model reads of the samples before the one it predicts: mu-law "
                        "(the values of their 8-bit mu-law classes) or linear (the samples themselves; --head "
                        "mixture, which generates amplitudes and reads back what it drew) (default: "
                        f"{MIXTURE_HISTORY}; a softmax head reads mu-law only)")
    p.add_argument("--scale-fit", action=argparse.BooleanOptionalAction, default=None,
                   help="--head mixture: once trained, widen or narrow every scale of the mixture by the one factor "
                        "that predicts the validation part best, then let the scales follow the model's recent "
                        "surprise if that predicts it better, before the held-out figures and the generation "
                        "temperature (default: on when there is a validation part)")
    p.add_argument("--trim", action="store_true",
                   help="drop silence at the ends of each file (50-ms blocks, the last one partial, 60 dB or more below its "
                        "RMS)")
    p.add_argument("--seed", type=types.non_negative_int, metavar="S",
                   help="seed of weights and batches (default: 0; with --resume, the checkpoint's)")
    p.add_argument("--restarts", type=types.restarts, metavar="N|auto",
                   help="train N models from seeds S, S+1, ... (at each --lr) and keep one: the best on validation "
                        "of those whose generated audio met their training audio's flatness, pitch and loudness "
                        "(autoregressive mixture models), else of those audible, then the best rate on validation; "
                        "auto: another round of seeds while --time-budget has room for one "
                        "(default: 1; --time-budget is shared between all the runs; N > 1 and auto not with --checkpoint; "
                        "--epochs 0 with auto: one round)")
    p.add_argument("--time-budget", type=types.duration, metavar="TIME",
                   help="stop training cleanly after this long (90s, 20m, 1h30m), keeping the best model on validation "
                        "(without a validation part, as memorize has, the last epoch's); "
                        "fitting the mixture's scale, scoring the held-out parts and choosing the generation temperature "
                        "follow each run (seconds more; minutes on long audio); several runs share the budget, each "
                        "one's fitting counted in it; with --resume, the training before counts too")
    p.add_argument("--checkpoint", type=types.path, metavar="PATH", help="write a checkpoint here every 100 updates, at the end and on Ctrl-C")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint (same options; --epochs may grow with a constant "
                   "--lr-schedule)")
    p.add_argument("--plot", type=types.path, metavar="FILE.png", help="plot target and output waveforms and spectrograms (needs matplotlib; "
                   "autoregressive: the first 10 s of the training audio, or all of a shorter one, beside as "
                   "much generated)")
    p.add_argument("--scratch", type=types.path, metavar="DIR",
                   help="the folder the audio and its task are kept in while training, memory-mapped, so that a corpus "
                        "is bounded by the disk, not the memory (about 9 bytes a sample; the files have no name there "
                        "and are gone when training ends, however it ends); default $CWFAST_SCRATCH, else the "
                        "system's temporary folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_train)

    # generate
    p = commands.add_parser(
        "generate", parents=[common], help="generate audio with a model (default: the bundled one)",
        description="Generate audio with a memorize or autoregressive model. Without -m it uses the default "
        "model bundled with cwfast, an autoregressive model of a Brahms recording (data/brahms-hungarian-dance-5.ogg).",
    )
    p.add_argument("-m", "--model", type=types.path, metavar="MODEL",
                   help="a model saved by 'cwfast train' (default: the bundled model)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the audio file to write (.wav or .flac)")
    _add_length(p, "length (default: the trained length for memorize models, 5 s for autoregressive ones)")
    p.add_argument("--seed", type=types.non_negative_int, metavar="S", help="autoregressive sampling seed (default: random; printed)")
    p.add_argument("--temperature", type=types.temperature, metavar="T",
                   help="autoregressive sampling temperature: 0 always takes the likeliest sample, "
                   "1 samples as trained (default: the model's, else 1)")
    p.add_argument("--prime", metavar="AUDIO", type=types.path,
                   help="autoregressive: continue this audio (its state is set by teacher forcing)")
    p.add_argument("--output-gain", type=types.output_gain, metavar="G",
                   help="autoregressive: multiply what is generated by G (not what the model reads back): 1 for "
                   "the level the model generates at by itself (default: the model's, which brings it to its "
                   "training audio's loudness, else 1)")
    p.add_argument("--sample-rate", type=types.sample_rate, metavar="HZ", help="for models that do not store a sample rate")
    p.add_argument("--subtype", type=types.subtype, metavar="TYPE", help="float, pcm_16 or pcm_24 (default: float for WAV, pcm_24 for FLAC)")
    p.add_argument("--plot", type=types.path, metavar="FILE.png", help="plot the waveform and spectrogram of the first 10 s (needs matplotlib)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_generate)

    # process
    p = commands.add_parser(
        "process", parents=[common], help="run an effect model over an audio file",
        description="Run an effect (input-driven) model over a file, block by block through a Stream.",
    )
    p.add_argument("-m", "--model", required=True, type=types.path, metavar="MODEL",
                   help="an effect model saved by 'cwfast train'")
    p.add_argument("input", type=types.path, metavar="IN", help="the audio to process")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the audio file to write (.wav or .flac)")
    p.add_argument("--block", type=types.positive_int, default=4096, metavar="N", help="block size in samples (default: 4096)")
    p.add_argument("--blocked", action="store_true",
                   help="compute each block module by module, slowest first: faster for large Clockwork RNNs "
                        "(for 1024 units in 8 modules, about 2.4x at blocks of 512 or more on a Zen 3 EPYC, 2x to 3.7x on others; slower for "
                        "models whose weights fit the L2 cache: 'cwfast bench --blocked' measures yours), the same output within "
                        "float rounding")
    p.add_argument("--subtype", type=types.subtype, metavar="TYPE", help="float, pcm_16 or pcm_24 (default: float for WAV, pcm_24 for FLAC)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_process)

    # info
    p = commands.add_parser(
        "info", parents=[common], help="describe a model",
        description="Print a model's architecture, size, sample rate, mode and the training figure it reached.",
    )
    p.add_argument("model", nargs="?", type=types.path, metavar="MODEL", help="a model file (default: the bundled model)")
    p.add_argument("-m", "--model", dest="model_option", type=types.path, metavar="MODEL",
                   help="the same, as generate, process and export take it")
    p.set_defaults(func=cmd_info)

    # export
    p = commands.add_parser(
        "export", parents=[common], help="write a model as dependency-free C (and an LV2 plug-in)",
        description="Write MODEL as C99 with no dependency but libm: DIR/NAME.h and DIR/NAME.c (see the README, "
        "'Use a model in C / in an LV2 host'). With --lv2, also build the LV2 plug-in bundle DIR/NAME.lv2 "
        "with the system C compiler.",
    )
    p.add_argument("-m", "--model", type=types.path, metavar="MODEL",
                   help="a model saved by 'cwfast train' (default: the bundled model)")
    p.add_argument("-o", "--output", required=True, type=types.path, metavar="DIR",
                   help="the directory to write into (must exist)")
    p.add_argument("--name", metavar="NAME", help="C prefix and file stem (default: the model file's stem, made a C "
                   f"identifier; {BUNDLED_EXPORT_NAME} for the bundled model)")
    p.add_argument("--lv2", action="store_true", help="also build the LV2 plug-in DIR/NAME.lv2 (needs cc and lv2-dev)")
    p.add_argument("--license", metavar="IRI", help="with --lv2: the plug-in's licence, written as its doap:license "
                   "(such as https://spdx.org/licenses/CC-BY-4.0; default: none)")
    p.add_argument("--maintainer", metavar="'NAME <EMAIL>'", help="with --lv2: who maintains the plug-in, written as "
                   "its doap:maintainer (a name, optionally followed by an e-mail address in <>; default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_export)

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


def _subparsers(parser):
    """``{command: its parser}`` of ``cwfast``'s subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


#: A value that starts with "-" and then a digit or a point: a negative number, however written.
_DASHED_VALUE = re.compile(r"-[0-9.]")


def _attach_dashed_values(parser, argv):
    """``argv`` with ``--option -VALUE`` written ``--option=-VALUE`` wherever --option takes one
    value and VALUE looks like a number. argparse reads a word that starts with "-" as an option
    unless it is a plain number, so ``--time-budget -5s``, ``--periods -1,2`` or ``--seconds
    -1e3`` would fail with "expected one argument" instead of the option's own message."""
    takes_value = set()
    for each in [parser, *_subparsers(parser).values()]:
        for action in each._actions:
            if action.option_strings and action.nargs is None and action.const is None:
                takes_value.update(action.option_strings)
    out, i = [], 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return out + argv[i:]
        if word in takes_value and i + 1 < len(argv) and _DASHED_VALUE.match(argv[i + 1]):
            out.append(f"{word}={argv[i + 1]}")
            i += 2
        else:
            out.append(word)
            i += 1
    return out


def _gather_positionals(args, extra):
    """``extra`` less the words that belong to a list of files (``train``'s AUDIO), which are
    added to it in order. argparse fills a ``nargs="+"`` positional from one run of words only, so
    in ``cwfast train a.wav --epochs 3 b.wav`` it leaves ``b.wav`` over."""
    files = getattr(args, "audio", None)
    if not isinstance(files, list):
        return extra
    words = [w for w in extra if not w.startswith("-")]
    files.extend(words)
    return [w for w in extra if w not in words]


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


#: Notes said before a command's work starts, held (``.held``, a list) so that a refusal before it
#: is the only line printed (:func:`main` drops them then); said once the work starts
#: (:func:`_work_starts`). Per thread: ``main`` may run in several threads of one process.
_notes = threading.local()


def _note(message):
    """A one-line note to the user on stderr (resampling, free-running, ...)."""
    held = getattr(_notes, "held", None)
    if held is not None:
        held.append(message)
    else:
        print(f"cwfast: {message}", file=sys.stderr)


def _work_starts():
    """Every check passed and the long work begins: say the notes held until now, and the next ones
    as they come."""
    held, _notes.held = getattr(_notes, "held", None), None
    for message in held or ():
        _note(message)


def _count(n, noun):
    """``1 sample``, ``2 samples``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _progress(args, total, desc, unit="sample"):
    _work_starts()
    return _Progress(total=total, desc=desc, unit=unit, disable=args.quiet)


class _Progress:
    """A tqdm bar (``update``, and a context manager) whose speed and time left leave out the first update.

    The first block of a command's first run holds numba's compilation of the kernels (seconds,
    once per install): counted in the rate, it made the bar promise minutes for a job that then
    ended in a second. So the bar is made at the first update, starting from it; like any bar here
    it appears only for work that takes more than a second in all.
    """

    def __init__(self, **options):
        self._options = options
        self._start = time.monotonic()
        self._bar = None

    def update(self, n):
        if self._bar is None:
            from ._bars import bar

            waited = time.monotonic() - self._start
            self._bar = bar(initial=n, unit_scale=True, leave=False, dynamic_ncols=True,
                            delay=max(0.0, 1.0 - waited), **self._options)
        else:
            self._bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()


#: Bytes a written sample takes, by subtype (float: 4).
_SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3}


def _refuse_overwriting(outputs, inputs):
    """ParameterError, before any work, if an output names an input or another output, by path or as
    the same file by another name (a link, a hard link): ``outputs`` and ``inputs`` are (option,
    path or None) pairs. An input that does not exist is left to its read, which says so."""
    from ._atomic import same_file

    outputs = [(option, path) for option, path in outputs if path]
    for i, (option, path) in enumerate(outputs):
        for source_option, source in inputs:
            if source and os.path.lexists(source) and same_file(path, source):
                raise ParameterError(f"{option} must not be one of the input files (it is {source_option})")
        for other, earlier in outputs[:i]:
            if same_file(path, earlier):
                raise ParameterError(f"{option} and {other} must be different files")


def _check_output(path, overwrite, *, audio=False, what="file"):
    """Fail early, before any work, if ``path`` cannot or must not be written: by its name, and by
    creating and removing the temporary file the atomic writer will use. ``audio``: ``path`` is -o,
    an audio file's name."""
    from ._atomic import check_output

    if audio:
        from .audio import WRITE_FORMATS
        from .validate import bare_extension

        formats = " or ".join(WRITE_FORMATS)
        if not path:
            raise ParameterError(f"-o is empty: give the audio file's name ({formats})")
        bare = bare_extension(path, WRITE_FORMATS)
        if bare:
            raise ParameterError(f"-o '{path}' has no name before {bare}")
        if os.path.splitext(path)[1].lower() not in WRITE_FORMATS:
            raise ParameterError(f"-o '{path}' must end in {formats}")
    check_output(path, overwrite, what=what)


def _check_plot(args):
    if getattr(args, "plot", None):
        from .plot import check_format

        check_format(args.plot, what="--plot")  # here, not by matplotlib after training: a bad name must not cost the run
        _check_output(args.plot, args.overwrite, what="plot")


def _note_clipped(clipped, subtype, path):
    """PCM files hold [-1, 1] only: say how many samples writing clipped, rather than clip silently."""
    if clipped:
        # FLAC has no float subtype: offering --subtype float there would offer a refusal.
        keeps = ("--subtype float" if os.path.splitext(path)[1].lower() == ".wav"
                 else "a .wav output with --subtype float")
        _note(f"{_count(clipped, 'sample')} beyond full scale clipped to [-1, 1] for "
              f"{subtype.lower()}; {keeps} keeps them")


def _subtype_for(path, subtype, rate):
    """The subtype to write ``path`` with at ``rate`` Hz (--subtype's, or the file type's default),
    once the type, the subtype and the rate are found writable: before any work (the writer checks
    them again), named as --help spells them."""
    from .audio import check_write

    if subtype is None:
        subtype = "FLOAT" if os.path.splitext(path)[1].lower() == ".wav" else "PCM_24"
    try:
        check_write(path, subtype.lower(), rate)
    except ParameterError as exc:
        raise _as_options(exc, subtype="--subtype") from None
    return subtype


def _as_options(exc, **options):
    """ParameterError ``exc`` with the API argument its message starts with (``start=...``) named as
    the command line's option (``options``: argument name -> option)."""
    message = str(exc)
    for argument, option in options.items():
        if message.startswith(argument + "="):
            return ParameterError(f"{option} {message[len(argument) + 1:]}")
    return ParameterError(message)


def default_model_path():
    """Where the default model bundled with the package lives."""
    from importlib.resources import files

    return str(files(__package__).joinpath("models", "default.npz"))


def _bundled_model_path():
    """:func:`default_model_path`, or CwfastError if the installation lacks the file."""
    bundled = default_model_path()
    if not os.path.exists(bundled):
        raise CwfastError(f"the bundled default model is missing from this installation ({bundled}); pass -m MODEL")
    return bundled


def _load_model(path):
    from .persistence import load

    if path is None:
        return load(_bundled_model_path()), DEFAULT_MODEL
    return load(path), path


def _is_number(value):
    """A real that info can format (:func:`cwfast.modes.as_real`)."""
    return as_real(value) is not None


class _Refused:
    """A stored metadata value that generate refuses, as info shows it: as stored, marked."""

    def __init__(self, value):
        self.value = value

    def __format__(self, spec):
        return f"{self.value!r} (invalid: generate refuses it)"


def _run_name(run):
    """A run of ``train --restarts``, ``--lr`` with several rates or ``--pitch auto``: its rate (when
    recorded), seed, and its pitch predictor if it had one."""
    rate = run.get("lr")
    return ((f"lr {rate:g}, " if _is_number(rate) else "") + f"seed {run.get('seed')}"
            + (", pitch predictor" if run.get("pitch") is True else ""))


def _run_text(run, heard):
    """One run of several (``train --restarts``, ``--lr`` with several rates) as ``cwfast info``
    lists it; the verdict on its audio only if ``heard`` (a model whose temperature was calibrated:
    files written before 2026-12-04 gave the restarts of memorize and effect models an ``audible``
    of False, never measured)."""
    text = _run_name(run)
    figure = run.get("validation", run.get("train"))
    if isinstance(figure, dict) and _is_number(figure.get("bits_per_sample")):
        text += f": {figure['bits_per_sample']:.3f} bits"
    elif isinstance(figure, dict) and _is_number(figure.get("nmse")):  # memorize (NMSE) and effect (ESR) runs
        text += f": {_format_figures(figure)}"
    if not heard:
        return text
    if run.get("meets_likeness") is True:
        return text + ", its audio like its training audio's"
    if run.get("pinned") is True:
        return text + ", pinned at full scale"
    return text + (", audible" if run.get("audible") is True else ", near silent" if run.get("audible") is False else "")


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


def _check_audio_fits(path, rate, *, start=0.0, seconds=None, option="--sample-rate", hint=None):
    """Refuse, before reading, audio whose reading and resampling to ``rate`` cannot fit in memory
    (``hint``: what to do instead; by default, a lower ``option`` or a shorter excerpt)."""
    from .audio import sound_info
    from .budget import audio_bytes, check_fits

    try:
        info = sound_info(path)
    except Exception:  # noqa: BLE001  unreadable: load_audio says why in its own words
        return
    # In floats: a --start or --seconds of 1e305 times the rate is inf, which int() cannot take.
    frames = max(0.0, info.frames - start * info.samplerate)
    if seconds is not None:
        frames = min(frames, seconds * info.samplerate + 1)
    frames = int(frames)
    what = f"reading '{path}'" + (f" and resampling it to {rate} Hz" if rate and rate != info.samplerate else "")
    check_fits(audio_bytes(frames, info.channels, info.samplerate, rate), what,
               hint or f"pass a lower {option} or a shorter excerpt")


def _audio_extensions():
    """The file extensions taken for audio: every format soundfile reads, and their other names,
    but .raw, which holds no sample rate to read it by (load_audio refuses it by name)."""
    import soundfile

    from .audio import HEADERLESS

    return ({"." + e.lower() for e in soundfile.available_formats()} | {".oga", ".opus", ".aif"}) - HEADERLESS


def _refuse_no_regular_file(path):
    """``os.stat(path)``, or None if it cannot be read (a missing file, a broken link: left to the
    read, which says which); CwfastError if ``path`` is neither a regular file nor a folder:
    reading a named pipe waits for a writer for ever (a device's reads need not end either)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise CwfastError(f"'{path}' is not a regular file (a named pipe or a device?)")
    return info


def _audio_files(names):
    """The files named, folders replaced by the audio files below them (any depth, sorted), each
    file once (the same file by another path or through a folder included).

    A folder's files count when their extension is one soundfile reads and their name, and those
    of the folders between, do not start with a dot (hidden); a file named directly is taken as
    it is (load_audio says so if it is not audio). A folder without audio is an error.
    """
    extensions = _audio_extensions()
    files = []
    for name in names:
        if not os.path.isdir(name):
            files.append(name)
            continue
        found, walked, hidden = [], {os.path.realpath(name)}, False
        # Linked folders are followed (each real folder once: a link to an ancestor is no loop).
        for folder, below, names_below in os.walk(name, followlinks=True):
            # Hidden folders hold no recordings to train on either: a trash's (".Trash-1000",
            # deleted files), version control's, a cache's. The folder named is walked, hidden or not.
            hidden = hidden or any(d.startswith(".") for d in below) or any(
                f.startswith(".") and os.path.splitext(f)[1].lower() in extensions for f in names_below)
            below[:] = [d for d in below
                        if not d.startswith(".") and os.path.realpath(os.path.join(folder, d)) not in walked]
            walked.update(os.path.realpath(os.path.join(folder, d)) for d in below)
            # Hidden files are not recordings: macOS's "._x.wav" resource forks, an editor's or
            # cwfast's own temporary files (".x.wav.NNNN") left by a crash.
            found += [os.path.join(folder, f) for f in names_below
                      if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions]
        if not found:
            # Say where the audio may be: a folder's .wav files all hidden looked like no .wav at all.
            left_out = "; hidden files and folders (names starting with '.') are left out" if hidden else ""
            raise CwfastError(f"folder '{name}' holds no audio files ({', '.join(sorted(extensions))}){left_out}")
        files.extend(sorted(found))
    kept, seen, again = [], set(), {}  # again: each file named more than once, as first named again
    for path in files:  # a file named twice (or inside a folder also named, or hard-linked) is trained on once
        info = _refuse_no_regular_file(path)
        # (missing, a broken link: load_audio says which)
        key = os.path.realpath(path) if info is None else (info.st_dev, info.st_ino)
        if key in seen:
            again.setdefault(key, path)
            continue
        seen.add(key)
        kept.append(path)
    if again:  # one note, not one a file (a folder named twice repeats every file in it)
        again = list(again.values())  # a file named three times is one file named more than once
        if len(again) == 1:
            _note(f"'{again[0]}' is named more than once; training on it once")
        else:
            _note(f"{len(again)} files ('{again[0]}', ...) are named more than once; training on each once")
    return kept


def _cancelling(path, samples, **excerpt):
    """How many channels ``path`` (read as ``samples``, mono) has if they are not silent but mix
    to silence; else 0. Read again only when ``samples`` is silent."""
    from .audio import load_audio

    if not samples.size or samples.any():
        return 0
    channels, _ = load_audio(path, mono=False, **excerpt)
    return channels.shape[1] if channels.any() else 0


def _load_clip(path, args, sample_rate, empty=None):
    """(samples, rate, start): the clip ``args`` asks for, ``start`` its first sample's time in
    the file, in seconds (after --trim: the first one kept), read into an array from ``empty``
    (load_audio's: a scratch file's, for training)."""
    from .audio import cancelling_channels, load_audio

    _check_audio_fits(path, sample_rate, start=args.start, seconds=args.seconds)
    try:
        samples, rate = load_audio(path, sample_rate=sample_rate, start=args.start, duration=args.seconds,
                                   on_resample=_note, empty=empty, on_note=_note)
    except ParameterError as exc:
        raise _as_options(exc, start="--start", duration="--seconds") from None
    channels = _cancelling(path, samples, start=args.start, duration=args.seconds)
    if channels:  # "silent" alone would contradict what the user hears
        raise ParameterError(f"{cancelling_channels(path, channels)}; train on one of its channels, saved as a "
                             "file of its own (cwfast reads every file mixed to mono)")
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
    start = args.start
    if getattr(args, "trim", False):
        from .audio import loud_span

        try:
            first, end = loud_span(samples, rate)
        except ParameterError as error:
            raise ParameterError(f"--trim: '{path}': {error}") from None
        if end - first < samples.size:
            _note(f"--trim: kept {(end - first) / rate:.2f} s of the {samples.size / rate:.2f} s of '{path}' "
                  "(silence at its ends dropped)")
        samples, start = samples[first:end], start + first / rate
    return samples, rate, start


def cmd_train(args):
    from .train_audio import spoken_as_options

    with spoken_as_options():  # train_audio's messages name --options, not its arguments
        return _train(args)


def _train(args):
    from .train.cluster import STARTING as STARTING_RAY
    from .train_audio import MIXTURE_TEMPERATURE, check_options, train_audio

    mode = args.mode
    if mode == "effect" and args.target is None:
        raise ParameterError("effect mode needs --target WET, the processed version of AUDIO")
    if mode != "effect" and args.target is not None:
        raise ParameterError(f"--target is for effect mode; {mode} mode learns from AUDIO alone")
    if args.resume and not args.checkpoint:
        raise ParameterError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if args.trim and mode == "effect":
        raise ParameterError("--trim is for memorize and autoregressive mode; an effect's input and target must "
                             "stay aligned, so cut them to the same span yourself")
    check_options(mode=mode, arch=args.arch, trainer=args.trainer, modules=args.modules, periods=args.periods,
                  classes=args.classes, population=args.population, sigma=args.sigma, cluster=args.cluster,
                  validation=args.validation, test=args.test, input_window=args.input_window, head=args.head,
                  components=args.components, level=args.level, prediction=args.prediction,
                  level_band=args.level_band, window=args.window, batch_size=args.batch_size, epochs=args.epochs,
                  time_budget=args.time_budget, restarts=args.restarts, checkpoint=args.checkpoint,
                  history=args.history, scale_fit=args.scale_fit, lr=args.lr, pitch=args.pitch)
    if mode == "autoregressive" and args.classes not in (None, 256) and args.head is None:
        _note(f"--classes {args.classes}: the softmax head (the mixture head scores the 256 mu-law classes)")
    files = _audio_files(args.audio)
    if len(files) > 1:
        if mode != "autoregressive":
            raise ParameterError(f"{mode} mode learns from one AUDIO file; several files and folders (a corpus) "
                                 "train autoregressive models")
        if args.start or args.samples is not None or args.seconds is not None:
            raise ParameterError("--start, --samples and --seconds cut one file; with several, every file is used whole")
    _refuse_overwriting([("-o", args.output), ("--plot", args.plot), ("--checkpoint", args.checkpoint)],
                        [*(("AUDIO", path) for path in files), ("--target", args.target)])
    from .audio import WRITE_FORMATS

    if os.path.splitext(args.output)[1].lower() in WRITE_FORMATS:
        # A model under an audio name is almost always `train` typed for `generate`.
        raise ParameterError(f"-o '{args.output}' names an audio file; train saves a model (.npz), "
                             "and cwfast generate writes audio")
    if not args.output:
        raise ParameterError("-o is empty: give the model's file name (.npz)")
    if os.path.splitext(args.output)[1].lower() != ".npz":
        from .validate import bare_extension

        problem = "has no name before .npz" if bare_extension(args.output, (".npz",)) else "must end in .npz"
        raise ParameterError(f"-o '{args.output}' {problem}: train saves a model file")
    _check_output(args.output, args.overwrite, what="model")
    _check_plot(args)
    _check_checkpoint(args)
    from .scratch import Scratch

    scratch = Scratch(args.scratch, name="--scratch")
    rate = args.sample_rate
    clips = []
    for path in files:  # every file at the rate asked for, or at the first file's, read into the scratch folder
        samples, rate, start = _load_clip(path, args, rate, empty=scratch.empty)
        clips.append(samples)
    wet = None
    if mode == "effect":
        _refuse_no_regular_file(args.target)
        wet, _, _ = _load_clip(args.target, args, rate, empty=scratch.empty)
        if wet.size != clips[0].size:  # at other rates, its resampling note would come too late to explain it
            from .audio import sound_info

            rates = sound_info(files[0]).samplerate, sound_info(args.target).samplerate
            if rates[0] != rates[1]:
                raise ParameterError(
                    f"--target '{args.target}' is at {rates[1]} Hz and AUDIO at {rates[0]} Hz: at {rate} Hz the "
                    f"target has {wet.size} samples and AUDIO {clips[0].size}; they must be the same passage, "
                    "time-aligned")
        import numpy as np

        if np.array_equal(wet, clips[0]):
            _note("--target holds the same samples as AUDIO: the effect learnt will be no effect (the identity)")

    named = list(dict.fromkeys(args.audio))  # a folder named twice is named once here
    source = os.path.basename(files[0]) if len(files) == 1 else f"{len(files)} files from {', '.join(named)}"
    new_checkpoint = args.checkpoint and not args.resume and not os.path.lexists(args.checkpoint)
    resumed_from = None  # the checkpoint's updates and seconds, to tell a resume that trained nothing
    if args.resume and args.time_budget is not None:
        from .train import load_checkpoint

        with contextlib.suppress(CwfastError):  # a bad checkpoint: train_audio says what is wrong
            progress = load_checkpoint(args.checkpoint).progress
            resumed_from = progress["step"], progress["wall_time"]

    def check_disk_for(model):  # before training: a full disk must not cost the run
        from .budget import check_disk

        size = model.n_params * model.dtype.itemsize
        check_disk(args.output, 2 * size + 2**16, f"the model ({model.n_params:,} parameters)", "free some space")
        if args.checkpoint:  # parameters, best parameters and two optimiser moments
            check_disk(args.checkpoint, 4 * size + 2**16, "the checkpoint", "free some space")
        # A resumed run's checkpoint is checked in full only once the trainer has built its run's
        # settings, so its notes (those its first run said) are held until training ends, or until
        # the trainer starts a local Ray after that check: a refusal stays the one line printed.
        if not args.resume:
            _work_starts()

    def on_note(message):
        if message == STARTING_RAY:  # the trainer's checks passed; the held notes come before the wait
            _work_starts()
        _note(message)

    try:
        trained = train_audio(
            clips if len(clips) > 1 else clips[0], rate, mode=mode, target=wet, arch=args.arch, hidden=args.hidden,
            modules=args.modules, periods=args.periods, trainer=args.trainer, epochs=args.epochs, lr=args.lr,
            lr_schedule=args.lr_schedule,
            population=args.population, sigma=args.sigma, cluster=args.cluster, batch_size=args.batch_size,
            window=args.window, validation=args.validation, test=args.test, classes=args.classes,
            seed=0 if args.seed is None and not args.resume else args.seed,  # resuming: the checkpoint's
            checkpoint=args.checkpoint, resume=args.resume, progress=not args.quiet, on_note=on_note,
            # A corpus's files each start at --start (and, trimmed, wherever their sound does).
            metadata={"source": source, "start": start if len(clips) == 1 else args.start,
                      **({"trimmed": True} if args.trim else {})},
            time_budget=args.time_budget,
            input_window=args.input_window, head=args.head, components=args.components, level=args.level,
            prediction=args.prediction, level_band=args.level_band, on_model=check_disk_for, restarts=args.restarts,
            history=args.history, scale_fit=args.scale_fit, pitch=args.pitch, scratch=args.scratch,
        )
    except CwfastError as error:
        if getattr(error, "clip", None) is not None:  # a file of the corpus with nothing to learn: name it
            raise CwfastError(f"cannot train on '{files[error.clip]}' in this corpus: {error.reason}; leave it "
                              "out") from None
        if not isinstance(error, TrainingDiverged):
            raise
        # A run that failed (diverged, or to a model worse than a trivial one) leaves no checkpoint
        # it created to resume from: it would only resume the failure. (Ctrl-C keeps it, and so
        # does any other error, a cluster lost say, whose run the checkpoint resumes; one that
        # --overwrite replaced is gone either way.)
        if new_checkpoint and os.path.isfile(args.checkpoint):
            os.remove(args.checkpoint)
        raise
    _work_starts()  # a resumed run's held notes
    model, figures, result = trained.model, trained.figures, trained.result
    if resumed_from is not None and result.stopped == "time budget" and result.steps == resumed_from[0]:
        _note(f"the checkpoint's run had already spent the --time-budget ({resumed_from[1]:.1f} s of "
              f"{args.time_budget:g} s: a resumed run's earlier time counts): nothing more was trained, and the "
              "model saved is the checkpoint's; a longer --time-budget continues it")
    if args.resume and args.epochs and result.epochs > args.epochs:
        _note(f"the checkpoint had already trained {result.epochs} epochs, more than --epochs {args.epochs}; "
              "the model saved is the checkpoint's")
    model.save(args.output, overwrite=args.overwrite)
    args.model_written = True  # a Ctrl-C from here on (the plot) leaves the model

    stopped = (f", stopped by --time-budget after {_epochs_text(result.epochs, result.steps)}"
               if result.stopped == "time budget" else "")
    runs = model.metadata.get("runs")
    if runs:  # the time above is the kept model's own
        total = sum(run["seconds"] for run in runs["runs"])
        kept = f"{_run_name(model.metadata['trainer'])}; {_count(len(runs['runs']), 'run')}: {total:.1f} s"
        stopped = _noted(stopped, kept) if stopped else f" ({kept})"
    summary = (f"trained {mode} model ({model.n_params} parameters) in {result.wall_time:.1f} s{stopped}: "
               f"train {_format_figures(figures['train'])}")
    if "validation" in figures:
        summary += f"; validation ({_validation_chose(model.metadata)}) {_format_figures(figures['validation'])}"
    if "test" in figures:
        summary += f"; test (held out) {_format_figures(figures['test'])}"
    print(summary)
    calibration = model.metadata.get("temperature_calibration")
    chosen = next((row for row in (calibration or {}).get("table", ()) if row["temperature"] == calibration["chosen"]),
                  None)
    if chosen and is_pinned(chosen, calibration.get("training_audio")):  # pinned at every temperature: say so, whatever was kept
        advice = "; the pitch predictor can feed such a loop: try --pitch off" if model.pitch is not None else ""
        _note(f"warning: at every temperature measured, the model's audio ran into a loop between full scale's "
              f"rails ({chosen['pinned']:.0%} of its samples there at {calibration['chosen']:g}){advice}")
    elif calibration and calibration["chosen"] != MIXTURE_TEMPERATURE:
        print(f"generates at temperature {calibration['chosen']:g}: at {MIXTURE_TEMPERATURE:g} its audio missed its "
              "training audio's flatness or pitch, was near silence or pinned at full scale (cwfast info shows what "
              "each temperature gave)")
    print(f"wrote {args.output}")
    if args.plot:
        _plot_training(model, trained.task, args)
    return 0


def _validation_chose(meta):
    """What a model's validation part chose, as ``cwfast train`` and ``cwfast info`` say it: the run
    kept of several (``--lr`` with several rates, ``--pitch auto``, ``--restarts``: ranked on
    validation), the epoch (unless the evolution strategy kept its best centre by training loss),
    the mixture's scale."""
    trainer = meta.get("trainer") if isinstance(meta.get("trainer"), dict) else {}
    record = meta.get("runs", meta.get("restarts"))  # "restarts": written by earlier versions
    runs = record.get("runs") if isinstance(record, dict) else None
    # (a run stopped inside its first epoch had one set of parameters to keep: no epoch was chosen)
    epochs = as_real(trainer.get("epochs"))
    chose = [what for what, did in (("the run", isinstance(runs, list) and len(runs) > 1),
                                    ("the epoch", trainer.get("chosen_on", "validation") == "validation"
                                     and epochs != 0),
                                    ("the scale", "scale_fit" in meta)) if did]
    if not chose:
        return "chose nothing"
    return "chose " + (chose[0] if len(chose) == 1 else f"{', '.join(chose[:-1])} and {chose[-1]}")


def _check_checkpoint(args):
    """Refuse, before training, a --checkpoint that would clobber a file or fail at its first write
    (that it is no input and no other output, _refuse_overwriting has said)."""
    if not args.checkpoint:
        return
    if os.path.splitext(args.checkpoint)[1].lower() in _audio_extensions():  # a later `train FOLDER` reads it
        raise ParameterError(f"--checkpoint '{args.checkpoint}' names an audio file; a checkpoint is a NumPy "
                             "archive (name it .npz)")
    if args.resume:
        # The trainer checks that the checkpoint exists and fits; it is rewritten as training goes on.
        if os.path.isfile(args.checkpoint):
            from ._atomic import check_writable

            check_writable(args.checkpoint, what="checkpoint", overwrite=True)
        return
    if os.path.lexists(args.checkpoint) and not os.path.isdir(args.checkpoint) and not args.overwrite:
        from .train.checkpoint import load_checkpoint

        try:
            if not os.path.exists(args.checkpoint):
                raise CwfastError("a symbolic link to a missing file")
            load_checkpoint(args.checkpoint)
        except CwfastError as exc:  # a saved model, say (both are .npz): --resume would fail on it
            reason = str(exc).removeprefix(f"cannot load checkpoint '{args.checkpoint}': ")
            raise CwfastError(f"--checkpoint '{args.checkpoint}' exists and is no checkpoint to resume: {reason}; "
                              "name another file, or pass --overwrite to replace it") from None
        raise CwfastError(f"checkpoint '{args.checkpoint}' exists; pass --resume to continue from it, "
                          "or --overwrite to start afresh")
    _check_output(args.checkpoint, True, what="checkpoint")
    args.earlier_checkpoint = _file_identity(args.checkpoint)  # what --overwrite replaces once a checkpoint is due


def _file_identity(path):
    """The file at ``path`` as a checkpoint's atomic write would change it (its inode and time), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


#: ``train --plot`` of an autoregressive model draws at most this much training and generated audio.
PLOT_SECONDS = 10.0


def _plot_training(model, task, args):
    from . import render
    from .codec import mu_law_values
    from .plot import plot_audio

    if task.mode == "memorize":
        output = render.render(model, task.n_steps)
        target = render.denormalize(task.targets[:, 0], model)
    elif task.mode == "effect":
        output = render.process(model, task.inputs[:, 0])
        target = task.targets[:, 0]
    else:  # the first PLOT_SECONDS: generating a whole corpus's length only to draw it would take long
        n = min(task.n_steps, int(PLOT_SECONDS * (model.sample_rate or 16000)))
        output = render.render(model, n, seed=args.seed)
        target = render.denormalize(mu_law_values(task.n_out)[task.targets[:n]], model)
    title = f"{task.mode}: {'training audio and generated audio' if task.mode == 'autoregressive' else 'target and output'}"
    # Free-running generation only resembles the training audio: side by side, not over it.
    free = task.mode == "autoregressive"
    labels = ("training audio", "generated") if free else ("target", "output")
    plot_audio(args.plot, output, model.sample_rate, target=target, title=title, labels=labels, overlay=not free,
               overwrite=args.overwrite)
    print(f"wrote {args.plot}")


# ----------------------------------------------------------------------------------- generate


def cmd_generate(args):
    import numpy as np

    from . import render, tasks

    _check_output(args.output, args.overwrite, audio=True, what="audio")
    _refuse_overwriting([("-o", args.output), ("--plot", args.plot)], [("--model", args.model), ("--prime", args.prime)])
    _check_plot(args)
    model, name = _load_model(args.model)
    mode = tasks.mode_of(model)
    if mode == "effect":
        from .render import effect_refusal

        raise effect_refusal(model, name, "'cwfast process -m MODEL IN -o OUT'")
    rate = model.sample_rate or args.sample_rate
    if rate is None:
        raise ParameterError("the model does not store a sample rate; pass --sample-rate HZ")
    from .audio import MAX_SAMPLE_RATE

    if rate > MAX_SAMPLE_RATE:  # (a model stores none so high: it is --sample-rate's)
        raise ParameterError(f"--sample-rate {rate} is more than a sound file can store ({MAX_SAMPLE_RATE} Hz)")
    if args.sample_rate is not None and model.sample_rate is not None and args.sample_rate != model.sample_rate:
        raise ParameterError(f"--sample-rate {args.sample_rate} differs from the model's {model.sample_rate} Hz")
    n_samples = args.samples if args.seconds is None else render.seconds_to_samples(args.seconds, rate,
                                                                                       option="--seconds")
    trained = render.trained_length(model) if mode == "memorize" else 0
    if n_samples is None and not trained:
        # 5 s at the rate the file is written at (--sample-rate for a model that stores none).
        n_samples = render.seconds_to_samples(5.0, rate)

    prime = None
    if args.prime is not None:
        if mode != "autoregressive":
            raise ParameterError("--prime is for autoregressive models; a memorize model takes no input")
        from .audio import cancelling_channels, load_audio

        _refuse_no_regular_file(args.prime)
        _check_audio_fits(args.prime, rate, hint="pass a shorter --prime, or one nearer the model's rate")
        prime, _ = load_audio(args.prime, sample_rate=rate, on_resample=_note, on_note=_note)
        channels = _cancelling(args.prime, prime)
        if channels:  # say so rather than start quietly from nothing
            _note(f"{cancelling_channels(args.prime, channels)}: the model is primed with silence")
    if mode == "memorize":
        if args.temperature is not None:
            raise ParameterError("--temperature is for autoregressive models; a memorize model is deterministic")
        if args.seed is not None:
            raise ParameterError("--seed is for autoregressive models; a memorize model is deterministic")
        if args.output_gain is not None:
            raise ParameterError("--output-gain is for autoregressive models; a memorize model generates its clip at its level")

    from .audio import write_audio_blocks
    from .budget import check_disk, check_fits

    total = n_samples or trained
    subtype = _subtype_for(args.output, args.subtype, rate)
    check_disk(args.output, total * _SAMPLE_BYTES.get(subtype, 4), f"{total:,} samples of {subtype.lower()}",
               "ask for fewer (--seconds, --samples)")
    plotted = min(total, int(PLOT_SECONDS * rate))  # the first PLOT_SECONDS: 10 min took 2.2 GB to draw whole
    if args.plot:
        check_fits(8 * plotted, f"plotting {plotted:,} samples", "ask for fewer, or leave out --plot")
    seed = args.seed
    if mode == "autoregressive" and seed is None:
        seed = render.fresh_seed()
    elif mode == "autoregressive" and args.temperature == 0:  # told, not refused: a sweep of temperatures keeps its seed
        _note(f"--seed {seed} draws nothing at --temperature 0 (greedy): every seed gives the same audio")
    # A long prime runs for a while before the first sample (an hour's: about a minute): a bar of
    # its own, once every check has passed (the first piece primed).
    with _Progress(total=0 if prime is None else prime.size, desc="priming", unit="sample",
                   disable=args.quiet) as priming:
        def primed(n):
            _work_starts()
            priming.update(n)

        blocks = render.render_blocks(model, n_samples, seed=seed, temperature=args.temperature, prime=prime,
                                      output_gain=args.output_gain, on_prime=primed)
    if trained and n_samples is not None and n_samples > trained:  # once the model is found able to run
        _note(f"the model was trained on {trained} samples; beyond them it runs free, on its clock alone")
    kept = []
    power = [0.0]  # the sum of squares written, to say if it came out near silent

    def written():
        held = 0
        for block in blocks:
            if args.plot and held < plotted:
                kept.append(block[: plotted - held])
                held += kept[-1].size
            power[0] += float(np.dot(block, block.astype(np.float64)))
            bar.update(block.size)
            yield block

    # Written block by block as it is generated: memory does not grow with the length asked for.
    with _progress(args, total, "generating") as bar:
        frames, clipped = write_audio_blocks(args.output, written(), rate, subtype=subtype, overwrite=args.overwrite)
    _note_clipped(clipped, subtype, args.output)
    what = f"wrote {args.output}: {_count(frames, 'sample')} ({_duration(frames, rate)}) from {name}"
    if mode == "autoregressive":  # at temperature 0 (greedy) the seed draws nothing: not offered as what made it
        what += ", temperature 0 (greedy: no seed)" if args.temperature == 0 else f", seed {seed}"
    print(what)
    if mode == "autoregressive" and args.output_gain is None:
        _note_near_silence(model, power[0], frames, rate, seed, args.temperature)
    if args.plot:
        from .plot import plot_audio

        first = f" (its first {_duration(plotted, rate)})" if plotted < frames else ""
        plot_audio(args.plot, np.concatenate(kept), rate, title=f"generated by {os.path.basename(name)}{first}",
                   overwrite=args.overwrite)
        print(f"wrote {args.plot}{first}")
    return 0


def _note_near_silence(model, power, frames, rate, seed, temperature):
    """Say if generated audio (``power``: its sum of squares over ``frames`` samples, at the
    model's level) is near silent against its training audio (:data:`cwfast.modes.AUDIBLE_RMS`).
    The calibration chose the temperature on three seeds' audio (before 2026-12-07, on one), and
    a model near silence's edge can fall silent at another (docs/results.md, "The calibration's
    figures as medians over three seeds").
    Not said of less than a second (the audio starts from silence), nor of a model calibrated
    before the training audio's RMS was stored."""
    from .render import scale_of, temperature_of, training_rms_of

    training = training_rms_of(model)
    if training is None or frames < rate:
        return
    ratio = math.sqrt(power / frames) / (scale_of(model) * training)
    if ratio < AUDIBLE_RMS:
        temperature = temperature_of(model) if temperature is None else temperature
        drawn = "" if temperature == 0 else f" at seed {seed}"
        _note(f"the audio is {ratio:.2g}x its training audio's RMS: near silence{drawn}; another --seed or a "
              f"--temperature above {temperature:g} may be louder")


# ----------------------------------------------------------------------------------- process


#: Frames a block when ``process`` reads its input once through to check it.
_CHECK_BLOCK = 65536


def cmd_process(args):
    from . import render
    from .audio import read_audio_blocks, resample_blocks, resample_note, write_audio_blocks

    _check_output(args.output, args.overwrite, audio=True, what="audio")
    _refuse_overwriting([("-o", args.output)], [("IN", args.input), ("--model", args.model)])
    model, name = _load_model(args.model)
    try:
        render.check_processable(model, args.blocked)
    except ParameterError as exc:  # the API's blocked=True is the command line's --blocked
        raise ParameterError(str(exc).replace("blocked=True", "--blocked")) from None
    _refuse_no_regular_file(args.input)
    file_rate, frames, blocks = read_audio_blocks(args.input, args.block)
    subtype = _subtype_for(args.output, args.subtype, file_rate)  # written at the file's rate
    from .budget import check_disk

    check_disk(args.output, frames * _SAMPLE_BYTES.get(subtype, 4), f"{frames:,} samples of "
               f"{subtype.lower()}", "write to another disk, or --subtype pcm_16")
    # Every sample checked before the work (and its notes) start: a NaN an hour into the file was
    # refused an hour later, after the note that it was resampled. One more decoding pass: 0.27 s
    # for 46 s of 44.1-kHz OGG, against about 5 s for the whole command through a 144-unit model;
    # a WAV's, a few milliseconds. Its notes (a file cut short, channels that cancel) come before the work too.
    for _ in read_audio_blocks(args.input, _CHECK_BLOCK, on_note=_note)[2]:
        pass
    rate = model.sample_rate or file_rate
    resampled = rate != file_rate
    if resampled:
        # Streamed both ways too: an hour at 44.1 kHz through a 16-kHz model read, resampled and
        # processed whole peaked at 2.8 GB; resample_blocks gives the same bits in a few blocks.
        _note(resample_note(args.input, file_rate, rate))
        blocks = resample_blocks(blocks, file_rate, rate)
        model_frames = -(-frames * rate // file_rate)  # (resample's length: ceil)
        resample_blocks((), rate, file_rate)  # its checks of the way back, before any work
    else:
        model_frames = frames
    # The stream is prepared for blocks no longer than the file, as render.process does: --block
    # 10**8 on a short file must not allocate (blocked: block x units floats) for 10**8 steps.
    block_size = min(args.block, max(model_frames, 1))
    # Read, processed and written block by block: memory does not grow with the file.
    with _progress(args, frames, "processing") as bar:
        def counted():
            out = render.process_blocks(model, blocks, block_size=block_size, blocked=args.blocked)
            if resampled:
                # Back at the file's rate the output has the input's length: a round trip of
                # ceil()s can add a sample, which would shift what a user lines up against the dry file.
                out = _first(resample_blocks(out, rate, file_rate), frames)
            for block in out:
                bar.update(block.size)
                yield block

        n, clipped = write_audio_blocks(args.output, counted(), file_rate, subtype=subtype, overwrite=args.overwrite)
    if resampled:
        _note(f"resampled the output back to {file_rate} Hz")
    _note_clipped(clipped, subtype, args.output)
    print(f"wrote {args.output}: {_count(n, 'sample')} ({_duration(n, file_rate)}) through {name}")
    return 0


def _first(blocks, n):
    """The first ``n`` samples of ``blocks``, blocks of them."""
    for block in blocks:
        if n <= 0:
            return
        kept = block[:n]
        yield kept
        n -= kept.size


# ----------------------------------------------------------------------------------- info


def _epochs_text(epochs, updates):
    """"3 epochs", or, where a time budget stopped a run inside its first (a large corpus), the
    updates it made: "0 epochs" hid a model trained for 1297 of them."""
    if epochs == 0 and isinstance(updates, int) and not isinstance(updates, bool) and updates > 0:
        return f"part of its first epoch ({updates} update{'' if updates == 1 else 's'})"
    return f"{epochs} epoch{'' if epochs == 1 else 's'}"


def _noted(text, note):
    """``text (note)``, or ``text (its own words; note)`` where text already ends in brackets:
    "part of its first epoch (139 updates; time budget)", not "(139 updates) (time budget)"."""
    if text.endswith(")"):
        return f"{text[:-1]}; {note})"
    return f"{text} ({note})"


def _ratio(x):
    """A ratio to two decimals, or to three figures past 1000 (a pure tone's flatness is near 0, and
    a ratio to it printed as 9443204299437.74)."""
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:.3g}"


def _pinned_text(row, training):
    """A calibration row's share of samples at full scale, where it counted (cwfast.modes.is_pinned)."""
    return f", {row['pinned']:.0%} at full scale" if is_pinned(row, training) else ""


def _calibration_text(calibration):
    """What ``cwfast info`` says of a temperature chosen on the training audio (cwfast.train_audio.calibrate_temperature)."""
    if not isinstance(calibration, dict) or not isinstance(calibration.get("table"), list):
        return ""
    rows = [row for row in calibration["table"] if isinstance(row, dict) and _is_number(row.get("flatness"))
            and _is_number(row.get("pitched")) and _is_number(row.get("rms"))]
    heard = calibration.get("training_audio")
    pitched = f" of {heard['pitched']:.2f}" if isinstance(heard, dict) and _is_number(heard.get("pitched")) else ""
    seen = "; ".join(f"{row['temperature']:g}: flatness {_ratio(row['flatness'])}x, pitched {row['pitched']:.2f}{pitched}, "
                     f"RMS {row['rms']:.2f}x{_pinned_text(row, heard)}{', qualifies' if row.get('qualifies') is True else ''}"
                     for row in rows if _is_number(row.get("temperature")))
    return f" (chosen on {calibration.get('on', 'the training audio')}{': ' + seen if seen else ''})"


def cmd_info(args):
    from . import tasks

    if args.model is not None and args.model_option is not None:
        raise ParameterError(f"give the model once: MODEL ({args.model!r}) or -m ({args.model_option!r})")
    model, name = _load_model(args.model if args.model is not None else args.model_option)
    rows = [*_info_architecture(model, name), *_info_data(model, tasks.mode_of(model)), *_info_training(model),
            *_info_generation(model)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _checked(model, key, read):
    """A stored value as ``read`` (a render function) finds it, or as stored with a mark that
    generate refuses it."""
    try:
        return read(model)
    except CwfastError:
        return _Refused(model.metadata.get(key))


def _info_architecture(model, name):
    """info's rows on what the model is: its architecture and what it adds to it."""
    from . import render

    if model.output == "softmax":
        head = f"softmax output over {model.n_out} classes"
    elif model.output == "mixture":
        classes = _checked(model, "n_classes", render.classes_of)
        head = f"mixture of {model.n_out // 3} logistics over {classes} mu-law classes"
    else:
        head = f"{model.n_out} linear output{'s' if model.n_out > 1 else ''}"
    kind = model.description
    # An SRN is one module of period 1 and an LSTM has no clock: neither has modules to describe.
    clocks = "" if not model.has_clock else f" in {model.n_modules} module{'s' if model.n_modules != 1 else ''}"
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
        if getattr(model, "max_window", 1) > 1:
            rows.append(("input windows", " ".join(map(str, model.input_windows.tolist()))
                         + " (inputs each module reads per tick)"))
    if model.prediction:
        rows.append(("prediction", f"linear prediction: {model.prediction} taps added to the mixture's means"))
    if model.pitch is not None:
        p = model.pitch
        bound = f", bounded above an RMS of {p.reference:.4g}" if p.reference < float("inf") else ""
        rows.append(("pitch", f"pitch predictor: lags {p.lo} .. {p.hi}, searched every {p.hop} steps over "
                              f"{p.window}, gain {model.pitch_gain:.4g}{bound}"))
    if model.level is not None:
        level = model.level
        band = f", the gain held within {level.floor:.4g} .. {level.ceiling:.4g}" if level.ceiling < float("inf") else ""
        rows.append(("level", f"normalised over about {1 / level.alpha:.0f} samples (alpha {level.alpha:.4g}, "
                              f"starting at {level.start:.4g}{band})"))
    rows += [
        ("parameters", f"{model.n_params:,} ({model.dtype.name})"),
        ("sample rate", f"{model.sample_rate} Hz" if model.sample_rate else "not stored"),
    ]
    return rows


def _info_data(model, mode):
    """info's row on the task and the audio it was trained on."""
    from . import render

    meta = model.metadata
    detail = []
    if mode == "autoregressive":
        classes = _checked(model, "n_classes", render.classes_of)  # a mixture's: 256
        try:
            history = f"reads {render.history_of(model)} history"
        except CwfastError:
            history = f"history {meta.get('history')!r}?"
        detail.append(f"mu-law, {classes} classes, {history}")
    if "scale" in meta:
        detail.append(f"scale {_checked(model, 'scale', render.scale_of):.4g}")
    if render.trained_length(model):
        start = meta.get("start", 0)
        split = meta.get("split") if isinstance(meta.get("split"), dict) else {}
        held = [f"{split[k]:.0%} for {k}" for k in ("validation", "test") if _is_number(split.get(k)) and split[k] > 0]
        # (the samples the task had, the held-out parts among them: "trained on" them all misled)
        whose = "each file's" if meta.get("clips") else "its"
        detail.append(f"from {meta['length']} samples of {meta.get('source', 'its clip')}"
                      + (f" ({' and '.join(held)} held out, at {whose} end)" if held else "")
                      + f", starting at {start if not _is_number(start) else f'{start:g}'} s"
                      + (", silent ends trimmed" if meta.get("trimmed") else ""))
    return [("mode", mode + (f" ({'; '.join(detail)})" if detail else ""))]


def _info_training(model):
    """info's rows on the training: the trainer, the figures, the runs, the fits on validation."""
    meta, rows = model.metadata, []
    trainer = meta.get("trainer") if isinstance(meta.get("trainer"), dict) else None
    figures = meta.get("figures") if isinstance(meta.get("figures"), dict) else {}
    if trainer or figures:
        parts = []
        if trainer:
            seconds = trainer.get("seconds")
            took = f"{seconds:.1f} s" if _is_number(seconds) else "time not stored"
            epochs = trainer.get("epochs")
            stopped = trainer.get("stopped")
            rate = f" at lr {trainer['lr']:g}" if _is_number(trainer.get("lr")) else ""
            count = (f"{epochs} generation{'' if epochs == 1 else 's'}" if trainer.get("name") == "es"
                     else _epochs_text(epochs, trainer.get("updates")))
            if isinstance(stopped, str) and stopped not in ("completed", ""):
                count = _noted(count, stopped)
            parts.append(f"{trainer.get('name')}{rate}, {count}, {took}")
        if "train" in figures:
            parts.append(f"train {_format_figures(figures['train'])}")
        if "validation" in figures:
            # Models trained before the test split scored their validation part as "held out".
            chose = f" ({_validation_chose(meta)})" if "test" in figures else ""
            parts.append(f"validation{chose} {_format_figures(figures['validation'])}")
        if "test" in figures:
            parts.append(f"test (held out) {_format_figures(figures['test'])}")
        rows.append(("training", "; ".join(parts)))
    else:
        rows.append(("training", "no figures stored"))
    record = meta.get("runs", meta.get("restarts"))  # "restarts": written by earlier versions
    runs = record.get("runs") if isinstance(record, dict) else None
    chosen = record.get("chosen") if isinstance(record, dict) else None
    if (isinstance(runs, list) and runs and all(isinstance(run, dict) for run in runs) and isinstance(chosen, int)
            and not isinstance(chosen, bool) and 0 <= chosen < len(runs)):
        heard = "temperature_calibration" in meta
        listed = "; ".join(_run_text(run, heard) for run in runs)
        rows.append(("runs", f"kept {_run_name(runs[chosen])} of {len(runs)} trained ({listed})"))
    fit = meta.get("scale_fit")
    if isinstance(fit, dict) and all(_is_number(fit.get(key)) for key in ("factor", "bits_before", "bits_after")):
        rows.append(("scale fit", f"every scale x{fit['factor']:.3g}, fitted on the validation part "
                                  f"({fit['bits_before']:.3f} to {fit['bits_after']:.3f} bits/sample)"))
    fit = meta.get("surprise_fit")
    fitted = isinstance(fit, dict) and all(_is_number(fit.get(key)) for key in ("bits_before", "bits_after"))
    if model.surprise is not None:  # what the model runs; the metadata says only how it was chosen
        surprise = model.surprise
        how = (f", fitted on the validation part ({fit['bits_before']:.3f} to {fit['bits_after']:.3f} bits/sample)"
               if fitted and fit.get("beta") == surprise.beta and fit.get("alpha") == surprise.alpha else "")
        rows.append(("surprise", f"scales x r^{surprise.beta:g}, r its surprise over about the last "
                                 f"{1 / surprise.alpha:.0f} samples{how}; generation holds r at 1"))
    elif fitted and fit.get("beta") == 0:
        rows.append(("surprise", "scales fixed: no surprise-following scale predicted the validation part better"))
    return rows


def _info_generation(model):
    """info's rows on how the model generates: its temperature, output gain, and the check made."""
    from . import render

    meta, rows = model.metadata, []
    if "temperature" in meta:
        temperature = _checked(model, "temperature", render.temperature_of)
        calibration = "" if isinstance(temperature, _Refused) else _calibration_text(meta.get("temperature_calibration"))
        rows.append(("temperature", f"{temperature:g}{calibration}"))
    if "output_gain" in meta:
        gain = _checked(model, "output_gain", render.output_gain_of)
        rows.append(("output gain", f"{gain}" if isinstance(gain, _Refused) else
                                    f"x{gain:.4g} ({20 * math.log10(gain):+.1f} dB): generates at its training "
                                    "audio's loudness, measured when its temperature was chosen"))
    # What scripts/train_default_model.py measured against the whole recording it trained on, held-out
    # parts included: not the training audio that chose the temperature and the output gain above.
    check = meta.get("check")
    if isinstance(check, dict) and {"rms", "source_rms", "centroid_hz", "source_centroid_hz"} <= set(check):
        likeness = ""
        if {"flatness", "source_flatness", "pitched", "source_pitched"} <= set(check):
            likeness = (f", spectral flatness {check['flatness']} ({check['source_flatness']}), pitched frames "
                        f"{check['pitched']} ({check['source_pitched']})")
        rows.append(("check", f"{check.get('seconds', '?')} s generated at temperature {check.get('temperature', 1)}: "
                              f"RMS {check['rms']} (the recording {check['source_rms']}), spectral centroid "
                              f"{check['centroid_hz']} Hz (the recording {check['source_centroid_hz']} Hz)"
                              f"{likeness}"))
    return rows


# ----------------------------------------------------------------------------------- bench


def cmd_bench(args):
    return _load_bench().run(args)


# ----------------------------------------------------------------------------------- export


def cmd_export(args):
    import shutil

    from .export import _refuse_the_model, _resolve, export_c

    from .export import lv2

    # The plug-in's facts, refused before anything is read or built.
    for option, value, check in (("license", args.license, lv2.check_license),
                                 ("maintainer", args.maintainer, lv2.check_maintainer)):
        if value is not None:
            if not args.lv2:
                raise ParameterError(f"--{option} is the LV2 plug-in's: give it with --lv2")
            try:
                check(value)
            except ParameterError as exc:
                raise _as_options(exc, **{option: f"--{option}"}) from None
    if args.model is None:  # the bundled model, as generate and info take it
        args.model = _bundled_model_path()
        if args.name is None:  # (its file's stem, "default", is a C keyword)
            args.name = BUNDLED_EXPORT_NAME
    try:
        model, name = _resolve(args.model, args.name)
    except ParameterError as exc:  # the name's checks speak of the API's name=; here it is --name
        raise _as_options(exc, name="--name") from None
    if not os.path.isdir(args.output):
        from .export import _why_no_directory

        raise CwfastError(f"cannot export to '{args.output}': {_why_no_directory(args.output)}")
    outputs = [os.path.join(args.output, f"{name}{ext}") for ext in (".h", ".c", ".lv2")[: 3 if args.lv2 else 2]]
    from ._atomic import _refuse, _target

    _refuse_the_model(args.model, outputs)
    for path in outputs:  # refuse before building anything
        if os.path.lexists(path) and not args.overwrite:
            raise CwfastError(f"'{path}' exists; pass --overwrite to replace it")
        if not path.endswith(".lv2"):  # a directory or a pipe in the way: refused now, not after the build
            _refuse(_target(path, "C source"), "C source", True)
    # All or nothing: the C files are written to a staging folder and the bundle is built in one,
    # then all three are renamed into place together (cwfast._atomic.replace_together). A failed
    # write (a full disk, say), a failed build or a failed rename leaves every old file as it was.
    import tempfile

    from ._atomic import copy_beside, replace_together

    try:
        staging = tempfile.mkdtemp(prefix=f".{name}.export.", dir=args.output)
    except OSError as exc:
        raise CwfastError(f"cannot export to '{args.output}': {exc.strerror or exc}") from None
    build = bundle = None
    copies = []
    try:
        try:
            staged = export_c(model, staging, name)
        except CwfastError as exc:  # it names the staging folder, which is gone when the user reads it
            raise CwfastError(str(exc).replace(staging, os.path.normpath(args.output))) from None
        header, source = (os.path.join(args.output, os.path.basename(path)) for path in staged)
        # Over a symbolic link the file it points to is written, the link kept, as every writer does;
        # a file renames only within one mount, so one a link sends out of the folder goes over first.
        moves = []
        for new, target in zip(staged, (_target(header, "C source"), _target(source, "C source"))):
            if not os.path.samefile(os.path.dirname(os.path.abspath(target)), args.output):
                new = copy_beside(new, target, what="C source")
                copies.append(new)
            moves.append((new, target))
        if args.lv2:
            from .export.lv2 import build_bundle, uri

            build, bundle, target = build_bundle(model, args.output, name, overwrite=args.overwrite,
                                                 license=args.license, maintainer=args.maintainer)
            moves.append((build, target))  # (over a link, where it points)
        replace_together(moves)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if build is not None:
            shutil.rmtree(build, ignore_errors=True)  # gone already once it is in place
        for copy in copies:  # gone already once in place
            with contextlib.suppress(OSError):
                os.unlink(copy)
    print(f"wrote {header} and {source}")
    if bundle is not None:  # (named as the C files are: './x.lv2' beside './x.h', not 'x.lv2')
        print(f"wrote {os.path.join(args.output, os.path.basename(bundle))} (LV2 plug-in {uri(name)})")
    return 0


# ----------------------------------------------------------------------------------- main


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a CI job cancelled), raised as a kind of Ctrl-C: every file
    being written is removed on the way out, and a training run writes its checkpoint."""


#: Whether SIGTERM came during this run of :func:`main`: a library may turn the _Terminated the
#: handler raises into a KeyboardInterrupt of its own (Ray's wait does), which is still a SIGTERM.
_sigterm_received = False


def _terminate(signum, frame):
    global _sigterm_received
    _sigterm_received = True
    raise _Terminated()


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    import signal
    import threading
    import warnings

    global _sigterm_received
    _sigterm_received = False
    # What main() changes of the process it runs in, put back when it returns (a program may call
    # it, as the tests do): stderr, stdout's error handler, the SIGTERM handler.
    null_stderr = reconfigured = None
    if sys.stderr is None:
        # Started with stderr closed (2>&-): print(file=sys.stderr) would print to stdout, putting
        # notes and errors among the results (bench --json). What it would say goes nowhere.
        sys.stderr = null_stderr = open(os.devnull, "w")
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        # A file name the encoding cannot hold (cp1252, Windows' into a file) is escaped, as on
        # stderr, rather than a UnicodeEncodeError after the work is done and its file written.
        reconfigured = sys.stdout
        reconfigured.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    main_thread = threading.current_thread() is threading.main_thread()
    previous = None
    try:
        parser = build_parser()
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        with warnings.catch_warnings():
            # NumPy's overflow warnings as a run diverges: the command says what went wrong in its
            # own one line (training diverged ...), so they are noise on stderr.
            warnings.simplefilter("ignore", RuntimeWarning)
            return _main(parser, argv)
    finally:
        if main_thread and previous is not None:  # None: a handler installed outside Python, left alone
            signal.signal(signal.SIGTERM, previous)
        if reconfigured is not None:
            with contextlib.suppress(OSError, ValueError):  # (a stdout closed or broken by now)
                reconfigured.reconfigure(errors="strict")
        if null_stderr is not None and sys.stderr is null_stderr:
            sys.stderr = None
            null_stderr.close()


def _quiet_stdout(only_if_broken=False):
    """Point stdout at the null device, so that Python's flush at exit does not fail again
    (``only_if_broken``: only if flushing it fails)."""
    if only_if_broken:
        try:
            sys.stdout.flush()
            return
        except (OSError, ValueError, AttributeError):
            pass
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no stdout at all
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)


def _resumable(args):
    """What an interrupted (Ctrl-C) or terminated (SIGTERM) ``cwfast train`` keeps, as a clause:
    its checkpoint to continue from, or nothing (its model, written once trained, was said)."""
    if getattr(args, "command", None) != "train" or getattr(args, "model_written", False):
        return ""
    path = args.checkpoint
    if not path:
        # --checkpoint keeps one run's state: no advice to a command that asked for several runs
        # (--lr parses one rate as a number, several as a list)
        several = args.restarts not in (None, 1) or isinstance(args.lr, list) or args.pitch == "auto"
        return "; no model written" + ("" if several else " (--checkpoint PATH keeps an interrupted run to resume)")
    # A second Ctrl-C, or a SIGTERM in an update, before the run's first checkpoint leaves none (a
    # resumed run's, not yet rewritten, still holds the run so far; an earlier run's does not).
    earlier = getattr(args, "earlier_checkpoint", None)
    if not os.path.isfile(path) or (earlier is not None and _file_identity(path) == earlier):
        left = f" ('{path}' is still the earlier one)" if os.path.isfile(path) else ""
        return f"; no model written, and no checkpoint: the run stopped before writing one{left}"
    return f"; the checkpoint '{path}' holds the run so far: the same command with --resume continues it"


def _is_size_error(exc):
    """Whether a ValueError is NumPy refusing an array too big to address."""
    text = str(exc)
    return "array is too big" in text or "Maximum allowed size exceeded" in text


def _main(parser, argv):
    args = None
    try:
        if _command_of(argv) == "bench":
            _load_bench().add_arguments(parser.bench_parser)
        args, extra = parser.parse_known_args(_attach_dashed_values(parser, argv))
        extra = _gather_positionals(args, extra)
        if extra:  # reported by the command's own parser, which names the command and its --help
            command = _subparsers(parser).get(args.command, parser)
            # a model named as `cwfast info MODEL` takes it, where this command takes only -m
            takes_only_m = hasattr(args, "model") and not hasattr(args, "model_option")
            hint = (" (a model is given with -m MODEL)"
                    if takes_only_m and any(w.lower().endswith(".npz") for w in extra) else "")
            command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        if args.version:
            from . import __version__

            print(f"cwfast {__version__}")
            return 0
        if args.command is None:  # a refusal like any other: one line
            commands = list(_subparsers(parser))
            print(f"cwfast: error: name a command: {', '.join(commands[:-1])} or {commands[-1]} (see 'cwfast --help')",
                  file=sys.stderr)
            return 2
        _notes.held = []
        status = int(args.func(args) or 0)
        _work_starts()
        if sys.stdout is not None:  # None: started with stdout closed
            sys.stdout.flush()  # what it still holds: a full device under it is found here, not at exit
        return status
    except BrokenPipeError:  # the reader left (| head): as cat, quietly
        _quiet_stdout()
        return 141
    except OSError as exc:
        if exc.errno != errno.ENOSPC:  # files' errors reach the user as CwfastError; another here is a bug
            raise
        _quiet_stdout(only_if_broken=True)  # stdout's own write, most likely (cwfast info > /dev/full)
        print(f"cwfast: error: no space left on the device ({exc.filename or 'standard output'})", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except CwfastError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"cwfast: error: {message}", file=sys.stderr)
        return 2
    except (MemoryError, ValueError) as exc:
        # NumPy refuses a size it cannot address with a ValueError, not a MemoryError: the same
        # fault for the user. Any other ValueError is a bug, shown as one.
        if not isinstance(exc, MemoryError) and not _is_size_error(exc):
            raise
        detail = " ".join(str(exc).split())
        print(f"cwfast: error: out of memory{': ' + detail if detail else ''}; ask for less (shorter audio, "
              "fewer samples, a smaller model or batch)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: _Terminated, or what a library made of it
        if _sigterm_received:
            print(f"cwfast: terminated{_resumable(args)}", file=sys.stderr)
            return 143
        print(f"cwfast: interrupted{_resumable(args)}", file=sys.stderr)
        return 130
    finally:
        _notes.held = None  # a refusal's held notes are dropped: its error is the one line
