"""Block-by-block inference: a stateful shell around the model's explicit-state recurrence.

A :class:`Stream` carries the hidden state and the global step ``t`` across calls, so any split
of a sequence into blocks gives exactly the output of one :meth:`ClockworkRNN.forward` over the
whole sequence: the clock schedule never restarts inside a stream, only on :meth:`Stream.reset`.
Buffers are allocated in the constructor, and the kernel runs without the GIL.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .errors import ParameterError
from .model import State, softmax


class Stream:
    """Run a model over consecutive blocks of one sequence.

    Parameters
    ----------
    model : ClockworkRNN
        The model; the stream reads its parameters live, so training between blocks is seen.
    state : State, optional
        Where to start (hidden state of shape (n_hidden,) and step). Default: zeros at t = 0.

    Examples
    --------
    >>> stream = Stream(model)
    >>> for block in blocks:            # doctest: +SKIP
    ...     y = stream.process(block)   # (len(block), n_out)
    """

    def __init__(self, model, *, state=None):
        self.model = model
        n = model.n_hidden
        self._h = np.zeros(n, dtype=model.dtype)
        self._work = np.empty(n, dtype=model.dtype)
        self._no_history = np.empty((0, n), dtype=model.dtype)
        self._t = 0
        if state is not None:
            h0, t0 = model._check_state(state, 1, False)
            self._h[:] = h0[0]
            self._t = t0

    @property
    def t(self):
        """The global step of the next sample."""
        return self._t

    @property
    def state(self):
        """A copy of the current :class:`State`."""
        return State(self._h.copy(), self._t)

    def reset(self):
        """Clear the hidden state and restart the clock at t = 0."""
        self._h[:] = 0
        self._t = 0

    def process(self, block, *, out=None):
        """Run one block.

        Parameters
        ----------
        block : ndarray, shape (n_steps, n_in)
            The next ``n_steps`` inputs of the sequence (``n_in`` may be 0).
        out : ndarray, shape (n_steps, n_out), model dtype, optional
            Where to write the output; returned.

        Returns
        -------
        ndarray, shape (n_steps, n_out)
            Linear outputs, or class probabilities for a softmax model.

        Raises
        ------
        ParameterError
            If the block or ``out`` has the wrong shape or dtype, or the block is not finite.
        """
        model = self.model
        x, batched = model._check_input(block)
        if batched:
            raise ParameterError(f"block has shape {np.shape(block)}; a stream takes (n_steps, {model.n_in})")
        x = x[0]
        n_steps = x.shape[0]
        if out is None:
            out = np.empty((n_steps, model.n_out), dtype=model.dtype)
        elif not isinstance(out, np.ndarray) or out.shape != (n_steps, model.n_out) or out.dtype != model.dtype:
            raise ParameterError(
                f"out must be an ndarray of shape {(n_steps, model.n_out)} and dtype {model.dtype.name}"
            )
        _kernels._forward_seq(*model._kernel_args(), x, self._t, self._h, self._work, out, self._no_history)
        self._t += n_steps
        if model.output == "softmax":
            out[:] = softmax(out)
        return out

