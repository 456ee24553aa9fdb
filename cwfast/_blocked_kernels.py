"""numba kernel of a block of a Clockwork RNN computed module by module, slowest first
(``Stream(model, blocked=True)``).

Module j feeds module i only if T_j >= T_i, so the slowest module depends on nothing but itself
and the input. Given a whole block of input, the modules can run one after the other, slowest
first, each over the whole block: when module i runs, the states of every slower module are known
at every step of the block, and its rows' products with them (all of its block but the k x k
diagonal part) are one matrix product over its active steps. Those products run in the voice
kernels' lane passes (:func:`cwfast._voice_kernels._rows_lanes16`) with 16 *active steps* in the
lanes instead of 16 voices: each weight is loaded once for 16 steps, where the step kernel
(:func:`cwfast._kernels._step`) loads every weight again at every step. Only the k x k diagonal
part stays sequential, one step at a time (:func:`cwfast._kernels._window_dots`). It pays when
the weights do not fit the core's L2 cache: CW 1024/8 (2.4 MB in float32) on a 512-KiB-L2 EPYC
ran 1.3-1.6x faster than the step kernel; CW 256/8 (150 KB) 0.8-0.9x as fast (docs/benchmarks.md,
sections 17 and 18).

The sums are the model's, in another order: each unit at each active step sums the bias, the
inputs, the slower modules' columns in order (the lane passes: one scalar sum per step, so the
order does not depend on the lane or the block), then its own module's columns (a reassociated
dot product, fixed by the compiled code). So the outputs differ from ``forward`` by float rounding,
and a stream gives the same bits however its input is split into blocks.

The block's states are kept time-minor, as the lane passes read them: entry e, the state before
step e (e = 0..T; entry T is the state after the block), at ``hs[e // 16, :, e % 16]``. A module
of period 1 reads its slower modules' entries of 16 consecutive steps as one (width, 16) view; a
slower module first gathers its 16 active steps' entries into a (width, 16) array.

Periods must increase strictly (modules of equal periods read each other, so neither can go
first); the stream checks it. Like :mod:`cwfast._kernels`: arrays and scalars in, no validation,
no allocation, the same ``theta`` layout, a plain model (every input window 1).
"""

import numba

from ._jit import JIT as _JIT
from ._kernels import _HOT, _tanh_inplace, _views, _window_dots
from ._voice_kernels import LANES, _rows_lanes16


def work_size(n, n_out, max_block, module_start, periods):
    """The length of the scratch :func:`_blocked_forward` needs for blocks of up to ``max_block`` steps
    of a model whose module i owns units ``module_start[i]:module_start[i + 1]`` and ticks every
    ``periods[i]`` steps."""
    pre = max(-(-max_block // int(p)) * int(module_start[i + 1] - module_start[i]) for i, p in enumerate(periods))
    return LANES * n + LANES * max(n, n_out) + 2 * n + (max_block // LANES + 1) * n * LANES + pre


# With reference counting, like cwfast._kernels._forward_seq (which calls the _HOT step): numba's
# cache of kernels compiled without it has crashed on loading (see the note in cwfast._kernels; a
# variant of this kernel corrupted the heap when loaded from the cache, never when compiled).
@numba.njit(**_JIT)
def _blocked_forward(theta, module_start, column_start, block_offset, periods, x, t0, h, work, y):
    """Run a plain Clockwork RNN (every input window 1, periods increasing strictly) over the block
    ``x`` (T, n_in) from step ``t0`` and the state ``h`` (n,), updated in place; ``y`` (T, n_out)
    receives the outputs. ``work``: at least :func:`work_size` elements of scratch for T steps.
    ``column_start`` is the layout's (module i's block reads units column_start[i]:n); with
    increasing periods it equals module_start[:-1]."""
    T, n_in = x.shape
    n = h.shape[0]
    n_out = y.shape[1]
    g = periods.shape[0]
    w_in, w_rec, bias, w_out, b_out = _views(theta, n, module_start[g] * n_in, block_offset[g], n_out)
    a = LANES * n  # then the lanes' sums, two states, the block's states, the pre-activations
    b = a + LANES * max(n, n_out)
    gather = work[:a].reshape((n, LANES))
    acc = work[a:b].reshape((max(n, n_out), LANES))
    col, hcur = work[b : b + n], work[b + n : b + 2 * n]
    c = b + 2 * n
    d = c + (T // LANES + 1) * n * LANES
    hs = work[c:d].reshape((T // LANES + 1, n, LANES))
    pre = work[d:]
    for i in range(g - 1, -1, -1):
        r0, r1 = module_start[i], module_start[i + 1]
        k, p, width = r1 - r0, periods[i], n - column_start[i]
        off = block_offset[i]
        s0 = (p - t0 % p) % p  # the first active step
        n_active = (T - s0 + p - 1) // p if s0 < T else 0
        # pre[u * k + r]: bias, inputs and the slower modules' columns of unit r at active step u.
        for u in range(n_active):
            s = s0 + u * p
            for r in range(k):
                v = bias[r0 + r]
                for q in range(n_in):
                    v += w_in[(r0 + r) * n_in + q] * x[s, q]
                pre[u * k + r] = v
        for j in range(i + 1, g):
            u0, kj = module_start[j], module_start[j + 1] - module_start[j]
            _add_slower(w_rec, off + u0 - r0, width, hs, u0, kj, periods[j], t0, T, s0, p, n_active, k, gather, acc,
                        pre)
        # The own k x k part, step after step.
        for r in range(k):
            hcur[r] = h[r0 + r]
        done = 0  # entries 0..done-1 of this module's rows are written
        for u in range(n_active):
            e = s0 + u * p
            _hold(hs, r0, k, hcur, done, e + 1)
            done = e + 1
            for r in range(k):
                col[r] = pre[u * k + r]
            _window_dots(w_rec[off:], hcur[:k], col, 0, col, k, width)
            _tanh_inplace(col[:k])
            for r in range(k):
                hcur[r] = col[r]
        _hold(hs, r0, k, hcur, done, T + 1)
        for r in range(k):
            h[r0 + r] = hcur[r]
    # y[s] = W_out h(s) + b_out, from entry s + 1: 16 steps a pass.
    for group in range(T // LANES + 1):
        for o in range(n_out):
            for j in range(LANES):
                acc[o, j] = b_out[o]
        _rows_lanes16(w_out, 0, n, n, hs[group], 0, 0, n_out, acc)
        for j in range(LANES):
            s = group * LANES + j - 1
            if 0 <= s < T:
                for o in range(n_out):
                    y[s, o] = acc[o, j]


@numba.njit(**_HOT)
def _add_slower(w_rec, off, stride, hs, u0, kj, pj, t0, T, s0, p, n_active, k, gather, acc, pre):
    """Add to ``pre`` (as in :func:`_blocked_forward`) the products of a module's k rows with the
    columns of one slower module j (units u0..u0+kj-1, period pj > p), whose weights start at
    ``w_rec[off]``, ``stride`` apart.

    Module j's state changes only when it ticks, so its ``ticks + 1`` distinct states in the block
    (the one before it, then one after each tick) are multiplied once each, 16 to a lane pass, and
    each product is added to every active step that reads it: the step at s reads the state after
    j's ticks before s. With periods 1, 2, 4, ... a module reads each state of the next slower one
    twice, of the one after four times, and so on."""
    fj = (pj - t0 % pj) % pj  # module j's first tick in the block
    u = 0
    d0 = 0 if s0 <= fj else (s0 - fj - 1) // pj + 1  # the state the first active step reads
    while u < n_active:
        for lane in range(LANES):  # gather states d0 .. d0 + 15 (past the block: entry 0, never read)
            dd = d0 + lane
            e = 0 if dd == 0 else fj + (dd - 1) * pj + 1
            if e > T:
                e = 0
            for cc in range(kj):
                gather[cc, lane] = hs[e // LANES, u0 + cc, e % LANES]
        for r in range(k):
            for lane in range(LANES):
                acc[r, lane] = 0
        _rows_lanes16(w_rec, off, kj, stride, gather, 0, 0, k, acc)
        while u < n_active:
            s = s0 + u * p
            dd = 0 if s <= fj else (s - fj - 1) // pj + 1
            if dd >= d0 + LANES:
                break
            lane = dd - d0
            for r in range(k):
                pre[u * k + r] += acc[r, lane]
            u += 1
        d0 += LANES


@numba.njit(**_HOT)
def _hold(hs, r0, k, hcur, e_from, e_to):
    """Units r0..r0+k-1 of entries e_from..e_to-1: the module's state ``hcur``, held."""
    for e in range(e_from, e_to):
        dst = hs[e // LANES]
        lane = e % LANES
        for r in range(k):
            dst[r0 + r, lane] = hcur[r]
