"""Shared fixtures: a seeded generator (no global seeding anywhere in the suite)."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(seed=440)
