"""Trained models back to audio: generation from memorize and autoregressive models, effects over files.

:func:`render` makes audio with a memorize model (its clip, from the clock alone) or an
autoregressive one (sampling, one sample fed back at a time, optionally primed with a clip);
:func:`process` runs an effect model over a signal block by block through a
:class:`~cwfast.stream.Stream`. Both return audio at the level of the training audio
(``model.metadata["scale"]``), an autoregressive model's times its output gain (at its training
audio's loudness: ``model.metadata["output_gain"]``), as :mod:`cwfast.metadata` reads them. NumPy
on top of the public model API; the kernels load only when a model runs.
"""

from __future__ import annotations

import numpy as np

from . import validate
from .codec import N_CLASSES, as_read, mu_law_values
from .errors import CwfastError, ParameterError
from .modes import MAX_OUTPUT_GAIN
from .metadata import (  # noqa: F401  (the readers generation uses, and what callers find here)
    autoregressive_spec, classes_of, history_of, mode_of, output_gain_of, scale_of, temperature_of, trained_length,
    training_rms_of,
)


def feedback_values(model, n_classes):
    """``values`` for ``model.sample``: the classes' decoded values, or None (linear history)."""
    return None if history_of(model) == "linear" else mu_law_values(n_classes)


def denormalize(samples, model):
    """Samples in the model's unit range back at the level of its training audio (times ``scale``)."""
    return (np.asarray(samples, dtype=np.float64) * scale_of(model)).astype(np.float32)


def seconds_to_samples(seconds, sample_rate, *, option=None):
    """``seconds`` as a whole number of samples at ``sample_rate`` (at least one); a refusal names
    ``option`` (a command line's ``--seconds``) when given."""
    seconds = validate.positive_float("seconds", seconds)
    sample_rate = validate.rate("sample_rate", sample_rate, maximum=validate.MAX_SAMPLE_RATE)
    n = seconds * sample_rate  # a float: past 1.8e308 it is inf, which round() cannot take
    given = f"{option} {seconds:g}" if option else f"{seconds:g} s"
    if not n <= validate.MAX_COUNT:
        raise ParameterError(f"{given} is more samples at {sample_rate} Hz than any array can hold")
    n = round(n)
    if n < 1:
        raise ParameterError(f"{given} is shorter than one sample at {sample_rate} Hz")
    return int(n)


def _check_callback(on_progress, name="on_progress"):
    if on_progress is not None and not callable(on_progress):
        raise ParameterError(f"{name} must be callable (or None), not {type(on_progress).__name__}")


def fresh_seed():
    """A random seed from the operating system, small enough to type back in."""
    return int(np.random.SeedSequence().entropy % 2**31)


def render(model, n_samples=None, *, seed=None, temperature=None, prime=None, output_gain=None, chunk=16384,
           on_progress=None, default_seconds=5.0):
    """Generate audio from a memorize or autoregressive model, at the level of its training audio.

    Parameters
    ----------
    model : ClockworkRNN, SRN or LSTM
    n_samples : int, optional
        How many samples. Default: the trained length for a memorize model, ``default_seconds``
        at ``model.sample_rate`` (16 kHz if it has none) for an autoregressive model.
    seed : int, optional
        Seeds autoregressive sampling; a memorize model is deterministic.
    temperature : float, optional
        Autoregressive sampling temperature; default ``model.metadata["temperature"]`` or 1.
    prime : ndarray, shape (m,), optional
        Autoregressive only: audio (at the model's rate and original level) run through the model
        with teacher forcing before generation starts, to set its state. The output continues it
        and does not include it.
    output_gain : float, optional
        Autoregressive only: what the generated audio is multiplied by (not what the model reads
        back), at most :data:`~cwfast.modes.MAX_OUTPUT_GAIN`. Default: the model's own
        (:func:`output_gain_of`); 1 gives the level the model generates at by itself.
    chunk : int
        Generation runs in blocks of this many samples (see :func:`render_blocks`); the result
        does not depend on it.
    on_progress : callable, optional
        Called with the number of samples just generated.
    default_seconds : float
        Seconds to generate when ``n_samples`` is not given (and a memorize model stores no
        trained length); positive.

    Returns
    -------
    ndarray, shape (n_samples,), float32

    Raises
    ------
    CwfastError
        For an effect model (it needs an input: process a file with it instead), or a prime, an
        output gain or a temperature given to a memorize model.
    """
    _check_callback(on_progress)
    chunk = validate.positive_int("chunk", chunk)  # (render_blocks would name it by its own name, block)
    # The whole output is held: refused up front past memory, whether asked for or a memorize
    # model's stored length (render_blocks checks the arguments themselves).
    wanted = n_samples if n_samples is not None or mode_of(model) != "memorize" else trained_length(model)
    if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool) and wanted > 0:
        from .budget import check_fits

        check_fits(4 * int(wanted), f"{int(wanted):,} samples of audio in memory",
                   "ask for fewer, or write them block by block (render_blocks)")
    blocks = render_blocks(model, n_samples, seed=seed, temperature=temperature, prime=prime,
                           output_gain=output_gain, block=chunk, default_seconds=default_seconds)
    # Filled in place: blocks kept and joined held the output twice (an hour: 2 x 230 MB).
    out = np.empty(_length(model, n_samples, default_seconds), dtype=np.float32)
    done = 0
    for piece in blocks:
        out[done : done + piece.size] = piece
        done += piece.size
        if on_progress is not None:
            on_progress(piece.size)
    return out


def _length(model, n_samples, default_seconds):
    """The samples :func:`render_blocks` makes of these (checked) arguments."""
    if n_samples is not None:
        return int(n_samples)
    trained = trained_length(model) if mode_of(model) == "memorize" else 0
    return trained or seconds_to_samples(default_seconds, model.sample_rate or 16000)


def render_blocks(model, n_samples=None, *, seed=None, temperature=None, prime=None, output_gain=None, block=16384,
                  default_seconds=5.0, on_prime=None):
    """:func:`render`, one block of ``block`` samples at a time: an iterator of float32 arrays.

    Everything is checked when this is called, before the first block; each block carries on
    from the state and clock where the last one stopped, so the blocks joined are exactly
    :func:`render`'s output and a long generation needs memory for one block, not for its length
    (write it with :func:`cwfast.audio.write_audio_blocks`). A ``prime`` is run through the model
    here too, after the checks, a piece at a time: ``on_prime``, if given, is called with the
    number of its samples each piece ran (an hour's prime takes about a minute).
    """
    _check_callback(on_prime, "on_prime")
    mode = mode_of(model)
    n_samples = validate.positive_int("n_samples", n_samples, allow_none=True)
    block = validate.positive_int("block", block)
    default_seconds = validate.positive_float("default_seconds", default_seconds)  # (checked whatever n_samples)
    # Checked whatever the mode, though a memorize model draws nothing: a bad one is a mistake.
    if temperature is not None:
        temperature = validate.temperature("temperature", temperature)
    if output_gain is not None:
        output_gain = validate.positive_float("output_gain", output_gain, maximum=MAX_OUTPUT_GAIN)
    rng = validate.rng(seed)
    if mode == "effect":
        raise effect_refusal(model)
    scale = scale_of(model)
    from .budget import check_fits

    # A block's inputs, outputs and state as the model runs it: a block of a trillion samples is a
    # typo, and NumPy's MemoryError would not say which argument.
    check_fits(8 * (model.n_in + model.n_out + 2) * min(block, n_samples or block), f"blocks of {block:,} samples",
               "ask for smaller blocks (block, chunk)")
    model.check_runnable()
    if mode == "memorize":
        if prime is not None:
            raise CwfastError("a memorize model takes no input, so it cannot be primed")
        if output_gain is not None:
            raise CwfastError("a memorize model generates its clip at its level: it takes no output gain")
        if temperature is not None:
            raise CwfastError("a memorize model is deterministic: it takes no temperature")
        return _memorize_blocks(model, _length(model, n_samples, default_seconds), block, scale)

    n_classes, stored_temperature = autoregressive_spec(model)
    n_samples = _length(model, n_samples, default_seconds)
    temperature = stored_temperature if temperature is None else temperature
    level = scale * (output_gain_of(model) if output_gain is None else output_gain)
    state, first = None, 0.0
    if prime is not None:
        state, first = _primed(model, validate.mono("prime", prime), scale, n_classes, history_of(model),
                               on_prime=on_prime)
    return _sampled_blocks(model, n_samples, block, level, feedback_values(model, n_classes), temperature, rng,
                           state, first)


def _memorize_blocks(model, n_samples, block, scale):
    state = None
    for done in range(0, n_samples, block):
        n = min(block, n_samples - done)
        y, state = model.forward(np.zeros((n, model.n_in), dtype=model.dtype), state=state, return_state=True)
        yield _audio(y[:, 0], scale)


def _audio(values, level):
    """Generated ``values`` times ``level`` as float32 audio; CwfastError where that is not finite
    (a scale or gain in the metadata past float32's range, a model whose output ran away), rather
    than a file of infinities."""
    with np.errstate(over="ignore"):
        audio = (values.astype(np.float64) * level).astype(np.float32)
    if not np.all(np.isfinite(audio)):
        raise CwfastError(f"the generated audio is not finite at the model's level ({level:.4g}): its output or its "
                          "metadata's scale and output gain are past what audio can hold")
    return audio


def _sampled_blocks(model, n_samples, block, level, values, temperature, rng, state, first):
    for done in range(0, n_samples, block):
        n = min(block, n_samples - done)
        # One generator across blocks draws the same uniforms as one call, so blocking is invisible.
        piece, state = model.sample(
            n, values=values, temperature=temperature, seed=rng, first_input=first, state=state, return_state=True
        )
        first = float(piece[-1])
        yield _audio(piece, level)


#: Prime samples read and run at a time (a whole number of the model's own pieces).
PRIME_PIECE = 64 * 4096


def _primed(model, prime, scale, n_classes, history, piece=None, on_prime=None):
    """The state after teacher forcing over ``prime`` (checked mono samples) and the next input:
    what ``model.advance`` over :func:`autoregressive_inputs` gives, read ``piece`` samples at a
    time (read whole, an hour's prime held several float64 copies of itself: ~2.3 GB)."""
    piece = PRIME_PIECE if piece is None else piece
    state, first = None, np.float32(0.0)
    for start in range(0, prime.size, piece):
        read = as_read(prime[start : start + piece].astype(np.float64) / scale, n_classes, history)
        x = np.empty((read.size, 1), dtype=np.float32)
        x[0, 0], x[1:, 0] = first, read[:-1]
        state = model.advance(x, state=state)
        first = read[-1]
        if on_prime is not None:
            on_prime(read.size)
    return state, float(first)


def autoregressive_inputs(samples, scale, n_classes=N_CLASSES, history="mu-law"):
    """Audio at its original level as an autoregressive model reads it: scaled, then quantised and
    decoded (mu-law history) or clipped to [-1, 1] (linear history), as
    :func:`cwfast.tasks.autoregressive` makes its inputs.

    Returns ``(m + 1,)`` float32: 0 (the input of the first step) followed by the samples so read,
    so that ``x[:-1]`` drives teacher forcing over the clip and ``x[-1]`` is the next input.
    """
    samples = validate.mono("prime", samples)
    out = np.zeros(samples.size + 1, dtype=np.float32)
    out[1:] = as_read(samples.astype(np.float64) / scale, n_classes, history)
    return out


def effect_refusal(model, name="this model", process="'cwfast process'"):
    """The CwfastError for an effect model (``name``) asked to generate: it needs an input signal,
    which ``process`` gives it if it has one input and one linear output; else Python does."""
    if not _processable(model):  # 'process' would send it back: say where it runs
        return CwfastError(f"{name} reads input signals ({_shape(model)}) that neither 'cwfast generate' nor "
                           "'cwfast process' (one input, one linear output) gives it: run it from Python "
                           "(cwfast.Stream)")
    return CwfastError(f"{name} is an effect model: it needs an input signal, so use {process} with it")


def _processable(model):
    """Whether ``model``'s shape is one :func:`process` runs: one input, one linear output."""
    return model.n_in == 1 and model.n_out == 1 and model.output == "linear"


def _shape(model):
    """'2 inputs and 1 linear output', say."""
    def count(n, word):
        return f"{n} {word}{'s' * (n != 1)}"

    return f"{count(model.n_in, 'input')} and {count(model.n_out, model.output + ' output')}"


def check_processable(model, blocked=False):
    """Raise CwfastError unless ``model`` is an input-driven model that :func:`process` can run
    (ParameterError if ``blocked`` and a blocked :class:`~cwfast.stream.Stream` cannot run it)."""
    from .stream import Stream

    mode = mode_of(model)
    if mode != "effect" or not _processable(model):
        what = "effect model with one input and one linear output"
        if mode in ("memorize", "autoregressive"):
            article = "an" if mode == "autoregressive" else "a"
            raise CwfastError(f"this is {article} {mode} model, not an effect model: use 'cwfast generate' with it")
        raise CwfastError(f"this model has {_shape(model)}; 'process' runs an {what} (run others from Python: "
                          "cwfast.Stream)")
    if blocked:
        Stream(model, blocked=True)  # refuses what it cannot run; prepares nothing


def process_blocks(model, blocks, *, block_size=4096, blocked=False):
    """:func:`process` over a signal that arrives in blocks (each at most ``block_size`` samples):
    an iterator of the output blocks, float32, through one :class:`~cwfast.stream.Stream`, so a
    file of any length is processed in the memory of one block. Joined, the outputs equal
    :func:`process`'s with the same ``blocked`` (a stream gives the same bits however its input
    is split; an empty block gives no output block)."""
    from .stream import Stream

    check_processable(model, blocked)
    block_size = validate.positive_int("block_size", block_size)
    try:
        blocks = iter(blocks)
    except TypeError:
        raise ParameterError(f"blocks must be an iterable of sample blocks, not {type(blocks).__name__}") from None
    stream = Stream(model, max_block=block_size, blocked=blocked)
    y = np.empty((block_size, 1), dtype=model.dtype)

    def run():
        for block in blocks:
            block = validate.as_array("block", block)
            if block.shape == (0,):
                continue  # a live source's empty read: nothing to process (a Stream takes it too)
            x = validate.mono("block", block, model.dtype)[:, None]
            for start in range(0, x.shape[0], block_size):
                piece = x[start : start + block_size]
                yield stream.process(piece, out=y[: piece.shape[0]])[:, 0].astype(np.float32)

    return run()


def process(model, samples, *, block_size=4096, on_progress=None, blocked=False):
    """Run an input-driven (effect) model over a whole signal, block by block through a Stream.

    Parameters
    ----------
    model : ClockworkRNN, SRN or LSTM
        A linear model with one input (``effect`` mode).
    samples : ndarray, shape (n,), float
    block_size : int
    on_progress : callable, optional
        Called with the number of samples of each finished block.
    blocked : bool
        Run the stream module by module over each block (``Stream(model, blocked=True)``): faster
        for large Clockwork RNNs, the same output within float rounding.

    Returns
    -------
    ndarray, shape (n,), float32

    Raises
    ------
    CwfastError
        If the model is not input-driven (memorize and autoregressive models generate instead).
    """
    check_processable(model, blocked)
    block_size = validate.positive_int("block_size", block_size)
    _check_callback(on_progress)
    x = validate.mono("samples", samples, model.dtype)  # a float64 model reads float64 unrounded
    out = np.empty(x.size, dtype=np.float32)
    # Buffers (and the stream's warm-up) no longer than the signal: --block 10**8 on a short file
    # must not allocate and warm up for 10**8 steps.
    start = 0
    for y in process_blocks(model, [x], block_size=min(block_size, x.size), blocked=blocked):
        out[start : start + y.size] = y
        start += y.size
        if on_progress is not None:
            on_progress(y.size)
    return out
