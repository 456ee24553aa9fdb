"""Clock periods and module layout: which modules exist, which fire when, which feed which.

Pure NumPy, no numba. A Clockwork RNN splits its ``n_hidden`` units into modules with clock
periods ``T_1 <= T_2 <= ... <= T_g``. At step ``t`` (counted from 0) module ``i`` is active iff
``t % T_i == 0``; module ``j`` feeds module ``i`` iff ``T_j >= T_i``. Because modules are kept
sorted by period, the columns module ``i`` reads form one contiguous range, from the first module
whose period equals ``T_i`` to the last unit. :class:`Layout` holds these ranges, which the kernels
use to touch only the weights that exist.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError
from .validate import positive_int as _positive_int


def _int_list(name, values):
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1 or len(values) == 0:
        raise ParameterError(f"{name}={values!r} must be a non-empty list of positive integers")
    out = []
    for v in values:
        if isinstance(v, (np.floating, float)) and float(v).is_integer():
            v = int(v)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v <= 0:
            raise ParameterError(f"{name}={list(values)!r} must contain only positive integers")
        out.append(int(v))
    return out


def split_units(n_hidden, n_modules):
    """Split ``n_hidden`` units into ``n_modules`` sizes, leftovers to the fastest modules.

    >>> split_units(40, 9)
    [5, 5, 5, 5, 4, 4, 4, 4, 4]
    """
    n_hidden = _positive_int("n_hidden", n_hidden)
    n_modules = _positive_int("n_modules", n_modules)
    if n_modules > n_hidden:
        raise ParameterError(f"n_modules={n_modules} must not exceed n_hidden={n_hidden}")
    base, extra = divmod(n_hidden, n_modules)
    return [base + 1] * extra + [base] * (n_modules - extra)


def exponential_periods(n_modules):
    """The paper's periods ``1, 2, 4, ..., 2**(n_modules - 1)``."""
    return [2**i for i in range(_positive_int("n_modules", n_modules))]


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
    """

    module_sizes: np.ndarray
    periods: np.ndarray
    module_start: np.ndarray
    column_start: np.ndarray
    block_offset: np.ndarray

    @classmethod
    def build(cls, module_sizes, periods):
        """Validate sizes and periods, sort modules by period (stable), and derive the ranges."""
        sizes = _int_list("module_sizes", module_sizes)
        periods = _int_list("periods", periods)
        if len(sizes) != len(periods):
            raise ParameterError(
                f"periods has {len(periods)} entries but there are {len(sizes)} modules; give one period per module"
            )
        order = np.argsort(np.asarray(periods), kind="stable")
        sizes = np.asarray(sizes, dtype=np.int64)[order]
        periods = np.asarray(periods, dtype=np.int64)[order]
        start = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=start[1:])
        n = int(start[-1])
        # First module of each equal-period group: equal periods feed each other both ways.
        first_of_period = np.searchsorted(periods, periods, side="left")
        column_start = start[first_of_period]
        block_sizes = sizes * (n - column_start)
        block_offset = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(block_sizes, out=block_offset[1:])
        for a in (sizes, periods, start, column_start, block_offset):
            a.setflags(write=False)
        return cls(sizes, periods, start, column_start, block_offset)

    @property
    def n_hidden(self):
        return int(self.module_start[-1])

    @property
    def n_modules(self):
        return len(self.module_sizes)

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

    def recurrent_macs_per_step(self):
        """Average recurrent multiply-adds per step, over one full cycle of the clocks."""
        rows_cost = self.module_sizes * (self.n_hidden - self.column_start)
        return float(np.sum(rows_cost / self.periods))
