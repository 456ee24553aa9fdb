"""The paper's baselines and parameter budgets: the simple RNN, and hidden sizes for a budget.

:class:`SRN` is a Clockwork RNN with one module of period 1 (paper-notes: "an SRN is a Clockwork
RNN with one module of period 1"), so it shares every kernel, head, trainer and stream of the
Clockwork RNN. The LSTM lives in :mod:`cwfast.lstm`. :func:`hidden_for_budget` picks the hidden
size that gives a model a parameter budget, the way the paper compares the three architectures.
"""

from __future__ import annotations

import numpy as np

from . import registry, validate
from .errors import ParameterError
from .model import ClockworkRNN, check_dense_mapping


class SRN(ClockworkRNN):
    r"""A simple (Elman) RNN: :math:`h_t = \tanh(W_{in} x_t + W_h h_{t-1} + b_h)`, :math:`y_t = W_{out} h_t + b_{out}`.

    Implemented as a :class:`cwfast.ClockworkRNN` with one module of ``n_hidden`` units and period 1,
    so it has every method of one (``forward``, ``loss_and_grad``, every head, ``sample``, ``save``,
    streams and trainers). It has ``n(n_in + n + 1) + n_out(n + 1)`` parameters.

    Parameters
    ----------
    n_in : int
        Input features per step (0 allowed).
    n_out : int
        Outputs per step.
    n_hidden : int
        Hidden units (n).
    seed, dtype, output, sample_rate, metadata
        As for :class:`cwfast.ClockworkRNN`.

    Raises
    ------
    ParameterError
        On any invalid argument.
    """

    arch = "srn"
    description = "simple RNN (SRN)"
    has_clock = False

    def __init__(self, n_in, n_out, *, n_hidden, seed=None, dtype=np.float32, output="linear", sample_rate=None,
                 metadata=None):
        n_hidden = validate.positive_int("n_hidden", n_hidden)
        super().__init__(n_in, n_out, module_sizes=[n_hidden], periods=[1], seed=seed, dtype=dtype, output=output,
                         sample_rate=sample_rate, metadata=metadata)

    @classmethod
    def from_dense(cls, arrays, *, dtype=None, sample_rate=None, metadata=None, output="linear"):
        """Build an SRN from :meth:`to_dense`'s dict (``periods`` and ``module_sizes`` may be left out).

        Raises
        ------
        ParameterError
            On missing keys, inconsistent shapes or non-finite values, or if ``periods`` describes
            anything but one module of period 1.
        """
        check_dense_mapping(arrays)
        arrays = dict(arrays)
        if "W_h" not in arrays:
            raise ParameterError("from_dense needs the keys W_h")
        n = int(np.shape(arrays["W_h"])[0]) if np.ndim(arrays["W_h"]) == 2 else 0
        periods = np.asarray(arrays.setdefault("periods", [1]))
        sizes = np.asarray(arrays.setdefault("module_sizes", [n]))
        if periods.tolist() != [1] or sizes.ndim != 1 or sizes.size != 1:
            raise ParameterError(
                f"an SRN has one module of period 1; got periods={periods.tolist()}, module_sizes={sizes.tolist()}"
            )
        if sizes.tolist() != [n]:  # one module, but W_h is not its square
            raise ParameterError(f"W_h has shape {np.shape(arrays['W_h'])}; expected ({sizes[0]}, {sizes[0]}) for "
                                 f"module_sizes={sizes.tolist()}")
        windows = np.asarray(arrays.get("input_windows", [1]))
        if windows.tolist() != [1]:
            raise ParameterError(f"an SRN reads one input a step; got input_windows={windows.tolist()}")
        dense = ClockworkRNN.from_dense(arrays, dtype=dtype, sample_rate=sample_rate, metadata=metadata,
                                        output=output)
        model = cls(dense.n_in, dense.n_out, n_hidden=dense.n_hidden, dtype=dense.dtype, output=output,
                    sample_rate=sample_rate, metadata=metadata, seed=0)
        model._head_from_dense(arrays)  # the level, the surprise-following scale and the taps
        model.params[:] = dense.params
        return model

    def set_periods(self, periods):
        """An SRN is one module of period 1; any other period is refused (its file could not be read back)."""
        if np.ndim(periods) != 1 or list(periods) != [1]:
            raise ParameterError(f"periods={periods!r}: an SRN has one module of period 1")

    def __repr__(self):
        return (
            f"SRN(n_in={self.n_in}, n_out={self.n_out}, n_hidden={self.n_hidden}, output={self.output!r}, "
            f"dtype={self.dtype.name}, n_params={self.n_params})"
        )

    @classmethod
    def count_params(cls, n_hidden, n_in, n_out, *, n_modules=None, periods=None, count_periods=True):
        """Parameters of an SRN of these sizes: ``n(n_in + n + 1) + n_out(n + 1)`` (see :func:`count_params`)."""
        n, m, o = cls._count_sizes(n_hidden, n_in, n_out)
        return n * (m + n + 1) + o * (n + 1)


def count_params(arch, n_hidden, n_in, n_out, *, n_modules=None, periods=None, count_periods=True,
                 input_windows=None):
    """Parameters of a model as the paper counts them, without building it.

    Parameters
    ----------
    arch : str
        A registered architecture, by its file tag or CLI name (``"clockwork"`` or ``"cw"``,
        ``"srn"``, ``"lstm"``).
    n_hidden : int
        Hidden units (LSTM: cells).
    n_in, n_out : int
    n_modules : int, optional
        Clockwork RNN only: modules, with the paper's periods ``1, 2, 4, ...`` unless ``periods``
        is given.
    periods : sequence of int, optional
        Clockwork RNN only: one period per module.
    count_periods : bool
        Clockwork RNN only: count each clock period as a parameter, as the paper's budgets do
        (40 units in 9 modules: 971 weights + 9 periods = 980, "about 1000").
    input_windows : optional
        Clockwork RNN only: as :class:`cwfast.ClockworkRNN` takes it.

    Returns
    -------
    int
        The trainable parameters (:attr:`n_params` of the model), plus the periods if counted.

    Raises
    ------
    ParameterError
        On an unknown ``arch`` or invalid sizes; for a Clockwork RNN without ``n_modules`` or
        ``periods``.
    """
    cls = registry.get(arch)
    windows = {}
    if input_windows is not None:
        if cls.arch != "clockwork":
            raise ParameterError(f"input_windows is for a Clockwork RNN; a {cls.description} reads one input a step")
        windows = {"input_windows": input_windows}
    return cls.count_params(
        n_hidden, n_in, n_out, n_modules=n_modules, periods=periods, count_periods=count_periods, **windows
    )


def hidden_for_budget(arch, n_params, n_in, n_out, *, n_modules=None, periods=None, count_periods=True):
    """The hidden size whose parameter count (:func:`count_params`) is closest to ``n_params``.

    Ties go to the smaller model. A Clockwork RNN needs at least one unit per module, so its
    smallest candidate has ``len(periods)`` (or ``n_modules``) units.

    >>> [hidden_for_budget("srn", b, 0, 1) for b in (100, 250, 500, 1000)]
    [9, 15, 21, 31]
    >>> [hidden_for_budget("cw", b, 0, 1, n_modules=9) for b in (100, 250, 500, 1000)]
    [11, 19, 28, 40]

    The paper's own choices differ by a unit here and there (SRN 22, CW-RNN 27 at 500 parameters).

    Parameters
    ----------
    arch, n_in, n_out, n_modules, periods, count_periods
        As for :func:`count_params`.
    n_params : int
        The budget.

    Returns
    -------
    int
        ``n_hidden`` (LSTM: cells).

    Raises
    ------
    ParameterError
        As :func:`count_params`, or for a non-positive budget.
    """
    budget = validate.positive_int("n_params", n_params)
    kwargs = dict(n_modules=n_modules, periods=periods, count_periods=count_periods)
    n = 1
    if registry.get(arch).has_clock:
        if periods is None and n_modules is None:
            raise ParameterError("a Clockwork RNN's count needs n_modules or periods")
        # (Both given and of other lengths: the first count says so, in count_params' words.)
        n = max(len(validate.positive_int_list("periods", periods)) if periods is not None else 1,
                validate.positive_int("n_modules", n_modules) if n_modules is not None else 1)
    best, best_gap = n, abs(count_params(arch, n, n_in, n_out, **kwargs) - budget)
    # The count grows with n, so stop at the first size past the budget.
    while count_params(arch, n, n_in, n_out, **kwargs) < budget:
        n += 1
        gap = abs(count_params(arch, n, n_in, n_out, **kwargs) - budget)
        if gap < best_gap:
            best, best_gap = n, gap
    return best
