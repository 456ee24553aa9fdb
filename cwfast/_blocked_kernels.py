"""numba kernel of a block of a Clockwork RNN computed module by module, slowest first
(``Stream(model, blocked=True)``).

Module j feeds module i only if T_j >= T_i, so the slowest module depends on nothing but itself
and the input. Given a whole block of input, the modules can run one after the other, slowest
first, each over the whole block: when module i runs, every state of every slower module in the
block is known, and its rows' products with them (all of its block but the k x k diagonal part)
are matrix products. A slower module's state changes only when it ticks, so each of its states is
multiplied once (its *tick history*: the state before the block, then one after each tick), and
the product is added to every active step of module i that reads it; with periods 1, 2, ..., 128
that takes the off-diagonal multiply-adds of CW 1024/8 down about 3.5x from multiplying at every
active step. The products run in the voice kernels' lane passes
(:func:`cwfast._voice_kernels._rows_lanes16`) with 16 *states* in the lanes instead of 16 voices:
each weight is loaded once for 16 states, where the step kernel (:func:`cwfast._kernels._step`)
loads every weight again at every step. Only the k x k diagonal part stays sequential, one step at
a time (:func:`cwfast._kernels._window_dots`). It pays when the weights do not fit the core's L2
cache: CW 1024/8 (2.4 MB in float32) on a 512-KiB-L2 EPYC ran 2.3-2.8x faster than the step
kernel at blocks of 512 and 2048 (3.5-3.7x real time at 44.1 kHz); CW 256/8 (150 KB) 0.7-0.9x as
fast (docs/benchmarks.md, section 21).

The sums are the model's, in another order: each unit at each active step sums the bias, the
inputs, then each slower module's product (slowest first; each a sum over that module's columns
in order, one scalar sum per lane, so its bits do not depend on the lane or the block), then its
own module's columns (a reassociated dot product, fixed by the compiled code). So the outputs
differ from ``forward`` by float rounding, and a stream gives the same bits however its input is
split into blocks.

The block's states are kept time-minor, as the output layer's lane passes read them: entry e,
the state before step e (e = 0..T; entry T is the state after the block), at ``hs[e // 16, :, e %
16]``; each module's tick history likewise, state d at ``[d // 16, :, d % 16]`` of its own array.

Periods must increase strictly (modules of equal periods read each other, so neither can go
first); the stream checks it. Like :mod:`cwfast._kernels`: arrays and scalars in, no validation,
no allocation, the same ``theta`` layout, a plain model (every input window 1).
"""

import numba

from ._jit import INT_ZERO as _0
from ._jit import JIT as _JIT
from ._kernels import _HOT, _tanh_inplace, _views, _window_dots
from ._voice_kernels import LANES, _rows_lanes16


def work_size(n, n_out, max_block, module_start, periods):
    """The length of the scratch :func:`_blocked_forward` needs for blocks of up to ``max_block`` steps
    of a model whose module i owns units ``module_start[i]:module_start[i + 1]`` and ticks every
    ``periods[i]`` steps."""
    sizes = [int(module_start[i + 1] - module_start[i]) for i in range(len(periods))]
    pre = max(-(-max_block // int(p)) * k for k, p in zip(sizes, periods))
    ticks = sum(_tick_groups(max_block, int(p)) * LANES * k for k, p in zip(sizes, periods))
    return LANES * max(n, n_out) + n + (max_block // LANES + 1) * n * LANES + pre + ticks


@numba.njit(**_HOT)
def _tick_groups(T, p):
    """Lane groups of a module's tick history over a block of T steps: its state before the block and
    after each of its at most ceil(T / p) ticks, 16 states a group."""
    return ((T + p - 1) // p + 1 + LANES - 1) // LANES


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
    a = LANES * max(n, n_out)  # the lanes' sums, a state, the block's states, pre-activations, tick histories
    acc = work[:a].reshape((max(n, n_out), LANES))
    col = work[a : a + n]
    c = a + n
    d = c + (T // LANES + 1) * n * LANES
    hs = work[c:d].reshape((T // LANES + 1, n, LANES))
    pre = work[d:]
    ticks = pre[_max_pre(module_start, periods, T):]
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
        t_at = 0  # where module j's tick history starts in ticks
        for j in range(g - 1, i, -1):
            u0, kj = module_start[j], module_start[j + 1] - module_start[j]
            hist = ticks[t_at : t_at + _tick_groups(T, periods[j]) * kj * LANES]
            _add_slower(w_rec, off + u0 - r0, width, hist.reshape((hist.shape[0] // (kj * LANES), kj, LANES)),
                        periods[j], t0, s0, p, n_active, k, acc, pre)
            t_at += hist.shape[0]
        # The own k x k part, step after step, each new state kept in the tick history (entry 0 is
        # the state before the block) for the faster modules' products above.
        mine = ticks[t_at : t_at + _tick_groups(T, p) * k * LANES].reshape((_tick_groups(T, p), k, LANES))
        hcur = h[r0:r1]
        for r in range(k):
            mine[0, r, 0] = hcur[r]
        done = _0  # (an int64, see cwfast._jit.INT_ZERO) entries 0..done-1 of this module's rows are written
        for u in range(n_active):
            e = s0 + u * p
            _hold(hs, r0, k, hcur, done, e + 1)
            done = e + 1
            for r in range(k):
                col[r] = pre[u * k + r]
            _window_dots(w_rec[off:], hcur, col, _0, col, k, width)
            _tanh_inplace(col[:k])
            group, lane = (u + 1) // LANES, (u + 1) % LANES
            for r in range(k):
                hcur[r] = col[r]
                mine[group, r, lane] = col[r]
        _hold(hs, r0, k, hcur, done, T + 1)
    # y[s] = W_out h(s) + b_out, from entry s + 1: 16 steps a pass.
    for group in range(T // LANES + 1):
        for o in range(n_out):
            for j in range(LANES):
                acc[o, j] = b_out[o]
        _rows_lanes16(w_out, _0, n, n, hs[group], _0, _0, n_out, acc)
        for j in range(LANES):
            s = group * LANES + j - 1
            if 0 <= s < T:
                for o in range(n_out):
                    y[s, o] = acc[o, j]


@numba.njit(**_HOT)
def _max_pre(module_start, periods, T):
    """The pre-activations' length for a block of T steps: the largest ceil(T / p_i) * k_i."""
    m = 0
    for i in range(periods.shape[0]):
        m = max(m, (T + periods[i] - 1) // periods[i] * (module_start[i + 1] - module_start[i]))
    return m


@numba.njit(**_HOT)
def _add_slower(w_rec, off, stride, hist, pj, t0, s0, p, n_active, k, acc, pre):
    """Add to ``pre`` (as in :func:`_blocked_forward`) the products of a module's k rows with the
    columns of one slower module j (period pj > p), whose weights start at ``w_rec[off]``,
    ``stride`` apart; ``hist`` (groups, k_j, 16) is j's tick history in the block: its state before
    the block, then after each tick.

    Module j's state changes only when it ticks, so each of its states in the block is multiplied
    once, 16 to a lane pass, and the product is added to every active step that reads it: the step
    at s reads the state after j's ticks before s. With periods 1, 2, 4, ... a module reads each
    state of the next slower one twice, of the one after four times, and so on."""
    fj = (pj - t0 % pj) % pj  # module j's first tick in the block
    u = 0
    group = 0 if s0 <= fj else ((s0 - fj - 1) // pj + 1) // LANES  # the group of the first state read
    while u < n_active:
        for r in range(k):
            for lane in range(LANES):
                acc[r, lane] = 0
        _rows_lanes16(w_rec, off, hist.shape[1], stride, hist[group], _0, _0, k, acc)
        while u < n_active:
            s = s0 + u * p
            dd = 0 if s <= fj else (s - fj - 1) // pj + 1
            if dd >= (group + 1) * LANES:
                break
            lane = dd - group * LANES
            for r in range(k):
                pre[u * k + r] += acc[r, lane]
            u += 1
        group += 1


@numba.njit(**_HOT)
def _hold(hs, r0, k, hcur, e_from, e_to):
    """Units r0..r0+k-1 of entries e_from..e_to-1: the module's state ``hcur``, held."""
    for e in range(e_from, e_to):
        dst = hs[e // LANES]
        lane = e % LANES
        for r in range(k):
            dst[r0 + r, lane] = hcur[r]
