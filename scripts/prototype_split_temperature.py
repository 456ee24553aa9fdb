"""Prototype, not engine code: the two halves of the mixture's temperature apart.

A mixture model's temperature T does two things when it generates (``cwfast._head_kernels.
_draw_mixture``): it sharpens the choice of the component (weights ``softmax(logits / T)``) and
narrows the chosen logistic (its scale times T). At 0.5 the goal sources' models keep their
pitch but sound duller than their sources (docs/results.md, "An output equaliser"). This
generates with the two apart, a component temperature Tc and a scale temperature Ts, in a
Python loop over a one-sample ``cwfast.Stream`` (the stream gives the mixture's weights, means
and scales; the drawn amplitude is fed back quantised to its mu-law class, as the engine does),
and measures the likeness figures of ``scripts/generation_goals.py`` against the source.

For each source of a ``scripts/generation_goals.py --out DIR`` run (DIR/NAME/NAME.wav, cw.npz)::

    python scripts/prototype_split_temperature.py DIR [DIR ...] [--pairs 0.5:0.5,1:0.5,0.5:1,1:1]
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import cwfast  # noqa: E402
from compare_temperature_grids import check_runs  # noqa: E402
from generation_goals import read_run  # noqa: E402
from cwfast import likeness, metrics  # noqa: E402
from cwfast.codec import mu_law_decode  # noqa: E402

SECONDS = 5.0
SEEDS = (3, 4)


def generate(model, n, component_temperature, scale_temperature, seed):
    """``n`` samples in the model's units, drawn with the two temperatures apart."""
    rng = np.random.default_rng(seed)
    uniform = rng.random((n, 2))
    # Generation holds a surprise-following scale at r = 1; a stream would follow it.
    model = model.copy()
    model.surprise = None
    stream = cwfast.Stream(model)
    k = model.n_out // 3
    x = np.zeros((1, 1), dtype=model.dtype)
    y = np.empty((1, model.n_out), dtype=model.dtype)
    values = mu_law_decode(np.arange(256), 256)
    mu = 255.0
    out = np.empty(n)
    for t in range(n):
        row = stream.process(x, out=y)[0].astype(np.float64)
        weights, means, scales = row[:k], row[k:2 * k], row[2 * k:]
        sharpened = np.maximum(weights, 1e-300) ** (1.0 / component_temperature)
        c = min(int(np.searchsorted(np.cumsum(sharpened), uniform[t, 0] * sharpened.sum())), k - 1)
        u = min(max(uniform[t, 1], 1e-12), 1 - 1e-12)
        v = min(max(means[c] + scales[c] * scale_temperature * math.log(u / (1 - u)), -1.0), 1.0)
        out[t] = v
        # Fed back as the engine does: the decoded value of v's mu-law class (0 stays 0).
        label = int(math.floor((math.copysign(math.log1p(mu * abs(v)), v) / math.log1p(mu) + 1) / 2 * mu + 0.5))
        x[0, 0] = 0.0 if v == 0 else values[label]
    return out


def run(directory, pairs):
    for name, result, model, source in read_run(directory):
        rate = int(model.sample_rate)
        like = result["likeness"]
        goals = (1.3 * like["stretches"]["median_ltas_to_rest"], like["source"]["flatness"], 0.5 * like["source"]["pitched"])
        for tc, ts in pairs:
            rows = []
            for seed in SEEDS:
                audio = generate(model, int(SECONDS * rate), tc, ts, seed)
                m = likeness.measure(audio, rate)
                rows.append((likeness.ltas_distance(audio, source), m["flatness"], m["pitched"],
                             metrics.rms(audio) * model.metadata["scale"] / like["source"]["rms"],
                             metrics.spectral_centroid(audio, rate)))
            ltas, flatness, pitched, rms, centroid = np.median(np.asarray(rows), axis=0)
            met = (ltas <= goals[0], 1 / 3 <= flatness / goals[1] <= 3, pitched >= goals[2])
            print(f"{name:13s} Tc {tc:g} Ts {ts:g}: LTAS {ltas:5.2f} dB (goal {goals[0]:.2f}), flatness "
                  f"{flatness / goals[1]:6.2f}x, pitched {pitched:.2f} (goal {goals[2]:.2f}), RMS {rms:.2f}x, "
                  f"centroid {centroid:.0f} Hz (source {metrics.spectral_centroid(source, rate):.0f}): "
                  f"{sum(met)} of 3 met", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directories", nargs="+")
    p.add_argument("--pairs", default="0.5:0.5,1:0.5,0.5:1,1:1", help="Tc:Ts,... (component, scale)")
    args = p.parse_args(argv)
    try:
        pairs = [tuple(float(v) for v in pair.split(":")) for pair in args.pairs.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(pair) != 2 for pair in pairs):
        p.error(f"--pairs {args.pairs!r} must be Tc:Ts pairs, comma-separated")
    check_runs(p, args.directories)
    for directory in args.directories:
        run(directory, pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
