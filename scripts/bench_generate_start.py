"""Warm start-up time of ``cwfast generate --seconds 1`` against ``python -c "import numba"``.

Both run as fresh processes from the repository root (so this checkout's ``cwfast`` is imported),
after one unmeasured run each so that numba's cache and the OS file cache are warm. Prints the
median wall time of ``--repeat`` runs of each and their ratio (issue 14's goal: at most 4x).

Usage: python scripts/bench_generate_start.py [--repeat 5]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(command):
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.wav")
        commands = {
            "import numba": [sys.executable, "-c", "import numba"],
            "cwfast generate --seconds 1": [sys.executable, "-m", "cwfast", "generate", "-o", out, "--seconds", "1",
                                            "--overwrite"],
        }
        for command in commands.values():
            wall(command)  # warm: numba cache, file cache
        # Interleaved, so that a change in the machine's load hits both alike.
        times = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(wall(command))
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name:30s} median {medians[name]:.2f} s of {args.repeat} ({', '.join(f'{v:.2f}' for v in t)})")
    ratio = medians["cwfast generate --seconds 1"] / medians["import numba"]
    print(f"ratio {ratio:.1f}x (goal <= 4x)")


if __name__ == "__main__":
    main()
