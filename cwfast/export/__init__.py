"""Export a trained model as dependency-free C (and an LV2 plug-in) for real-time audio tools.

:func:`export_c` writes ``NAME.h`` and ``NAME.c``: C99 with no dependency but libm, the weights as
``static const float`` arrays and the clock schedule baked in, with the API

* ``NAME_state`` (a complete struct, so it can live in static storage; tagged ``struct NAME_state``,
  so a host's header can declare it) and ``NAME_state_size()``;
* ``NAME_reset(s)``: zero state (with input windows, the input history too), clock at t = 0;
* ``NAME_process(s, in, out, n)``: ``n`` steps, ``in`` n x n_in interleaved floats (NULL without
  inputs), ``out`` n x n_out (class probabilities for a softmax head, as :class:`cwfast.Stream`);
* for autoregressive models ``NAME_seed``, ``NAME_set_temperature``, ``NAME_prime(s, clip, n)``
  and ``NAME_generate(s, out, n)``, which prime and generate audio the way ``cwfast generate
  --prime`` does, and ``NAME_read(v)``, what the model reads of a past sample (``NAME_process``'s
  input for a host that scores recorded audio);
* macros ``NAME_SAMPLE_RATE``, ``NAME_N_IN``, ``NAME_N_OUT``, ``NAME_LATENCY`` (and a few more).

Nothing in ``reset``/``process``/``generate`` allocates, locks, does I/O or writes a global, so
states are independent (re-entrant). :func:`export_lv2` adds an LV2 bundle built with the system C
compiler (:mod:`cwfast.export.lv2`). The generator (:mod:`cwfast.export._codegen`) reads models
through their public API only.
"""

from __future__ import annotations

import contextlib
import keyword
import os
import re
import unicodedata
from pathlib import Path

from .. import validate
from ..errors import CwfastError, ParameterError

__all__ = ["export_c", "export_lv2", "c_identifier"]

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Bool _Complex _Imaginary bool true false asm".split()
)
# Object-like macros of the headers the export and examples/c/host.c include (stddef.h, stdint.h,
# stdio.h, stdlib.h, math.h, and what glibc adds to them outside -std=c99; gcc's -dM listing): the host's
# recipe pastes NAME from -DMODEL=NAME, so a NAME the preprocessor replaces (NULL becomes
# ((void*)0)) breaks it.
_C_MACROS = frozenset(
    "NULL BUFSIZ EOF FILENAME_MAX FOPEN_MAX L_tmpnam SEEK_CUR SEEK_END SEEK_SET TMP_MAX stderr stdin stdout "
    "EXIT_FAILURE EXIT_SUCCESS MB_CUR_MAX RAND_MAX HUGE_VAL HUGE_VALF HUGE_VALL INFINITY NAN FP_INFINITE FP_NAN "
    "FP_NORMAL FP_SUBNORMAL FP_ZERO FP_FAST_FMA FP_FAST_FMAF FP_FAST_FMAL FP_ILOGB0 FP_ILOGBNAN MATH_ERRNO "
    "MATH_ERREXCEPT math_errhandling errno M_E M_LOG2E M_LOG10E M_LN2 M_LN10 M_PI M_PI_2 M_PI_4 M_1_PI M_2_PI "
    "M_2_SQRTPI M_SQRT2 M_SQRT1_2 linux unix i386 BIG_ENDIAN LITTLE_ENDIAN BYTE_ORDER PDP_ENDIAN FD_SETSIZE "
    "NFDBITS L_ctermid P_tmpdir WNOHANG WUNTRACED WCONTINUED WEXITED WNOWAIT WSTOPPED".split()
)
_C_LIMITS = re.compile(r"(U?INT(_LEAST|_FAST)?(8|16|32|64)|U?INTPTR|U?INTMAX|PTRDIFF|SIG_ATOMIC|SIZE|WCHAR|WINT)"
                       r"_(MIN|MAX)\Z")
#: The stems of the C99 and common POSIX headers: the export writes NAME.h, and a host built with
#: -I on the export's folder (README's recipe) would find a stdint.h or math.h of ours first.
_C_HEADERS = frozenset(
    "assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal stdalign stdarg "
    "stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath threads time uchar wchar wctype "
    "alloca dlfcn fcntl malloc memory pthread sched strings unistd".split()
)
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: Longest NAME accepted: the longest identifier the export writes, NAME_set_temperature (NAME
#: plus 16: 62 characters), then stays within the 63 significant characters C99 guarantees an
#: internal identifier. (For external identifiers C99 guarantees only 31, which would leave NAME
#: 15 characters; every current compiler and linker keeps far more.)
MAX_NAME = 46


def c_identifier(text):
    """``text`` (a file's stem, say) made into a valid C identifier for :func:`export_c`.

    Accented letters lose their accents (``é`` is ``e``); then runs of characters other than ASCII
    letters and digits become one ``_`` (none at either end:
    ``__`` and a trailing ``_`` would make reserved C++ identifiers of NAME_...); a name that does
    not start with a letter gets ``model_`` in front; a C keyword, a macro of the C standard
    headers (``NULL``, ``EOF``, ...) or a standard header's stem (``math``) gets ``_model`` after it;
    one starting with ``CWFAST_``, the prefix of the export's own macros, gets ``model_`` in front.

    >>> c_identifier("brahms-16k.v2")
    'brahms_16k_v2'
    >>> c_identifier("2024 take")
    'model_2024_take'
    """
    # Decomposed, a letter's accents are marks of their own, dropped with the other non-ASCII
    # characters below: "ünï" was "n".
    text = unicodedata.normalize("NFKD", str(text))
    name = re.sub(r"[^A-Za-z0-9]+", "_", "".join(c for c in text if not unicodedata.combining(c))).strip("_")
    if not name[:1].isalpha() or _is_ours(name):
        name = ("model_" + name).rstrip("_")
    if name in _C_KEYWORDS or keyword.iskeyword(name) or _is_c_macro(name) or name in _C_HEADERS:
        name += "_model"
    return name[:MAX_NAME].rstrip("_")


def _is_ours(name):
    """A name whose NAME_... identifiers could be the export's own CWFAST_... macros (a model
    CWFAST_FLOAT would define CWFAST_FLOAT_TANH, the flag of the float build)."""
    return name == "CWFAST" or name.startswith("CWFAST_")


def _is_c_macro(name):
    return name in _C_MACROS or _C_LIMITS.match(name) is not None


def _check_name(name):
    if not isinstance(name, str):
        raise ParameterError(f"name={name!r} must be a string")
    if not _IDENT.match(name) or not name.isascii():
        raise ParameterError(f"name={name!r} must be a C identifier: an ASCII letter, then letters, digits or _")
    if name in _C_KEYWORDS:
        raise ParameterError(f"name={name!r} is a C keyword")
    if _is_c_macro(name):
        raise ParameterError(f"name={name!r} is a macro of the C standard headers the exported code and its "
                             "hosts include")
    if name in _C_HEADERS:
        raise ParameterError(f"name={name!r} is the name of a standard C header: {name}.h would stand in for it "
                             "where the export's folder is on the include path")
    if _is_ours(name):
        raise ParameterError(f"name={name!r} is CWFAST or starts with CWFAST_, the prefix of the export's own macros "
                             "(CWFAST_FLOAT_TANH, CWFAST_RESTRICT)")
    if "__" in name or name.endswith("_"):
        raise ParameterError(f"name={name!r} has '__' or ends in '_': NAME_... identifiers would hold '__', "
                             "reserved in C++")
    if len(name) > MAX_NAME:
        raise ParameterError(f"name={name!r} is longer than {MAX_NAME} characters")
    return name


def _resolve(model, name):
    """(model object, NAME) from a model or a path to one, and an optional name."""
    import numpy as np

    from ..model import SequenceModel

    if isinstance(model, (str, os.PathLike)):
        from ..persistence import load

        default = Path(model).stem  # (Path("") is ".": load the name as given, which refuses "")
        model = load(model)
        default = c_identifier(default)
    elif isinstance(model, SequenceModel):
        default = "model"
    else:
        raise ParameterError(f"model must be a cwfast model or the path to one, not {type(model).__name__}")
    from ._codegen import STEPS

    if model.realtime_kind not in STEPS:  # an architecture whose step has no C emitter yet
        raise ParameterError(f"cannot export a {model.description}: the C export has no step for it")
    if not np.all(np.isfinite(model.params)):  # C has no literal for them: the file would not compile
        raise ParameterError("the model's parameters contain NaN or infinite values; nothing was written")
    if np.any(np.abs(model.params) > np.finfo(np.float32).max):  # a float64 model's: the C weights are floats
        raise ParameterError("the model's parameters are past float32's range (the C export's weights are floats); "
                             "nothing was written")
    level = model.level  # a float64 model's: the C reset writes the start as a float literal, the gain's floor as one
    if level is not None and max(level.start, level.floor) > float(np.finfo(np.float32).max):
        raise ParameterError("the model's level (its start or floor) is past float32's range (the C export's state "
                             "is float); nothing was written")
    return model, _check_name(default if name is None else name)


def _refuse_the_model(model, outputs):
    """ParameterError if an output is the model file being exported, or a folder holding it (as a
    bundle's may): with overwrite it would be replaced. ``model`` may be a model object (no file)."""
    from .._atomic import same_file

    if not isinstance(model, (str, os.PathLike)):
        return
    source = os.path.realpath(model)
    for path in map(str, outputs):
        target = os.path.realpath(path)
        if same_file(source, target) or os.path.commonpath([source, target]) == target:
            raise ParameterError(f"exporting to '{path}' would overwrite the model being exported ('{model}'); "
                                 "choose another folder or name")


def _check_directory(directory):
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise ParameterError(f"directory={directory!r} must be a path (the current folder is '.')")
    if not os.path.isdir(directory):
        raise CwfastError(f"cannot export to '{os.fspath(directory)}': {_why_no_directory(directory)}")
    return Path(directory)


def _why_no_directory(path):
    """Why ``path`` (not a directory) is none, as the system answers: 'file.wav/' and 'file.wav/x'
    run into a file, 'missing/..' into a folder that is not there (a dangling link is none either)."""
    try:
        os.stat(path)
    except NotADirectoryError:
        return "not a directory"
    except OSError:
        return "no such directory"
    return "not a directory"  # it exists, and is a file (or a pipe, a device)


def _write_all(files, overwrite):
    """Write every ``{path: text}`` or none: all are checked first, and if one write fails, the
    ones already written are removed again (or, with overwrite, restored from what was there)."""
    from .._atomic import _refuse, _target, atomic_path

    for path in files:  # a directory, a pipe (reading it for the rollback would block) or an existing file
        _refuse(_target(path, "C source"), "C source", overwrite)
    done = []
    try:
        for path, text in files.items():
            previous = path.read_bytes() if path.is_file() else None
            with atomic_path(path, what="C source", overwrite=overwrite) as tmp:
                Path(tmp).write_text(text, encoding="ascii")
            done.append((path, previous))
    except BaseException:
        for path, previous in done:
            with contextlib.suppress(OSError):
                if previous is None:
                    path.unlink()
                else:
                    path.write_bytes(previous)
        raise


def export_c(model, directory, name=None, *, overwrite=False):
    """Write a model as dependency-free C99: ``DIRECTORY/NAME.h`` and ``DIRECTORY/NAME.c``.

    Parameters
    ----------
    model : ClockworkRNN, SRN, LSTM, or str or os.PathLike
        The model, or the path of a model file saved by cwfast.
    directory : str or os.PathLike
        An existing directory.
    name : str, optional
        The C prefix of every exported symbol and the files' stem. Default: the model file's
        stem made a C identifier (:func:`c_identifier`), or ``"model"`` for a model object.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    (Path, Path)
        The header and the source written.

    Raises
    ------
    ParameterError
        If ``name`` is not a valid C identifier (or is a C keyword or a standard macro such as
        ``NULL``), ``model`` is not a cwfast model, its parameters or its level's start or floor
        are not finite in float32, or an output would overwrite the model file.
    CwfastError
        If the directory does not exist, a file exists and ``overwrite`` is False, or a write
        fails; nothing is left half-written.

    Notes
    -----
    Weights are written as float32 (a float64 model is rounded). Outputs equal
    :class:`cwfast.Stream`'s within float32 rounding (built with ``-DCWFAST_FLOAT_TANH``, for FPUs
    without double precision, within about 1e-4: the tanh, the LSTM's gates, the level, the
    predictions and the sampler in float, the sampler's uniforms of 23 bits); values below 1e-15 in magnitude (inputs,
    weights, state) are flushed to zero so that denormals cannot build up in the recurrence
    (see :mod:`cwfast.export._codegen`). ``NAME_process`` reads a NaN or infinite input as 0, and
    one beyond +-1e15 as +-1e15, so that one bad sample from a host cannot poison the state, even
    in a ``-ffast-math`` build (:class:`cwfast.Stream` refuses NaN and infinity, unless built with
    ``bad_input="zero"``, which reads them as 0 too).
    """
    from . import _codegen

    overwrite = validate.flag("overwrite", overwrite)
    source = model
    model, name = _resolve(model, name)
    directory = _check_directory(directory)
    spec = _codegen.Spec(model, name)
    files = {directory / f"{name}.h": _codegen.header(spec), directory / f"{name}.c": _codegen.source(spec)}
    _refuse_the_model(source, files)
    _write_all(files, overwrite)
    return tuple(files)


def export_lv2(model, directory, name=None, *, overwrite=False, cc=None, cflags=None, license=None,
               maintainer=None):
    """Write ``DIRECTORY/NAME.lv2/``, an LV2 plug-in bundle built with the system C compiler.

    See :func:`cwfast.export.lv2.export_lv2`.
    """
    from .lv2 import export_lv2 as build

    return build(model, directory, name, overwrite=overwrite, cc=cc, cflags=cflags, license=license,
                 maintainer=maintainer)
