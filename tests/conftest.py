"""Shared fixtures: a seeded generator (no global seeding anywhere in the suite) and numba's
thread count, restored after the test."""

import numba
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(seed=440)


@pytest.fixture
def numba_threads():
    """``numba.set_num_threads`` for the test; the thread count in force before is restored after it."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)
