"""cwfast against PyTorch, side by side: streaming, equal-parameter streaming, training, and RTNeural's point.

    python scripts/bench_vs_torch.py [--repeats 5] [--seconds 2.0] [--quick]

PyTorch is optional and not a dependency of cwfast (``pip install torch`` to run this). Every
figure is the median over ``--repeats`` runs, the contestants of a group interleaved run by run so
that they share the machine's load; the spread column is (max - min) / median over the runs, and
the min column the fastest run (on a shared machine, the run least disturbed by other work); the
cpu column counts only the CPU time of the calling thread (process-wide for training).

1. Streaming, batch 1, one thread, the whole clip in one call: cwfast's CW-RNN (256 units, 8 modules,
   periods 1..128) through ``Stream.process`` against ``torch.nn.RNN(1, 256)`` and a masked CW-RNN
   written in PyTorch the way public implementations do it (a dense ``W_h`` times a block-triangular
   mask, a Python loop over time that computes every module and keeps the inactive ones with a
   0/1 mask; here the mask is applied once per call, which favours PyTorch). cwfast's SRN of the
   same width is there too, for the CW/SRN ratio.
2. Streaming at equal parameter count: the same CW-RNN (36,864 recurrent weights) against
   ``torch.nn.GRU(1, 111)`` and ``torch.nn.LSTM(1, 96)``, one thread.
3. Training: ``loss_and_grad`` (MSE, batch 16, 2048 steps) against ``torch.nn.RNN(1, 256)`` plus a
   linear head, forward and backward, both free to use every core.
4. RTNeural's point: a CW-RNN of 144 units in 8 modules (11,664 recurrent weights, like RTNeural's
   GRU of 64 units) streaming in blocks of 64 to 2048 samples, in microseconds per sample.

Before timing, the script checks that the PyTorch models compute what cwfast computes, loading
cwfast's weights into them, so the comparison is between the same functions.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's cwfast, not an installed one

RATE = 44100
SECTIONS = ("streaming", "training", "rtneural")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per contestant (default 7)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of 44.1 kHz audio to stream (default 2)")
    parser.add_argument("--masked-seconds", type=float, default=0.25,
                        help="seconds the masked PyTorch CW-RNN streams (a Python loop per sample; default 0.25)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the script runs")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these parts (default: all)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:  # in cwfast's words for matplotlib and Ray: one line, exit 2
        parser.exit(2, "bench_vs_torch.py: error: this benchmark needs PyTorch, which is not installed: "
                       "pip install torch (not a dependency of cwfast)\n")
    import numba

    from cwfast import ClockworkRNN, Stream
    from cwfast.bench import machine_summary

    if args.quick:
        args.seconds, args.masked_seconds, args.repeats = 0.02, 0.005, 2
    n_steps = int(args.seconds * RATE)
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((n_steps, 1))).astype(np.float32)

    print(f"machine: {machine_summary()}, torch {torch.__version__}")
    print(f"medians of {args.repeats} interleaved runs; spread = (max - min) / median over the runs; min = fastest run")
    cw = ClockworkRNN(1, 1, n_hidden=256, n_modules=8, seed=0)
    srn = ClockworkRNN(1, 1, module_sizes=[256], periods=[1], seed=0)
    check_equivalence(torch, cw, srn, audio[:400])

    torch.manual_seed(0)
    t_rnn = torch.nn.RNN(1, 256)  # streamed in part 1, trained in part 3

    # ---------------------------------------------------------------- 1 and 2: streaming, one thread
    if "streaming" in args.only:
        torch.set_num_threads(1)
        stream_cw = Stream(cw).prepare(n_steps)
        stream_srn = Stream(srn).prepare(n_steps)
        out = np.empty((n_steps, 1), dtype=np.float32)
        x_torch = torch.from_numpy(audio).reshape(n_steps, 1, 1)
        n_masked = max(1, int(args.masked_seconds * RATE))
        x_masked = torch.from_numpy(audio[:n_masked])
        t_gru = torch.nn.GRU(1, 111)
        t_lstm = torch.nn.LSTM(1, 96)
        t_masked = MaskedCWRNN(torch, cw)

        def torch_stream(module):
            def go():
                with torch.inference_mode():
                    module(x_torch)
            return go

        def masked():
            with torch.inference_mode():
                t_masked(x_masked)

        contestants = {
            "cwfast CW-RNN 256 (8 modules)": (lambda: (stream_cw.reset(), stream_cw.process(audio, out=out)), n_steps),
            "cwfast SRN 256": (lambda: (stream_srn.reset(), stream_srn.process(audio, out=out)), n_steps),
            "torch.nn.RNN(1, 256)": (torch_stream(t_rnn), n_steps),
            "torch masked CW-RNN 256 (public style)": (masked, n_masked),
            "torch.nn.GRU(1, 111)": (torch_stream(t_gru), n_steps),
            "torch.nn.LSTM(1, 96)": (torch_stream(t_lstm), n_steps),
        }
        stream_results = interleaved(contestants, args.repeats)
        params = {
            "cwfast CW-RNN 256 (8 modules)": cw.layout.n_recurrent,
            "cwfast SRN 256": srn.layout.n_recurrent,
            "torch.nn.RNN(1, 256)": 256 * 256,
            "torch masked CW-RNN 256 (public style)": 256 * 256,
            "torch.nn.GRU(1, 111)": 3 * 111 * 111,
            "torch.nn.LSTM(1, 96)": 4 * 96 * 96,
        }
        print()
        print(f"1-2. streaming, batch 1, one thread, {args.seconds:g} s of {RATE} Hz audio in one call "
              f"(masked PyTorch CW-RNN: {n_masked} samples)")
        base = stream_results["cwfast CW-RNN 256 (8 modules)"][0]
        best = stream_results["cwfast CW-RNN 256 (8 modules)"][2]
        base_cpu = stream_results["cwfast CW-RNN 256 (8 modules)"][3]
        rows = [("contestant", "rec. weights", "us/sample", "spread", "min", "cpu us/sample", "x real time",
                 "time / cwfast CW", "min / min", "cpu / cpu")]
        for name, (us, spread, low, cpu) in stream_results.items():
            rows.append((name, f"{params[name]:,}", f"{us:.3f}", f"{spread:.0%}", f"{low:.3f}", f"{cpu:.3f}",
                         f"{1e6 / RATE / us:.1f}", f"{us / base:.2f}", f"{low / best:.2f}", f"{cpu / base_cpu:.2f}"))
        print(table(rows))

    # ---------------------------------------------------------------- 3: training, every core
    if "training" in args.only:
        # PyTorch runs at one thread and at every core: on a loaded 2-core machine its OpenMP barriers
        # can make two threads many times slower than one; the table compares with the faster.
        cores = os.cpu_count() or 1
        batch, steps = (16, 2048) if not args.quick else (4, 64)
        xb = (0.3 * rng.standard_normal((batch, steps, 1))).astype(np.float32)
        yb = np.sin(3 * xb).astype(np.float32)
        xt, yt = torch.from_numpy(xb).transpose(0, 1).contiguous(), torch.from_numpy(yb).transpose(0, 1).contiguous()
        head = torch.nn.Linear(256, 1)

        def torch_train(threads):
            def go():
                torch.set_num_threads(threads)
                t_rnn.zero_grad(set_to_none=True)
                head.zero_grad(set_to_none=True)
                h, _ = t_rnn(xt)
                loss = torch.nn.functional.mse_loss(head(h), yt)
                loss.backward()
            return go

        contestants = {
            "cwfast CW-RNN 256 loss_and_grad": (lambda: cw.loss_and_grad(xb, yb, flat=True), batch * steps),
            "cwfast SRN 256 loss_and_grad": (lambda: srn.loss_and_grad(xb, yb, flat=True), batch * steps),
            "torch RNN(1, 256) + Linear, fwd+bwd, 1 thread": (torch_train(1), batch * steps),
        }
        if cores > 1:
            contestants[f"torch RNN(1, 256) + Linear, fwd+bwd, {cores} threads"] = (torch_train(cores), batch * steps)
        training = interleaved(contestants, args.repeats, cpu_clock=time.process_time)
        print()
        print(f"3. training, MSE, batch {batch} x {steps} steps, numba threads {numba.get_num_threads()} "
              f"(threading layer {numba.threading_layer()})")
        base = training["cwfast CW-RNN 256 loss_and_grad"][0]
        best = training["cwfast CW-RNN 256 loss_and_grad"][2]
        rows = [("contestant", "ms/call", "us/sample-step", "spread", "min ms/call", "time / cwfast CW", "min / min")]
        for name, (us, spread, low, _) in training.items():
            rows.append((name, f"{us * batch * steps / 1e3:.1f}", f"{us:.3f}", f"{spread:.0%}",
                         f"{low * batch * steps / 1e3:.1f}", f"{us / base:.2f}", f"{low / best:.2f}"))
        print(table(rows))
        fastest = min(v[0] for k, v in training.items() if k.startswith("torch"))
        print(f"fastest PyTorch / cwfast CW-RNN (medians): {fastest / base:.2f}")

    # ---------------------------------------------------------------- 4: RTNeural's point
    if "rtneural" in args.only:
        # A diagnostic row shows what the time goes to: the same layout with clocks that never fire
        # after t = 0, whose time per step is the floor under the recurrent work (the schedule tests,
        # the output layer, the loop, the input check and the call overhead).
        torch.set_num_threads(1)
        small = ClockworkRNN(1, 1, n_hidden=144, n_modules=8, seed=0)
        never = ClockworkRNN(1, 1, n_hidden=144, n_modules=8, periods=[1 << 40] * 8, seed=0)
        blocks = (64, 128, 512, 2048) if not args.quick else (64, 128)
        cases = {f"block {b}": (small, b) for b in blocks}
        cases["block 512, clocks never fire (floor)"] = (never, 512)
        streams = {name: Stream(model).prepare(b) for name, (model, b) in cases.items()}

        def blockwise(name):
            stream, b = streams[name], cases[name][1]
            o = np.empty((b, 1), dtype=np.float32)

            def go():
                stream.reset()
                for a in range(0, n_steps - b + 1, b):
                    stream.process(audio[a : a + b], out=o)
            return go

        rt = interleaved({name: (blockwise(name), (n_steps // b) * b) for name, (_, b) in cases.items()}, args.repeats)
        print()
        print(f"4. CW-RNN 144 units in 8 modules ({small.layout.n_recurrent:,} recurrent weights, "
              f"{small.layout.recurrent_macs_per_step():.0f} recurrent multiply-adds per step), streaming, one thread; "
              "RTNeural GRU 64: about 1.0 us/sample, LSTM 64: about 1.3 us/sample on this machine type")
        rows = [("case", "us/sample", "spread", "min", "cpu us/sample", "x real time", "GMAC/s (recurrent)")]
        for name, (us, spread, low, cpu) in rt.items():
            macs = cases[name][0].layout.recurrent_macs_per_step() if not name.endswith("(floor)") else 0
            rows.append((name, f"{us:.3f}", f"{spread:.0%}", f"{low:.3f}", f"{cpu:.3f}", f"{1e6 / RATE / us:.1f}",
                         f"{macs / us / 1e3:.2f}" if macs else "-"))
        print(table(rows))

    return 0


class MaskedCWRNN:
    """A CW-RNN as public PyTorch implementations write it: dense weights, masks, a loop over time."""

    def __init__(self, torch, model):
        dense = model.to_dense()
        self.torch = torch
        mask = torch.from_numpy(model.layout.allowed_mask().astype(model.dtype))
        self.W_in = torch.from_numpy(dense["W_in"])
        self.W_h = torch.from_numpy(dense["W_h"]) * mask  # the dense matrix with the forbidden blocks zeroed
        self.mask = mask
        self.b_h = torch.from_numpy(dense["b_h"])
        self.W_out = torch.from_numpy(dense["W_out"])
        self.b_out = torch.from_numpy(dense["b_out"])
        self.unit_period = torch.from_numpy(np.repeat(model.periods, model.module_sizes))

    def __call__(self, x):
        torch = self.torch
        W_h = self.W_h * self.mask
        h = torch.zeros(W_h.shape[0], dtype=W_h.dtype)
        outputs = []
        for t in range(x.shape[0]):
            active = (t % self.unit_period == 0).float()
            h_new = torch.tanh(self.W_in @ x[t] + W_h @ h + self.b_h)
            h = active * h_new + (1 - active) * h
            outputs.append(self.W_out @ h + self.b_out)
        return torch.stack(outputs)


def check_equivalence(torch, cw, srn, x):
    """Load cwfast's weights into the PyTorch models and compare outputs; stop if they differ.

    In float64 and over 64 steps: these random networks are chaotic, so float32 rounding
    differences grow until the outputs part, whichever engine is right.
    """
    from cwfast import ClockworkRNN, Stream

    x = x[:64].astype(np.float64)
    cw = ClockworkRNN.from_dense(cw.to_dense(), dtype=np.float64)
    srn = ClockworkRNN.from_dense(srn.to_dense(), dtype=np.float64)
    got = MaskedCWRNN(torch, cw)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, Stream(cw).process(x), atol=1e-9, err_msg="masked PyTorch CW-RNN differs from cwfast")
    dense = srn.to_dense()
    rnn = torch.nn.RNN(1, srn.n_hidden).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(dense["W_in"]))
        rnn.weight_hh_l0.copy_(torch.from_numpy(dense["W_h"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(dense["b_h"]))
        rnn.bias_hh_l0.zero_()
        h, _ = rnn(torch.from_numpy(x).reshape(-1, 1, 1))
        got = (h.reshape(-1, srn.n_hidden) @ torch.from_numpy(dense["W_out"]).T + torch.from_numpy(dense["b_out"])).numpy()
    np.testing.assert_allclose(got, Stream(srn).process(x), atol=1e-9, err_msg="torch.nn.RNN differs from cwfast's SRN")
    print("check: torch.nn.RNN and the masked PyTorch CW-RNN, given cwfast's weights, match cwfast to 1e-9 (float64)")


def interleaved(contestants, repeats, cpu_clock=time.thread_time):
    """{name: (fn, samples)} -> {name: (median us per sample, spread, min, median CPU us per sample)}.

    Runs interleaved. The CPU figure is ``cpu_clock`` time (this thread's by default: the
    streaming contestants run on the calling thread) and leaves out the moments the process was
    descheduled, though not the slowdown of sharing caches and cores with other jobs.
    """
    for fn, _ in contestants.values():
        fn()  # compile, warm caches and allocators
    times = {name: [] for name in contestants}
    cpu = {name: [] for name in contestants}
    for _ in range(repeats):
        for name, (fn, samples) in contestants.items():
            start, start_cpu = time.perf_counter(), cpu_clock()
            fn()
            times[name].append((time.perf_counter() - start) * 1e6 / samples)
            cpu[name].append((cpu_clock() - start_cpu) * 1e6 / samples)
    result = {}
    for name, values in times.items():
        median = float(np.median(values))
        result[name] = (median, (max(values) - min(values)) / median, float(min(values)), float(np.median(cpu[name])))
    return result


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
