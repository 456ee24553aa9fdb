"""Shared fixtures: training's calibration at 0.5 s a clip, a seeded generator (no global seeding anywhere in the suite), numba's
thread count, restored after the test, Python's SIGINT handler for the tests that send one, a
short clip of the bundled Brahms excerpt, two fresh processes sharing a numba cache (for the
caching tests), and trainers that fail the test if called (for refusals that must come first)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def short_calibration():
    """Training's temperature calibration generates 0.5 s a clip here, not 10 s
    (``cwfast.train_audio.CALIBRATION_SECONDS``): it draws 7 temperatures x 3 seeds after every
    run of every test that trains a mixture model, and at 10 s that was about six minutes of the
    suite's CPU time; at 2 s it was still 220 s of the 600 s the files that train such models
    took in one process (0.5 s is 4000 samples at 8 kHz, two of the likeness measures' 2048-sample
    frames, so the audio is still measured). The same code runs; tests that compare with a
    calibration pass its ``seconds``. Commands run in a subprocess calibrate at 10 s."""
    from cwfast import train_audio

    train_audio.CALIBRATION_SECONDS = 0.5


@pytest.fixture
def rng():
    return np.random.default_rng(seed=440)


@pytest.fixture
def numba_threads():
    """``numba.set_num_threads`` for the test; the thread count in force before is restored after it."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


@pytest.fixture
def sigint_default():
    """Python's own SIGINT handler for a test that sends itself SIGINT, restored after it. A suite
    started as a background job (``cmd &``, nohup) inherits SIGINT ignored, and then the trainers
    rightly leave Ctrl-C alone (cwfast.train._common.InterruptGuard): the test would not test."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def no_training(monkeypatch):
    """Make any call into the trainers fail the test: the mistake must be caught before training."""
    import cwfast.train

    def trained(*args, **kwargs):
        pytest.fail("the run started training before refusing")

    monkeypatch.setattr(cwfast.train, "fit", trained)
    monkeypatch.setattr(cwfast.train, "evolve", trained)


@pytest.fixture(scope="module")
def clip_8k(tmp_path_factory):
    """0.1 s of the bundled Brahms excerpt at 8 kHz (800 samples), as a WAV file."""
    from cwfast.audio import load_audio, write_audio

    brahms = Path(__file__).resolve().parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"
    samples, rate = load_audio(brahms, sample_rate=8000, start=0.5, duration=0.1)
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    write_audio(path, samples, rate)
    return path


@pytest.fixture
def two_fresh_processes(tmp_path):
    """``run(script)``: run a Python script from the repository root in two fresh processes, one
    after the other, sharing the empty numba cache directory ``tmp_path``; returns the integers
    each printed, as two tuples."""

    def run(script):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
        root = Path(__file__).resolve().parents[1]
        runs = [
            subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True,
                           check=True)
            for _ in range(2)
        ]
        return [tuple(map(int, r.stdout.split())) for r in runs]

    return run
