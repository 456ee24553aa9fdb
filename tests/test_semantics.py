"""The clockwork semantics themselves: the traps of paper-notes section 5, one test each."""

import numpy as np
from numpy.testing import assert_allclose

from cwfast import ClockworkRNN, Stream


def states_per_step(model, x):
    """Hidden state after every step, read one step at a time through a Stream."""
    stream = Stream(model)
    out = []
    for s in range(x.shape[0]):
        stream.process(x[s : s + 1])
        out.append(stream.state.h)
    return np.array(out)


def test_inactive_modules_hold_bit_identically(rng):
    model = ClockworkRNN(1, 1, module_sizes=[2, 3, 2, 4], periods=[1, 3, 4, 6], seed=0)
    x = rng.normal(size=(60, 1)).astype(np.float32)
    H = states_per_step(model, x)
    lay = model.layout
    for s in range(1, 60):
        for i in range(model.n_modules):
            units = slice(lay.module_start[i], lay.module_start[i + 1])
            if s % lay.periods[i]:
                # Not re-squashed, not reset, not touched: the very same bits (trap 1).
                np.testing.assert_array_equal(H[s, units], H[s - 1, units])
            else:
                assert np.all(H[s, units] != H[s - 1, units])


def test_non_nested_periods_do_not_fire_as_a_prefix(rng):
    # Periods 1, 3, 4 at t = 4: the 4 fires, the 3 does not (trap 5).
    model = ClockworkRNN(1, 1, module_sizes=[2, 2, 2], periods=[1, 3, 4], seed=0)
    H = states_per_step(model, rng.normal(size=(6, 1)))
    np.testing.assert_array_equal(H[4, 2:4], H[3, 2:4])
    assert np.all(H[4, 4:6] != H[3, 4:6])
    assert model.layout.active(4).tolist() == [True, False, True]


def test_fast_weights_never_reach_slow_modules(rng):
    # Slow feeds fast, never the reverse (trap 2): changing everything the fastest module owns
    # leaves the slowest module's states untouched at every step.
    model = ClockworkRNN(1, 1, module_sizes=[3, 3, 3], periods=[1, 2, 4], seed=0, dtype=np.float64)
    x = rng.normal(size=(40, 1))
    before = states_per_step(model, x)
    fast = slice(0, 3)
    model.W_h_block(0)[:] += 1.0
    model.W_in[fast] += 1.0
    model.b_h[fast] += 1.0
    after = states_per_step(model, x)
    np.testing.assert_array_equal(after[:, 3:], before[:, 3:])
    assert not np.allclose(after[:, :3], before[:, :3])


def test_each_unit_of_a_module_updates(rng):
    # Module index is not unit index (trap 3): every unit of the active modules changes.
    model = ClockworkRNN(1, 1, module_sizes=[4, 4], periods=[1, 2], seed=0)
    H = states_per_step(model, rng.normal(size=(4, 1)))
    assert np.all(H[2] != H[1])


def test_modules_are_recurrent_inside(rng):
    # Diagonal blocks are dense (trap 7): the fastest module's own block is fully present.
    model = ClockworkRNN(1, 1, module_sizes=[3, 2], periods=[1, 2], seed=0)
    dense = model.to_dense()["W_h"]
    assert np.all(dense[:3, :3] != 0) and np.all(dense[3:, 3:] != 0)
    assert np.all(dense[3:, :3] == 0)


def test_one_module_of_period_one_is_an_srn(rng):
    model = ClockworkRNN(2, 1, module_sizes=[5], periods=[1], seed=4, dtype=np.float64)
    x = rng.normal(size=(30, 2))
    h = np.zeros(5)
    expected = []
    for s in range(30):
        h = np.tanh(model.to_dense()["W_h"] @ h + model.W_in @ x[s] + model.b_h)
        expected.append(model.W_out @ h + model.b_out)
    assert_allclose(model.forward(x), np.array(expected), rtol=1e-13)
