"""Spectrograms of several clips side by side (listen-like evidence for docs/results.md).

Each clip is read at ``--sample-rate`` (16 kHz), cut to its first ``--seconds`` (3), and drawn as a
spectrogram in dB (2048-point Hann frames, hop 256, 0 to ``--max-hz``), each clip relative to its
own loudest bin so that levels do not matter, with its spectral flatness and pitched-frame
fraction (``cwfast.likeness``, over the whole clip) in the title. Needs matplotlib.

    python scripts/plot_spectrograms.py -o docs/likeness/spectrograms.png \\
        "source=data/brahms-hungarian-dance-5-excerpt.wav" "default model=gen.wav" ...
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cwfast import likeness  # noqa: E402
from cwfast._atomic import atomic_path, check_output  # noqa: E402
from cwfast.audio import load_audio  # noqa: E402
from cwfast.errors import CwfastError  # noqa: E402
from cwfast.plot import check_format  # noqa: E402

#: Points of the spectrogram's frames.
FRAME = 2048


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clips", nargs="+", help="LABEL=PATH")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--max-hz", type=float, default=4000.0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    args = p.parse_args(argv)
    # Checked before any clip is read: each was a traceback, some after every clip was measured.
    for item in args.clips:
        label, _, path = item.partition("=")
        if not label or not path:
            p.error(f"{item!r}: give each clip as LABEL=PATH")
    for option, value in (("--sample-rate", args.sample_rate), ("--seconds", args.seconds), ("--max-hz", args.max_hz)):
        if not 0 < value < math.inf:
            p.error(f"{option} {value} must be a positive number")
    if args.seconds * args.sample_rate < FRAME:
        p.error(f"--seconds {args.seconds:g} is shorter than one {FRAME}-point frame at {args.sample_rate} Hz")
    try:
        check_format(args.output, what="-o")  # as cwfast's own --plot
        check_output(args.output, args.overwrite, what="figure")
        return draw(args)
    except CwfastError as error:
        p.exit(2, f"plot_spectrograms.py: error: {error}\n")


def draw(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    fig, axes = plt.subplots(len(args.clips), 1, figsize=(9, 2.1 * len(args.clips)), sharex=True, squeeze=False)
    for ax, item in zip(axes[:, 0], args.clips):
        label, _, path = item.partition("=")
        x, rate = load_audio(path, sample_rate=args.sample_rate)
        try:
            m = likeness.measure(x, rate)
        except CwfastError as error:  # say which clip: "samples is silent" named none
            raise CwfastError(f"{label}={path}: {error}") from None
        clip = x[: int(args.seconds * rate)].astype(np.float64)
        f, t, z = stft(clip, fs=rate, window="hann", nperseg=FRAME, noverlap=FRAME - 256)
        db = 20 * np.log10(np.abs(z) + 1e-12)
        db -= db.max()
        keep = f <= args.max_hz
        ax.pcolormesh(t, f[keep], db[keep], vmin=-80, vmax=0, shading="auto", cmap="magma")
        ax.set_ylabel("Hz")
        # Two significant digits: a tonal clip's flatness (1e-4) printed as 0.000 with three decimals.
        ax.set_title(f"{label}: flatness {m['flatness']:.2g}, pitched {m['pitched']:.2f}", fontsize=9)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(args.output, what="figure") as tmp:  # whole or not at all; an OSError is a CwfastError
        fig.savefig(tmp, dpi=80)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
