"""Measure what ``cwfast train`` reaches with its default options, for the README.

Runs the command line itself (``cwfast.cli.main``) on the Brahms excerpt in ``data/``:

- ``memorize``: the paper's task, 320 samples at 44.1 kHz with no option but the excerpt, from
  6 starts (0 to 2.5 s) and 3 seeds: NMSE and training time of each run, median and worst.
- ``memorize`` of 0.1 s (4410 samples), where the defaults grow the network.
- ``effect``: a synthetic effect of the whole excerpt (a one-pole lowpass, then tanh soft
  clipping at a drive of 4): ESR on the training audio, on the validation part that chose the
  epoch, and on the test part (the last 10%, held out from every choice).

Nothing here is a test: it takes a few minutes. Run from anywhere::

    python scripts/measure_cli_defaults.py [--only memorize|memorize-long|effect]
"""

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

import cwfast  # noqa: E402
from cwfast.audio import load_audio, write_audio  # noqa: E402
from cwfast.cli import main as cwfast_main  # noqa: E402

SOURCE = os.path.join(REPOSITORY_ROOT, "data", "brahms-hungarian-dance-5-excerpt.wav")


def train(argv, scratch):
    """Run ``cwfast train`` quietly; return (the saved model's metadata, wall seconds)."""
    out = os.path.join(scratch, "model.npz")
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cwfast_main(["train", *argv, "-o", out, "--overwrite", "--quiet"])
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"cwfast train {' '.join(argv)} failed with status {status}")
    return cwfast.load(out).metadata, wall


def memorize(scratch):
    rows = []
    for start in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        for seed in (0, 1, 2):
            meta, wall = train([SOURCE, "--samples", "320", "--start", str(start), "--seed", str(seed)], scratch)
            nmse = meta["figures"]["train"]["nmse"]
            rows.append((nmse, meta["trainer"]["seconds"]))
            print(f"memorize 320 samples from {start:.1f} s, seed {seed}: NMSE {nmse:.4f}, "
                  f"training {meta['trainer']['seconds']:.1f} s, command {wall:.1f} s", flush=True)
    nmse, seconds = np.array(rows).T
    print(f"memorize 320: NMSE median {np.median(nmse):.4f}, worst {nmse.max():.4f}, best {nmse.min():.4f}; "
          f"training time median {np.median(seconds):.1f} s, worst {seconds.max():.1f} s")


def memorize_long(scratch):
    meta, wall = train([SOURCE, "--seconds", "0.1", "--start", "1.0"], scratch)
    print(f"memorize 0.1 s (4410 samples) with the defaults it picks: NMSE {meta['figures']['train']['nmse']:.4f}, "
          f"training {meta['trainer']['seconds']:.0f} s")


def effect(scratch):
    dry, rate = load_audio(SOURCE)
    dry = (dry / np.abs(dry).max() * 0.9).astype(np.float32)
    lowpassed = scipy.signal.lfilter([0.3], [1.0, -0.7], dry)
    wet = np.tanh(4.0 * lowpassed).astype(np.float32)
    dry_path, wet_path = os.path.join(scratch, "dry.wav"), os.path.join(scratch, "wet.wav")
    write_audio(dry_path, dry, rate, overwrite=True)
    write_audio(wet_path, wet, rate, overwrite=True)
    meta, wall = train([dry_path, "--mode", "effect", "--target", wet_path], scratch)
    figures = meta["figures"]
    print(f"effect (lowpass + tanh drive 4) on 3 s at {rate} Hz: ESR train {figures['train']['esr']:.4f}, "
          f"validation {figures['validation']['esr']:.4f}, test (held out) {figures['test']['esr']:.4f}, "
          f"training {meta['trainer']['seconds']:.0f} s ({meta['trainer']['epochs']} epochs)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("memorize", "memorize-long", "effect"))
    args = parser.parse_args(argv)
    jobs = {"memorize": memorize, "memorize-long": memorize_long, "effect": effect}
    with tempfile.TemporaryDirectory() as scratch:
        for name, job in jobs.items():
            if args.only in (None, name):
                job(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
