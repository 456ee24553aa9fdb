"""Optimizers that update a flat parameter vector in place, gradient clipping, learning-rate schedules.

Both trainers work on one flat vector (:attr:`ClockworkRNN.params` for the gradient trainer, the
search distribution's centre for the evolution strategy), so an optimizer here is a small object
with a ``step(params, grad)`` that writes into ``params`` and a ``state_dict()`` /
``load_state_dict()`` pair that checkpoints save and restore exactly. A schedule is a function of
the epoch with no hidden state, so a resumed run follows the same learning rates as an
uninterrupted one (a run without a number of epochs follows its time budget instead: the clock).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..validate import as_array
from ..validate import fraction as _fraction
from ..validate import non_negative_float as _non_negative_float
from ..validate import positive_float as _positive_float
from ..validate import positive_int as _positive_int

__all__ = ["Optimizer", "Adam", "NesterovSGD", "clip_grad_norm", "make_schedule", "SCHEDULES", "DEFAULT_ADAM_LR"]

#: Adam's default step, measured on the paper's memorisation task: over 94 excerpts of four
#: recordings and low-frequency material, 2 seeds, 1e-2 ends at a median NMSE of 0.0001 and a
#: worst of 0.012 after 2000 epochs (3e-3: 0.0002 and 0.024), and its worst after 1000 is 0.022
#: (3e-3: 0.064); docs/results.md, "Memorisation across sounds". It is also the rate the CLI's
#: effect mode passes, and the first of the two its autoregressive mode tries (0.01, 0.003).
DEFAULT_ADAM_LR = 1e-2


class Optimizer:
    """Base class: an update rule on a flat vector, with state that can be saved and restored.

    Subclasses set :attr:`name`, implement :meth:`step`, and list their hyper-parameters in
    ``_hyper`` and their per-parameter arrays in ``_arrays``.
    """

    name = "optimizer"
    _hyper: tuple = ()
    _arrays: tuple = ()

    def __init__(self, lr):
        self.lr = _positive_float("lr", lr)
        self.t = 0

    def step(self, params, grad, *, lr=None):
        """Update ``params`` in place from ``grad``; ``lr`` overrides :attr:`lr` for this step
        (a number, or one a parameter).

        Raises
        ------
        ParameterError
            If ``params`` is not a writeable float array, ``grad`` not a finite real array of its
            shape, or ``lr`` not finite and >= 0; nothing has changed then.
        """
        raise NotImplementedError

    def _start_step(self, params, grad, lr):
        """The rate of a step, after the checks of :meth:`step` and before anything moves."""
        if not (isinstance(params, np.ndarray) and params.dtype.kind == "f" and params.flags.writeable):
            raise ParameterError(f"params must be a writeable float NumPy array (it is updated in place), not "
                                 f"{_described(params)}")
        if not (isinstance(grad, np.ndarray) and grad.dtype.kind in "fiu" and grad.shape == params.shape):
            raise ParameterError(f"grad must be a real NumPy array of shape {params.shape} (params'), not "
                                 f"{_described(grad)}")
        if not np.isfinite(grad).all():
            raise ParameterError("grad contains NaN or infinite values")
        if lr is None:
            lr = self.lr
        elif isinstance(lr, np.ndarray) and lr.ndim:  # one a parameter (the evolution strategy's periods have theirs)
            if lr.shape != params.shape or lr.dtype.kind not in "fiu" or not np.all(np.isfinite(lr) & (lr >= 0)):
                raise ParameterError(f"lr must be a number or one a parameter {params.shape}, finite and >= 0")
        else:
            lr = _non_negative_float("lr", lr)
        self._buffers(params)
        self.t += 1
        return lr

    def reset(self):
        """Forget all accumulated state (moments, velocity, step count)."""
        self.t = 0
        for key in self._arrays:
            setattr(self, key, None)

    def state_dict(self):
        """Everything :meth:`load_state_dict` needs, as JSON-able scalars and NumPy arrays (copies)."""
        state = {"name": self.name, "lr": self.lr, "t": self.t}
        state.update({key: getattr(self, key) for key in self._hyper})
        for key in self._arrays:
            value = getattr(self, key)
            state[key] = None if value is None else value.copy()
        return state

    def load_state_dict(self, state):
        """Restore a state from :meth:`state_dict`, exactly.

        Raises
        ------
        ParameterError
            If the state is not a dict, belongs to another optimizer, lacks a key or holds an
            invalid value; nothing has changed then.
        """
        if not isinstance(state, dict):
            raise ParameterError(f"optimizer state must be a dict (as state_dict() gives it), not {type(state).__name__}")
        if state.get("name") != self.name:
            raise ParameterError(f"optimizer state is for {state.get('name')!r}, not {self.name!r}")
        missing = [key for key in ("lr", "t", *self._hyper, *self._arrays) if key not in state]
        if missing:
            raise ParameterError(f"optimizer state lacks {', '.join(missing)}")
        numbers = {key: state[key] for key in ("lr", "t", *self._hyper)}
        bad = [key for key, value in numbers.items()
               if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
               or value < 0 or (key == "t" and value != int(value))]
        arrays = {key: None if state[key] is None else np.array(as_array(f"optimizer state {key}", state[key]))
                  for key in self._arrays}
        given = [a for a in arrays.values() if a is not None]
        bad += [key for key, a in arrays.items()  # flat float vectors, all of one shape, as step() makes them
                if a is not None and (a.dtype.kind != "f" or a.ndim != 1 or a.shape != given[0].shape)]
        if bad:
            raise ParameterError(f"optimizer state has invalid {', '.join(bad)}")
        self.lr = float(state["lr"])
        self.t = int(state["t"])
        for key in self._hyper:
            setattr(self, key, float(state[key]))
        for key, value in arrays.items():
            setattr(self, key, value)

    def _buffers(self, params):
        for key in self._arrays:
            value = getattr(self, key)
            if value is None:
                setattr(self, key, np.zeros_like(params))
            elif value.shape != params.shape:
                raise ParameterError(
                    f"{self.name} state has {value.size} entries but params has {params.size}; call reset() "
                    "before reusing an optimizer on another model"
                )

    def __repr__(self):
        hyper = ", ".join(f"{key}={getattr(self, key)!r}" for key in ("lr", *self._hyper))
        return f"{type(self).__name__}({hyper})"


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015) acting in place on a flat vector.

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \theta \leftarrow \theta - \mathrm{lr}\,
            \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon}

    Parameters
    ----------
    lr : float
        Step size. The default, :data:`DEFAULT_ADAM_LR` (1e-2), was chosen by measurement on the
        paper's memorisation task over 94 excerpts (``docs/results.md``, "Memorisation across
        sounds"); 1e-3, the usual default elsewhere, also works, slower.
    beta1, beta2 : float in [0, 1)
    eps : float
    """

    name = "adam"
    _hyper = ("beta1", "beta2", "eps")
    _arrays = ("m", "v")

    def __init__(self, lr=DEFAULT_ADAM_LR, *, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = _positive_float("eps", eps)
        self.m = None
        self.v = None

    def step(self, params, grad, *, lr=None):
        lr = self._start_step(params, grad, lr)
        m, v = self.m, self.v
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * np.square(grad)
        # lr * (m / c1) / (sqrt(v / c2) + eps), with 1 / c1 folded into the scalar step.
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        denom = np.sqrt(v / correction2)
        denom += self.eps
        params -= (lr / correction1) * (m / denom)


class NesterovSGD(Optimizer):
    r"""Stochastic gradient descent with Nesterov momentum, the paper's optimizer.

    The paper follows Sutskever et al. (2013): the gradient is taken at the look-ahead point,
    :math:`v \leftarrow \mu v - \epsilon \nabla f(\theta + \mu v)`,
    :math:`\theta \leftarrow \theta + v`. Trainers can only take the gradient where the parameters
    are, so this class stores the look-ahead point :math:`\phi = \theta + \mu v` itself, for which
    the same iteration reads

    .. math::

        b \leftarrow \mu b + \nabla f(\phi) \qquad \phi \leftarrow \phi - \epsilon (\nabla f(\phi) + \mu b)

    with :math:`v = -\epsilon b` (the form PyTorch uses). The two give the same sequence of
    :math:`\phi` exactly, for a constant learning rate.

    Parameters
    ----------
    lr : float
        The paper's 3e-4 (applied there to the *summed* squared error; see
        :func:`cwfast.train.fit` for how that maps onto cwfast's mean loss).
    momentum : float in [0, 1)
        The paper's 0.95 (sequence generation) or 0.9 (spoken words).
    """

    name = "sgd"
    _hyper = ("momentum",)
    _arrays = ("velocity",)

    def __init__(self, lr=3e-4, *, momentum=0.95):
        super().__init__(lr)
        self.momentum = _fraction("momentum", momentum)
        self.velocity = None

    def step(self, params, grad, *, lr=None):
        lr = self._start_step(params, grad, lr)
        b = self.velocity
        b *= self.momentum
        b += grad
        params -= lr * (grad + self.momentum * b)


def clip_grad_norm(grad, max_norm):
    """Scale ``grad`` in place so that its Euclidean norm is at most ``max_norm``.

    Parameters
    ----------
    grad : ndarray
    max_norm : float or None
        ``None`` (or 0) leaves ``grad`` as it is.

    Returns
    -------
    float
        The norm before clipping (in float64; NaN or inf if ``grad`` holds such values, in which
        case ``grad`` is left alone).
    """
    if not (isinstance(grad, np.ndarray) and grad.dtype.kind == "f"):
        raise ParameterError(f"grad must be a float NumPy array (it is scaled in place), not {_described(grad)}")
    if max_norm is not None:
        max_norm = _non_negative_float("max_norm", max_norm)
    norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
    if max_norm and math.isfinite(norm) and norm > max_norm:
        grad *= grad.dtype.type(max_norm / norm)
    return norm


def _described(value):
    return f"an array of {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__


def _constant(done, total):
    return 1.0


def _cosine(done, total):
    return 0.5 * (1.0 + math.cos(math.pi * done / total))


def _linear(done, total):
    return 1.0 - done / total


#: Named schedules: factor of the base learning rate once ``done`` of ``total`` (epochs, or
#: seconds of a time budget) are done.
SCHEDULES = {"constant": _constant, "cosine": _cosine, "linear": _linear}


def make_schedule(spec, epochs, time_budget=None):
    """A function ``factor(epoch, elapsed=0.0)`` multiplying the base learning rate.

    Parameters
    ----------
    spec : None, str or callable
        ``None`` or ``"constant"``: factor 1. ``"cosine"``: ``(1 + cos(pi f)) / 2``, from 1 at
        the start towards 0 at the end. ``"linear"``: ``1 - f``. ``f`` is the fraction of the run
        done: ``epoch / epochs``, or, for a run without a number of epochs (``epochs=None``),
        ``elapsed / time_budget``: the rates then follow the clock, and a rerun is not bit-for-bit
        the same. A callable ``spec(epoch) -> factor`` is used as it is; it must depend on the
        epoch alone, so that a resumed run follows the same rates, and return a finite factor >= 0.
    epochs : int or None
        The total number of epochs, E; None for a run that ends at ``time_budget``.
    time_budget : float, optional
        Seconds the run may take (its ``elapsed`` time counts a resumed run's earlier time); used
        only when ``epochs`` is None, and then required.

    Raises
    ------
    ParameterError
        For an unknown name or a non-callable, ``epochs`` not a positive integer, or
        ``epochs=None`` without a positive ``time_budget``.
    """
    if spec is None:
        spec = "constant"
    if epochs is None:
        time_budget = _positive_float("time_budget", time_budget)
    else:  # (the named decays divide by it)
        epochs = _positive_int("epochs", epochs)
    if isinstance(spec, str):
        if spec not in SCHEDULES:
            raise ParameterError(f"lr_schedule={spec!r} must be one of {', '.join(map(repr, SCHEDULES))} or a callable")
        rule = SCHEDULES[spec]
        if epochs is None:
            return lambda epoch, elapsed=0.0: rule(min(elapsed, time_budget), time_budget)
        return lambda epoch, elapsed=0.0: rule(epoch, epochs)
    if callable(spec):
        def factor(epoch, elapsed=0.0):
            value = spec(epoch)
            try:  # any real scalar: a float, a 0-d NumPy array (np.where's), a Decimal
                number = None if isinstance(value, (bool, np.bool_, str, bytes)) else float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or not 0 <= number < math.inf:
                raise ParameterError(f"lr_schedule({epoch}) = {value!r}: a learning-rate factor must be a finite "
                                     "number >= 0 (a negative one would climb the loss)")
            return number

        for epoch in range(min(epochs or 0, 100_000)):  # checked before the run, not hours into it
            factor(epoch)
        return factor
    raise ParameterError(f"lr_schedule={spec!r} must be None, a name ({', '.join(SCHEDULES)}) or a callable")
