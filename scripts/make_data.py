"""Regenerate the audio excerpt shipped in ``data/`` from the full recording.

The repository ships a 3-second mono excerpt of Brahms' Hungarian Dance No. 5 (US Army Strings,
Musopen, public domain) so that tests and examples have real music to work on without a 1 MB
download. This script cuts it from the full OGG recording: 3.0 s starting at 16.0 s (a busy passage,
chosen for its high RMS level), channels averaged to mono, kept at 44.1 kHz and written as 16-bit
PCM WAV. Run it from anywhere::

    python scripts/make_data.py [SOURCE] [--overwrite]

SOURCE defaults to the full recording bundled in ``data/brahms-hungarian-dance-5.ogg``; a SOURCE
given on the command line is relative to the current directory.
"""

import argparse
import os
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Lets the script run from a plain checkout, without installing cwfast first.
sys.path.insert(0, REPOSITORY_ROOT)

from cwfast.audio import load_audio, write_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402

DEFAULT_SOURCE = os.path.join(REPOSITORY_ROOT, "data", "brahms-hungarian-dance-5.ogg")
OUTPUT = os.path.join(REPOSITORY_ROOT, "data", "brahms-hungarian-dance-5-excerpt.wav")
START_SECONDS = 16.0
DURATION_SECONDS = 3.0
SAMPLE_RATE = 44100


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source",
        nargs="?",
        default=DEFAULT_SOURCE,
        help="the full recording (default: data/brahms-hungarian-dance-5.ogg in the repository)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing excerpt")
    arguments = parser.parse_args(argv)
    try:
        samples, sample_rate = load_audio(
            arguments.source,
            sample_rate=SAMPLE_RATE,
            mono=True,
            start=START_SECONDS,
            duration=DURATION_SECONDS,
            on_resample=lambda message: print(message, file=sys.stderr),
        )
        write_audio(OUTPUT, samples, sample_rate, subtype="PCM_16", overwrite=arguments.overwrite)
    except CwfastError as error:  # (the API's words for the option: this script's is --overwrite)
        message = str(error).replace("pass overwrite=True (CLI: --overwrite)", "pass --overwrite")
        print(f"make_data.py: error: {message}", file=sys.stderr)
        return 2
    print(f"wrote {os.path.relpath(OUTPUT)}: {len(samples)} samples at {sample_rate} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
