"""Clock periods and module layout: which modules exist, which fire when, which feed which.

Pure NumPy, no numba. A Clockwork RNN splits its ``n_hidden`` units into modules with clock
periods ``T_1 <= T_2 <= ... <= T_g``. At step ``t`` (counted from 0) module ``i`` is active iff
``t % T_i == 0``; module ``j`` feeds module ``i`` iff ``T_j >= T_i``. Because modules are kept
sorted by period, the columns module ``i`` reads form one contiguous range, from the first module
whose period equals ``T_i`` to the last unit. :class:`Layout` holds these ranges, which the kernels
use to touch only the weights that exist.

Module ``i`` may also read, at each of its ticks, a window of the last ``L_i`` inputs (its *input
window*; ``L_i = 1`` is the paper's model). Its input weights are then ``k_i`` rows of
``L_i * n_in`` numbers; :class:`Layout` records where they start.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError
from .validate import MAX_COUNT
from .validate import input_windows as _input_windows
from .validate import positive_int as _positive_int
from .validate import positive_int_list as _positive_int_list


def split_units(n_hidden, n_modules, periods=None):
    """Split ``n_hidden`` units into ``n_modules`` sizes, leftovers to the fastest modules: the
    first ones, or, given the modules' ``periods`` (in any order), those of the shortest periods
    (ties: the first given), each size in the place of its module's period.

    >>> split_units(40, 9)
    [5, 5, 5, 5, 4, 4, 4, 4, 4]
    >>> split_units(6, 4, periods=[8, 4, 2, 1])
    [1, 1, 2, 2]
    """
    n_hidden = _positive_int("n_hidden", n_hidden)
    n_modules = _positive_int("n_modules", n_modules)
    if n_modules > n_hidden:
        raise ParameterError(f"n_modules={n_modules} must not exceed n_hidden={n_hidden}")
    base, extra = divmod(n_hidden, n_modules)
    sizes = [base + 1] * extra + [base] * (n_modules - extra)
    if periods is None or not extra:
        return sizes
    periods = _positive_int_list("periods", periods)
    if len(periods) != n_modules:
        return sizes  # Layout.build says what is wrong
    placed = [0] * n_modules
    for size, module in zip(sizes, np.argsort(np.asarray(periods), kind="stable")):  # Layout.build's order
        placed[module] = size
    return placed


def exponential_periods(n_modules):
    """The paper's periods ``1, 2, 4, ..., 2**(n_modules - 1)``."""
    # 2**62 is the longest period any count may be (validate.MAX_COUNT): a larger n_modules is
    # refused here by its own name, not later as a list of its periods.
    return [2**i for i in range(_positive_int("n_modules", n_modules, maximum=63))]


@dataclass(frozen=True)
class Layout:
    """Module sizes, periods and the recurrent blocks that exist.

    Attributes
    ----------
    module_sizes : ndarray, shape (g,), int64
    periods : ndarray, shape (g,), int64, non-decreasing
    module_start : ndarray, shape (g + 1,), int64
        Module ``i`` owns hidden units ``module_start[i]:module_start[i + 1]``.
    column_start : ndarray, shape (g,), int64
        Module ``i`` reads hidden units ``column_start[i]:n_hidden`` (all modules with period >= T_i).
    block_offset : ndarray, shape (g + 1,), int64
        Module ``i``'s recurrent block, shape ``(k_i, n_hidden - column_start[i])`` row-major, lives at
        ``block_offset[i]:block_offset[i + 1]`` of the packed recurrent weights.
    input_windows : ndarray, shape (g,), int64
        ``L_i``: module ``i`` reads inputs ``x(t - L_i + 1) .. x(t)`` at each tick (1 for the paper's model).
    input_offset : ndarray, shape (g + 1,), int64
        Where module ``i``'s input weights start in the packed input weights, in units of ``n_in``
        (so the layout does not depend on ``n_in``): unit ``r`` of module ``i`` owns
        ``L_i * n_in`` weights from ``(input_offset[i] + (r - module_start[i]) * L_i) * n_in``,
        oldest input first (column ``(L_i - 1 - k) * n_in + j`` weighs ``x_j(t - k)``).
        ``input_offset[i] = sum_{j < i} k_j L_j``; with every window 1 it equals ``module_start``.
    """

    module_sizes: np.ndarray
    periods: np.ndarray
    module_start: np.ndarray
    column_start: np.ndarray
    block_offset: np.ndarray
    input_windows: np.ndarray
    input_offset: np.ndarray

    @classmethod
    def build(cls, module_sizes, periods, input_windows=None):
        """Validate sizes, periods and input windows, sort modules by period (stable), and derive
        the ranges. ``input_windows`` is anything :func:`cwfast.validate.input_windows` takes, one
        per module in the order of ``periods`` as given (default: 1 for every module)."""
        sizes = _positive_int_list("module_sizes", module_sizes)
        periods = _positive_int_list("periods", periods)
        if len(sizes) != len(periods):
            raise ParameterError(
                f"periods has {len(periods)} entries but there are {len(sizes)} modules; give one period per module"
            )
        windows = _input_windows(input_windows, periods)
        # The counts below are int64: refuse, in Python's exact integers, a layout whose sizes would
        # wrap (a typo such as 2**62 units or inputs), rather than build a wrong one.
        n = sum(sizes)
        counts = {"hidden units": n, "recurrent weights": n * n, "input weights": sum(map(operator.mul, sizes, windows))}
        for what, count in counts.items():
            if count > MAX_COUNT:
                plural = "s" if len(sizes) != 1 else ""  # (an SRN is one module: not "a Clockwork RNN")
                raise ParameterError(f"a model of {len(sizes)} module{plural} (up to {max(sizes)} units, input "
                                     f"windows up to {max(windows)}) would have {count} {what}, more than {MAX_COUNT}")
        order = np.argsort(np.asarray(periods), kind="stable")
        sizes = np.asarray(sizes, dtype=np.int64)[order]
        periods = np.asarray(periods, dtype=np.int64)[order]
        windows = np.asarray(windows, dtype=np.int64)[order]
        start = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=start[1:])
        n = int(start[-1])
        # First module of each equal-period group: equal periods feed each other both ways.
        first_of_period = np.searchsorted(periods, periods, side="left")
        column_start = start[first_of_period]
        block_sizes = sizes * (n - column_start)
        block_offset = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(block_sizes, out=block_offset[1:])
        input_offset = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes * windows, out=input_offset[1:])
        for a in (sizes, periods, start, column_start, block_offset, windows, input_offset):
            a.setflags(write=False)
        return cls(sizes, periods, start, column_start, block_offset, windows, input_offset)

    @property
    def n_hidden(self):
        return int(self.module_start[-1])

    @property
    def n_modules(self):
        return len(self.module_sizes)

    @property
    def max_window(self):
        """The longest input window (1 for the paper's model)."""
        return int(self.input_windows.max())

    def n_input_weights(self, n_in):
        """Number of input weights: ``n_in * sum_i k_i L_i``."""
        return int(self.input_offset[-1]) * int(n_in)

    @property
    def n_recurrent(self):
        """Number of recurrent weights that exist (the allowed blocks only)."""
        return int(self.block_offset[-1])

    def allowed_mask(self):
        """Dense boolean mask, shape (n_hidden, n_hidden): True where ``W_h`` may be nonzero."""
        n = self.n_hidden
        mask = np.zeros((n, n), dtype=bool)
        for i in range(self.n_modules):
            mask[self.module_start[i] : self.module_start[i + 1], self.column_start[i] :] = True
        return mask

    def active(self, t):
        """Boolean array, shape (g,): which modules fire at step ``t``."""
        return np.asarray(t) % self.periods == 0

    def active_units(self, n_steps, t0=0):
        """Boolean array, shape (n_steps, n_hidden): which units are recomputed at each step."""
        t = t0 + np.arange(n_steps)[:, None]
        return np.repeat(t % self.periods == 0, self.module_sizes, axis=1)

    def update_counts(self, n_steps, t0=0):
        """How often each module fires in steps ``t0 .. t0 + n_steps - 1``: array (g,), int64."""
        p = self.periods
        return (t0 + n_steps + p - 1) // p - (t0 + p - 1) // p

    def trace_offsets(self, n_steps, t0=0):
        """Where each module's updates start in a training trace, and its length: array (g + 1,).

        The trace holds each module's new values only at the steps where it fires (see
        :mod:`cwfast._kernels`), ``sum_i k_i * updates_i`` numbers instead of ``n_steps * n_hidden``.
        """
        offsets = np.zeros(self.n_modules + 1, dtype=np.int64)
        np.cumsum(self.module_sizes * self.update_counts(n_steps, t0), out=offsets[1:])
        return offsets

    def window_mask(self, n_in):
        """Dense boolean mask, shape (n_hidden, max_window * n_in): True where the dense, right-aligned
        ``W_in`` may be nonzero (the last ``L_i * n_in`` columns of module ``i``'s rows)."""
        mask = np.zeros((self.n_hidden, self.max_window * n_in), dtype=bool)
        for i in range(self.n_modules):
            r0, r1 = self.module_start[i], self.module_start[i + 1]
            mask[r0:r1, (self.max_window - self.input_windows[i]) * n_in :] = True
        return mask

    def recurrent_macs_per_step(self):
        """Average recurrent multiply-adds per step, over one full cycle of the clocks."""
        rows_cost = self.module_sizes * (self.n_hidden - self.column_start)
        return float(np.sum(rows_cost / self.periods))
