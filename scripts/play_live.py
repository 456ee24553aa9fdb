"""Play a model live through the sound card, block by block, and report over- and under-runs.

    python scripts/play_live.py MODEL [--input dry.wav | --mic] [--block 256] [--seconds 10] [--dry-run]

A model without inputs (``n_in == 0``, e.g. one trained with ``cwfast train --mode memorize``) plays
what its clocks drive it to; an effect model (``n_in == 1``) processes ``--input`` (a file, resampled
to the model's rate) or the microphone (``--mic``). Linear-output models only: an autoregressive
(softmax) model feeds back its own samples, which ``cwfast generate`` does.

The audio callback does only this: copy the input block, call ``Stream.process(block, out=...)``
(no allocation, GIL released), copy the result to every output channel, and count. The stream
reads a NaN or infinite input sample as 0 (``bad_input="zero"``, as the C export does) rather than
raise in the callback, which would stop playback; the report counts the blocks that held one. Over-runs are
callbacks whose computation took longer than the block lasts; under-runs are the gaps PortAudio
reports (``output_underflow``, ``input_overflow``). Both are printed at the end.

Needs the optional ``sounddevice`` package (``pip install ".[live]"`` in cwfast's folder; on Linux also the
PortAudio library, ``apt-get install libportaudio2``). ``--dry-run`` runs the same callback against
a simulated device, as fast as it can, to show the headroom without a sound card.
"""

import argparse
import os
import sys
import time

import numpy as np

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's cwfast, not an installed copy (nor none, in a plain checkout).
sys.path.insert(0, REPOSITORY_ROOT)


DEFAULT_RATE = 44100


class LivePlayer:
    """The callback side of live playback, with no dependency on the audio library.

    Parameters
    ----------
    model : ClockworkRNN
        A linear-output model with ``n_in`` 0 or 1.
    sample_rate : int
        The device rate; the model's own if it has one.
    block : int
        The largest block the device will ask for.
    channels : int
        Output channels; the model's first output goes to every channel (or output ``i`` to
        channel ``i`` if the model has as many outputs as there are channels).
    source : ndarray, shape (n, 1), optional
        Input samples for an effect model read from a file; ``None`` with ``n_in == 1`` means the
        device's input (microphone) is used.
    """

    def __init__(self, model, *, sample_rate, block, channels=1, source=None):
        from cwfast import ParameterError, Stream

        if model.output != "linear":
            raise ParameterError(f"this is an autoregressive model ({model.output} head); play it with 'cwfast generate'")
        if model.n_in not in (0, 1):
            raise ParameterError(f"the model takes {model.n_in} inputs per step; only 0 or 1 can be played")
        self.model = model
        self.sample_rate = sample_rate
        self.channels = channels
        self.source = None if source is None else np.ascontiguousarray(source, dtype=model.dtype)
        self.stream = Stream(model, sample_rate=sample_rate, max_block=block, bad_input="zero")
        self._x = np.zeros((block, model.n_in), dtype=model.dtype)
        self._y = np.zeros((block, model.n_out), dtype=model.dtype)
        self._times = np.zeros(1 << 16)  # callback durations in seconds, a ring buffer
        self.position = 0
        self.callbacks = 0
        self.over_runs = 0
        self.under_runs = 0
        self.input_overflows = 0
        self.finished = False

    def callback(self, indata, outdata, frames, time_info, status):
        """sounddevice's callback (``Stream``: indata and outdata; ``OutputStream``: indata is None)."""
        start = time.perf_counter()
        if status:
            self.under_runs += int(bool(getattr(status, "output_underflow", False)))
            self.input_overflows += int(bool(getattr(status, "input_overflow", False)))
        x = self._x[:frames]
        if self.model.n_in == 1:
            if self.source is not None:
                chunk = self.source[self.position : self.position + frames]
                x[: len(chunk)] = chunk
                x[len(chunk) :] = 0
                if len(chunk) < frames:
                    self.finished = True
            else:
                x[:, 0] = indata[:, 0]
        y = self.stream.process(x, out=self._y[:frames])
        if self.model.n_out == self.channels:
            outdata[:] = y
        else:
            outdata[:] = y[:, :1]
        self.position += frames
        elapsed = time.perf_counter() - start
        self._times[self.callbacks % self._times.size] = elapsed
        self.callbacks += 1
        if elapsed > frames / self.sample_rate:
            self.over_runs += 1

    def report(self):
        """A few lines: callbacks, over-runs, under-runs, callback time against the block's budget."""
        times = self._times[: min(self.callbacks, self._times.size)] * 1e6
        lines = [f"{self.callbacks} callbacks, {self.position} samples ({self.position / self.sample_rate:.1f} s)",
                 f"over-runs (computation longer than the block): {self.over_runs}",
                 f"under-runs reported by the device: {self.under_runs} output, {self.input_overflows} input"]
        if self.stream.bad_blocks:
            lines.append(f"input blocks with NaN or infinite samples, read as 0: {self.stream.bad_blocks}")
        if times.size:
            lines.append(f"callback time: median {np.median(times):.0f} us, 99th percentile "
                         f"{np.percentile(times, 99):.0f} us, max {times.max():.0f} us")
        return "\n".join(lines)


def simulate(player, block, seconds):
    """Call the callback as a device would, as fast as possible, for ``seconds`` of audio."""
    outdata = np.zeros((block, player.channels), dtype=np.float32)
    indata = np.zeros((block, 1), dtype=np.float32)
    for _ in range(int(seconds * player.sample_rate) // block):
        player.callback(indata, outdata, block, None, None)
        if player.finished:
            break


def _sounddevice(parser):
    """The sounddevice module, or exit 2 with one line naming what to install (in cwfast's words
    for matplotlib and Ray)."""
    without = "; --dry-run plays to a simulated device without it\n"
    try:
        import sounddevice
    except ImportError:
        parser.exit(2, "play_live.py: error: live playback needs sounddevice, which is not installed: pip install "
                       "sounddevice (or, in cwfast's folder, '.[live]')" + without)
    except OSError as exc:  # sounddevice is there, the PortAudio library it loads is not
        parser.exit(2, f"play_live.py: error: live playback needs the PortAudio library ({exc}): on Linux, "
                       "apt-get install libportaudio2" + without)
    return sounddevice


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL", help="a model file saved by cwfast")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="AUDIO", help="for an effect model: the dry audio to process")
    source.add_argument("--mic", action="store_true", help="for an effect model: process the default input device")
    parser.add_argument("--block", type=int, default=256, help="samples per callback (default 256)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to play (default 10)")
    parser.add_argument("--channels", type=int, default=1, help="output channels (default 1)")
    parser.add_argument("--device", default=None, help="sounddevice device name or index")
    parser.add_argument("--dry-run", action="store_true", help="no sound card: run the callback against a simulated device")
    args = parser.parse_args(argv)
    if not 0 < args.seconds < float("inf"):
        parser.error(f"--seconds {args.seconds:g} must be a positive number")
    if args.channels < 1:
        parser.error(f"--channels {args.channels} must be at least 1")
    from cwfast.stream import MAX_BLOCK

    if not 1 <= args.block <= MAX_BLOCK:  # (Stream's own refusal would name its max_block)
        parser.error(f"--block {args.block} must be between 1 and {MAX_BLOCK}")

    if not args.dry_run:
        sd = _sounddevice(parser)  # before the model is loaded and described: the refusal comes alone

    from cwfast import CwfastError, load
    from cwfast.audio import load_audio

    try:
        model = load(args.model)
        rate = model.sample_rate or DEFAULT_RATE
        if model.n_in == 1 and not (args.input or args.mic or args.dry_run):
            parser.error("an effect model needs --input AUDIO or --mic")
        if model.n_in == 0 and (args.input or args.mic):
            parser.error("this model takes no input; drop --input/--mic")
        dry = load_audio(args.input, sample_rate=rate)[0][:, None] if args.input else None
        player = LivePlayer(model, sample_rate=rate, block=args.block, channels=args.channels, source=dry)
    except CwfastError as exc:
        print(f"play_live.py: error: {exc}", file=sys.stderr)
        return 2
    clocks = f" in {model.n_modules} module{'s' if model.n_modules != 1 else ''}" if model.has_clock else ""  # as cwfast info
    print(f"{args.model}: {model.description}, {model.n_hidden} units{clocks}, {rate} Hz, blocks of {args.block}",
          file=sys.stderr)

    if args.dry_run:
        simulate(player, args.block, args.seconds)
        print(player.report())
        return 0

    def output_only(outdata, frames, time_info, status):
        player.callback(None, outdata, frames, time_info, status)
        if player.finished:
            raise sd.CallbackStop

    def duplex(indata, outdata, frames, time_info, status):
        player.callback(indata, outdata, frames, time_info, status)

    try:
        if args.mic:
            device_stream = sd.Stream(samplerate=rate, blocksize=args.block, channels=(1, args.channels),
                                      dtype="float32", callback=duplex, device=args.device)
        else:
            device_stream = sd.OutputStream(samplerate=rate, blocksize=args.block, channels=args.channels,
                                            dtype="float32", callback=output_only, device=args.device)
        with device_stream:
            deadline = time.monotonic() + args.seconds
            while device_stream.active and time.monotonic() < deadline:
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as exc:
        print(f"play_live.py: audio device error: {exc}", file=sys.stderr)
        return 1
    print(player.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
