"""Peak memory of ``cwfast train --mode autoregressive`` against the length of the training audio.

Training with windows (truncated BPTT) should need memory for a window and a batch, not for the
clip. For each length this writes a WAV of the Brahms excerpt in ``data/`` looped to that length at
16 kHz, runs one epoch of ``cwfast train --mode autoregressive`` (the defaults otherwise) in a
fresh process, and prints the process's peak resident memory (``ru_maxrss``) and, on Linux, the
peak of its anonymous memory (``RssAnon`` of ``/proc/self/status``, read every 20 ms by a thread of
the process: the kernel keeps no high-water mark of it). Resident memory counts the pages of
memory-mapped files too (a corpus's scratch files, ``cwfast.scratch``), which the kernel can drop
and read again when memory is short; anonymous memory it can only swap. Not a test: the 10-minute
case trains for several minutes. Run from anywhere::

    python scripts/measure_training_memory.py [--seconds 6 60 600] [--time-budget 60s] [--repository PATH]

``--repository`` runs another checkout's ``cwfast`` (to compare with an older version);
``--time-budget`` passes ``cwfast train`` its option instead of ``--epochs 1``.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY_ROOT)

from cwfast.audio import load_audio, write_audio  # noqa: E402

SOURCE = os.path.join(REPOSITORY_ROOT, "data", "brahms-hungarian-dance-5-excerpt.wav")
RATE = 16000

CHILD = """
import resource, sys, threading, time

peak_anon = [-1]  # KiB; -1 where /proc/self/status is not there to read


def rss_anon():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))


def watch():
    while True:
        try:
            peak_anon[0] = max(peak_anon[0], rss_anon())
        except (OSError, StopIteration):
            return
        time.sleep(0.02)


threading.Thread(target=watch, daemon=True).start()
from cwfast.cli import main
started = time.perf_counter()
status = main(sys.argv[1:])
print("RESULT", status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, peak_anon[0], time.perf_counter() - started)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[6, 60, 600])
    parser.add_argument("--repository", default=REPOSITORY_ROOT, help="the checkout whose cwfast to run")
    parser.add_argument("--time-budget", help="train for this long (cwfast train's option) instead of one epoch")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.repository, "cwfast", "__init__.py")):
        parser.error(f"--repository {args.repository!r} is not a checkout of cwfast (no cwfast/__init__.py in it)")
    if not all(seconds * RATE >= 1 for seconds in args.seconds):  # (nan too)
        parser.error(f"--seconds must be at least one sample at {RATE} Hz each")
    clip, _ = load_audio(SOURCE, sample_rate=RATE)
    with tempfile.TemporaryDirectory() as scratch:
        for seconds in args.seconds:
            n = int(seconds * RATE)
            audio = np.resize(clip, n).astype(np.float32)
            path = os.path.join(scratch, f"{seconds:g}s.wav")
            write_audio(path, audio, RATE, overwrite=True)
            length = ["--epochs", "1"] if args.time_budget is None else ["--time-budget", args.time_budget]
            command = [sys.executable, "-c", CHILD, "train", path, "--mode", "autoregressive", *length,
                       "-o", os.path.join(scratch, "m.npz"), "--overwrite", "--quiet"]
            done = subprocess.run(command, cwd=args.repository, capture_output=True, text=True)
            result = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
            if not result:
                print(f"{seconds:g} s: failed\n{done.stderr}", file=sys.stderr)
                continue
            _, status, peak_kb, anon_kb, wall = result[0].split()
            anon = f", peak RssAnon {int(anon_kb) / 1024:.0f} MiB" if int(anon_kb) >= 0 else ""
            print(f"{seconds:g} s of audio at {RATE} Hz ({n:,} samples): peak RSS {int(peak_kb) / 1024:.0f} MiB{anon}, "
                  f"exit {status}, {float(wall):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
