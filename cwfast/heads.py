r"""Output heads: what a model's raw outputs mean, how they are scored, and which steps count.

Every architecture ends in the same affine layer, ``y(t) = W_out h(t) + b_out``; the *head* says
what ``y`` stands for. A head is one object here, used by every model:

``linear``
    ``y`` is the prediction; the loss is the mean squared error over every scored value.
``softmax``
    ``y`` holds logits over ``n_out`` classes; ``forward`` returns ``softmax(y)``; the loss is the
    mean cross-entropy over the scored steps against integer labels.

.. math::

    L_{linear} = \frac{1}{N} \sum (y - \mathrm{target})^2 \qquad
    L_{softmax} = -\frac{1}{N_{steps}} \sum \log \mathrm{softmax}(y)_{\mathrm{target}}

Which steps are scored is the *readout* (:data:`STEPS`): every step, the last one, or the mean of
the raw outputs over all steps. The numba twins of these losses, used by the evolution
strategy's population kernels, are in :mod:`cwfast._head_kernels`; ``tests/test_heads.py`` checks
that the two agree. A new head (say, a mixture of logistics) is one more :class:`Head` subclass,
one line in :data:`HEADS` and its row loss in :mod:`cwfast._head_kernels`.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .validate import real_array

#: Readouts: score every step, only the last, or the mean of the raw outputs over the steps.
STEPS = ("all", "last", "mean")
#: How the population kernels are told which steps to score.
STEP_CODES = {"all": 0, "last": 1, "mean": 2}


def check_steps(steps):
    """Raise ParameterError unless ``steps`` names one of the :data:`STEPS` readouts."""
    if steps not in STEPS:
        names = [repr(a) for a in STEPS]
        raise ParameterError(f"steps={steps!r} must be {', '.join(names[:-1])} or {names[-1]}")


def softmax(logits):
    """Softmax over the last axis, computed stably."""
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


class Head:
    """An output head. Subclasses set :attr:`name` and implement the three methods."""

    #: The name models store (``model.output``) and files record.
    name = ""
    #: Whether the kernels score this head by cross-entropy (else by squared error).
    is_softmax = False

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
    is_softmax = False

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


class SoftmaxHead(Head):
    name = "softmax"
    is_softmax = True

    def check_target(self, target, lead, n_out, dtype):
        target = np.asarray(target)
        if target.dtype.kind not in "iu":
            raise ParameterError(f"target has dtype {target.dtype}; a softmax model takes integer class labels")
        if target.size and (target.min() < 0 or target.max() >= n_out):
            raise ParameterError(f"target labels must lie in [0, {n_out}) for n_out={n_out}")
        return np.asarray(target, dtype=np.int64), lead  # not ascontiguousarray: it makes a 0-d label 1-d

    def finish(self, y):
        return softmax(y)

    def loss(self, scored, labels):
        z = scored - scored.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(z, dtype=np.float64).sum(axis=-1))
        picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        return float(np.mean(log_norm - picked))

    def loss_and_grad(self, scored, labels):
        loss = self.loss(scored, labels)
        grad = softmax(scored)
        np.put_along_axis(grad, labels[..., None], np.take_along_axis(grad, labels[..., None], axis=-1) - 1, axis=-1)
        grad *= scored.dtype.type(1.0 / labels.size)
        return loss, grad


#: Every head by name. Models choose one with ``output=``.
HEADS = {head.name: head for head in (LinearHead(), SoftmaxHead())}
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
