"""The names of cwfast's audio tasks and heads, and the limits the command line checks, in a module that
imports nothing but the standard library, so that the command line can list and check them without
loading NumPy. What each mode does is :mod:`cwfast.tasks`."""

import numbers

#: memorize: emit one clip from the clock alone; autoregressive: predict the next sample;
#: effect: map a dry input to a processed output.
MODES = ("memorize", "autoregressive", "effect")

#: The trainers: Adam, SGD with Nesterov momentum (as the paper), or an evolution strategy.
TRAINERS = ("adam", "sgd", "es")

#: Output heads of an autoregressive model: a softmax over the mu-law classes, or a mixture of
#: logistics integrated over them (:class:`cwfast.heads.MixtureHead`).
AUDIO_HEADS = ("softmax", "mixture")
#: What an autoregressive model reads of the samples before the one it predicts: "mu-law", the
#: value of each one's 8-bit mu-law class (what a softmax head emits, and the only history it can
#: have), or "linear", the samples themselves (a mixture head, which draws amplitudes, not
#: classes, then reads back exactly what it drew). Models saved without one read "mu-law".
HISTORIES = ("mu-law", "linear")
#: What an autoregressive mixture model reads of its past unless ``--history`` says otherwise
#: (docs/results.md, "Linear history").
MIXTURE_HISTORY = "mu-law"
#: Logistics of a mixture head unless ``--components`` says otherwise.
DEFAULT_COMPONENTS = 10
#: Taps of an autoregressive mixture Clockwork RNN's linear prediction unless ``--prediction``
#: says otherwise (other architectures: 0, none). Chosen on the validation parts: it helped the
#: Clockwork RNN on all four sources of the generation goals and not the LSTM (docs/results.md,
#: "Linear prediction").
PREDICTION_TAPS = 32
#: What ``--pitch`` may say: no pitch predictor, one (:class:`cwfast.model.Pitch`),
#: or both trained and the better on validation kept (the screened recipe; docs/results.md, "The
#: pitch predictor with its loop's level bounded").
PITCH_CHOICES = ("off", "on", "auto")
#: What an autoregressive mixture Clockwork RNN trained by gradient gets unless ``--pitch`` says
#: otherwise (other architectures and the evolution strategy: off). Chosen by a rule written before
#: its run, on training seeds never used before: +2 likeness cells of 24, none quiet, none loud
#: (docs/results.md, "The pitch predictor built into the engine").
PITCH_DEFAULT = "auto"
#: The taps of the short-term predictor whose residual a pitch predictor searches.
PITCH_TAPS = 32
#: The percentile of the training part's RMS over windows of the pitch predictor's length (of the
#: inputs the network reads) above which its term is scaled down (:attr:`cwfast.model.Pitch.reference`).
PITCH_REFERENCE_PERCENTILE = 95.0
#: The percentiles of the training audio's level that bound a levelled model's gain unless
#: ``--level-band`` says otherwise (:class:`cwfast.model.Level`'s floor and ceiling): without
#: them a model generates at a loudness that drifts to silence or to full scale (docs/results.md,
#: "The level's band").
LEVEL_BAND = (25.0, 75.0)
#: The most samples a level may be tracked over (``--level``, ``level=``): past 2**24 (6 minutes at
#: 44.1 kHz) it barely moves from where it starts, a constant gain rather than a level.
MAX_LEVEL_SAMPLES = 2**24
#: The most generation multiplies an autoregressive model's output by when told to
#: (``--output-gain``, :func:`cwfast.render.render`'s ``output_gain``): 60 dB, past any level a
#: sound file can hold of audio at its training level.
MAX_OUTPUT_GAIN = 1000.0
#: Generated audio quieter than this fraction of its training audio's RMS (-12 dB) is *near
#: silent*: no temperature of its own to keep (:func:`cwfast.train_audio.calibrate_temperature`;
#: at 0.5 some models generate 0.02x to 0.04x of their sources' RMS, docs/results.md, "The
#: generation temperature"), and ``cwfast generate`` says so of what it wrote.
AUDIBLE_RMS = 0.25
#: Generated audio with more than this share of its samples at full scale (:data:`PINNED_LEVEL`
#: or beyond, where a mixture's draws are clipped) is *pinned*, and no temperature to keep
#: (:func:`cwfast.train_audio.calibrate_temperature`): a model that has run into a limit cycle
#: between the rails (a seed-11 trumpet model drew 21% of its 10 s there, 99.6% of its power
#: within 500 Hz of the Nyquist frequency: a whistle its flatness and pitched share took for a
#: tone; docs/results.md, "Near silence across the runs") is neither like its training audio nor
#: audible music. The recordings and the goal models kept before: under 0.01%.
MAX_PINNED_SHARE = 0.01
#: ... unless its training audio is clipped itself: then pinned only past this many times the
#: training audio's own share (a model that copies a recording limited at its peak is no whistle).
PINNED_OVER_TRAINING = 3.0
#: Inputs smaller than this in magnitude are read as 0 by every path: ``forward`` and the other
#: methods that take a sequence, :class:`cwfast.stream.Stream` and the exported C (which flushes
#: its weights and state values below it too). 300 dB below full scale: no audio is lost, and a
#: subnormal input, which a host may send on a fade's tail, cost a Stream of the bundled model
#: 25.6x its time per sample on an Intel Xeon (its input windows' products stay subnormal).
FLUSH = 1e-15
#: Full scale in a model's units, where draws are clipped to [-1, 1].
PINNED_LEVEL = 0.999


def is_pinned(row, training=None):
    """Whether a calibration row (:func:`cwfast.train_audio.calibrate_temperature`'s ``table``)
    found its audio pinned: more than :data:`MAX_PINNED_SHARE` of its samples at full scale, and
    more than :data:`PINNED_OVER_TRAINING` times the share of its training audio (``training``,
    the calibration's ``training_audio``, whose ``pinned`` is that share; none if absent). Rows
    written before the share was measured, or holding no number there, are not."""
    share = as_real(row.get("pinned"))
    if share is None:
        return False
    own = as_real(training.get("pinned")) if isinstance(training, dict) else None
    return share > max(MAX_PINNED_SHARE, PINNED_OVER_TRAINING * (own or 0.0))


def as_real(value):
    """A stored number (metadata read from JSON) as a float, or None where it is none: a bool, a
    text, or an integer past float's range (JSON reads 1e400 written as digits as one, and
    formatting it or math.isfinite raises OverflowError). NaN and infinities pass."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


#: The highest sampling temperature generation takes (``--temperature``, ``temperature=``): already
#: at 10 the bundled model writes noise near its full scale, and past 100 every temperature sounds
#: the same.
MAX_TEMPERATURE = 100.0
#: The most members an evolution-strategy generation holds (``population``, ``--population``): each
#: is a copy of the model's parameters, and 16.7 million of them already fill a machine.
MAX_POPULATION = 2**24
#: Members per evolution-strategy generation by default (``population``, ``--population``).
POPULATION = 256
