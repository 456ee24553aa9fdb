"""The LSTM baseline: the paper's strongest competitor, with the Clockwork RNN's interface.

:class:`LSTM` has what :class:`cwfast.ClockworkRNN` has (a flat ``params`` vector with named views,
``forward``/``loss``/``loss_and_grad`` with ``state``, ``return_state``, ``flat`` and ``steps``, the
linear, softmax and mixture heads, ``to_dense``/``from_dense``, ``save``/``copy``, ``sample``), so the
trainers and the experiment scripts treat the three architectures alike. The arithmetic is in
:mod:`cwfast._lstm_kernels`.
"""

from __future__ import annotations

import numpy as np

from . import _lstm_kernels, validate
from .errors import ParameterError
from .model import (SequenceModel, State, _aligned_empty, dense_dtype, initial_params, parameter_offsets, head_args,
                    keep_window, sampling_buffers)

#: Row blocks of ``W_in``, ``W_h`` and ``b_h``, in order.
GATES = ("input", "forget", "cell", "output")


class LSTM(SequenceModel):
    r"""A long short-term memory network (no peepholes) with a linear, softmax or mixture output layer.

    The standard LSTM with a forget gate (Gers, Schmidhuber & Cummins 2000) and without peephole
    connections, as in PyTorch's ``nn.LSTM``; ``n`` cells:

    .. math::

        \begin{aligned}
        i_t &= \sigma(W_{in,i} x_t + W_{h,i} h_{t-1} + b_i) &
        f_t &= \sigma(W_{in,f} x_t + W_{h,f} h_{t-1} + b_f) \\
        g_t &= \tanh(W_{in,g} x_t + W_{h,g} h_{t-1} + b_g) &
        o_t &= \sigma(W_{in,o} x_t + W_{h,o} h_{t-1} + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t &
        h_t &= o_t \odot \tanh(c_t) \\
        y_t &= W_{out} h_t + b_{out}
        \end{aligned}

    with ``h_{-1} = c_{-1} = 0``. ``W_in`` (4n, n_in), ``W_h`` (4n, n) and ``b_h`` (4n,) stack the
    four gates in the order input, forget, cell, output (PyTorch's ``weight_ih_l0``,
    ``weight_hh_l0`` and the sum of its two biases). It has ``4n(n_in + n + 1) + n_out(n + 1)``
    parameters.

    **State.** The recurrent state is the pair (h, c). It travels in a :class:`cwfast.State`
    as one vector ``State(h=np.concatenate([h, c]), t)``, shape (2n,) or (batch, 2n): the first
    ``n`` entries are ``h``, the last ``n`` are ``c``. ``t`` counts steps like the Clockwork RNN's
    clock, so code that carries states between windows works unchanged; the LSTM ignores it.

    Parameters
    ----------
    n_in : int
        Input features per step; 0 for a network driven by its biases alone.
    n_out : int
        Outputs per step.
    n_hidden : int
        Number of cells (n).
    forget_bias : float
        Initial forget-gate bias. The paper calls a bias of 5.0 crucial: the cells start out
        remembering, so errors flow back through many steps from the start.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights: every parameter from N(0, 0.1^2) as in the paper, then the
        forget-gate biases set to ``forget_bias``.
    dtype : float32 or float64
    output : {"linear", "softmax", "mixture"}
        As for :class:`cwfast.ClockworkRNN`.
    sample_rate : int, optional
    metadata : dict, optional

    Raises
    ------
    ParameterError
        On any invalid size, bias, seed or dtype.
    """

    arch = "lstm"
    description = "LSTM"
    has_clock = False
    realtime_kind = "lstm"

    def __init__(self, n_in, n_out, *, n_hidden, forget_bias=5.0, seed=None, dtype=np.float32, output="linear",
                 sample_rate=None, metadata=None):
        self._init_common(n_in, n_out, dtype=dtype, output=output, sample_rate=sample_rate, metadata=metadata)
        self.n_hidden = validate.positive_int("n_hidden", n_hidden)
        forget_bias = validate.within_dtype("forget_bias", forget_bias, self.dtype)

        n, m, o = self.n_hidden, self.n_in, self.n_out
        sizes = [4 * n * m, 4 * n * n, 4 * n, o * n, o]
        self._offsets = parameter_offsets(sizes, f"an LSTM of {n} cells, {m} inputs and {o} outputs")
        self._params = _aligned_empty(int(self._offsets[-1]), self.dtype)
        self._bind_views()
        initial_params(self._params, seed)
        self.b_h[n : 2 * n] = forget_bias

    # ------------------------------------------------------------------ structure

    def _bind_views(self):
        p, off = self._params, self._offsets
        n, m, o = self.n_hidden, self.n_in, self.n_out
        self.W_in = p[off[0] : off[1]].reshape(4 * n, m)
        self.W_h = p[off[1] : off[2]].reshape(4 * n, n)
        self.b_h = p[off[2] : off[3]]
        self.W_out = p[off[3] : off[4]].reshape(o, n)
        self.b_out = p[off[4] : off[5]]

    # Every cell updates at every step: to code that asks about the clock (trainers recording
    # their settings, checkpoints comparing architectures) an LSTM is one module of period 1.
    @property
    def periods(self):
        """``[1]``: every cell updates at every step."""
        return np.array([1], dtype=np.int64)

    @property
    def module_sizes(self):
        """``[n_hidden]``: all cells form one module of period 1."""
        return np.array([self.n_hidden], dtype=np.int64)

    @property
    def n_modules(self):
        return 1

    def recurrent_macs_per_step(self):
        """Recurrent multiply-adds per step: the four gates each read all n cells, every step."""
        return float(4 * self.n_hidden * self.n_hidden)

    @classmethod
    def count_params(cls, n_hidden, n_in, n_out, *, n_modules=None, periods=None, count_periods=True):
        """Parameters of an LSTM of these sizes: ``4n(n_in + n + 1) + n_out(n + 1)`` (see
        :func:`cwfast.baselines.count_params`)."""
        n, m, o = cls._count_sizes(n_hidden, n_in, n_out)
        return 4 * n * (m + n + 1) + o * (n + 1)

    def gate(self, name):
        """Writable views ``(W_in, W_h, b_h)`` of one gate's rows; ``name`` is one of :data:`GATES`."""
        if name not in GATES:
            raise ParameterError(f"gate={name!r} must be one of {', '.join(map(repr, GATES))}")
        n = self.n_hidden
        rows = slice(GATES.index(name) * n, (GATES.index(name) + 1) * n)
        return self.W_in[rows], self.W_h[rows], self.b_h[rows]

    def __repr__(self):
        return (
            f"LSTM(n_in={self.n_in}, n_out={self.n_out}, n_hidden={self.n_hidden}, output={self.output!r}, "
            f"dtype={self.dtype.name}, n_params={self.n_params})"
        )

    # ------------------------------------------------------------------ dense interchange

    def to_dense(self):
        """Parameters as dense arrays (copies).

        Returns
        -------
        dict
            ``W_in`` (4n, n_in), ``W_h`` (4n, n), ``b_h`` (4n,), ``W_out`` (n_out, n),
            ``b_out`` (n_out,). The row blocks of the first three are the gates input, forget,
            cell, output (:data:`GATES`).
        """
        return self._dense(self._params) | self._dense_head()

    def _dense(self, flat):
        off = self._offsets
        n, m, o = self.n_hidden, self.n_in, self.n_out
        return {
            "W_in": flat[off[0] : off[1]].reshape(4 * n, m).copy(),
            "W_h": flat[off[1] : off[2]].reshape(4 * n, n).copy(),
            "b_h": flat[off[2] : off[3]].copy(),
            "W_out": flat[off[3] : off[4]].reshape(o, n).copy(),
            "b_out": flat[off[4] : off[5]].copy(),
        }

    @classmethod
    def from_dense(cls, arrays, *, dtype=None, sample_rate=None, metadata=None, output="linear"):
        """Build a model from the dict :meth:`to_dense` returns.

        Parameters
        ----------
        arrays : mapping
            ``W_in`` (4n, n_in), ``W_h`` (4n, n), ``b_h`` (4n,), ``W_out`` (n_out, n), ``b_out`` (n_out,).
        dtype : float32 or float64, optional
            Default: the dtype of ``W_h`` if it is float32 or float64, else float32.
        sample_rate, metadata, output
            As for the constructor.

        Raises
        ------
        ParameterError
            On missing keys, inconsistent shapes or non-finite values.
        """
        keys = ("W_in", "W_h", "b_h", "W_out", "b_out")
        dtype = dense_dtype(arrays, keys, dtype)
        given = {k: validate.real_array(k, arrays[k], dtype) for k in keys}
        W_h, W_in, W_out = given["W_h"], given["W_in"], given["W_out"]
        if W_h.ndim != 2 or W_h.shape[0] != 4 * W_h.shape[1] or W_h.shape[1] == 0:
            raise ParameterError(f"W_h has shape {W_h.shape}; expected (4n, n) for n cells")
        if W_in.ndim != 2 or W_out.ndim != 2:
            raise ParameterError(f"W_in and W_out must be 2-D; got shapes {W_in.shape} and {W_out.shape}")
        n, m, o = W_h.shape[1], W_in.shape[1], W_out.shape[0]
        # Every shape is checked before the model is built: a file's sizes could ask for any amount of memory.
        expected = {"W_in": (4 * n, m), "W_h": (4 * n, n), "b_h": (4 * n,), "W_out": (o, n), "b_out": (o,)}
        for key, shape in expected.items():
            if given[key].shape != shape:
                raise ParameterError(f"{key} has shape {given[key].shape}; expected {shape} for {n} cells")
        model = cls(m, o, n_hidden=n, dtype=dtype, sample_rate=sample_rate, metadata=metadata, output=output, seed=0)
        for key, value in given.items():
            getattr(model, key)[:] = value
        model._head_from_dense(arrays)
        return model

    # An LSTM's recurrent state is h and c, concatenated.
    _state_note = " (an LSTM's state is h and c concatenated)"

    def _state_width(self):
        return 2 * self.n_hidden

    # ------------------------------------------------------------------ computation

    def _run(self, x3, s0, *, record):
        """Outputs (B, T, n_out) and, if ``record``, the (states, activations) history.

        s0 (B, 2n) is updated in place to the final state.
        """
        batch, n_steps = x3.shape[:2]
        n = self.n_hidden
        kept = n_steps if record else 0
        y = np.empty((batch, n_steps, self.n_out), dtype=self.dtype)
        hist = np.empty((batch, kept, 2 * n), dtype=self.dtype)
        acts = np.empty((batch, kept, 5 * n), dtype=self.dtype)
        if batch == 1:
            # One sequence runs on the calling thread: waking the parallel pool for a single
            # sequence cost 15x the work itself on a loaded 2-core machine (29 vs 2 ms, 320 steps).
            pre = np.empty(4 * n, dtype=self.dtype)
            _lstm_kernels._forward_seq(self._params, x3[0], s0[0], pre, y[0], hist[0], acts[0])
        else:
            _lstm_kernels._forward_batch(self._params, x3, s0, y, hist, acts)
        return y, (hist, acts)

    def _outputs(self, x3, s0, t0):
        return self._run(x3, s0, record=False)[0]

    def population_losses(self, theta, noise, sigma, x3, y_target, labels, readout, losses, *, member_periods=None):
        if member_periods is not None:
            raise ParameterError("an LSTM has no clock periods to search")
        x3, gains = self._population_inputs(x3)
        _lstm_kernels._population_losses(theta, noise, sigma, self.n_hidden, x3, self.n_out, y_target, labels,
                                         self.head.code, readout, gains, losses)

    def _traced_outputs(self, x3, s, t0):
        s_start = s.copy()
        y, record = self._run(x3, s, record=True)
        return y, (x3, s_start, record)

    def _backward(self, record, d_y):
        x3, s_start, (hist, acts) = record
        batch, n_steps, _ = hist.shape
        n, off = self.n_hidden, self._offsets
        grad = np.empty_like(self._params)
        flat_y = d_y.reshape(-1, self.n_out)
        grad[off[3] : off[4]] = (flat_y.T @ hist[:, :, :n].reshape(-1, n)).ravel()
        grad[off[4] : off[5]] = flat_y.sum(axis=0)
        d_hist = np.ascontiguousarray(d_y @ self.W_out)
        rows = np.zeros((batch, int(off[3])), dtype=self.dtype)
        ds = np.zeros((batch, 2 * n), dtype=self.dtype)
        if batch == 1:
            da = np.empty(4 * n, dtype=self.dtype)
            _lstm_kernels._backward_seq(
                self._params, x3[0], s_start[0], hist[0], acts[0], d_hist[0], rows[0], ds[0], da
            )
        else:
            _lstm_kernels._backward_batch(self._params, x3, s_start, hist, acts, d_hist, rows, ds)
        grad[: off[3]] = rows.sum(axis=0)
        return grad

    def sample(self, n_steps, *, values, temperature=1.0, seed=None, first_input=0.0, state=None,
               return_state=False):
        """Generate freely from a softmax or mixture model with one input, feeding back each sampled value.

        Same arguments and results as :meth:`cwfast.ClockworkRNN.sample`; ``state.h`` is ``[h, c]``.
        """
        return_state = validate.flag("return_state", return_state)
        values, inv_temperature, uniforms, s, t0, x, logits, out = sampling_buffers(
            self, n_steps, values, temperature, seed, first_input, state
        )
        pre = np.empty(4 * self.n_hidden, dtype=self.dtype)
        level, bounds, taps, window, pitch = head_args(self, s, n_steps)
        _lstm_kernels._sample_feedback(self._params, s[: 2 * self.n_hidden], pre, x, t0, logits, values,
                                       self.head.code, inv_temperature, uniforms, out, level, *bounds, taps, window,
                                       *pitch)
        keep_window(self, s, window, pitch)
        if return_state:
            return out, State(s, t0 + n_steps)
        return out

