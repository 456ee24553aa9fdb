"""C-callable entry points into the forward kernel, for streams that must not allocate.

Calling a numba dispatcher from Python boxes every array argument into a fresh NRT meminfo: ten
small allocations per :meth:`Stream.process` call, visible in
``numba.core.runtime.rtsys.get_allocation_stats()``. A ``cfunc`` called through ``ctypes`` takes raw
pointers instead, wraps them with ``carray`` (no meminfo), and calls :func:`_kernels._forward_seq`
inside compiled code: nothing is allocated, and ``ctypes`` releases the GIL for the whole call.

This module is imported only when a stream is prepared, so ``import cwfast`` compiles nothing.
One entry is built per dtype, once per process, on first use (:func:`entry`).

numba's on-disk cache checks only the file that defines a function, not the files it calls, so a
cached entry would keep running an old :func:`_kernels._forward_seq` after that kernel changed.
The entry therefore closes over a hash of ``_kernels.py``: numba puts closure variables into the
cache key, so a changed kernel file means a cache miss and a fresh compile.
"""

import ctypes
import hashlib

import numpy as np
from numba import carray, cfunc, types

from . import _kernels

with open(_kernels.__file__, "rb") as _f:
    _KERNELS_STAMP = int.from_bytes(hashlib.sha256(_f.read()).digest()[:7], "little")

#: Return codes of an entry.
OK, NOT_FINITE = 0, 1

_V, _I = ctypes.c_void_p, ctypes.c_int64
#: ctypes prototype: theta, n_theta, module_start, column_start, block_offset, periods, n_modules,
#: x, n_steps, n_in, t0, h, work, n_hidden, y, n_out. CFUNCTYPE releases the GIL during the call.
PROTOTYPE = ctypes.CFUNCTYPE(_I, _V, _I, _V, _V, _V, _V, _I, _V, _I, _I, _I, _V, _V, _I, _V, _I)

_entries = {}


def _build(float_type):
    fp = types.CPointer(float_type)
    ip = types.CPointer(types.int64)
    i8 = types.int64
    signature = types.int64(fp, i8, ip, ip, ip, ip, i8, fp, i8, i8, i8, fp, fp, i8, fp, i8)
    stamp = _KERNELS_STAMP

    @cfunc(signature, cache=True)
    def forward_block(theta_p, n_theta, start_p, column_p, offset_p, periods_p, n_modules, x_p, n_steps, n_in,
                      t0, h_p, work_p, n_hidden, y_p, n_out):
        """Check the block is finite, then run it; state untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel file's hash part of the cache key
            return -1
        x = carray(x_p, (n_steps, n_in))
        for s in range(n_steps):
            for j in range(n_in):
                if not np.isfinite(x[s, j]):
                    return 1
        theta = carray(theta_p, (n_theta,))
        module_start = carray(start_p, (n_modules + 1,))
        column_start = carray(column_p, (n_modules,))
        block_offset = carray(offset_p, (n_modules + 1,))
        periods = carray(periods_p, (n_modules,))
        h = carray(h_p, (n_hidden,))
        work = carray(work_p, (n_hidden,))
        y = carray(y_p, (n_steps, n_out))
        no_history = carray(h_p, (0, n_hidden))
        _kernels._forward_seq(theta, module_start, column_start, block_offset, periods, x, t0, h, work, y, no_history)
        return 0

    return forward_block


def entry(dtype):
    """The compiled entry for ``dtype`` (float32 or float64) and its ctypes callable.

    Returns
    -------
    (numba CFunc, ctypes function with :data:`PROTOTYPE`)
    """
    dtype = np.dtype(dtype)
    if dtype not in _entries:
        compiled = _build(types.float32 if dtype == np.float32 else types.float64)
        _entries[dtype] = compiled, PROTOTYPE(compiled.address)
    return _entries[dtype]
