"""The C text of an exported model: a header and a source file, C99, nothing but libm.

Everything is read through the public model API (``to_dense()``, ``periods``, ``module_sizes``,
``n_in``, ``n_out``, ``output``, ``sample_rate``, ``metadata``), never through the kernels'
private parameter layout, so the export keeps working when that layout changes.

How the generated code is laid out, and why:

* Every matrix-vector product is written column by column (``acc[r] += W[c][r] * h[c]``, the
  weights stored transposed), so the inner loop runs over independent accumulators of a
  compile-time length and GCC vectorises it at ``-O2``/``-O3`` (checked with ``-fopt-info-vec``;
  Clang not tried) *without* any licence to reassociate: each output sums its terms in one fixed
  order. A module's columns go to 4 independent chains (column c to chain c % 4), each its own
  array, summed in a fixed tree at the end, so that the FMAs do not wait on each other. A
  product with few outputs and long rows (a linear head of fewer than 8 outputs, a module's input
  window) is a dot product per output over 16 fixed lanes instead, summed in a fixed tree, for
  the same reason.
* The clock schedule is baked in: one block of straight-line code per module, guarded by
  ``t % PERIOD == 0`` with the period a constant.
* Denormals cannot build up: inputs, weights and every new state value whose magnitude is
  below 1e-15 are set to zero, so every product is 0 or at least 1e-30, far above the smallest
  normal float (1.2e-38), and a state never holds a denormal. (A single multiply-add whose exact
  result cancels to below 1.2e-38 could still round to one; it does not survive the step, since
  the tanh's result is flushed.) The values dropped are many orders below the float32 rounding
  of anything they are added to. scripts/bench_export.py times denormal input (1e-39): no
  slower. Softmax probabilities below 1.2e-38 may be denormal outputs, as :class:`Stream`'s are.
* Input windows (a module that dots its last L_i inputs): the state keeps the last max_window
  inputs in a ring of max_window rows written twice (rows p and p + max_window of 2 max_window),
  so the window ending at the current input is always one contiguous run of floats, dotted by
  each of the module's units over 16 lanes; one extra row written per step, no wrap-around test,
  no block move (the numba Stream's chunk buffer moves rows once in a while, which suits blocks,
  not single steps).
  Generation feeds its sample into the ring like any input. A model without windows has no ring.
  A pitch predictor keeps the inputs its search reads back in a ring written twice, the same way.
* The Clockwork RNN's tanh is the rational function of :mod:`cwfast._kernels` (within 1 ulp,
  vectorisable), in double; built with ``CWFAST_FLOAT_TANH`` it is evaluated in float (within 6
  ulp), for FPUs without double precision. The LSTM's gates use libm's ``exp`` and ``tanh`` in
  double precision, as its numba kernel does.
* What is computed beyond float (the LSTM's gates, the level, the predictions, the surprise, the
  sampler) is written with ``NAME_REAL``, ``NAME_EXP``, ``NAME_C(literal)``, ... (see _REAL):
  double by default, so the default build is the one it was (the same assembly); float with
  ``CWFAST_FLOAT_TANH``, where nothing calls a double-precision function but (in an
  autoregressive model, the only kind that has one) ``NAME_set_temperature``'s one conversion of
  its argument. The pitch search then sums each lag's energy afresh, and the sampler's uniforms
  are the midpoints of 2^23 bins (exact in float, never 0).
* The pitch search takes a longer lag only if its correlation beats the best shorter one's by
  more than ``cwfast._pitch_kernels.TIE_MARGIN``, as the numba kernel does: its sums, in another
  order (and in float in the float build), would otherwise break the ties of periodic input
  (a period and its multiples) differently from Stream.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .. import metadata
from ..codec import mu_law_values
from ..heads import LOG_SCALE_MIN, SURPRISE_R_RANGE
# FLUSH: inputs (as every path of the engine reads them), weights and state values below it are 0
from ..modes import FLUSH, MAX_TEMPERATURE
from .._pitch_kernels import TIE_MARGIN

#: An input beyond this magnitude is read as this (with its sign): finite inputs near float32's
#: largest overflowed a window's sum, or the level's quotient, to +inf and -inf, whose sum left the
#: state NaN for good. Far above any audio; 1e15 over the level's floor (1e-4), times a 320-input
#: window, is still far below float32's largest.
INPUT_LIMIT = 1e15
#: Lanes of the fixed-order dot products of small heads.
LANES = 16
#: Independent accumulator chains of a module's matrix-vector product (see _clockwork_step).
CHAINS = 4


def _flt(value):
    # 9 significant digits round-trip every float32 exactly; the exponent form always parses as
    # a floating constant, so the f suffix is valid.
    return "%.8ef" % float(value)


def _array(name, values):
    """``static const float name[..][..] = {...};`` with the values (already float32, flushed)."""
    values = np.asarray(values, dtype=np.float32)
    if values.size == 0:
        return f"/* {name}: empty */\n"
    dims = "".join(f"[{d}]" for d in values.shape)

    def row(v):
        return ",\n    ".join(", ".join(_flt(a) for a in v[s : s + 6]) for s in range(0, v.size, 6))

    if values.ndim == 1:
        body = "    " + row(values)
    else:
        rows = values.reshape(values.shape[0], -1)
        body = ",\n".join("    {" + row(r) + "}" for r in rows)
    return f"static const float {name}{dims} = {{\n{body}\n}};\n"


def _flushed(a):
    a = np.array(a, dtype=np.float32)
    a[np.abs(a) < FLUSH] = 0.0
    return a


class Spec:
    """What the generator needs to know about a model, read through its public API."""

    def __init__(self, model, name):
        self.name = name
        # The C step is chosen by the model's real-time kind (an SRN is a Clockwork RNN of one
        # module), the way Stream chooses its compiled entry: see STEPS.
        self.kind = model.realtime_kind
        self.description = model.description
        self.n_in = int(model.n_in)
        self.n_out = int(model.n_out)
        self.output = model.output
        self.sample_rate = int(model.sample_rate) if model.sample_rate else 0
        self.mode = metadata.mode_of(model)
        dense = model.to_dense()
        self.W_in = _flushed(dense["W_in"])
        self.W_h = _flushed(dense["W_h"])
        self.b_h = _flushed(dense["b_h"])
        self.W_out = _flushed(dense["W_out"])
        self.b_out = _flushed(dense["b_out"])
        self.scale = 1.0
        if self.mode in ("memorize", "autoregressive"):
            self.scale = metadata.scale_of(model)
        # A memorize model's clip, in samples: what 'cwfast generate' plays (0: not stored).
        self.length = metadata.trained_length(model) if self.mode == "memorize" else None
        self.autoregressive = False
        # A mixture head's outputs: K logits, K means, K log-scales.
        self.components = self.n_out // 3 if self.output == "mixture" else 0
        if self.mode == "autoregressive":
            n_classes, self.temperature = metadata.autoregressive_spec(model)
            self.autoregressive = True
            self.output_gain = metadata.output_gain_of(model)
            self.output_level = self.scale * self.output_gain  # what generation writes the amplitude times, as render does
            self.history = metadata.history_of(model)
            # What the generator emits (softmax) or reads back (mixture, mu-law history): none
            # for linear history, which reads back the amplitude it drew.
            self.values = mu_law_values(n_classes) if self.history == "mu-law" else np.zeros(0, np.float32)
        # Level normalisation (cwfast.model.Level): alpha, the level at reset (as the model's
        # dtype rounds it) and the gain's floor and ceiling.
        self.level = None
        if model.level is not None:
            level = model.level
            self.level = (float(level.alpha), float(np.float32(level.start)), float(level.floor), float(level.ceiling))
        # Scales that follow the recent surprise (cwfast.model.Surprise): alpha, beta, 1 / mean, as
        # the Python side computes them; process() runs it, generate() holds r at 1.
        self.surprise = None
        if model.surprise is not None:
            surprise = model.surprise
            self.surprise = (float(surprise.alpha), float(surprise.beta), 1.0 / float(surprise.mean))
        # Linear prediction (SequenceModel.prediction): its taps, added over the last inputs read.
        self.taps = _flushed(dense["taps"]) if "taps" in dense else np.zeros(0, dtype=np.float32)
        # A pitch predictor (cwfast.model.Pitch) and its gain, as the model's float32 holds it.
        self.pitch = model.pitch
        self.pitch_gain = None if model.pitch is None else float(np.float32(model.pitch_gain))
        if self.kind == "lstm":
            self.n_hidden = self.W_h.shape[1]
        else:
            self.n_hidden = self.W_h.shape[0]
            self.periods = [int(p) for p in np.asarray(model.periods).tolist()]
            self.sizes = [int(k) for k in np.asarray(model.module_sizes).tolist()]
            self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
            # Module i reads every module whose period is at least its own; the dense layout is
            # sorted by period, so that is one range of columns from the first such module on.
            self.reads = []
            for i, period in enumerate(self.periods):
                first = next(j for j, p in enumerate(self.periods) if p >= period)
                self.reads.append(self.starts[first])
            # Input windows: module i dots its last windows[i] inputs. to_dense's W_in is then
            # (n, max_window * n_in), right-aligned (its last n_in columns weigh x(t)); a model
            # without windows has none of this and exports exactly as before.
            windows = dense.get("input_windows")
            self.windows = [1] * len(self.periods) if windows is None else [int(w) for w in windows]
            self.max_window = max(self.windows) if self.n_in else 1


# ------------------------------------------------------------------------------------- header


def header(spec):
    """The model's header: its constants, state and functions (see :func:`_float_names`)."""
    return _float_names(_header(spec), spec.name)


def _float_names(text, N):
    """``text`` (a header) with its functions renamed, under CWFAST_FLOAT_TANH, to ``..._float``:
    the float build's state has another layout, and a file built without the flag (or with it,
    against a library built without) then fails to link rather than run on a misread state. The
    default build reads the same names as before."""
    names = re.findall(rf"^[A-Za-z_][\w \*]*\b({N}_\w+)\(", text, flags=re.MULTILINE)
    block = "\n".join(f"#define {name} {name}_float" for name in names)
    anchor = f"#define {N}_REAL float\n"
    return text.replace(anchor, anchor + "/* The float build's functions have names of their own: a file built "
                        "without the flag,\n * whose state has another layout, fails to link against them rather "
                        "than misread a state. */\n" + block + "\n", 1)


def _header(spec):
    N, n = spec.name, spec.n_hidden
    guard = f"CWFAST_{N}_H"  # the name as given: Pedal's and pedal's headers can be included together
    state = [f"    float h[{n}];      /* hidden state h(t-1) */"]
    if spec.kind == "lstm":
        state.append(f"    float c[{n}];      /* LSTM cell state c(t-1) */")
        state.append(f"    float work[{4 * n}];   /* scratch: gate pre-activations */")
    else:
        state.append(f"    float work[{n}];   /* scratch: new values of the modules that tick */")
        if spec.max_window > 1:
            R, m = spec.max_window, spec.n_in
            state.append(f"    float xh[{2 * R * m}];   /* the last {R} inputs, twice over (see {N}_step) */")
            state.append(f"    uint32_t xpos;     /* where x(t) goes in xh: rows xpos and xpos + {R} */")
    clock = "" if spec.kind == "lstm" else "; module i ticks when t % period_i == 0"
    state.append(f"    uint64_t t;        /* the next step{clock} */")
    if spec.level:
        state.append("    float level;       /* the input's recent level (level normalisation) */")
    if spec.taps.size:
        state.append(f"    float px[{spec.taps.size}];   /* the linear prediction's inputs: px[k] = x(t - k) */")
    if spec.pitch is not None:
        P, span = spec.pitch.history + 1, spec.pitch.window + spec.pitch.hi
        state += [f"    float pw[{2 * P}];   /* the pitch predictor's last {P} inputs, twice over (see {N}_pitch) */",
                  f"    uint32_t ppos;     /* where x(t) goes in pw: rows ppos and ppos + {P} */",
                  "    float plag, pbeta;   /* the pitch predictor's lag (0: none) and gain, as the last search chose */",
                  f"    {N}_REAL pe[{span}];   /* scratch of the search: the residuals it correlates */"]
    if spec.surprise:
        state.append(f"    {N}_REAL surprise[3];   /* r, and the last step's mixture mean and spread (0: no step yet) */")
    if spec.autoregressive:
        state += [
            f"    float logits[{spec.n_out}];",
            f"    {N}_REAL weights[{spec.n_out}];   /* scratch of the sampler */",
            "    float prev;        /* what the next step reads: the last value generated or primed, in the "
            "model's units, as the model reads its past (0 after reset) */",
            f"    {N}_REAL inv_temperature;",
            "    uint64_t rng;      /* splitmix64 state */",
        ]
    kind = spec.description
    window_macro = ""
    if spec.kind != "lstm" and spec.max_window > 1:
        window_macro = (f"#define {N}_MAX_WINDOW {spec.max_window}   /* the longest input window: module i reads "
                        "x(t - L_i + 1) .. x(t) */\n")
    length_macro = ""
    if spec.length is not None:
        length_macro = (f"#define {N}_LENGTH {spec.length}   /* samples of the memorized clip, which 'cwfast generate' "
                        "plays (past them the network runs free); 0 if unknown */\n")
    level_macro = ""
    if spec.level:
        level_macro = (f"#define {N}_LEVEL_ALPHA {spec.level[0]!r}   /* level-normalised: the network reads the input "
                       "divided by its recent level, and its mixture is scaled back (see cwfast.model.Level) */\n")
    if spec.taps.size:
        level_macro += (f"#define {N}_PREDICTION {spec.taps.size}   /* taps of a linear prediction of the next sample, "
                        "added to the mixture's means in the network's units */\n")
    if spec.pitch is not None:
        level_macro += (f"#define {N}_PITCH_LAGS {spec.pitch.hi}   /* a pitch predictor (cwfast.model.Pitch) adds the "
                        f"residual up to {spec.pitch.hi} steps back to the mixture's means */\n")
    if spec.surprise:
        level_macro += (f"#define {N}_SURPRISE_BETA {spec.surprise[1]!r}   /* {N}_process moves the scales with the "
                        "model's recent surprise (see cwfast.model.Surprise); generation holds it at 1 */\n")
    gen = ""
    if spec.autoregressive and spec.components:
        read = ("the decoded value of the\n * mu-law class of the amplitude generated at the previous step"
                if spec.history == "mu-law" else "the amplitude generated at\n * the previous step itself")
        gen = f"""
/* Autoregressive generation (a mixture of {spec.components} logistics over the amplitude, scored on
 * 256 mu-law classes), as 'cwfast generate' does it: each step reads {read} (0 at the first step after reset),
 * draws a component from softmax(logits / temperature) by inverse CDF with a
 * uniform from the state's splitmix64 generator, then an amplitude from that logistic, its
 * scale times the temperature, with a second uniform, and writes the amplitude (clipped to
 * [-1, 1]) times {N}_SCALE times {N}_OUTPUT_GAIN. Temperature 0 takes the likeliest component's
 * mean. {N}_reset sets the temperature to {N}_TEMPERATURE and the generator to seed 0: call
 * {N}_seed and {N}_set_temperature after it. */
#define {N}_TEMPERATURE {spec.temperature!r}
#define {N}_OUTPUT_GAIN {spec.output_gain!r}   /* what generation multiplies its output by (1: the model's own level) */
{_GENERATION_API.format(N=N, max_temperature=float(MAX_TEMPERATURE))}"""
    elif spec.autoregressive:
        gen = f"""
/* Autoregressive generation (mu-law, {spec.n_out} classes), as 'cwfast generate' does it: each
 * step reads the decoded value generated at the previous step (0 at the first step after reset),
 * draws a class from softmax(logits / temperature) by inverse CDF with a uniform
 * from the state's splitmix64 generator, and writes that class's amplitude times {N}_SCALE
 * times {N}_OUTPUT_GAIN. Temperature 0 takes the likeliest class. {N}_reset sets the temperature
 * to {N}_TEMPERATURE and the generator to seed 0: call {N}_seed and {N}_set_temperature after it. */
#define {N}_TEMPERATURE {spec.temperature!r}
#define {N}_OUTPUT_GAIN {spec.output_gain!r}   /* what generation multiplies its output by (1: the model's own level) */
{_GENERATION_API.format(N=N, max_temperature=float(MAX_TEMPERATURE))}"""
    # (only an autoregressive model has NAME_prime)
    past_input = (f" An autoregressive model's input is its past\n * sample as {N}_prime passes it on: "
                  f"{N}_read(sample / {N}_SCALE)." if spec.autoregressive else "")
    # (only an autoregressive model has NAME_set_temperature)
    no_double = (f"nothing calls a double-precision function but {N}_set_temperature, which converts its\n"
                 " * argument once. Define it for every file that includes this header: the state's layout"
                 if spec.autoregressive else
                 "nothing calls a double-precision function. Define it for every file that includes this\n"
                 " * header: the state's layout")
    if spec.n_in:
        fast_math = " Under -ffast-math a NaN or infinite input is still read as 0 (it is\n * recognised from its bits)."
        process_comment = f"""/* n steps: in holds n x {N}_N_IN interleaved floats, out receives
 * n x {N}_N_OUT (class probabilities if {N}_SOFTMAX). in and out may be the same buffer when
 * {N}_N_IN == {N}_N_OUT; out is not NULL (n > 0).{past_input}
 * A NaN or infinite input is read as 0 (as cwfast's Stream with bad_input="zero"),
 * and one beyond +-{INPUT_LIMIT:g} as +-{INPUT_LIMIT:g}, so that one bad sample from a host cannot poison the state. */"""
    else:  # (nothing to say of inputs it has none of)
        fast_math = ""
        process_comment = f"""/* n steps of a model without inputs: in is not read (NULL), out receives n x {N}_N_OUT
 * (class probabilities if {N}_SOFTMAX); out is not NULL (n > 0). */"""
    return f"""/* {N}.h: {kind}, exported by cwfast {_version()} (mode: {spec.mode}, {spec.output} head).
 * C99, no dependency but libm. Nothing in it allocates, locks, does I/O or writes a global:
 * every function works on the state it is given, so states run independently (re-entrant).
 * One state is not shared between threads: make every call on it from one thread (a plug-in's
 * audio thread), or guard it. A call's cost is bounded by its n.
 * Build: cc -std=c99 -O3 -c {N}.c, or as C++ (C++11 on): c++ -x c++ -O3 -c {N}.c.
 * -ffp-contract=fast is faster and rounds differently from cwfast's Stream (within float32
 * rounding); -march=native is faster still, but the binary then runs only on CPUs with this
 * one's instructions. -DCWFAST_FLOAT_TANH, for FPUs without double precision (Cortex-M4F),
 * does in float what is otherwise done in double: the Clockwork RNN's tanh (within 6 ulp), the
 * LSTM's gates, the level, the linear and pitch predictions, the surprise and the sampler (with
 * 23-bit uniforms); the outputs are then no longer within float32 rounding of Stream, and
 * {no_double}
 * follows it, and its functions are then named {N}_..._float, so that a mixed build fails to
 * link rather than misread a state.{fast_math} */
#ifndef {guard}
#define {guard}

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* What the model computes in beyond float: double, or float with CWFAST_FLOAT_TANH. */
#ifdef CWFAST_FLOAT_TANH
#define {N}_REAL float
#else
#define {N}_REAL double
#endif

#define {N}_SAMPLE_RATE {spec.sample_rate}   /* Hz the model was trained at; 0 if unknown */
#define {N}_N_IN {spec.n_in}
#define {N}_N_OUT {spec.n_out}
#define {N}_LATENCY 0   /* output t depends on inputs up to t: no delay */
#define {N}_N_HIDDEN {n}
#define {N}_SOFTMAX {1 if spec.output == "softmax" else 0}   /* 1: {N}_process writes class probabilities */
#define {N}_MIXTURE {spec.components}   /* K > 0: {N}_process writes a mixture's K weights, K means, K scales */
#define {N}_SCALE {spec.scale!r}   /* output times this is audio at the training level (memorize, autoregressive) */
#define {N}_AUTOREGRESSIVE {1 if spec.autoregressive else 0}
{window_macro}{length_macro}{level_macro}
/* Tagged, so that a header of the host's can declare struct {N}_state and point to one. */
typedef struct {N}_state {{
{chr(10).join(state)}
}} {N}_state;

/* sizeof({N}_state), for callers through a foreign-function interface. */
size_t {N}_state_size(void);
/* Zero state, clock at t = 0. Call before the first use of a state. Every function below takes
 * a state that is not NULL; n <= 0 steps does nothing. */
void {N}_reset({N}_state *s);
{process_comment}
void {N}_process({N}_state *s, const float *in, float *out, int n);
{gen}
#ifdef __cplusplus
}}
#endif

#endif
"""


#: The functions of an exported autoregressive model, and what they take ({N}: the name).
_GENERATION_API = """#define {N}_TEMPERATURE_MAX {max_temperature!r}   /* the hottest temperature taken, as cwfast's own */
/* The generator's seed: the same seed after the same calls gives the same samples. */
void {N}_seed({N}_state *s, uint64_t seed);
/* 0 (the likeliest) to {N}_TEMPERATURE_MAX: below 0 is 0, above it (infinity too) is
 * {N}_TEMPERATURE_MAX, and NaN leaves the temperature as it was. */
void {N}_set_temperature({N}_state *s, double temperature);
/* What the model reads of v, a past sample divided by {N}_SCALE: the value of its mu-law class, or
 * v clipped to [-1, 1] for a model of linear history (cwfast.codec.as_read); NaN reads as 0 does.
 * {N}_process's input, for a host that scores recorded audio, is {N}_read(sample / {N}_SCALE). */
float {N}_read(float v);
/* Continue a clip as 'cwfast generate --prime' does: clip holds n samples at their recorded
 * level; each is divided by {N}_SCALE, read by {N}_read and run through {N}_process from the
 * state s (after {N}_reset: from silence). {N}_generate then goes on from the clip's end. */
void {N}_prime({N}_state *s, const float *clip, int n);
/* n more samples into out (n floats), at the training level times {N}_OUTPUT_GAIN. */
void {N}_generate({N}_state *s, float *out, int n);
"""


def _version():
    from .. import __version__

    return __version__


# ------------------------------------------------------------------------------------- source


_TANH = """/* tanh as cwfast's float32 kernel computes it: a rational function on [-9, 9] evaluated in
 * double, within 1 ulp of the true tanh; branch-free, so loops over it vectorise. Built with
 * CWFAST_FLOAT_TANH defined, it is evaluated in float instead, within 6 ulp: for CPUs whose FPU
 * has no double precision (Cortex-M4F, M33), where each double operation is a library call; the
 * output then differs from cwfast's Stream by more than float32 rounding. */
#ifdef CWFAST_FLOAT_TANH
typedef float {N}_tanh_real;
#define {N}_R(x) x##f
#define {N}_ABS fabsf
#else
typedef double {N}_tanh_real;
#define {N}_R(x) x
#define {N}_ABS fabs
#endif
static float {N}_tanh(float a)
{{
    {N}_tanh_real v = ({N}_tanh_real)a, z, p, q, r;
    v = v < {N}_R(-9.0) ? {N}_R(-9.0) : v;
    v = v > {N}_R(9.0) ? {N}_R(9.0) : v;
    z = v * v;
    p = ((({N}_R(1.3354414268862413e-08) * z + {N}_R(2.060906865313872e-05)) * z + {N}_R(0.0034955962904795685)) * z
         + {N}_R(0.13381036195973578)) * z + {N}_R(0.9999999798611158);
    q = ((({N}_R(7.776502941488073e-07) * z + {N}_R(0.00032856414345863494)) * z + {N}_R(0.025877024252998624)) * z
         + {N}_R(0.4671435202507059)) * z + {N}_R(1.0);
    r = v * p / q;
    r = r < {N}_R(-1.0) ? {N}_R(-1.0) : r;
    r = r > {N}_R(1.0) ? {N}_R(1.0) : r;
    return (float)({N}_ABS(r) < {N}_R({FLUSH}) ? {N}_R(0.0) : r);
}}
#undef {N}_R
#undef {N}_ABS
"""


def _flush_expr(var):
    return f"(fabsf({var}) < {FLUSH}f ? 0.0f : {var})"


def _input_expr(N, var):
    """An input as the model reads it (:data:`_BIT_TESTS`' ``input``): flushed below FLUSH, 0 where
    it is NaN or infinite, held within INPUT_LIMIT (a host's one bad sample must not poison the
    state for good; Python's Stream refuses the first two unless bad_input="zero")."""
    return f"{N}_input({var})"


#: The arithmetic beyond float (the LSTM's gates, the level, the predictions, the surprise, the
#: sampler): double by default, as cwfast's kernels do it; float with CWFAST_FLOAT_TANH, for FPUs
#: without double precision. Macros, not a typedef, so that the default build's preprocessed
#: source is the one it was before the float build existed (nothing in it changed).
_REAL = """/* {N}_REAL's functions and constants: double, as cwfast's kernels compute; float with
 * CWFAST_FLOAT_TANH (see {N}.h). {N}_UNIFORM is a uniform from a generator's word: in [0, 1)
 * with 53 random bits in double; in float the midpoint of one of 2^23 equal bins (exact in
 * float), never 0 nor 1, where 24 bits made 0 once in 2^24 draws, which chose class or component
 * 0 whatever its weight. */
#ifdef CWFAST_FLOAT_TANH
#define {N}_C(x) ((float)(x))
#define {N}_EXP expf
#define {N}_LOG logf
#define {N}_LOG1P log1pf
#define {N}_TANH tanhf
#define {N}_SQRT sqrtf
#define {N}_FABS fabsf
#define {N}_FLOOR floorf
#define {N}_UNIFORM(z) (((float)(uint32_t)((z) >> 41) + 0.5f) * (1.0f / 8388608.0f))
#else
#define {N}_C(x) x
#define {N}_EXP exp
#define {N}_LOG log
#define {N}_LOG1P log1p
#define {N}_TANH tanh
#define {N}_SQRT sqrt
#define {N}_FABS fabs
#define {N}_FLOOR floor
#define {N}_UNIFORM(z) (double)((z) >> 11) * (1.0 / 9007199254740992.0)
#endif
"""

#: C99's ``restrict`` is no C++ keyword: the source compiles as C++ too (g++, clang++ and MSVC
#: spell it ``__restrict``; another C++ compiler goes without the promise).
_RESTRICT = """#ifndef CWFAST_RESTRICT
#if defined(__cplusplus) && (defined(__GNUC__) || defined(_MSC_VER))
#define CWFAST_RESTRICT __restrict
#elif defined(__cplusplus)
#define CWFAST_RESTRICT
#else
#define CWFAST_RESTRICT restrict
#endif
#endif
"""

#: Tests of a value's bits, not of its arithmetic: -ffast-math (-ffinite-math-only), common in
#: audio builds, lets a compiler assume no NaN or infinity and drop isfinite() and v != v, which
#: left one infinite input from a host poisoning the level for good. Each is written only into a
#: source that calls it (:func:`_bit_tests`): clang's -Wall, unlike gcc's, warns of an unused
#: static inline function in a .c file.
_BIT_TESTS_NOTE = """/* Whether v is finite, and whether it is NaN, read from its bits: unlike isfinite() and
 * v != v, these survive -ffast-math. */
"""
_BIT_TESTS = {
    "finite": """static inline int {N}_finite(float v)
{{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7f800000u) != 0x7f800000u;
}}
""",
    "nan": """static inline int {N}_nan(float v)
{{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7fffffffu) > 0x7f800000u;
}}
""",
    "nan_double": """static inline int {N}_nan_double(double v)
{{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7fffffffffffffffu) > 0x7ff0000000000000u;
}}
""",
    "input": """/* An input as the model reads it: 0 if NaN or infinite or below {FLUSH} in magnitude, and
 * within +-{LIMIT:g} (a finite input near float's largest overflowed the sums it enters). */
static inline float {N}_input(float v)
{{
    if (!{N}_finite(v) || fabsf(v) < {FLUSH}f)
        return 0.0f;
    return v > {LIMIT:g}f ? {LIMIT:g}f : (v < -{LIMIT:g}f ? -{LIMIT:g}f : v);
}}
""",
}


def _real_macros(N, code):
    """:data:`_REAL` without the definitions of what ``code`` (the rest of the source) never
    uses: a build with -Wunused-macros (part of some plug-ins' warning sets) named the tanh of
    every model whose tanh is the rational function."""
    kept = []
    for line in _REAL.format(N=N).splitlines(keepends=True):
        macro = re.match(rf"#define ({N}_\w+)", line)
        if macro is None or re.search(rf"\b{macro.group(1)}\b", code):
            kept.append(line)
    return "".join(kept) if any(line.startswith("#define") for line in kept) else ""


def _bit_tests(N, body):
    """The bit tests that ``body`` (the rest of the source) calls, and what they call."""
    used = {k for k in _BIT_TESTS if re.search(rf"\b{N}_{k}\(", body)}
    if "input" in used:
        used.add("finite")
    if not used:
        return ""
    parts = [_BIT_TESTS[k].format(N=N, FLUSH=FLUSH, LIMIT=INPUT_LIMIT) for k in _BIT_TESTS if k in used]
    return _BIT_TESTS_NOTE + "\n".join(parts)


def _head(spec):
    """y = W_out h + b_out into y (n_out floats)."""
    N, n, o = spec.name, spec.n_hidden, spec.n_out
    if o >= 8:
        return _array(f"{N}_w_out", spec.W_out.T) + _array(f"{N}_b_out", spec.b_out) + f"""
static void {N}_head(const float *CWFAST_RESTRICT h, float *CWFAST_RESTRICT y)
{{
    int c, k;
    for (k = 0; k < {o}; k++)
        y[k] = {N}_b_out[k];
    for (c = 0; c < {n}; c++) {{
        const float hc = h[c];
        for (k = 0; k < {o}; k++)
            y[k] += {N}_w_out[c][k] * hc;
    }}
}}
"""
    # A dot product per output (see _lane_dot).
    dot = _lane_dot("y[k]", lambda c: f"{N}_w_out[k][{c}] * h[{c}]", n, "        ")
    return _array(f"{N}_w_out", spec.W_out) + _array(f"{N}_b_out", spec.b_out) + f"""
static void {N}_head(const float *CWFAST_RESTRICT h, float *CWFAST_RESTRICT y)
{{
    int k;
    for (k = 0; k < {o}; k++) {{
{dot}        y[k] += {N}_b_out[k];
    }}
}}
"""


def _tree(terms):
    while len(terms) > 1:
        terms = [f"({terms[i]} + {terms[i + 1]})" if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def _lane_dot(target, term, n, indent, ctype="float"):
    """C statements that set target to the sum of term(c) over c < n: a dot product over LANES
    fixed lanes (c to lane c % LANES: vectorises without reassociation), summed in a fixed tree.
    term maps the C expression of an index to the C expression of its term. The statements
    declare part, c_ and l_: the caller puts them in a block of their own."""
    whole = n // LANES * LANES
    code = f"""{ctype} part[{LANES}] = {{0}};
int c_, l_;
for (c_ = 0; c_ < {whole}; c_ += {LANES})
    for (l_ = 0; l_ < {LANES}; l_++)
        part[l_] += {term("c_ + l_")};
"""
    if whole < n:
        code += f"""for (c_ = {whole}; c_ < {n}; c_++)
    part[c_ - {whole}] += {term("c_")};
"""
    code += f"""{target} = {_tree([f"part[{i}]" for i in range(LANES)])};
"""
    return "".join(indent + line + "\n" for line in code.splitlines())


def _unused_input(n_in):
    """The step's statement that it reads no x, for a model without inputs (only there: a step
    that reads x would say the opposite of what it does)."""
    return "" if n_in else "    (void)x;  /* no inputs */\n"


def _clockwork_step(spec):
    N, n, m = spec.name, spec.n_hidden, spec.n_in
    R = spec.max_window
    arrays, blocks, commits = [], [], []
    for i, (period, k) in enumerate(zip(spec.periods, spec.sizes)):
        r0, r1, c0 = spec.starts[i], spec.starts[i + 1], spec.reads[i]
        width = n - c0
        L = spec.windows[i] if R > 1 else 1
        # (width, k): columns outer, so that the inner loop runs over the module's rows. (Padding
        # the rows with zero weights to a multiple of 8 was 7% slower once the chains below were
        # in: more weights to stream from L2 than the scalar tail it saves.)
        arrays.append(_array(f"{N}_w_h{i}", spec.W_h[r0:r1, c0:].T))
        arrays.append(_array(f"{N}_b_h{i}", spec.b_h[r0:r1]))
        if m and L > 1:
            # (k, L * n_in): the module's window of the right-aligned dense W_in, oldest input first.
            arrays.append(_array(f"{N}_w_in{i}", spec.W_in[r0:r1, spec.W_in.shape[1] - L * m :]))
        elif m:
            # (n_in, k): W_in[r0:r1].T, the columns of x(t).
            arrays.append(_array(f"{N}_w_in{i}", spec.W_in[r0:r1, spec.W_in.shape[1] - m :].T))
        guard = "" if period == 1 else f"if (t % {period}u == 0) "
        # S chains of columns accumulated independently (column c into chain c % S) and summed
        # in a fixed tree: one chain would wait on the previous FMA at every column.
        S = CHAINS if width >= 2 * CHAINS else 1
        main = width // S * S
        inputs = "".join(f" + {N}_w_in{i}[{j}][r] * x[{j}]" for j in range(m))
        window = ""
        if m and L > 1:
            # The window, L * n_in contiguous floats of the ring from x(t - L + 1) on: a dot
            # product per unit (_lane_dot). Column by column like the recurrent block, GCC
            # vectorised the long loop over the window instead of the unit's rows, with shuffles:
            # 3.3x slower for 320-input windows (docs/benchmarks.md, section 24).
            inputs = " + xin[r]"
            dot = _lane_dot("xin[r]", lambda c: f"{N}_w_in{i}[r][{c}] * xw[{(R - L) * m} + {c}]", L * m,
                            "            ")
            window = f"""        float xin[{k}];
        for (r = 0; r < {k}; r++) {{
{dot}        }}
"""
        accs = [f"acc{q}" for q in range(S)]
        decl = ", ".join(f"{a}[{k}]" for a in accs)
        zero = " ".join(f"{a}[r] = 0.0f;" for a in accs)
        hs = ", ".join(f"h{q} = h[{c0} + c + {q}]" for q in range(S))
        body = "\n".join(f"                {accs[q]}[r] += {N}_w_h{i}[c + {q}][r] * h{q};" for q in range(S))
        tail = "".join(f"""        for (r = 0; r < {k}; r++)
            {accs[q]}[r] += {N}_w_h{i}[{main + q}][r] * h[{c0 + main + q}];
""" for q in range(width - main))
        blocks.append(f"""    /* module {i}: period {period}, units {r0}..{r1 - 1}, reads units {c0}..{n - 1} */
    {guard}{{
        float {decl};
        for (r = 0; r < {k}; r++) {{
            {zero}
        }}
        for (c = 0; c < {main}; c += {S}) {{
            const float {hs};
            for (r = 0; r < {k}; r++) {{
{body}
            }}
        }}
{tail}{window}        for (r = 0; r < {k}; r++)
            work[{r0} + r] = {N}_tanh({N}_b_h{i}[r]{inputs} + {_tree([f"{a}[r]" for a in accs])});
    }}
""")
        commits.append(f"""    {guard}for (r = {r0}; r < {r1}; r++)
        h[r] = work[r];
""")
    ring, advance = "", ""
    if R > 1:
        # Input history: a ring of R rows written twice, at rows xpos and xpos + R of 2R, so that
        # the last R inputs are always the R contiguous rows xpos + 1 .. xpos + R (oldest first)
        # and every window is one plain slice: no wrap-around test inside the dot products, and a
        # constant cost per step (one extra row written), no block move ever.
        ring = f"""    const uint32_t xpos = s->xpos;
    const float *xw = s->xh + (size_t)(xpos + 1) * {m};   /* x(t - {R - 1}) .. x(t), oldest first */
    int j;
    for (j = 0; j < {m}; j++) {{
        s->xh[(size_t)xpos * {m} + (size_t)j] = x[j];
        s->xh[(size_t)(xpos + {R}) * {m} + (size_t)j] = x[j];
    }}
"""
        advance = f"    s->xpos = xpos + 1 == {R}u ? 0 : xpos + 1;\n"
    return "".join(arrays) + _TANH.format(N=N, FLUSH=FLUSH) + f"""
/* One step: every module that ticks at t recomputes from the previous state; the new values are
 * committed only once all are computed (modules of equal period read each other). */
static void {N}_step({N}_state *CWFAST_RESTRICT s, const float *CWFAST_RESTRICT x)
{{
    const uint64_t t = s->t;
    float *CWFAST_RESTRICT h = s->h;
    float *CWFAST_RESTRICT work = s->work;
    int r, c;
{_unused_input(m)}{ring}{"".join(blocks)}{"".join(commits)}{advance}    s->t = t + 1;
}}
"""


def _lstm_step(spec):
    N, n, m = spec.name, spec.n_hidden, spec.n_in
    g4 = 4 * n
    arrays = _array(f"{N}_w_h", spec.W_h.T) + _array(f"{N}_b_h", spec.b_h)
    inputs = ""
    if m:
        arrays += _array(f"{N}_w_in", spec.W_in.T)
        inputs = f"""    for (j = 0; j < {m}; j++) {{
        const float xj = x[j];
        for (r = 0; r < {g4}; r++)
            pre[r] += {N}_w_in[j][r] * xj;
    }}
"""
    uses_j = "int j; " if m else ""
    return arrays + f"""
static {N}_REAL {N}_sigmoid(float v)
{{
    return {N}_C(1.0) / ({N}_C(1.0) + {N}_EXP(-({N}_REAL)v));
}}

/* One LSTM step (gates input, forget, cell, output; no peepholes), as cwfast's kernel does it:
 * pre-activations in float, the gates and the cell update in double ({N}_REAL). */
static void {N}_step({N}_state *CWFAST_RESTRICT s, const float *CWFAST_RESTRICT x)
{{
    float *CWFAST_RESTRICT h = s->h;
    float *CWFAST_RESTRICT cell = s->c;
    float *CWFAST_RESTRICT pre = s->work;
    {uses_j}int r, c;
{_unused_input(m)}    for (r = 0; r < {g4}; r++)
        pre[r] = {N}_b_h[r];
{inputs}    for (c = 0; c < {n}; c++) {{
        const float hc = h[c];
        for (r = 0; r < {g4}; r++)
            pre[r] += {N}_w_h[c][r] * hc;
    }}
    for (r = 0; r < {n}; r++) {{
        const {N}_REAL ig = {N}_sigmoid(pre[r]);
        const {N}_REAL fg = {N}_sigmoid(pre[{n} + r]);
        const {N}_REAL gg = {N}_TANH(({N}_REAL)pre[{2 * n} + r]);
        const {N}_REAL og = {N}_sigmoid(pre[{3 * n} + r]);
        float cr = (float)(fg * cell[r] + ig * gg);
        float hr;
        cr = {_flush_expr("cr")};
        cell[r] = cr;
        hr = (float)(og * {N}_TANH(({N}_REAL)cr));
        h[r] = {_flush_expr("hr")};
    }}
    s->t++;
}}
"""


#: The C emitter of each real-time kind (``model.realtime_kind``): a new architecture with a new
#: kind of step adds its emitter here.
STEPS = {"clockwork": _clockwork_step, "clockwork_windows": _clockwork_step, "lstm": _lstm_step}


def _level(spec):
    """The level-normalisation functions, as cwfast._head_kernels computes them (in double, each
    result rounded as the model's float32 stores it), or nothing without a level."""
    if not spec.level:
        return ""
    N, K = spec.name, spec.components
    floor, ceiling = spec.level[2], spec.level[3]
    ceiling = "HUGE_VAL" if math.isinf(ceiling) else repr(ceiling)
    return f"""
/* Advance the level over the input v; return the gain g, the level held within [floor, ceiling]. */
static {N}_REAL {N}_gain({N}_state *s, float v)
{{
    {N}_REAL g;
    s->level = (float)(({N}_REAL)s->level + {N}_C({spec.level[0]!r}) * ({N}_FABS(({N}_REAL)v) - ({N}_REAL)s->level));
    s->level = {_flush_expr("s->level")};  /* silence would take it down into the denormals */
    g = ({N}_REAL)s->level;
    g = g > {N}_C({floor!r}) ? g : {N}_C({floor!r});
    return g < {N}_C({ceiling}) ? g : {N}_C({ceiling});
}}

/* The mixture's outputs from the network's units to the input's: means times g, log-scales plus log g. */
static void {N}_unlevel(float *y, {N}_REAL g)
{{
    const {N}_REAL log_g = {N}_LOG(g);
    int k;
    for (k = 0; k < {K}; k++) {{
        y[{K} + k] = (float)(({N}_REAL)y[{K} + k] * g);
        y[{2 * K} + k] = (float)(({N}_REAL)y[{2 * K} + k] + log_g);
    }}
}}
"""


def _prediction(spec):
    """The linear prediction's function, as cwfast._head_kernels computes it (the sum in double,
    each mean rounded as float32 stores it), or nothing without one."""
    if not spec.taps.size:
        return ""
    N, K, C = spec.name, spec.taps.size, spec.components
    return _array(f"{N}_taps", spec.taps) + f"""
/* Keep x, the input the network just read, as x(t); add sum_k taps[k] x(t - k) to the means of y. */
static void {N}_predict({N}_state *s, float x, float *y)
{{
    {N}_REAL p = {N}_C(0.0);
    int k;
    for (k = {K - 1}; k > 0; k--)
        s->px[k] = s->px[k - 1];
    s->px[0] = x;
    for (k = 0; k < {K}; k++)
        p += ({N}_REAL){N}_taps[k] * ({N}_REAL)s->px[k];
    for (k = 0; k < {C}; k++)
        y[{C} + k] = (float)(({N}_REAL)y[{C} + k] + p);
}}
"""


def _pitch(spec):
    """The pitch predictor's functions, as cwfast._pitch_kernels computes them (in double, each
    mean rounded as float32 stores it; the sums in another order, so the same term within
    rounding), or nothing without one."""
    p = spec.pitch
    if p is None:
        return ""
    N, C = spec.name, spec.components
    n, P, span = p.coefficients.size, p.history + 1, p.window + p.hi
    # N_C(): double literals, cast to float in the float build (so -Wfloat-conversion stays quiet)
    coefficients = ",\n    ".join(", ".join(f"{N}_C({float(a)!r})" for a in p.coefficients[s : s + 4])
                                  for s in range(0, n, 4))
    reference = "HUGE_VAL" if math.isinf(p.reference) else repr(float(p.reference))
    # The window's power every step over lanes: one chain of adds cost the bundled model 3.5 -> 2.9 us
    # a sample in all (docs/benchmarks.md, section 24).
    power = _lane_dot("power", lambda j: f"({N}_REAL)w[{P - p.window} + {j}] * ({N}_REAL)w[{P - p.window} + {j}]",
                      p.window, "        ", ctype=f"{N}_REAL")
    correlation = _lane_dot("num", lambda m: f"e[{p.hi} + {m}] * e[{p.hi} + {m} - lag]", p.window, "        ",
                            ctype=f"{N}_REAL")
    # In float the energy at each lag is summed afresh: moved from lag to lag, it would keep the
    # float rounding of the larger energies it dropped, far above the search's floor (tiny), and
    # a correlation past 1 could win.
    fresh = _lane_dot("den", lambda m: f"e[{p.hi} + {m} - lag] * e[{p.hi} + {m} - lag]", p.window, "        ",
                      ctype=f"{N}_REAL")
    return f"""static const {N}_REAL {N}_pitch_a[{n}] = {{
    {coefficients}
}};

/* e(j): the input w[j] less the short-term predictor's prediction of it from the {n} before it. */
static {N}_REAL {N}_residual(const float *w, int j)
{{
    {N}_REAL acc = {N}_C(0.0);
    int k;
    for (k = 0; k < {n}; k++)
        acc += {N}_pitch_a[k] * ({N}_REAL)w[j - {n} + k];
    return ({N}_REAL)w[j] - acc;
}}

/* Choose the lag in [{p.lo}, {p.hi}] whose last {p.window} residuals up to w[last] correlate best
 * (normalised) with those a lag before, and its least-squares gain in [0, 1]; none under {p.gate!r}.
 * A longer lag is taken only if its correlation is higher by more than {TIE_MARGIN!r} than the best
 * shorter one's: a period and its multiples, equal but for rounding on periodic input, then give
 * the lag Stream gives whatever the order of the sums. */
static void {N}_search({N}_state *s, const float *w, int last)
{{
    {N}_REAL *e = s->pe;
    {N}_REAL total = {N}_C(0.0), e0 = {N}_C(0.0), den = {N}_C(0.0), best = {N}_C(-1.0), best_gain = {N}_C(0.0), tiny;
    int m, lag, best_lag = 0;
    /* {N}_residual of every input in the span, the taps outer so that the inner loop runs over
     * the span's independent sums (each still summed in the taps' order: the same values) */
    const float *x = w + last - {span - 1};
    int k;
    for (m = 0; m < {span}; m++)
        e[m] = {N}_C(0.0);
    for (k = 0; k < {n}; k++) {{
        const {N}_REAL a = {N}_pitch_a[k];
        for (m = 0; m < {span}; m++)
            e[m] += a * ({N}_REAL)x[m - {n} + k];
    }}
    for (m = 0; m < {span}; m++) {{
        e[m] = ({N}_REAL)x[m] - e[m];
        total += e[m] * e[m];
    }}
    for (m = {p.hi}; m < {span}; m++)
        e0 += e[m] * e[m];
#ifndef CWFAST_FLOAT_TANH
    for (m = {p.hi - p.lo}; m < {span - p.lo}; m++)   /* the first lag's energy, moved from lag to lag */
        den += e[m] * e[m];
#endif
    tiny = {N}_C(1e-12) * total;
    for (lag = {p.lo}; lag <= {p.hi}; lag++) {{
        {N}_REAL num;
#ifdef CWFAST_FLOAT_TANH
        {{
{fresh}        }}
#else
        if (lag > {p.lo}) {{
            const double drop = e[{span} - lag], add = e[{p.hi} - lag];
            den = den - drop * drop + add * add;
        }}
#endif
{correlation}        if (den > tiny && e0 > tiny) {{
#ifdef CWFAST_FLOAT_TANH
            const float c = num / (sqrtf(den) * sqrtf(e0));   /* den * e0 may pass float's largest */
#else
            const double c = num / sqrt(den * e0);
#endif
            if (c > best + {N}_C({TIE_MARGIN!r})) {{   /* the shorter lag wins a tie */
                best = c;
                best_lag = lag;
                best_gain = num / den;
            }}
        }}
    }}
    if (best >= {N}_C({p.gate!r}) && best_lag > 0) {{
        s->plag = (float)best_lag;
        s->pbeta = (float)(best_gain < {N}_C(0.0) ? {N}_C(0.0) : (best_gain > {N}_C(1.0) ? {N}_C(1.0) : best_gain));
    }} else {{
        s->plag = 0.0f;
        s->pbeta = 0.0f;
    }}
}}

/* Keep x, the input the network just read at step t = s->t - 1; search every {p.hop} steps; add
 * gain * beta * e(t + 1 - lag) * min(1, {reference} / r) to the means of y, r the RMS of the last
 * {p.window} inputs. */
static void {N}_pitch({N}_state *s, float x, float *y)
{{
    const float *w;
    int lag, k;
    s->pw[s->ppos] = x;
    s->pw[s->ppos + {P}] = x;
    w = s->pw + s->ppos + 1;   /* w[0] = x(t - {P - 1}) .. w[{P - 1}] = x(t) */
    s->ppos = s->ppos + 1 == {P} ? 0 : s->ppos + 1;
    if ((s->t - 1) % {p.hop} == 0)
        {N}_search(s, w, {P - 1});
    lag = (int)s->plag;
    if (lag > 0) {{
        {N}_REAL term = ({N}_REAL)s->pbeta * {N}_residual(w, {P} - lag), power, r;
{power}        r = {N}_SQRT(power / {p.window});
        if (r > {N}_C({reference}))
            term *= {N}_C({reference}) / r;
        term *= ({N}_REAL){_flt(spec.pitch_gain)};
        for (k = 0; k < {C}; k++)
            y[{C} + k] = (float)(({N}_REAL)y[{C} + k] + term);
    }}
}}
"""


#: Where reset() and generate() put the surprise: r = 1 and no step before (generation holds r at
#: 1, as cwfast's sampling does; process() after it starts anew, as from the state sample() returns).
_SURPRISE_RESET = """    s->surprise[0] = {N}_C(1.0);
    s->surprise[1] = {N}_C(0.0);
    s->surprise[2] = {N}_C(0.0);
"""


def _surprise(spec):
    """The surprise-following scale's function, as cwfast._head_kernels computes it (in double, each
    log-scale rounded as float32 stores it), or nothing without one."""
    if not spec.surprise:
        return ""
    N, K = spec.name, spec.components
    alpha, beta, inv_mean = spec.surprise
    low, high = SURPRISE_R_RANGE
    return f"""
/* Scales that follow the recent surprise: v, the input just read, is what the last step's mixture
 * predicted; move r by how far it fell from that mixture's mean in units of its spread, then this
 * step's log-scales by beta log r, and keep this mixture's mean and spread for the next step. */
static void {N}_surprise({N}_state *s, float v, float *y)
{{
    {N}_REAL top = ({N}_REAL)y[0], norm = {N}_C(0.0), mean = {N}_C(0.0), spread = {N}_C(0.0), shift;
    int k;
    if (s->surprise[2] > {N}_C(0.0)) {{
        s->surprise[0] += {N}_C({alpha!r}) * ({N}_FABS(({N}_REAL)v - s->surprise[1]) / s->surprise[2] * {N}_C({inv_mean!r})
                                          - s->surprise[0]);
        s->surprise[0] = s->surprise[0] > {N}_C({low!r}) ? s->surprise[0] : {N}_C({low!r});
        s->surprise[0] = s->surprise[0] < {N}_C({high!r}) ? s->surprise[0] : {N}_C({high!r});
    }}
    for (k = 1; k < {K}; k++)
        top = ({N}_REAL)y[k] > top ? ({N}_REAL)y[k] : top;
    for (k = 0; k < {K}; k++) {{
        const {N}_REAL w = {N}_EXP(({N}_REAL)y[k] - top);
        const {N}_REAL ls = ({N}_REAL)y[{2 * K} + k];
        norm += w;
        mean += w * ({N}_REAL)y[{K} + k];
        spread += w * {N}_EXP(ls > {N}_C({LOG_SCALE_MIN!r}) ? ls : {N}_C({LOG_SCALE_MIN!r}));
    }}
    s->surprise[1] = mean / norm;
    s->surprise[2] = spread / norm;
    shift = {N}_LOG(s->surprise[0]) * {N}_C({beta!r});
    for (k = 0; k < {K}; k++)
        y[{2 * K} + k] = (float)(({N}_REAL)y[{2 * K} + k] + shift);
}}
"""


def _read_function(spec):
    """``NAME_read``: what an autoregressive model reads of a value in its units (the previous
    sample), as :func:`cwfast.codec.as_read` makes it: the decoded value of its mu-law class (0
    too: the value of the class it falls in), or the value clipped to [-1, 1] (linear history);
    NaN reads as 0 does. The state keeps what it read (``s->prev``), so the 0 a reset leaves there is
    read as 0, as cwfast's first step reads it."""
    N = spec.name
    if spec.history == "linear":
        body = f"""    if ({N}_nan(v))
        return 0.0f;
    return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);"""
    else:
        mu = f"{float(len(spec.values) - 1)!r}"
        body = f"""    {N}_REAL c;
    if ({N}_nan(v))
        v = 0.0f;  /* read as a silent sample is */
    v = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
    c = (v < 0.0f ? {N}_C(-1.0) : {N}_C(1.0)) * {N}_LOG1P({N}_C({mu}) * {N}_FABS(({N}_REAL)v)) / {N}_LOG1P({N}_C({mu}));
    return {N}_values[(int){N}_FLOOR((c + {N}_C(1.0)) / {N}_C(2.0) * {N}_C({mu}) + {N}_C(0.5))];"""
    return f"""/* What the model reads of v, a value in its units: see {N}_read in {N}.h. */
float {N}_read(float v)
{{
{body}
}}
"""


def source(spec):
    N, m, o = spec.name, spec.n_in, spec.n_out
    step = STEPS[spec.kind](spec)
    softmax = ""
    if spec.output in ("softmax", "mixture"):
        # A mixture head's weights are the softmax of its first K outputs, its scales the exp of
        # its last K (clamped below), as Stream computes them.
        k_soft = spec.components or o
        scales = ""
        if spec.components:
            scales = f"""            for (k = {2 * k_soft}; k < {o}; k++)
                y[k] = expf(y[k] > {LOG_SCALE_MIN!r}f ? y[k] : {LOG_SCALE_MIN!r}f);
"""
        softmax = f"""        {{
            /* probabilities, as cwfast's Stream computes them: exp(y - max) / sum, in float */
            float *CWFAST_RESTRICT y = out + (size_t)i * {o};
            float top = y[0], total = 0.0f;
            int k;
            for (k = 1; k < {k_soft}; k++)
                top = y[k] > top ? y[k] : top;
            for (k = 0; k < {k_soft}; k++) {{
                y[k] = expf(y[k] - top);
                total += y[k];
            }}
            for (k = 0; k < {k_soft}; k++)
                y[k] /= total;
{scales}        }}
"""
    unlevel = ""
    if spec.level:  # one input, the previous sample
        read = f"""        float x[1];
        const float v = in[i];
        const float f = {_input_expr(N, "v")};
        const {N}_REAL g = {N}_gain(s, f);
        x[0] = (float)(({N}_REAL)f / g);
        {N}_step(s, x);
"""
        unlevel = f"""        {N}_unlevel(out + (size_t)i * {o}, g);
"""
    elif m:
        read = f"""        float x[{m}];
        int j;
        for (j = 0; j < {m}; j++) {{
            const float v = in[(size_t)i * {m} + (size_t)j];
            x[j] = {_input_expr(N, "v")};
        }}
        {N}_step(s, x);
"""
    else:
        read = f"""        (void)in;
        {N}_step(s, NULL);
"""
    if spec.pitch is not None:  # one input, the previous sample; after the taps, before the level
        unlevel = f"""        {N}_pitch(s, x[0], out + (size_t)i * {o});
""" + unlevel
    if spec.taps.size:  # one input, the previous sample; the means get it before the level scales them
        unlevel = f"""        {N}_predict(s, x[0], out + (size_t)i * {o});
""" + unlevel
    if spec.surprise:  # one input, the previous sample, as read (before the level)
        unlevel += f"""        {N}_surprise(s, {"f" if spec.level else "x[0]"}, out + (size_t)i * {o});
"""
    gen = ""
    if spec.autoregressive:
        K = spec.components
        n_draw = K or o
        second_uniform = ""
        emit = f"""        s->prev = {N}_values[best];
        out[i] = (float)(({N}_REAL){N}_values[best] * {N}_C({spec.output_level!r}));  /* {N}_SCALE * {N}_OUTPUT_GAIN */
"""
        if K:
            # The mixture head, as cwfast._head_kernels draws it: the component from the first K
            # outputs, then an amplitude from its logistic; the model reads back its class value
            # (mu-law history) or the amplitude itself (linear history).
            second_uniform = f"""        const {N}_REAL u2 = {N}_UNIFORM({N}_next(&s->rng));
"""
            emit = f"""        {{
            /* the amplitude: the component's mean, plus its logistic's inverse CDF at u2 times
             * its scale times the temperature; clipped to [-1, 1] */
            {N}_REAL v = ({N}_REAL)logits[{K} + best];
            float e;
            if (s->inv_temperature > {N}_C(0.0)) {{
                /* (in float u2 <= 1 - 2^-24: the upper clamp never binds, and 1 - u2 is exact) */
                const {N}_REAL uu = u2 < {N}_C(1e-12) ? {N}_C(1e-12) : (u2 > {N}_C(1.0 - 1e-12) ? {N}_C(1.0 - 1e-12) : u2);
                const {N}_REAL ls = ({N}_REAL)logits[{2 * K} + best];
                v += {N}_EXP(ls > {N}_C({LOG_SCALE_MIN!r}) ? ls : {N}_C({LOG_SCALE_MIN!r})) / s->inv_temperature
                     * ({N}_LOG(uu) - {N}_LOG1P(-uu));
            }}
            e = (float)(v < {N}_C(-1.0) ? {N}_C(-1.0) : (v > {N}_C(1.0) ? {N}_C(1.0) : v));
            s->prev = {N}_read(e);
            out[i] = (float)(({N}_REAL)e * {N}_C({spec.output_level!r}));  /* {N}_SCALE * {N}_OUTPUT_GAIN */
        }}
"""
        gain = unlevel_logits = ""
        if spec.level:
            gain = f"""        {{
            const {N}_REAL g = {N}_gain(s, x[0]);
            x[0] = (float)(({N}_REAL)x[0] / g);
            gain = g;
        }}
"""
            unlevel_logits = f"""        {N}_unlevel(s->logits, gain);
"""
        if spec.pitch is not None:
            unlevel_logits = f"""        {N}_pitch(s, x[0], s->logits);
""" + unlevel_logits
        if spec.taps.size:
            unlevel_logits = f"""        {N}_predict(s, x[0], s->logits);
""" + unlevel_logits
        gen = _array(f"{N}_values", spec.values) + f"""
static uint64_t {N}_next(uint64_t *state)
{{
    /* splitmix64 (Steele, Lea and Flood 2014; public domain reference by S. Vigna) */
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}}

void {N}_seed({N}_state *s, uint64_t seed)
{{
    s->rng = seed;
}}

void {N}_set_temperature({N}_state *s, double temperature)
{{
    {N}_REAL t;
    if ({N}_nan_double(temperature))  /* NaN: no temperature, the one it had stays */
        return;
    t = ({N}_REAL)temperature;  /* (in float, the one conversion from double) */
    t = t < {N}_C({N}_TEMPERATURE_MAX) ? t : {N}_C({N}_TEMPERATURE_MAX);
    s->inv_temperature = t > {N}_C(0.0) ? {N}_C(1.0) / t : {N}_C(0.0);
}}

{_read_function(spec)}
void {N}_prime({N}_state *s, const float *clip, int n)
{{
    int i;
    for (i = 0; i < n; i++) {{
        const float x = s->prev;
        /* its outputs into the sampler's logits, which generate computes afresh before reading
           (a y[{N}_N_OUT] here took 256 KB of the caller's stack at 65,536 classes) */
        {N}_process(s, &x, s->logits, 1);
        s->prev = {N}_read((float)(({N}_REAL)clip[i] / {N}_C({N}_SCALE)));
    }}
}}

void {N}_generate({N}_state *s, float *out, int n)
{{
    int i, k;
    if (n <= 0){"  /* nothing, not even the surprise's reset */" if spec.surprise else ""}
        return;
{_SURPRISE_RESET.format(N=N) if spec.surprise else ""}    for (i = 0; i < n; i++) {{
        /* a uniform in [0, 1) drawn every step as numpy's sampler does: 53 random bits
           (under CWFAST_FLOAT_TANH the midpoint of one of 2^23 bins, never 0) */
        const {N}_REAL u = {N}_UNIFORM({N}_next(&s->rng));
{second_uniform}        const float *logits = s->logits;
        float x[1];
        float top;
        int best = 0;{f" {N}_REAL gain;" if spec.level else ""}
        x[0] = s->prev;
{gain}        {N}_step(s, x);
        {N}_head(s->h, s->logits);
{unlevel_logits}
        top = logits[0];
        for (k = 1; k < {n_draw}; k++)
            if (logits[k] > top) {{
                top = logits[k];
                best = k;
            }}
        if (s->inv_temperature > {N}_C(0.0)) {{
            {N}_REAL total = {N}_C(0.0), acc = {N}_C(0.0), threshold;
            for (k = 0; k < {n_draw}; k++) {{
                s->weights[k] = {N}_EXP(({N}_REAL)(logits[k] - top) * s->inv_temperature);
                total += s->weights[k];
            }}
            threshold = u * total;
            for (k = 0; k < {n_draw}; k++) {{
                acc += s->weights[k];
                if (acc >= threshold) {{
                    best = k;
                    break;
                }}
            }}
        }}
{emit}    }}
}}
"""
    reset_extra = ""
    if spec.autoregressive:
        reset_extra = f"""    s->prev = 0.0f;
    s->rng = 0;
    {N}_set_temperature(s, {N}_TEMPERATURE);
"""
    lstm_reset = ""
    if spec.kind == "lstm":
        lstm_reset = f"""    for (i = 0; i < {spec.n_hidden}; i++)
        s->c[i] = 0.0f;
"""
    ring_reset = ""
    if spec.kind != "lstm" and spec.max_window > 1:  # x(t) = 0 before the first step
        ring_reset = f"""    for (i = 0; i < {2 * spec.max_window * m}; i++)
        s->xh[i] = 0.0f;
    s->xpos = 0;
"""
    level_reset = f"    s->level = {spec.level[1]!r}f;\n" if spec.level else ""
    if spec.surprise:
        level_reset += _SURPRISE_RESET.format(N=N)
    if spec.taps.size:
        level_reset += f"""    for (i = 0; i < {spec.taps.size}; i++)
        s->px[i] = 0.0f;
"""
    if spec.pitch is not None:
        level_reset += f"""    for (i = 0; i < {2 * (spec.pitch.history + 1)}; i++)
        s->pw[i] = 0.0f;
    for (i = 0; i < {spec.pitch.window + spec.pitch.hi}; i++)
        s->pe[i] = 0.0;
    s->ppos = 0;
    s->plag = 0.0f;
    s->pbeta = 0.0f;
"""
    work = 4 * spec.n_hidden if spec.kind == "lstm" else spec.n_hidden
    body = f"""{step}
{_head(spec)}{_level(spec)}{_prediction(spec)}{_pitch(spec)}{_surprise(spec)}
size_t {N}_state_size(void)
{{
    return sizeof({N}_state);
}}
{gen}
void {N}_reset({N}_state *s)
{{
    int i;
    for (i = 0; i < (int)(sizeof(s->h) / sizeof(s->h[0])); i++)
        s->h[i] = 0.0f;
    for (i = 0; i < {work}; i++)
        s->work[i] = 0.0f;
{lstm_reset}{ring_reset}    s->t = 0;
{level_reset}
{reset_extra}}}

void {N}_process({N}_state *s, const float *in, float *out, int n)
{{
    int i;
    for (i = 0; i < n; i++) {{
{read}        {N}_head(s->h, out + (size_t)i * {o});
{unlevel}{softmax}    }}
}}
"""
    return f"""/* {N}.c: generated by cwfast {_version()} from a trained model; see {N}.h. */
#include <math.h>
#include <string.h>
#include "{N}.h"

{_RESTRICT}
{_real_macros(N, _bit_tests(N, body) + body)}
{_bit_tests(N, body)}
{body}"""
