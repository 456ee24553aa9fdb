"""Progress bars: tqdm on stderr, the one place they are made.

A bar redraws every 0.1 s by tqdm's default, which on a terminal rewrites one line; where stderr
is a file or a pipe (a log, a cluster job's output, ``2> train.log``) each redraw is appended, and
an hour of training wrote about 2 MB of bars. There a bar redraws at most every
:data:`LOG_INTERVAL` seconds (tqdm's ``TQDM_MININTERVAL`` sets another), and once more when it
closes, where it stays (``leave=True``): a bar that clears itself on a terminal (``leave=False``)
would end its log with the figure it was last drawn at, 20% of a generation that finished,
followed by the spaces that clear it. A line from a
writer that does not go through tqdm (Ray's, a logging handler's) is written
:func:`apart_from_bars`, not after a bar's text.
"""

import contextlib
import os
import sys

#: Seconds between a bar's redraws when its stream is not a terminal.
LOG_INTERVAL = 30.0


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _log_interval():
    """Seconds between redraws into a log: tqdm's own ``TQDM_MININTERVAL`` where it holds a number
    of seconds (a job that wants a line every 5 s), else :data:`LOG_INTERVAL`."""
    try:
        seconds = float(os.environ.get("TQDM_MININTERVAL", LOG_INTERVAL))
    except ValueError:
        return LOG_INTERVAL
    return seconds if 0.0 <= seconds < float("inf") else LOG_INTERVAL


def bar(*, fields=None, **options):
    """A tqdm bar (``tqdm.auto``) with ``options``, on stderr unless ``file`` says otherwise; none
    drawn where there is no stderr (``sys.stderr`` is None).

    ``fields``, if given, is a callable giving a dict of more fields (texts) its ``bar_format`` may
    show: a time left and a pace as its caller reckons them, where tqdm's own ``{remaining}`` and
    ``{rate_fmt}`` reckon from wall time.
    """
    from tqdm.auto import tqdm

    stream = options.setdefault("file", sys.stderr)
    if stream is None:  # started with stderr closed (2>&-, pythonw): nothing to draw on
        options["disable"] = True
    elif not _is_terminal(stream):
        options.setdefault("mininterval", _log_interval())
        options["leave"] = True  # its last figure, not the one it was last drawn at (see above)
    if fields is None:
        return tqdm(**options)

    class Bar(tqdm):
        @property
        def format_dict(self):
            return {**super().format_dict, **fields()}

    return Bar(**options)


@contextlib.contextmanager
def apart_from_bars(stream=None):
    """Within the block, what is written to ``stream`` (default: stderr) starts a line of its own
    instead of following the text of a bar open there, and the bars are drawn again after it.

    On a terminal the bars are cleared first, as ``tqdm.write`` does. Into a file or a pipe the bar's
    line is ended first: clearing would write spaces onto that line, and the line written would
    still follow the bar's text in the log (a Ray actor's death read ``0%| ... ?gen/s](raylet) A
    worker died ...``).
    """
    from tqdm.auto import tqdm

    stream = sys.stderr if stream is None else stream
    terminal = _is_terminal(stream)
    with tqdm.get_lock():
        bars = [b for b in list(getattr(tqdm, "_instances", ()))
                if not b.disable and hasattr(b, "last_print_t") and getattr(b, "fp", None) == stream]
        if terminal:
            for b in bars:
                b.clear(nolock=True)
        elif bars:
            stream.write("\n")
        try:
            yield
        finally:
            for b in bars:
                b.refresh(nolock=True)
