"""PROTOTYPE (issue 12, item 2): a Clockwork RNN that predicts the residual of a linear predictor.

Not engine code: everything here is a script on top of the public API (``ClockworkRNN``,
``cwfast.train.fit``, ``Stream``), to measure whether the idea is worth building into the engine.

LPCNet's trick, applied to cwfast's autoregressive audio model: a 32-tap linear predictor
(``cwfast.lpc``, fitted on the training part) predicts each sample, :math:`m_t`, and the network
only has to model what it misses. Variants, all 64 units in 8 modules (periods 1 to 128), trained
as ``cwfast train --mode autoregressive`` trains (Adam, lr 0.01, 30 epochs, 8 streams, windows of
256, the epoch with the best validation loss kept), on the Brahms excerpt at 16 kHz: the last 10%
held out (scored once, never used to choose), the 10% before it the validation part that chooses
the epoch, the rest the training part, as ``cwfast train`` splits a clip:

``plain``
    The default recipe through the API: reads the previous sample, predicts its mu-law class.
``lpc-input``
    Reads the previous sample and :math:`m_t`; still predicts the sample's mu-law class.
``window``
    Reads a window of the decoded past instead of one sample: every lag from 1 to 32 and every
    4th lag to 400 (124 inputs, 25 ms at 16 kHz), so that every module, the slowest (period 128)
    included, sees at each tick the samples it slept through and a whole pitch period; predicts
    the sample's class. A stand-in for "slow modules read what happened while they slept",
    without engine changes (here every module reads the same window).
``residual``
    Reads the previous sample and :math:`m_t`; predicts the mu-law class of the residual
    :math:`e_t = v_t - m_t` (:math:`v_t` the decoded sample, :math:`e_t` clipped to [-1, 1]).
    To score it in the same units as the others, its 256 residual probabilities are spread
    uniformly over their residual bins, shifted by :math:`m_t`, and integrated over each of the
    sample's own mu-law bins: :math:`P(c_t = k) = F_e(hi_k - m_t) - F_e(lo_k - m_t)` with
    :math:`F_e` the piecewise-linear residual CDF. This is a proper distribution over the 256
    sample classes, so the bits are comparable.

For each variant the script prints held-out bits per 8-bit mu-law sample (from the state the
training part leaves) and, for the variants that can generate, the likeness measures of 10 s
generated with seeds 0, 1, 2 (median), next to the linear predictor alone generating (its
adaptive Laplace density sampled, the sample quantised and fed back). Generation runs one step at
a time through a ``Stream`` in Python, so it is slow (tens of microseconds per sample): a
prototype, not the engine.

    python scripts/prototype_lpc_residual.py [--epochs 30] [--seconds 10] [--variants plain,lpc-input,residual]
        [--keep DIR [--overwrite]]
    python scripts/prototype_lpc_residual.py --lpc-orders 32,128,400   # the linear predictor alone
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cwfast  # noqa: E402
from cwfast import codec, likeness, lpc, tasks, train  # noqa: E402
from cwfast._atomic import check_output  # noqa: E402
from cwfast.audio import load_audio, write_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402

SOURCE = ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav"
RATE = 16000
VALUES = codec.mu_law_values(256).astype(np.float64)
EDGES = lpc.bin_edges(256)
# Residual bins: the same mu-law bins, but the outermost end at -1 and 1 (residuals are clipped
# there), so that a residual class has a finite width to spread its probability over.
RES_EDGES = np.concatenate([[-1.0], EDGES[1:-1], [1.0]])
#: Lags the ``window`` variant reads: every lag to 32, then every 4th to 400 (25 ms at 16 kHz).
WINDOW_LAGS = np.concatenate([np.arange(1, 33), np.arange(36, 401, 4)])
#: The models it trains: the previous sample alone, a window of past samples, the previous sample
#: and the linear prediction, and that input predicting the prediction's residual.
VARIANTS = ("plain", "window", "lpc-input", "residual")


def residual_cdf_probs(probs, means, labels):
    """P(sample class = label) under a residual distribution over RES_EDGES shifted by the mean."""
    cdf = np.concatenate([np.zeros((probs.shape[0], 1)), np.cumsum(probs, axis=1)], axis=1)
    cdf /= cdf[:, -1:]
    out = np.empty(labels.size)
    for t in range(labels.size):
        lo, hi = EDGES[labels[t]] - means[t], EDGES[labels[t] + 1] - means[t]
        out[t] = np.interp(hi, RES_EDGES, cdf[t], left=0.0, right=1.0) - np.interp(lo, RES_EDGES, cdf[t],
                                                                                     left=0.0, right=1.0)
    return out


def build(variant, labels, means):
    values = VALUES[labels]
    prev = np.concatenate([[0.0], values[:-1]])
    if variant == "plain":
        return prev[:, None].astype(np.float32), labels
    if variant == "window":
        padded = np.concatenate([np.zeros(WINDOW_LAGS[-1]), values])
        n = values.size
        inputs = np.stack([padded[WINDOW_LAGS[-1] - lag : WINDOW_LAGS[-1] - lag + n] for lag in WINDOW_LAGS], axis=1)
        return inputs.astype(np.float32), labels
    inputs = np.stack([prev, means], axis=1).astype(np.float32)
    if variant == "lpc-input":
        return inputs, labels
    return inputs, codec.mu_law_encode(np.clip(values - means, -1.0, 1.0))


def held_out_bits(variant, model, inputs, targets, labels, means, cut):
    _, state = model.forward(inputs[:cut], return_state=True)
    probs = model.forward(inputs[cut:], state=state).astype(np.float64)
    if variant == "residual":
        p = residual_cdf_probs(probs, means[cut:], labels[cut:])
    else:
        p = probs[np.arange(probs.shape[0]), labels[cut:]]
    floored = int(np.sum(p < 1e-12))
    return -float(np.mean(np.log2(np.maximum(p, 1e-12)))), floored


def generate(variant, model, predictor, n, seed):
    """Free-running generation, one sample at a time; returns samples in the model's unit range."""
    rng = np.random.default_rng(seed)
    coef = predictor.coefficients
    history = np.zeros(max(coef.size, WINDOW_LAGS[-1]))
    out = np.empty(n)
    stream = None if model is None else cwfast.Stream(model, max_block=1)
    block = np.zeros((1, model.n_in if model is not None else 0), dtype=np.float32)
    prev, scale = 0.0, predictor.initial_scale
    for t in range(n):
        mean = float(coef @ history[-coef.size :])
        if model is None:  # the linear predictor alone: its adaptive Laplace density
            x = mean + rng.laplace(0.0, scale)
        else:
            if variant == "window":
                block[0, :] = history[-WINDOW_LAGS]
            else:
                block[0, 0] = prev
            if variant in ("lpc-input", "residual"):
                block[0, 1] = mean
            probs = stream.process(block)[0].astype(np.float64)
            c = min(int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum())), 255)
            if variant == "residual":
                x = mean + rng.uniform(RES_EDGES[c], RES_EDGES[c + 1])
            else:
                x = VALUES[c]
        v = VALUES[codec.mu_law_encode(np.clip(x, -1.0, 1.0))]
        scale = max((1 - predictor.alpha) * scale + predictor.alpha * abs(v - mean), lpc.SCALE_FLOOR)
        history[:-1] = history[1:]
        history[-1] = v
        prev = v
        out[t] = v
    return out


def likeness_row(samples_list, train_part, source):
    rows = [(likeness.ltas_distance(g, train_part), likeness.spectral_flatness(g), likeness.pitched_fraction(g, RATE))
            for g in samples_list]
    return np.median(np.array(rows), axis=0), rows


def kept(folder, variant, seed):
    """Where --keep writes the audio ``variant`` generated with ``seed``."""
    return Path(folder) / f"{variant}-seed{seed}.wav"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="plain,lpc-input,residual")
    p.add_argument("--source", default=str(SOURCE), help="training audio (default: the Brahms excerpt)")
    p.add_argument("--trim", action="store_true", help="drop samples 60 dB below the RMS at both ends")
    p.add_argument("--keep", default=None, help="directory to write the generated audio to (WAV, 16 kHz)")
    p.add_argument("--overwrite", action="store_true", help="replace audio an earlier run left in --keep")
    p.add_argument("--lpc-orders", default=None,
                   help="instead: only the linear predictor alone, at these orders (e.g. 32,128,400)")
    args = p.parse_args()
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:  # (an unknown name was trained as the residual variant, under that name)
        p.error(f"--variants: unknown {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r} must be comma-separated integers")
    if args.keep and not args.lpc_orders:  # every file it will write, checked before minutes of training
        keep = Path(args.keep)
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CwfastError(f"cannot make --keep '{keep}': {error.strerror or error}") from None
        for variant in args.variants.split(","):
            for seed in seeds:
                check_output(kept(keep, variant, seed), args.overwrite, what="audio")

    x, _ = load_audio(args.source, sample_rate=RATE)
    if args.trim:
        loud = np.flatnonzero(np.abs(x) >= 1e-3 * np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        x = x[loud[0] : loud[-1] + 1]
    task = tasks.autoregressive(x)
    labels = task.targets
    cut = labels.size - int(round(labels.size * 0.1))
    predictor = lpc.fit(labels, cut)
    means = predictor.means(VALUES[labels])
    lpc_bits = -np.mean(predictor.log_probs(labels)[cut:]) / math.log(2)
    scale = task.metadata["scale"]
    train_part = x[: cut]
    src = likeness.measure(x, RATE)
    print(f"source: flatness {src['flatness']:.4f}, pitched {src['pitched']:.2f}; "
          f"held-out stretch LTAS distance to the training part {likeness.ltas_distance(x[cut:], train_part):.2f} dB")
    print(f"LPC-32 adaptive Laplace: held-out {lpc_bits:.3f} bits/sample (alpha {predictor.alpha:g})")
    n = int(args.seconds * RATE)

    if args.lpc_orders:
        for order in (int(o) for o in args.lpc_orders.split(",")):
            fitted = lpc.fit(labels, cut, n_taps=order)
            bits = -np.mean(fitted.log_probs(labels)[cut:]) / math.log(2)
            med, rows = likeness_row([generate("lpc", None, fitted, n, s) * scale for s in seeds], train_part, x)
            print(f"| LPC-{order} alone | {bits:.3f} | alpha {fitted.alpha:g} | {med[0]:.2f} | {med[1]:.4f} | "
                  f"{med[2]:.2f} | " + "; ".join(f"{a:.2f}/{b:.4f}/{c:.2f}" for a, b, c in rows) + " |")
        return 0

    t0 = time.perf_counter()
    gens = [generate("lpc", None, predictor, n, s) * scale for s in seeds]
    med, rows = likeness_row(gens, train_part, x)
    print(f"| LPC-32 alone | {lpc_bits:.3f} | - | {med[0]:.2f} | {med[1]:.4f} | {med[2]:.2f} | "
          + "; ".join(f"{a:.2f}/{b:.4f}/{c:.2f}" for a, b, c in rows) + f" | gen {time.perf_counter() - t0:.0f} s")

    for variant in args.variants.split(","):
        inputs, targets = build(variant, labels, means)
        model = cwfast.ClockworkRNN(inputs.shape[1], 256, n_hidden=64, n_modules=8, seed=0, output="softmax",
                                    sample_rate=RATE)
        t0 = time.perf_counter()
        val_cut = cut - (len(labels) - cut)  # validation: as long as the held-out part, just before it
        result = train.fit(model, inputs[:val_cut], targets[:val_cut], optimizer="adam", lr=0.01, epochs=args.epochs,
                           batch_size=8, window=256, validation=(inputs[val_cut:cut], targets[val_cut:cut]), seed=0)
        train_time = time.perf_counter() - t0
        bits, floored = held_out_bits(variant, model, inputs, targets, labels, means, cut)
        t0 = time.perf_counter()
        gens = [generate(variant, model, predictor, n, s) * scale for s in seeds]
        if args.keep:
            for seed, g in zip(seeds, gens):  # (refused before the training if there unless --overwrite)
                write_audio(kept(keep, variant, seed), g.astype(np.float32), RATE, overwrite=True)
        med, rows = likeness_row(gens, train_part, x)
        print(f"| {variant} | {bits:.3f} | {train_time:.0f} s | {med[0]:.2f} | {med[1]:.4f} | {med[2]:.2f} | "
              + "; ".join(f"{a:.2f}/{b:.4f}/{c:.2f}" for a, b, c in rows)
              + f" | gen {time.perf_counter() - t0:.0f} s; floored {floored}; best val {result.best_loss / math.log(2):.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path or size: one line, not a traceback
        print(f"prototype_lpc_residual.py: error: {error}", file=sys.stderr)
        sys.exit(2)
