"""numba kernel of the evolution strategy: the loss of every member of a population, in parallel.

One call evaluates a whole generation: ``prange`` over members, each building its own parameter
vector from the centre and its row of noise and running the forward kernel over the whole batch
(no backward pass, no history). Members write disjoint entries of ``losses`` and share nothing
else, so the result does not depend on the thread count. Like :mod:`cwfast._kernels`, the kernel
validates nothing and reads no module-level settings; :mod:`cwfast.train.es` prepares its arrays.
"""

import numba
import numpy as np

from ._kernels import _forward_seq

_JIT = dict(cache=True, nogil=True)


@numba.njit(parallel=True, **_JIT)
def _population_losses(theta, noise, sigma, module_start, column_start, block_offset, member_periods,
                       x, n_out, y_target, labels, softmax, last_only, losses):
    """Loss of each member of an antithetic population, and of the centre.

    theta : (n_params,) float64, the centre, laid out like ``ClockworkRNN.params``.
    noise : (n_pairs, >= n_params) float64. Member ``m < 2 * n_pairs`` is
        ``theta + sigma * noise[m // 2]`` for even ``m`` and ``theta - sigma * noise[m // 2]``
        for odd ``m``; any further member is the centre itself.
    member_periods : (n_members, g) int64, each member's clock periods.
    x : (B, T, n_in) in the model's dtype, the dtype every member computes in.
    y_target : (B, Ts, n_out) float, the linear head's targets (Ts = T, or 1 with ``last_only``).
    labels : (B, Ts) int64, the softmax head's class labels.
    softmax : bool, score cross-entropy on ``labels`` (else squared error on ``y_target``).
    last_only : bool, score only the last step.
    losses : (n_members,) float64, receives the mean loss per scored value, as
        ``ClockworkRNN.loss`` defines it. Every sequence starts from a zero state at t = 0.
    """
    n_members = losses.shape[0]
    n_pairs = noise.shape[0]
    n_params = theta.shape[0]
    batch, n_steps = x.shape[0], x.shape[1]
    n = module_start[module_start.shape[0] - 1]
    first = n_steps - 1 if last_only else 0
    per_step = 1 if softmax else n_out
    count = batch * (n_steps - first) * per_step
    for m in numba.prange(n_members):
        params = np.empty(n_params, dtype=x.dtype)
        if m < 2 * n_pairs:
            j = m // 2
            scale = sigma if m % 2 == 0 else -sigma
            for k in range(n_params):
                params[k] = theta[k] + scale * noise[j, k]
        else:
            for k in range(n_params):
                params[k] = theta[k]
        h = np.empty(n, dtype=x.dtype)
        work = np.empty(n, dtype=x.dtype)
        y = np.empty((n_steps, n_out), dtype=x.dtype)
        no_history = np.empty((0, n), dtype=x.dtype)
        total = 0.0
        for b in range(batch):
            h[:] = 0
            _forward_seq(params, module_start, column_start, block_offset, member_periods[m], x[b], 0, h, work,
                         y, no_history)
            for s in range(first, n_steps):
                ts = s - first
                if softmax:
                    top = np.float64(y[s, 0])
                    for k in range(1, n_out):
                        top = max(top, np.float64(y[s, k]))
                    norm = 0.0
                    for k in range(n_out):
                        norm += np.exp(np.float64(y[s, k]) - top)
                    total += np.log(norm) - (np.float64(y[s, labels[b, ts]]) - top)
                else:
                    for k in range(n_out):
                        d = np.float64(y[s, k]) - np.float64(y_target[b, ts, k])
                        total += d * d
        losses[m] = total / count
