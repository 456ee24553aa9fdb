"""Prototype: a mixture whose scales follow the model's recent surprise, as the LPC-32 baseline's
adaptive Laplace scale follows its recent residual (docs/results.md, "The mixture's scale,
fitted on validation").

For a trained autoregressive mixture model and its training audio, run the model over the whole
clip (training, validation and test parts, teacher-forced) and, at every step t, measure how far
the sample fell from what the model expected in units of its spread,

    e(t) = |x(t) - mean(t)| / scale(t)      (the mixture's weighted mean and weighted scale),

track r(t) = an exponential average of e / (e's mean over the training part) over the steps
before t (rate ``alpha``, from 1), and score every part with every scale times r(t) ** beta.
``alpha`` and ``beta`` are chosen on the validation part; the test part is reported at that
choice. beta = 0 is the model as it is. This measured whether a scale that adapts over time was
worth building; the engine now has it (:class:`cwfast.model.Surprise`, fitted by ``cwfast train``
with :func:`cwfast.scale_fit.fit_surprise`: e's mean taken on the validation part, r from 1 at
its start, a wider grid), and this script sets a loaded model's own aside to measure as it did.

With ``--signal level`` (a levelled model), r(t) is instead b(t) / g(t), the model's level
over its band-held gain (:class:`cwfast.model.Level`): the spread follows the level on past the
band's bounds, where the network's units stop following it (docs/results.md, "Where the
Clockwork RNN loses its held-out bits").

    python scripts/prototype_adaptive_scale.py MODEL.npz AUDIO.wav [--signal surprise|level]
                                               [--fit-scale] [--generate] [--validation 0.1 --test 0.1]

``--fit-scale`` first fits a model trained before the scale fit existed as ``cwfast train`` now
does (:func:`cwfast.scale_fit.fit_scale` on the validation part), so that old and new models
are compared alike.

``--generate`` then generates 10 s (generation seeds 0, 1, 2, at the model's saved temperature)
with the surprise-following scale at the chosen ``alpha`` and ``beta``, one sample at a time
through a :class:`cwfast.Stream` and the engine's own draw (so that with the adaptation off it
gives the engine's audio exactly), and prints the audio's likeness figures against AUDIO's:
``off`` (r held at 1), ``unadapted`` (e measured against the model's own spread, as in scoring)
and ``sampled`` (e measured against the spread the sample was drawn from: temperature and
adaptation included).

AUDIO must be the file the model was trained on, as trained (``generation_goals.py --out``
keeps it beside the model), at the model's rate.
"""

import argparse
import json
import os
import sys

import numpy as np
from scipy.signal import lfilter

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)

import cwfast  # noqa: E402
from cwfast import audio, likeness, metrics, tasks  # noqa: E402
from cwfast._head_kernels import _draw_mixture, _fed_back  # noqa: E402
from cwfast.codec import mu_law_values  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.heads import LOG_SCALE_MIN  # noqa: E402
from cwfast.render import feedback_values  # noqa: E402
from cwfast.scale_fit import fit_scale  # noqa: E402
from cwfast.train_audio import state_before  # noqa: E402

ALPHAS = (1 / 64, 1 / 256, 1 / 1024, 1 / 4096)
BETAS = (0.25, 0.5, 0.75, 1.0)


def running_ratio(e, alpha, n_train):
    """r(t): the exponential average (rate ``alpha``, starting at 1) of e / mean(e[:n_train])
    over the steps before t."""
    ratio = e / e[:n_train].mean()
    after, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], ratio, zi=[1.0 - alpha])
    return np.concatenate([[1.0], after[:-1]])


def generate(model, n, alpha, beta, e_mean, measured_against, seed):
    """``n`` samples generated at the model's temperature with every scale times r(t) ** beta,
    r following the surprise of the samples drawn (``measured_against``: "unadapted" or
    "sampled" spread; ``beta`` 0: the engine's own generation)."""
    temperature = float(model.metadata.get("temperature", 1.0))
    model = model.copy()
    model.surprise = None  # the Stream gives the network's mixture; this loop moves its scales itself
    rng = np.random.default_rng(seed)
    stream = cwfast.Stream(model)
    values = feedback_values(model, 256)
    values = np.zeros(0) if values is None else np.asarray(values, np.float64)
    k = model.n_out // 3
    scratch, out, block = np.empty(k), np.empty(n), np.zeros((1, 1), dtype=model.dtype)
    r, fed = 1.0, 0.0
    for t in range(n):
        block[0, 0] = fed
        weights, means, scales = np.split(stream.process(block)[0].astype(np.float64), 3)
        row = np.concatenate([np.log(np.maximum(weights, 1e-300)), means, np.log(scales) + beta * np.log(r)])
        u = rng.random(2)
        x = out[t] = _draw_mixture(row, 1.0 / temperature, u[0], u[1], scratch)
        e = abs(x - (weights * means).sum()) / (weights * scales).sum()
        if measured_against == "sampled":
            e /= temperature * r**beta
        r = (1.0 - alpha) * r + alpha * e / e_mean
        fed = _fed_back(x, 2, values)
    return out


def likeness_figures(generated, source, rate, scale):
    """Medians over the generated clips: LTAS distance to ``source`` (dB), flatness and pitched
    share, and RMS relative to ``source``'s in the model's units."""
    rows = [(likeness.ltas_distance(g, source), likeness.spectral_flatness(g), likeness.pitched_fraction(g, rate),
             metrics.rms(g) / metrics.rms(source / scale)) for g in generated]
    return dict(zip(("ltas", "flatness", "pitched", "rms"), np.median(rows, axis=0).round(4).tolist()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("audio")
    parser.add_argument("--validation", type=float, default=0.1)
    parser.add_argument("--test", type=float, default=0.1)
    parser.add_argument("--signal", choices=("surprise", "level"), default="surprise")
    parser.add_argument("--fit-scale", action="store_true", help="fit the scale on validation first, if not fitted")
    parser.add_argument("--generate", action="store_true", help="then generate with the chosen alpha and beta")
    args = parser.parse_args(argv)
    for name in ("validation", "test"):  # it chooses on the one part and scores the other: neither may be empty
        if not 0 < getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name):g} must be more than 0 and less than 1")
    model = cwfast.load(args.model)
    model.surprise = None  # the engine's surprise-following scale, if fitted: this measures its own
    if args.signal == "level" and model.level is None:
        parser.error(f"{args.model} has no level to follow")
    samples, _ = audio.load_audio(args.audio, sample_rate=model.sample_rate)
    split = tasks.corpus([samples], validation=args.validation, test=args.test,
                         history=model.metadata.get("history", "mu-law"))[0]
    parts = [split.train, split.validation, split.test]
    inputs = np.concatenate([p.inputs for p in parts])
    labels = np.concatenate([p.targets for p in parts])
    bounds = np.cumsum([0] + [p.n_steps for p in parts])
    if args.fit_scale and "scale_fit" not in model.metadata:
        fit_scale(model, [(split.validation.inputs, split.validation.targets, state_before(model, split, "validation"))])
    y = model.forward(inputs, raw=True)
    k = model.n_out // 3
    weights = np.exp(y[:, :k] - y[:, :k].max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = (weights * y[:, k : 2 * k]).sum(axis=1)
    spread = (weights * np.exp(np.maximum(y[:, 2 * k :], LOG_SCALE_MIN))).sum(axis=1)
    e = np.abs(mu_law_values(256)[labels] - mean) / spread

    def bits(outputs, part):
        lo, hi = bounds[part], bounds[part + 1]
        return model.head.loss(outputs[lo:hi], labels[lo:hi]) / np.log(2)

    rows = [{"alpha": None, "beta": 0.0, "validation": bits(y, 1), "test": bits(y, 2)}]
    if args.signal == "level":
        level = model.level
        b = level.levels(inputs[:, 0].astype(np.float64))
        signals = {None: np.log(b / np.clip(b, level.floor, level.ceiling))}
    else:
        signals = {alpha: np.log(running_ratio(e, alpha, parts[0].n_steps)) for alpha in ALPHAS}
    for alpha, log_r in signals.items():
        for beta in BETAS:
            moved = y.copy()
            moved[:, 2 * k :] += (beta * log_r)[:, None].astype(y.dtype)
            rows.append({"alpha": alpha, "beta": beta, "validation": bits(moved, 1), "test": bits(moved, 2)})
    chosen = min(rows, key=lambda row: row["validation"])
    for row in rows:
        alpha = "-" if row["alpha"] is None else f"1/{round(1 / row['alpha'])}"
        print(f"alpha {alpha:>6}  beta {row['beta']:.2f}:  validation {row['validation']:.3f}  "
              f"test {row['test']:.3f}{'  <- chosen on validation' if row is chosen else ''}")
    json.dump({"model": args.model, "as_it_is": rows[0], "chosen": chosen}, sys.stdout)
    print()
    if args.generate and args.signal == "surprise" and chosen["beta"] > 0:
        rate = int(model.sample_rate)
        print(f"source: flatness {likeness.spectral_flatness(samples):.4g}, "
              f"pitched {likeness.pitched_fraction(samples, rate):.3f}")
        for against, beta in (("off", 0.0), ("unadapted", chosen["beta"]), ("sampled", chosen["beta"])):
            clips = [generate(model, 10 * rate, chosen["alpha"], beta, e[: parts[0].n_steps].mean(), against, seed)
                     for seed in (0, 1, 2)]
            print(f"generated, adaptation {against}: "
                  f"{likeness_figures(clips, samples, rate, split.train.metadata['scale'])}", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CwfastError as error:  # a mistyped path, a model of another kind: one line, not a traceback
        print(f"prototype_adaptive_scale.py: error: {error}", file=sys.stderr)
        sys.exit(2)
