"""Slow, obviously correct twins of the kernels, written straight from the paper's equations.

Dense ``W_h`` with the forbidden blocks at zero, and ``t % T_i == 0`` tested unit by unit. No
packing, no skipping: every module is computed at every step and inactive ones are put back.
Input windows: the dense ``W_in`` (n, max_window * n_in) is right-aligned (the last n_in columns
weigh x(t), the block before them x(t - 1), ...), masked to each unit's window, and dotted with the
stacked inputs x(t - max_window + 1) .. x(t), where x before the first step is zero, or the
history a full state ``h0`` carries after its n hidden units.
"""

import numpy as np


def unit_periods(d):
    return np.repeat(np.asarray(d["periods"]), np.asarray(d["module_sizes"]))


def allowed_mask(d):
    p = unit_periods(d)
    # Unit j feeds unit i iff period(j) >= period(i).
    return p[None, :] >= p[:, None]


def windows(d):
    return np.asarray(d.get("input_windows", np.ones(len(d["periods"]), dtype=int)))


def window_mask(d, n_in):
    """(n, max_window * n_in): True where unit u's right-aligned input weights exist."""
    w = windows(d)
    unit_w = np.repeat(w, np.asarray(d["module_sizes"]))
    lag_of_column = w.max() - 1 - np.arange(w.max() * n_in) // max(n_in, 1)
    return lag_of_column[None, :] < unit_w[:, None]


def stacked_inputs(d, x, h0=None):
    """(T, max_window * n_in): row s holds x(t0 + s - max_window + 1) .. x(t0 + s), oldest first."""
    n, m = d["W_h"].shape[0], x.shape[1]
    P = windows(d).max() - 1
    past = np.zeros((P, m)) if h0 is None or len(h0) == n else np.asarray(h0[n:], dtype=float).reshape(P, m)
    xs = np.concatenate([past, x])
    return np.array([xs[s : s + P + 1].ravel() for s in range(x.shape[0])]).reshape(x.shape[0], (P + 1) * m)


def forward(d, x, h0=None, t0=0):
    """States (T, n) and outputs (T, n_out) of one sequence. ``h0`` is the hidden state, or the
    full state (hidden units, then the last max_window - 1 inputs) of a model with input windows."""
    n = d["W_h"].shape[0]
    p = unit_periods(d)
    h = np.zeros(n) if h0 is None else np.array(h0[:n], dtype=float)
    W_h = d["W_h"] * allowed_mask(d)
    W_in = d["W_in"] * window_mask(d, x.shape[1])
    xs = stacked_inputs(d, x, h0)
    states = []
    for s in range(x.shape[0]):
        candidate = np.tanh(W_h @ h + W_in @ xs[s] + d["b_h"])
        h = np.where((t0 + s) % p == 0, candidate, h)
        states.append(h)
    H = np.array(states).reshape(x.shape[0], n)
    return H, H @ d["W_out"].T + d["b_out"]


def loss_and_grad(d, x, target, h0=None, t0=0):
    """MSE over all elements and dense gradients, by plain BPTT. x (B, T, n_in)."""
    mask = allowed_mask(d)
    in_mask = window_mask(d, x.shape[2])
    p = unit_periods(d)
    W_h = d["W_h"] * mask
    grads = {k: np.zeros_like(d[k], dtype=float) for k in ("W_in", "W_h", "b_h", "W_out", "b_out")}
    count = target.size
    loss = 0.0
    for b in range(x.shape[0]):
        H, Y = forward(d, x[b], h0, t0)
        xs = stacked_inputs(d, x[b], h0)
        diff = Y - target[b]
        loss += np.sum(diff**2) / count
        dY = 2 * diff / count
        grads["W_out"] += dY.T @ H
        grads["b_out"] += dY.sum(axis=0)
        dh = np.zeros(H.shape[1])
        for s in range(H.shape[0] - 1, -1, -1):
            dh = dh + d["W_out"].T @ dY[s]
            active = ((t0 + s) % p == 0).astype(float)
            h_prev = H[s - 1] if s > 0 else (np.zeros(H.shape[1]) if h0 is None else h0[: H.shape[1]])
            da = dh * (1 - H[s] ** 2) * active
            grads["W_h"] += np.outer(da, h_prev) * mask
            grads["W_in"] += np.outer(da, xs[s]) * in_mask
            grads["b_h"] += da
            dh = dh * (1 - active) + W_h.T @ da
    return loss, grads


def mixture_nats(y, labels):
    """-log P(label) of each mixture row of ``y`` (..., 3K), in the log domain with NumPy (the bin
    terms of cwfast.heads.MixtureHead._parts, log-sum-exp over the components): the twin of the
    compiled loss the mixture head scores with."""
    from cwfast.heads import MixtureHead

    with np.errstate(all="ignore"):
        log_pi, f = MixtureHead._parts(np.asarray(y), np.asarray(labels, dtype=np.int64))[:2]
        joint = log_pi + f
        top = joint.max(axis=-1, keepdims=True)
        return -(top[..., 0] + np.log(np.exp(joint - top).sum(axis=-1)))


def mixture_loss_and_grad(y, labels):
    """The mean -log P(label) of the mixture rows ``y`` (..., 3K) and its gradient (y's shape and
    dtype), with NumPy in the log domain (the bin terms of cwfast.heads.MixtureHead._parts): the
    twin of the compiled gradient the mixture head trains with. The outer classes reach to
    infinity; a log-scale at or below LOG_SCALE_MIN is clamped and gets no gradient; non-finite
    outputs give NaN where IEEE arithmetic does, without warnings."""
    from cwfast.heads import MixtureHead

    y, labels = np.asarray(y), np.asarray(labels, dtype=np.int64)
    with np.errstate(all="ignore"):
        log_pi, f, a, b, width, inv_s, free = MixtureHead._parts(y, labels)
        joint = log_pi + f
        top = joint.max(axis=-1, keepdims=True)
        log_p = top[..., 0] + np.log(np.exp(joint - top).sum(axis=-1))
        resp = np.exp(joint - log_p[..., None])  # each component's share of P(label)
        shared = 1.0 / np.expm1(width)  # 0 for the outer classes
        d_a = np.exp(-np.logaddexp(0.0, a)) + shared  # d f / d a = sigma(-a) + shared; 0 where a = inf
        d_b = -np.exp(-np.logaddexp(0.0, -b)) - shared  # d f / d b; 0 where b = -inf
        a_term = np.where(np.isfinite(a), d_a * np.where(np.isfinite(a), a, 0.0), 0.0)
        b_term = np.where(np.isfinite(b), d_b * np.where(np.isfinite(b), b, 0.0), 0.0)
        grad = np.concatenate([
            np.exp(log_pi) - resp,                        # d loss / d logits
            resp * inv_s * (d_a + d_b),                   # d loss / d means
            resp * (a_term + b_term) * free,              # d loss / d log-scales (0 where clamped)
        ], axis=-1) * (1.0 / labels.size)
        return float(-np.mean(log_p)), grad.astype(y.dtype)
