r"""Output heads: what a model's raw outputs mean, how they are scored, and which steps count.

Every architecture ends in the same affine layer, ``y(t) = W_out h(t) + b_out``; the *head* says
what ``y`` stands for. A head is one object here, used by every model:

``linear``
    ``y`` is the prediction; the loss is the mean squared error over every scored value.
``softmax``
    ``y`` holds logits over ``n_out`` classes; ``forward`` returns ``softmax(y)``; the loss is the
    mean cross-entropy over the scored steps against integer labels.
``mixture``
    ``y`` holds a mixture of ``n_out / 3`` logistics over an amplitude; the loss is the same
    cross-entropy against mu-law class labels, each class's probability the mixture integrated
    over its bin (:class:`MixtureHead`).

.. math::

    L_{linear} = \frac{1}{N} \sum (y - \mathrm{target})^2 \qquad
    L_{softmax} = -\frac{1}{N_{steps}} \sum \log \mathrm{softmax}(y)_{\mathrm{target}}

Which steps are scored is the *readout* (:data:`STEPS`): every step, the last one, or the mean of
the raw outputs over all steps. The numba twins of these losses, used by the evolution
strategy's population kernels and by generation, are in :mod:`cwfast._head_kernels`;
``tests/test_protocol.py`` and ``tests/test_mixture.py`` check that the two agree. A new head is
one more :class:`Head` subclass, one line in :data:`HEADS`, and its row loss and draw in
:mod:`cwfast._head_kernels`.
"""

from __future__ import annotations

import math

import numpy as np

from ._head_kernels import _mixture_loss_grad, _mixture_nats
from .codec import N_CLASSES, mu_law_edges
from .errors import ParameterError
from .validate import real_array

#: Readouts: score every step, only the last, or the mean of the raw outputs over the steps.
STEPS = ("all", "last", "mean")
#: How the population kernels are told which steps to score.
STEP_CODES = {"all": 0, "last": 1, "mean": 2}


def check_steps(steps):
    """Raise ParameterError unless ``steps`` names one of the :data:`STEPS` readouts."""
    if not isinstance(steps, str) or steps not in STEPS:  # `in` would compare an array elementwise
        names = [repr(a) for a in STEPS]
        raise ParameterError(f"steps={steps!r} must be {', '.join(names[:-1])} or {names[-1]}")


def _softmax(logits):
    """Softmax over the last axis, computed stably (private: its callers pass finished, finite logits)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _finished(y, n_logits):
    """A copy of raw outputs ``y`` (..., n_out) finished by the compiled kernel a stream also runs
    (:func:`cwfast._head_kernels._finish_row`: the softmax of the first ``n_logits``, a mixture's
    scales): forward and a stream give the same bits."""
    from ._head_kernels import _finish_rows  # (numba: not imported until a model runs)

    out = np.array(y, order="C")
    if out.size:
        _finish_rows(out.reshape(-1, out.shape[-1]), n_logits)
    return out


class Head:
    """An output head. Subclasses set :attr:`name` and implement :meth:`check_target`,
    :meth:`finish`, :meth:`loss` and :meth:`loss_and_grad`."""

    #: The name models store (``model.output``) and files record.
    name = ""
    #: How the kernels are told which head scores (0 linear, 1 softmax, 2 mixture): the
    #: ``head_code`` of :mod:`cwfast._head_kernels`. Every head but the linear one takes labels.
    code = 0

    def check_n_out(self, n_out):
        """Raise ParameterError if a model with this head cannot have ``n_out`` outputs."""

    def check_target(self, target, lead, n_out, dtype):
        """``target`` checked for this head: shape ``lead + (n_out,)`` values, or ``lead`` labels."""
        raise NotImplementedError

    def finish(self, y):
        """What ``forward`` returns for raw outputs ``y`` (..., n_out)."""
        raise NotImplementedError

    def loss(self, scored, target):
        """Mean loss of ``scored`` (B, S, n_out) against ``target`` (B, S[, n_out]), no gradient."""
        raise NotImplementedError

    def loss_and_grad(self, scored, target):
        """:meth:`loss` and its gradient with respect to ``scored``."""
        raise NotImplementedError

    def __repr__(self):
        return f"<cwfast head {self.name!r}>"


class LinearHead(Head):
    name = "linear"
    code = 0

    def check_target(self, target, lead, n_out, dtype):
        target = real_array("target", target, dtype)
        return target, lead + (n_out,)

    def finish(self, y):
        return y

    def loss(self, scored, target):
        return float(np.mean(np.square(scored - target, dtype=np.float64)))

    def loss_and_grad(self, scored, target):
        diff = scored - target
        loss = float(np.mean(np.square(diff, dtype=np.float64)))
        return loss, diff * scored.dtype.type(2.0 / diff.size)


def _class_labels(target, n_classes, head, classes):
    """``target`` as class labels in [0, n_classes), in their own integer type, or ParameterError
    naming the ``head`` and what its ``classes`` are. Not copied to int64: a corpus's labels are
    uint8 (memory-mapped, :mod:`cwfast.scratch`), and an int64 copy of a training part's was 8
    bytes a sample while it trained (without it an hour at 16 kHz peaked at 313 MiB of the
    process's own memory instead of 501, docs/training.md);
    what computes with them (the mixture's bin edges, label + 1) converts a batch at a time."""
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise ParameterError(f"target has dtype {target.dtype}; a {head} model takes integer class labels")
    if target.size and (target.min() < 0 or target.max() >= n_classes):
        raise ParameterError(f"target labels must lie in [0, {n_classes}) for {classes}")
    return target


class SoftmaxHead(Head):
    name = "softmax"
    code = 1

    def check_n_out(self, n_out):
        # One class has probability 1 whatever the input: a loss of 0 and no gradient to train on.
        if n_out < 2:
            raise ParameterError(f"n_out={n_out}: a softmax needs at least 2 classes (one has probability 1 "
                                 "whatever the input, a loss of 0 and nothing to learn)")

    def check_target(self, target, lead, n_out, dtype):
        return _class_labels(target, n_out, "softmax", f"n_out={n_out}"), lead

    def finish(self, y):
        return _finished(y, y.shape[-1])

    def loss(self, scored, labels):
        z = scored - scored.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(z, dtype=np.float64).sum(axis=-1))
        picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        return float(np.mean(log_norm - picked))

    def loss_and_grad(self, scored, labels):
        loss = self.loss(scored, labels)
        grad = _softmax(scored)
        np.put_along_axis(grad, labels[..., None], np.take_along_axis(grad, labels[..., None], axis=-1) - 1, axis=-1)
        grad *= scored.dtype.type(1.0 / labels.size)
        return loss, grad


def _log_sigmoid(v):
    """log(1 / (1 + exp(-v))), stable for any v (inf allowed)."""
    return -np.logaddexp(0.0, -v)


class MixtureHead(Head):
    r"""A discretized mixture of logistics over the 8-bit mu-law classes (PixelCNN++, WaveNet).

    ``y`` holds ``K = n_out / 3`` mixture logits, then K means, then K log-scales (clamped below
    at :data:`LOG_SCALE_MIN`). The density of a sample's amplitude is
    :math:`p(x) = \sum_k \pi_k \, \mathrm{logistic}(x; \mu_k, s_k)`, and a class's probability is
    that density integrated over the class's mu-law bin (:func:`cwfast.codec.mu_law_edges`; the
    two outer bins reach to infinity, since the encoder clips):

    .. math::

        P(c) = \sum_k \pi_k \left[\sigma\Big(\frac{hi_c - \mu_k}{s_k}\Big)
               - \sigma\Big(\frac{lo_c - \mu_k}{s_k}\Big)\right]

    so the loss is the same cross-entropy in the same units (nats per 8-bit mu-law sample) as the
    softmax head's, against the same labels, from 3K outputs instead of 256: the output layer of
    a 64-unit model costs 1,920 multiply-adds a sample instead of 16,384. Generation draws an
    amplitude, not a class (:func:`cwfast._head_kernels._draw_mixture`), so the output has no
    mu-law quantisation floor. Each bin's log-probability is computed as
    :math:`\log\sigma(a) + \log\sigma(-b) + \log(1 - e^{b - a})`, exact in the tails where the
    difference of two sigmoids would round to zero.
    """

    name = "mixture"
    code = 2

    def check_n_out(self, n_out):
        if n_out % 3:
            raise ParameterError(f"n_out={n_out} must be 3 x the number of mixture components for output='mixture'")

    def check_target(self, target, lead, n_out, dtype):
        classes = f"the {N_CLASSES} mu-law classes the mixture is scored on"
        return _class_labels(target, N_CLASSES, "mixture", classes), lead

    def finish(self, y):
        """The mixture's parameters: weights (softmax of the logits), means, scales (exp of the
        clamped log-scales), each (..., K), in ``y``'s dtype."""
        return _finished(y, y.shape[-1] // 3)

    @staticmethod
    def _parts(scored, labels):
        """log pi (..., K), the bin terms f (..., K) and what their gradients need, in float64:
        :meth:`class_probs`, and the NumPy twins of the compiled loss and gradient (tests/naive.py)."""
        y, labels = scored.astype(np.float64), np.asarray(labels, dtype=np.int64)  # (uint8 + 1 wraps)
        k = y.shape[-1] // 3
        logits, means, raw_scales = y[..., :k], y[..., k : 2 * k], y[..., 2 * k :]
        log_scales = np.maximum(raw_scales, LOG_SCALE_MIN)
        inv_s = np.exp(-log_scales)
        lo = _EDGES[labels][..., None]
        hi = _EDGES[labels + 1][..., None]
        a = (hi - means) * inv_s  # +inf for the top class
        b = (lo - means) * inv_s  # -inf for the bottom class
        width = (hi - lo) * inv_s  # a - b, inf for the outer classes, computed without inf - inf
        f = _log_sigmoid(a) + _log_sigmoid(-b) + np.log(-np.expm1(-width))
        log_pi = logits - logits.max(axis=-1, keepdims=True)
        log_pi -= np.log(np.exp(log_pi).sum(axis=-1, keepdims=True))
        return log_pi, f, a, b, width, inv_s, raw_scales > LOG_SCALE_MIN

    # Finite outputs raise no floating-point warning here; outputs that training has driven to
    # infinity give a NaN loss, which the trainers report as divergence, without NumPy warnings.

    def loss(self, scored, labels):
        # Compiled (_head_kernels._mixture_nats): scoring a corpus's parts after training, and
        # validation every epoch, ran the NumPy form at 1.4 us a sample, most of a long corpus's
        # time after its budget. The same value to 1e-12 (tests/test_mixture.py).
        y = np.ascontiguousarray(scored).reshape(-1, scored.shape[-1])
        if y.shape[0] == 0:
            return math.nan  # the mean of nothing, as np.mean gives it
        with np.errstate(all="ignore"):
            return float(_mixture_nats(y, np.asarray(labels, dtype=np.int64).reshape(-1)) / y.shape[0])

    def loss_and_grad(self, scored, labels):
        # Compiled (_head_kernels._mixture_loss_grad): the NumPy form (tests/naive.py's twin) was
        # about 40% of an autoregressive training update. The same exact log-domain terms, so the
        # same loss and gradient to 1e-12 (tests/test_mixture.py); the mean of the rows' losses
        # taken by NumPy, as that form took it.
        y = np.ascontiguousarray(scored).reshape(-1, scored.shape[-1])
        nats, grad = np.empty(y.shape[0]), np.empty(y.shape, dtype=scored.dtype)
        _mixture_loss_grad(y, np.asarray(labels, dtype=np.int64).reshape(-1), nats, grad)
        with np.errstate(all="ignore"):  # nothing to score: NaN, as np.mean gives it
            return float(np.mean(nats)), grad.reshape(scored.shape)

    def class_probs(self, y):
        """P(class) of every mu-law class, (..., 256), from raw outputs ``y`` (..., 3K)."""
        y = np.asarray(y)
        lead = y.shape[:-1]
        labels = np.broadcast_to(np.arange(N_CLASSES), lead + (N_CLASSES,))
        log_pi, f = self._parts(np.repeat(y[..., None, :], N_CLASSES, axis=-2), labels)[:2]
        return np.exp(log_pi + f).sum(axis=-1)


#: The lowest log-scale a mixture component may take: a scale of 1e-7 is narrower than the
#: narrowest mu-law bin (1.7e-4 wide near zero) but keeps (hi - mu) / s finite in float64.
LOG_SCALE_MIN = -16.0
#: The range r of a surprise-following scale (:class:`cwfast.model.Surprise`) is held within: far
#: beyond what real audio moves it to (r near 0 after a long stretch the model predicted exactly,
#: huge after a jump its spread could not foresee), and within it the scales stay finite.
SURPRISE_R_RANGE = (1e-12, 1e12)
_EDGES = mu_law_edges(N_CLASSES)

#: Every head by name. Models choose one with ``output=``.
HEADS = {head.name: head for head in (LinearHead(), SoftmaxHead(), MixtureHead())}
#: Head names, in the order error messages list them.
OUTPUTS = tuple(HEADS)


def get_head(name):
    """The :class:`Head` called ``name``; ParameterError for an unknown one."""
    try:
        return HEADS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"output={name!r} must be one of {', '.join(map(repr, OUTPUTS))}") from None


def check_target(head, target, x_shape, batched, steps, n_out, dtype):
    """Validate a target for ``head`` and the readout ``steps``; return it with a leading batch axis.

    ``x_shape`` is the checked input's (B, T, n_in); ``batched`` says whether the caller gave a batch.
    """
    check_steps(steps)
    batch, n_steps = x_shape[:2]
    if n_steps == 0:
        raise ParameterError("x has no steps, so there is nothing to score")
    if batch == 0:
        raise ParameterError("x has no sequences, so there is nothing to score")
    lead = (batch, n_steps) if steps == "all" else (batch,)
    target, want = head.check_target(target, lead, n_out, dtype)
    shown = want if batched else want[1:]
    if target.shape != shown:
        raise ParameterError(f"target has shape {target.shape}; expected {shown}")
    return np.ascontiguousarray(target.reshape(want))


def head_loss(y, target, output, steps):
    """Loss and its gradient with respect to the raw outputs ``y`` (B, T, n_out).

    ``target`` comes checked and batched (:func:`check_target`); ``output`` is a head name.
    """
    head = get_head(output)
    d_y = np.zeros_like(y)
    if steps == "all":
        scored = y
    elif steps == "last":
        scored = y[:, -1:]
    else:
        scored = y.mean(axis=1, keepdims=True, dtype=np.float64).astype(y.dtype)
    loss, grad = head.loss_and_grad(scored, target if steps == "all" else target[:, None])
    if steps == "all":
        d_y[:] = grad
    elif steps == "last":
        d_y[:, -1:] = grad
    else:  # every step's output shares the mean's gradient equally
        d_y[:] = grad * y.dtype.type(1.0 / y.shape[1])
    return loss, d_y
