"""The ``cwfast`` command line: parses arguments, calls the public API, prints, sets exit codes.

Numba-heavy modules are imported inside the subcommands that need them, so ``cwfast --help`` is
instant.
"""

from __future__ import annotations

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cwfast",
        description="Clockwork RNNs on the CPU: train on audio, generate audio, process audio.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"cwfast {__version__}")
        return 0
    parser.print_help(sys.stderr)
    return 2
