"""Progress bars: tqdm on stderr, the one place they are made.

A bar redraws every 0.1 s by tqdm's default, which on a terminal rewrites one line; where stderr
is a file or a pipe (a log, a cluster job's output, ``2> train.log``) each redraw is appended, and
an hour of training wrote about 2 MB of bars. There a bar redraws at most every
:data:`LOG_INTERVAL` seconds (and once more when it closes).
"""

import sys

#: Seconds between a bar's redraws when its stream is not a terminal.
LOG_INTERVAL = 30.0


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(*, fields=None, **options):
    """A tqdm bar (``tqdm.auto``) with ``options``, on stderr unless ``file`` says otherwise.

    ``fields``, if given, is a callable giving a dict of more fields (texts) its ``bar_format`` may
    show: a time left and a pace as its caller reckons them, where tqdm's own ``{remaining}`` and
    ``{rate_fmt}`` reckon from wall time.
    """
    from tqdm.auto import tqdm

    stream = options.setdefault("file", sys.stderr)
    if not _is_terminal(stream):
        options.setdefault("mininterval", LOG_INTERVAL)
    if fields is None:
        return tqdm(**options)

    class Bar(tqdm):
        @property
        def format_dict(self):
            return {**super().format_dict, **fields()}

    return Bar(**options)
