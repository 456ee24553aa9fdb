"""PROTOTYPE (issue 12, item 2): a trainable linear-prediction path into a mixture model's means.

Not engine code: a script on top of ``cwfast.train_audio`` that measures whether the idea is
worth building into the engine. The previous prototype (``scripts/prototype_lpc_residual.py``)
fed a fixed LPC-32 prediction to a softmax network; this one is LPCNet's split for the mixture
head with level normalisation (the CLI's defaults now): every component mean of the Clockwork
RNN's mixture gets ``sum_k a_k x(t - k)``, k = 0 .. K-1, over the last K inputs the network
reads (the level-normalised decoded samples), the K taps ``a`` trained with the network by the
same Adam (zero at the start, their gradient the sum of the means' gradients times the inputs).
So the network only has to model what a linear predictor misses, as in LPCNet.

For each run it trains ``cwfast train --mode autoregressive`` as the CLI does (every option the
default but the ones given, ``--epochs 100000`` so that ``--budget`` ends training, the epoch
chosen on the validation part) on one source of ``scripts/generation_goals.py`` (trimmed as its
``--trim`` trims), and prints the validation and held-out test bits per sample. ``--schedule F``
also tries a cosine learning-rate decay over the time budget, from ``lr`` to ``F * lr``.

    python scripts/prototype_linear_path.py --source brahms --taps 32 --budget 180
    python scripts/prototype_linear_path.py --source brahms --taps 0 --budget 180 --window period
    python scripts/prototype_linear_path.py --source brahms --taps 0 --budget 180 --window period --schedule 0.02

The taps need the last K - 1 inputs at every step: the Clockwork RNN's input windows keep them
(K <= the longest window), so only ``--arch cw`` is supported. Results: docs/results.md,
"Tried and not kept: a linear-prediction path, a learning-rate decay".
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's cwfast
sys.path.insert(0, str(ROOT / "scripts"))

import generation_goals  # noqa: E402
import cwfast.train as cwtrain  # noqa: E402
import cwfast.train_audio as train_audio  # noqa: E402
from cwfast.model import ClockworkRNN  # noqa: E402


class LinearPathCW(ClockworkRNN):
    """A Clockwork RNN whose mixture means also get ``sum_k a_k x(t - k)``; the taps are the
    last ``n_taps`` entries of ``params`` (the kernels never read past their own parameters)."""

    def add_taps(self, n_taps):
        if self._n_history + 1 < n_taps:
            raise SystemExit(f"--taps {n_taps} needs input windows of at least {n_taps} samples")
        self.n_taps = n_taps
        base = self._params
        self._params = np.concatenate([base, np.zeros(n_taps, base.dtype)])
        self._bind_views()
        self.taps = self._params[base.size :]

    def _prediction(self, xp, n_steps):
        """(B, T): the taps over the padded input ``xp`` (its P history rows, then the T inputs)."""
        first = xp.shape[1] - n_steps
        pred = np.zeros((xp.shape[0], n_steps))
        for k in range(self.n_taps):
            pred += float(self.taps[k]) * xp[:, first - k : first - k + n_steps, 0]
        return pred

    def _means(self, y):
        c = self.n_out // 3
        return y[..., c : 2 * c]

    def _outputs(self, x3, h0, t0):
        xp = self._padded(x3, h0)[0].copy()  # before the state moves on
        y = super()._outputs(x3, h0, t0)
        self._means(y)[:] += self._prediction(xp, x3.shape[1])[..., None].astype(y.dtype)
        return y

    def _run_traced(self, xp, h, t0, n_steps):
        # loss_and_grad's forward pass: the outputs the head scores get the prediction too.
        y, trace, offsets = super()._run_traced(xp, h, t0, n_steps)
        self._means(y)[:] += self._prediction(xp, n_steps)[..., None].astype(y.dtype)
        return y, trace, offsets

    def _backward(self, xp, t0, h_start, h_end, trace, offsets, d_y):
        # The taps' gradient: each mean's gradient (in the network's units) times the inputs.
        grad = super()._backward(xp, t0, h_start, h_end, trace, offsets, d_y)
        d_pred = self._means(d_y).sum(axis=-1, dtype=np.float64)
        n_steps = d_y.shape[1]
        first = xp.shape[1] - n_steps
        for k in range(self.n_taps):
            grad[grad.size - self.n_taps + k] = np.sum(d_pred * xp[:, first - k : first - k + n_steps, 0])
        return grad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="brahms", choices=sorted(generation_goals.SOURCES))
    p.add_argument("--data", required=True, metavar="DIR", help="where music/ and fsdd/recordings/ are")
    p.add_argument("--taps", type=int, default=32, help="K; 0 trains the plain model")
    p.add_argument("--budget", type=float, default=180.0, help="seconds of training")
    p.add_argument("--window", default=None, help='"period" or a number of samples (default: the CLI\'s)')
    p.add_argument("--schedule", type=float, default=None, help="cosine decay over the budget to this factor")
    args = p.parse_args(argv)

    make_model = train_audio.new_model

    def new_model(*a, **kw):
        model = make_model(*a, **kw)
        model.__class__ = LinearPathCW
        model.add_taps(args.taps)
        return model

    train_audio.new_model = new_model
    if args.schedule is not None:
        fit = cwtrain.fit

        def fit_with_decay(*a, **kw):
            started, floor = time.time(), args.schedule
            kw["lr_schedule"] = lambda epoch: floor + (1 - floor) * 0.5 * (
                1 + math.cos(math.pi * min(1.0, (time.time() - started) / args.budget)))
            return fit(*a, **kw)

        cwtrain.fit = fit_with_decay

    with tempfile.TemporaryDirectory() as tmp:
        samples = generation_goals.prepare(args.source, args.data, tmp, trim=True)[1]
    window = args.window if args.window in (None, "period") else int(args.window)
    trained = train_audio.train_audio(
        samples, generation_goals.SOURCES[args.source][1], mode="autoregressive", arch="cw", time_budget=args.budget,
        epochs=100000, progress=False, input_window=window,
    )
    figures, model = trained.figures, trained.model
    print(f"{args.source}: taps {args.taps}, window {args.window or 'default'}, schedule {args.schedule}: "
          f"{trained.result.epochs} epochs in {trained.result.wall_time:.0f} s; bits/sample train "
          f"{figures['train']['bits_per_sample']:.3f}, validation {figures['validation']['bits_per_sample']:.3f}, "
          f"test {figures['test']['bits_per_sample']:.3f}")
    if args.taps:
        print(f"taps {np.round(model.taps[:8], 3).tolist()} ... (sum of |a| {np.abs(model.taps).sum():.2f})")


if __name__ == "__main__":
    main()
