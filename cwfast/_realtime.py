"""C-callable entry points into the forward kernel, for streams that must not allocate.

Calling a numba dispatcher from Python boxes every array argument into a fresh NRT meminfo: ten
small allocations per :meth:`Stream.process` call, visible in
``numba.core.runtime.rtsys.get_allocation_stats()``. A ``cfunc`` called through ``ctypes`` takes the
address of a small int64 *context* array instead (buffer addresses and sizes, see the slot
constants), wraps the buffers with ``carray`` (no meminfo), and calls :func:`_kernels._forward_seq`
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
from numba.extending import intrinsic

from . import _kernels

with open(_kernels.__file__, "rb") as _f:
    _KERNELS_STAMP = int.from_bytes(hashlib.sha256(_f.read()).digest()[:7], "little")

#: Return codes of an entry.
OK, NOT_FINITE = 0, 1

#: Slots of the context array an entry reads (int64; addresses as integers). A ctypes call with
#: one argument costs about 1 us here against about 5 us with sixteen, so the stream writes the
#: two values that change (n_steps, t0) into the context and passes only its address.
THETA, N_THETA, MODULE_START, COLUMN_START, BLOCK_OFFSET, PERIODS, N_MODULES, X, N_STEPS, N_IN, T0, H, WORK, \
    N_HIDDEN, Y, N_OUT = range(16)
CONTEXT_SIZE = 16

#: ctypes prototype of an entry: ``int64 entry(int64 *context)``. CFUNCTYPE releases the GIL.
PROTOTYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)

_entries = {}


@intrinsic
def _pointer(typingctx, address, dtype):
    """``(dtype *) address``: the pointer an integer address stands for."""
    pointer_type = types.CPointer(dtype.instance_type)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer_type))

    return pointer_type(address, dtype), codegen


def _build(float_type):
    fp = np.float32 if float_type == types.float32 else np.float64
    ip = np.int64
    stamp = _KERNELS_STAMP

    @cfunc(types.int64(types.CPointer(types.int64)), cache=True)
    def forward_block(context_p):
        """Check the block is finite, then run it; state untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel file's hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n_in, n_modules, n_hidden = c[N_STEPS], c[N_IN], c[N_MODULES], c[N_HIDDEN]
        x = carray(_pointer(c[X], fp), (n_steps, n_in))
        for s in range(n_steps):
            for j in range(n_in):
                if not np.isfinite(x[s, j]):
                    return 1
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        module_start = carray(_pointer(c[MODULE_START], ip), (n_modules + 1,))
        column_start = carray(_pointer(c[COLUMN_START], ip), (n_modules,))
        block_offset = carray(_pointer(c[BLOCK_OFFSET], ip), (n_modules + 1,))
        periods = carray(_pointer(c[PERIODS], ip), (n_modules,))
        h = carray(_pointer(c[H], fp), (n_hidden,))
        work = carray(_pointer(c[WORK], fp), (n_hidden,))
        y = carray(_pointer(c[Y], fp), (n_steps, c[N_OUT]))
        no_history = carray(_pointer(c[H], fp), (0, n_hidden))
        _kernels._forward_seq(theta, module_start, column_start, block_offset, periods, x, c[T0], h, work, y,
                              no_history)
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
