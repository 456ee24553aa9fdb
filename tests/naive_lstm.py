"""Slow, obviously correct twin of the LSTM kernels, written straight from the equations.

One gate at a time, named, in float64; the loss and its gradient written out for each head
without cwfast's helpers. ``d`` is the dict of :meth:`cwfast.LSTM.to_dense`.
"""

import numpy as np


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def gates(d):
    """Per-gate (W_in, W_h, b) in the documented order input, forget, cell, output."""
    n = d["W_h"].shape[1]
    return {
        name: (d["W_in"][k * n : (k + 1) * n], d["W_h"][k * n : (k + 1) * n], d["b_h"][k * n : (k + 1) * n])
        for k, name in enumerate(("i", "f", "g", "o"))
    }


def lstm_forward(d, x, h0=None, c0=None):
    """Hidden outputs H (T, n), cells C (T, n), gate values (dict of (T, n)) and outputs Y (T, n_out)."""
    n = d["W_h"].shape[1]
    h = np.zeros(n) if h0 is None else np.array(h0, dtype=float)
    c = np.zeros(n) if c0 is None else np.array(c0, dtype=float)
    G = gates(d)
    H, C, acts = [], [], {k: [] for k in "ifgo"}
    for s in range(x.shape[0]):
        pre = {k: W_in @ x[s] + W_h @ h + b for k, (W_in, W_h, b) in G.items()}
        i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
        g = np.tanh(pre["g"])
        c = f * c + i * g
        h = o * np.tanh(c)
        H.append(h)
        C.append(c)
        for k, v in zip("ifgo", (i, f, g, o)):
            acts[k].append(v)
    H = np.array(H).reshape(x.shape[0], n)
    C = np.array(C).reshape(x.shape[0], n)
    acts = {k: np.array(v).reshape(x.shape[0], n) for k, v in acts.items()}
    return H, C, acts, H @ d["W_out"].T + d["b_out"]


def head(Y, target, output, steps):
    """Loss and dL/dY for a batch of outputs Y (B, T, n_out), written out from the definitions."""
    dY = np.zeros_like(Y)
    share = 1.0  # each scored output's share of dL/d(scored)
    if steps == "last":
        scored, t_idx = Y[:, -1:], slice(Y.shape[1] - 1, None)
        target = target[:, None] if output == "softmax" else target[:, None, :]
    elif steps == "mean":
        scored, t_idx, share = Y.mean(axis=1, keepdims=True), slice(None), 1.0 / Y.shape[1]
        target = target[:, None] if output == "softmax" else target[:, None, :]
    else:
        scored, t_idx = Y, slice(None)
    if output == "linear":
        diff = scored - target
        loss = np.sum(diff**2) / diff.size
        dY[:, t_idx] = 2 * diff / diff.size * share
    else:
        p = np.exp(scored) / np.exp(scored).sum(axis=-1, keepdims=True)
        onehot = np.eye(Y.shape[-1])[target]
        count = target.size
        loss = -np.sum(onehot * np.log(p)) / count
        dY[:, t_idx] = (p - onehot) / count * share
    return loss, dY


def lstm_loss_and_grad(d, x, target, h0=None, c0=None, output="linear", steps="all"):
    """Loss and dense gradients (keys of ``to_dense``) by plain BPTT. x (B, T, n_in)."""
    n = d["W_h"].shape[1]
    G = gates(d)
    runs = [lstm_forward(d, x[b], h0, c0) for b in range(x.shape[0])]
    Y = np.array([r[3] for r in runs])
    loss, dY = head(Y, target, output, steps)
    grads = {k: np.zeros_like(d[k], dtype=float) for k in ("W_in", "W_h", "b_h", "W_out", "b_out")}
    per_gate = {k: [np.zeros_like(G[k][0]), np.zeros_like(G[k][1]), np.zeros_like(G[k][2])] for k in "ifgo"}
    for b, (H, C, A, _) in enumerate(runs):
        grads["W_out"] += dY[b].T @ H
        grads["b_out"] += dY[b].sum(axis=0)
        dh_next, dc_next = np.zeros(n), np.zeros(n)
        for s in range(H.shape[0] - 1, -1, -1):
            h_prev = H[s - 1] if s > 0 else (np.zeros(n) if h0 is None else h0)
            c_prev = C[s - 1] if s > 0 else (np.zeros(n) if c0 is None else c0)
            i, f, g, o = A["i"][s], A["f"][s], A["g"][s], A["o"][s]
            dh = dh_next + d["W_out"].T @ dY[b, s]
            dc = dc_next + dh * o * (1 - np.tanh(C[s]) ** 2)
            d_pre = {
                "i": dc * g * i * (1 - i),
                "f": dc * c_prev * f * (1 - f),
                "g": dc * i * (1 - g**2),
                "o": dh * np.tanh(C[s]) * o * (1 - o),
            }
            dh_next = np.zeros(n)
            for k, dk in d_pre.items():
                per_gate[k][0] += np.outer(dk, x[b, s])
                per_gate[k][1] += np.outer(dk, h_prev)
                per_gate[k][2] += dk
                dh_next += G[k][1].T @ dk
            dc_next = dc * f
    for j, key in enumerate(("W_in", "W_h", "b_h")):
        grads[key] = np.concatenate([per_gate[k][j] for k in "ifgo"])
    return loss, grads
