"""Start-up time, cold (empty numba cache) and warm (second run): does anything recompile?

    python scripts/bench_startup.py [--repeats 3]

Each command runs in a fresh process with ``NUMBA_CACHE_DIR`` pointing at a new temporary folder:
the first run is cold (numba compiles and writes its cache), the next ones are warm (numba only
loads). Reports wall-clock seconds, medians of the warm runs, and whether the warm runs compiled
anything (numba's compile events, counted in the child process).

Commands: ``cwfast --help``; ``import cwfast``; a :class:`Stream` prepared for blocks of 512 and
run over one block; ``cwfast generate`` of 1 s from a small memorize model (skipped if the command
is not there); ``cwfast bench`` of a small model for one block size. Each run is announced on
stderr as it starts (the cold ones take seconds each); the table is on stdout.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, str(ROOT))

COUNT_COMPILES = """
import atexit, sys
from numba.core import event
_recorder = event.install_recorder("numba:compile")
_listener = _recorder.__enter__()
atexit.register(lambda: print(f"COMPILES {len(_listener.buffer)}", file=sys.stderr))
"""

STREAM = """
import numpy as np
from cwfast import ClockworkRNN, Stream
model = ClockworkRNN(1, 1, n_hidden=256, n_modules=8, seed=0)
Stream(model).prepare(512).process(np.zeros((512, 1), np.float32), out=np.empty((512, 1), np.float32))
"""


def note(text):
    """Progress on stderr, between the runs (as ``cwfast bench`` says it): the table alone is on stdout."""
    print(f"bench_startup.py: {text}", file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per command (default 3)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1 (the warm runs)")

    from cwfast import ClockworkRNN
    from cwfast.bench import machine_summary

    work = Path(tempfile.mkdtemp(prefix="cwfast-startup-"))
    try:
        model_path = work / "memorize.npz"
        ClockworkRNN(0, 1, n_hidden=40, n_modules=9, sample_rate=44100, seed=0).save(model_path)
        cli = [sys.executable, "-c", COUNT_COMPILES + "\nimport sys\nfrom cwfast.cli import main\nsys.exit(main(sys.argv[1:]))"]
        commands = [
            ("cwfast --help", cli + ["--help"]),
            ("import cwfast", [sys.executable, "-c", COUNT_COMPILES + "\nimport cwfast"]),
            ("Stream.prepare(512) + 1 block", [sys.executable, "-c", COUNT_COMPILES + STREAM]),
            ("cwfast generate (memorize, 1 s)", cli + ["generate", "-q", "-m", str(model_path), "-o", str(work / "out.wav"),
                                                       "--seconds", "1", "--overwrite"]),
            ("cwfast bench -m (1 block size)", cli + ["bench", "-q", "-m", str(model_path), "--block", "512",
                                                      "--seconds", "0.05", "--repeats", "1"]),
        ]
        print(f"machine: {machine_summary()}")
        print(f"wall-clock seconds per run, fresh process; warm = median of {args.repeats}")
        rows = [("command", "cold s", "warm s", "compiles cold", "compiles warm")]
        for name, command in commands:
            cache = work / ("cache-" + name.split()[0].strip("-"))
            env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
            results = []
            for k in range(1 + args.repeats):
                note(f"{name}: {f'warm run {k} of {args.repeats}' if k else 'cold run'}")
                start = time.perf_counter()
                run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
                elapsed = time.perf_counter() - start
                compiles = [line for line in run.stderr.splitlines() if line.startswith("COMPILES")]
                if run.returncode != 0:
                    tail = (run.stderr.strip().splitlines() or ["?"])[-1]
                    results = None
                    rows.append((name, "failed", "", tail[:60], ""))
                    break
                results.append((elapsed, int(compiles[0].split()[1]) if compiles else -1))
            if results:
                warm = results[1:]
                rows.append((name, f"{results[0][0]:.2f}", f"{np.median([w[0] for w in warm]):.2f}",
                             str(results[0][1]), str(max(w[1] for w in warm))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for k, row in enumerate(rows):
            print("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
            if k == 0:
                print("  ".join("-" * w for w in widths))
        print("(compiles: numba:compile events in the child; loading from the cache fires none; "
              "-1: numba was never imported)")
    finally:  # five numba caches, tens of megabytes
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
