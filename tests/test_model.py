"""The kernels against their slow twin (tests/naive.py) and against finite differences."""

import re

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose

import cwfast
from cwfast import ClockworkRNN, ParameterError, State

import naive

# (module_sizes, periods): nested, non-nested, equal, unequal sizes, unsorted input, SRN.
CONFIGS = {
    "nested": ([3, 3, 2, 2], [1, 2, 4, 8]),
    "non_nested": ([2, 3, 4], [1, 3, 5]),
    "equal_periods": ([2, 3, 2, 3], [1, 1, 2, 2]),
    "unequal_sizes": ([5, 1, 4], [1, 4, 2]),
    "srn": ([6], [1]),
}


def make(name, n_in=2, n_out=3, dtype=np.float64, seed=1):
    sizes, periods = CONFIGS[name]
    return ClockworkRNN(n_in, n_out, module_sizes=sizes, periods=periods, seed=seed, dtype=dtype)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_forward_matches_naive(name, dtype, rtol, rng):
    model = make(name, dtype=dtype)
    d = model.to_dense()
    x = rng.normal(size=(3, 41, 2))
    y = model.forward(x)
    assert y.dtype == dtype and y.shape == (3, 41, 3)
    for b in range(3):
        _, ref = naive.forward(d, x[b].astype(dtype).astype(float))
        assert_allclose(y[b], ref, rtol=rtol, atol=rtol)
    # A single sequence gives the same as its row of the batch, bit for bit.
    np.testing.assert_array_equal(model.forward(x[1]), y[1])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("span", [0, 1, 3])
def test_module_rows_match_a_matrix_product(dtype, rtol, span, rng):
    # Every k from 0 to 40 takes a different mix of the 16-, 8-, 4-, 2- and 1-row kernels.
    from cwfast import _kernels

    for k in range(41):
        for width in (1, 7, 8, 33):
            w_in = rng.normal(size=k * span).astype(dtype)
            window = rng.normal(size=span).astype(dtype)
            w_rec = rng.normal(size=5 + k * width).astype(dtype)  # rows from offset 5
            bias = rng.normal(size=3 + k).astype(dtype)  # units from r0 = 3
            reads = rng.normal(size=width).astype(dtype)
            work = np.full(3 + k + 2, 7.0, dtype=dtype)
            _kernels._module_rows(w_in, window, w_rec, bias, 5, width, 3, k, reads, work)
            ref = (bias[3:].astype(float) + w_in.reshape(k, span).astype(float) @ window.astype(float)
                   + w_rec[5:].reshape(k, width).astype(float) @ reads.astype(float))
            assert_allclose(work[3 : 3 + k], ref, rtol=rtol, atol=rtol * width)
            np.testing.assert_array_equal(work[:3], 7.0)  # nothing outside the module's rows
            np.testing.assert_array_equal(work[3 + k :], 7.0)


def test_fires_is_the_clock_test():
    from cwfast import _kernels

    for period in range(1, 70):
        for t in range(0, 300):
            assert _kernels._fires(t, period) == (t % period == 0), (t, period)
    assert _kernels._fires(2**40, 2**20) and not _kernels._fires(2**40 + 2**19, 2**20)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("windows", [None, [1, 3, 1, 2]])
def test_forward_matches_naive_with_modules_of_every_row_block(dtype, rtol, windows, rng):
    # 31 = 16 + 8 + 4 + 2 + 1 rows, 18 = 16 + 2, 8, 3 = 2 + 1; periods 1, 3 (a remainder), 4, 6.
    model = ClockworkRNN(2, 3, module_sizes=[31, 18, 8, 3], periods=[1, 3, 4, 6], seed=2, dtype=dtype,
                         input_windows=windows)
    d = model.to_dense()
    x = rng.normal(size=(40, 2))
    _, ref = naive.forward(d, x.astype(dtype).astype(float))
    assert_allclose(model.forward(x.astype(dtype)), ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", CONFIGS)
def test_gradients_match_naive(name, rng):
    model = make(name)
    x = rng.normal(size=(2, 23, 2))
    target = rng.normal(size=(2, 23, 3))
    loss, grads = model.loss_and_grad(x, target)
    ref_loss, ref = naive.loss_and_grad(model.to_dense(), x, target)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    for key in ref:
        assert_allclose(grads[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_gradients_match_naive_from_a_state(rng):
    model = make("non_nested")
    h0 = rng.normal(scale=0.5, size=(1, model.n_hidden))
    x = rng.normal(size=(1, 17, 2))
    target = rng.normal(size=(1, 17, 3))
    loss, grads, state = model.loss_and_grad(x, target, state=State(h0, 7), return_state=True)
    ref_loss, ref = naive.loss_and_grad(model.to_dense(), x, target, h0=h0[0], t0=7)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    for key in ref:
        assert_allclose(grads[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)
    assert state.t == 24
    H, _ = naive.forward(model.to_dense(), x[0], h0=h0[0], t0=7)
    assert_allclose(state.h[0], H[-1], rtol=1e-12)


@pytest.mark.parametrize("name", ["nested", "non_nested", "equal_periods"])
def test_gradient_matches_central_differences(name, rng):
    model = make(name, seed=3)
    x = rng.normal(size=(2, 19, 2))
    target = rng.normal(size=(2, 19, 3))
    _, grad = model.loss_and_grad(x, target, flat=True)
    theta = model.params.copy()
    eps = 1e-6
    numeric = np.empty_like(theta)
    for k in range(theta.size):
        model.params[k] = theta[k] + eps
        up = model.loss_and_grad(x, target)[0]
        model.params[k] = theta[k] - eps
        down = model.loss_and_grad(x, target)[0]
        model.params[k] = theta[k]
        numeric[k] = (up - down) / (2 * eps)
    err = np.abs(numeric - grad)
    assert err.max() < 1e-8, err.max()
    assert err.mean() < 1e-9, err.mean()


@pytest.mark.parametrize("name", ["nested", "non_nested", "equal_periods", "unequal_sizes"])
def test_forbidden_blocks_get_exactly_zero_gradient(name, rng):
    """The paper's rule, from the periods alone (not the layout's own mask, from which the dense
    gradient is unpacked): unit j feeds unit i iff T_j >= T_i. Exactly those weights have a gradient."""
    model = make(name, n_in=1, n_out=1)
    x = rng.normal(size=(4, 50, 1))
    _, grads = model.loss_and_grad(x, rng.normal(size=(4, 50, 1)))
    unit_periods = np.repeat(model.periods, model.module_sizes)
    feeds = unit_periods[None, :] >= unit_periods[:, None]
    assert not feeds.all()
    np.testing.assert_array_equal(grads["W_h"] != 0.0, feeds)


def test_parameters_hold_only_allowed_blocks():
    model = ClockworkRNN(1, 1, n_hidden=40, n_modules=9)
    assert model.module_sizes.tolist() == [5, 5, 5, 5, 4, 4, 4, 4, 4]
    assert model.periods.tolist() == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    n_recurrent = int(model.layout.allowed_mask().sum())
    assert model.n_params == 40 * 1 + n_recurrent + 40 + 40 + 1
    # Paper, 9 modules of 4-5 units: about n^2/2 + nk/2 recurrent weights, far below n^2.
    assert n_recurrent < 0.6 * 40 * 40


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads to compare with one")
def test_results_do_not_depend_on_thread_count(rng, numba_threads):
    model = make("nested", dtype=np.float32)
    x = rng.normal(size=(7, 30, 2)).astype(np.float32)
    target = rng.normal(size=(7, 30, 3)).astype(np.float32)
    numba_threads(1)
    one = model.loss_and_grad(x, target, flat=True)
    numba_threads(numba.config.NUMBA_NUM_THREADS)
    many = model.loss_and_grad(x, target, flat=True)
    assert one[0] == many[0]
    np.testing.assert_array_equal(one[1], many[1])


def test_dense_round_trip_and_forbidden_weights_rejected():
    model = make("unequal_sizes", seed=5)
    d = model.to_dense()
    clone = ClockworkRNN.from_dense(d)
    np.testing.assert_array_equal(clone.params, model.params)
    assert clone.periods.tolist() == [1, 2, 4] and clone.module_sizes.tolist() == [5, 4, 1]
    bad = dict(d)
    bad["W_h"] = d["W_h"].copy()
    bad["W_h"][-1, 0] = 0.5  # slowest unit reading the fastest: forbidden
    with pytest.raises(ParameterError, match="outside the allowed blocks"):
        ClockworkRNN.from_dense(bad)


def test_modules_are_sorted_by_period():
    model = ClockworkRNN(0, 1, module_sizes=[1, 2, 3], periods=[8, 1, 4], seed=0)
    assert model.periods.tolist() == [1, 4, 8]
    assert model.module_sizes.tolist() == [2, 3, 1]


def test_no_input_network(rng):
    model = ClockworkRNN(0, 1, n_hidden=11, n_modules=9, seed=2, dtype=np.float64)
    y = model.forward(np.zeros((320, 0)))
    _, ref = naive.forward(model.to_dense(), np.zeros((320, 0)))
    assert_allclose(y, ref, rtol=1e-12)
    assert np.std(y) > 0  # biases drive the clockwork even without input


def test_params_vector_is_live(rng):
    model = make("nested")
    x = rng.normal(size=(10, 2))
    y0 = model.forward(x)
    model.params = model.params * 2
    assert not np.allclose(model.forward(x), y0)
    with pytest.raises(ParameterError, match="shape"):
        model.params = np.zeros(3)
    before = model.params.copy()
    for bad, message in ((np.array(["a"] * model.n_params), "dtype"), (np.full(model.n_params, np.nan), "NaN")):
        with pytest.raises(ParameterError, match=message):
            model.params = bad
    np.testing.assert_array_equal(model.params, before)


@pytest.mark.parametrize("sizes", [5, [[1], [1, 2]], [], [2, 0], [2.5, 3], ["2", "3"]])
def test_module_sizes_that_are_not_a_list_of_positive_integers(sizes):
    with pytest.raises(ParameterError, match="module_sizes"):
        ClockworkRNN(1, 1, module_sizes=sizes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_params_start_on_a_cache_line(dtype, tmp_path):
    # The kernels' weight rows load fastest from 32-byte boundaries (CW 256/8: 1.08-1.21 against
    # 0.93 us a sample), so every way of getting a model keeps its parameters 64-byte aligned.
    model = ClockworkRNN(1, 12, n_hidden=256, n_modules=8, dtype=dtype, output="mixture")
    model.save(tmp_path / "m.npz")
    grown = model.copy()
    grown.prediction = 3
    for m in (model, model.copy(), cwfast.load(tmp_path / "m.npz"), grown):
        assert m.params.ctypes.data % 64 == 0
        assert m.params.dtype == dtype and m.params.flags.c_contiguous and m.params.flags.writeable
    assert_allclose(grown.params[:-3], model.params, rtol=0, atol=0)
    assert not grown.params[-3:].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_hidden=0, n_modules=1), "n_hidden=0 must be a positive integer"),
        (dict(n_hidden=8, n_modules=0), "n_modules=0 must be a positive integer"),
        (dict(n_hidden=3, n_modules=4), "must not exceed"),
        (dict(module_sizes=[2, 0]), "module_sizes"),
        (dict(module_sizes=[2, 2], periods=[1, -2]), "periods"),
        (dict(module_sizes=[2, 2], periods=[1, 2.5]), "periods"),
        (dict(module_sizes=[2, 2], periods=[1, 2, 4]), "one period per module"),
        (dict(n_hidden=8), "give module_sizes"),
        (dict(module_sizes=[2, 2], dtype=np.int32), "dtype=int32 must be float32 or float64"),
        (dict(module_sizes=[2, 2], n_hidden=5), "does not match"),
        (dict(module_sizes=[2, 2], seed=-1), "seed=-1 must be a non-negative integer"),
        (dict(module_sizes=[2, 2], seed="a"), "seed='a' must be a non-negative integer"),
        (dict(module_sizes=[2, 2], seed=1.5), "seed=1.5"),
        (dict(module_sizes=[2, 2], metadata=[1]), "metadata must be a dict, not list"),
        # periods that are no list named periods, not "give module_sizes, or n_hidden and ... periods"
        (dict(n_hidden=4, periods="12"), "^periods='12' must be a non-empty list of positive integers"),
        (dict(n_hidden=4, periods=[[1, 2]]), r"^periods=\[\[1, 2\]\] must be a non-empty list"),
        (dict(n_hidden=4, periods=4), "^periods=4 must be a non-empty list of positive integers"),
    ],
)
def test_invalid_construction(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        ClockworkRNN(1, 1, **kwargs)


@pytest.mark.parametrize("n_in, n_out, message", [(-1, 1, "n_in=-1"), (1, 0, "n_out=0"), (1.5, 1, "n_in=1.5")])
def test_invalid_io_sizes(n_in, n_out, message):
    with pytest.raises(ParameterError, match=message):
        ClockworkRNN(n_in, n_out, n_hidden=4, n_modules=2)


@pytest.mark.parametrize("arch", ["cw", "lstm", "srn"])
def test_softmax_needs_two_classes(arch):
    """A softmax over one class gives it probability 1 whatever the input: its loss is 0 and its
    gradient nothing, so a model built that way could only pretend to train."""
    build = {"cw": lambda: ClockworkRNN(1, 1, n_hidden=4, n_modules=2, output="softmax"),
             "lstm": lambda: cwfast.LSTM(1, 1, n_hidden=2, output="softmax"),
             "srn": lambda: cwfast.SRN(1, 1, n_hidden=2, output="softmax")}[arch]
    with pytest.raises(ParameterError, match="n_out=1: a softmax needs at least 2 classes"):
        build()


def test_invalid_inputs():
    model = make("nested")
    with pytest.raises(ParameterError, match=r"x has shape \(5,\)"):
        model.forward(np.zeros(5))
    with pytest.raises(ParameterError, match="expected"):
        model.forward(np.zeros((5, 3)))
    with pytest.raises(ParameterError, match="NaN or infinite"):
        model.forward(np.full((5, 2), np.nan))
    with pytest.raises(ParameterError, match="real"):
        model.forward(np.zeros((5, 2), dtype=complex))
    with pytest.raises(ParameterError, match="real"):
        model.forward([["a", "b"]])
    with pytest.raises(ParameterError, match="target has shape"):
        model.loss_and_grad(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ParameterError, match="state.h has shape"):
        model.forward(np.zeros((5, 2)), state=State(np.zeros(3), 0))
    with pytest.raises(ParameterError, match="state.t=-1"):
        model.forward(np.zeros((5, 2)), state=State(np.zeros(model.n_hidden), -1))
    assert isinstance(ParameterError("x"), ValueError) and issubclass(ParameterError, cwfast.CwfastError)


def central_differences(model, loss_of, eps=1e-6):
    theta = model.params.copy()
    numeric = np.empty_like(theta)
    for k in range(theta.size):
        model.params[k] = theta[k] + eps
        up = loss_of()
        model.params[k] = theta[k] - eps
        down = loss_of()
        model.params[k] = theta[k]
        numeric[k] = (up - down) / (2 * eps)
    return numeric


@pytest.mark.parametrize(
    "output, steps", [("softmax", "all"), ("softmax", "last"), ("linear", "last"), ("softmax", "mean"), ("linear", "mean")]
)
def test_heads_match_central_differences(output, steps, rng):
    model = ClockworkRNN(2, 4, module_sizes=[2, 3, 2], periods=[1, 3, 4], seed=6, dtype=np.float64, output=output)
    x = rng.normal(size=(3, 13, 2))
    if output == "softmax":
        target = rng.integers(0, 4, size=(3, 13) if steps == "all" else (3,))
    else:
        target = rng.normal(size=(3, 4))
    loss, grad = model.loss_and_grad(x, target, flat=True, steps=steps)
    if steps == "mean":  # the head scores the mean of the raw outputs, written out here
        logits = np.log(model.forward(x)).mean(axis=1) if output == "softmax" else model.forward(x).mean(axis=1)
        if output == "softmax":
            logits -= logits.max(axis=1, keepdims=True)
            expected = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(3), target])
        else:
            expected = np.mean((logits - target) ** 2)
        assert loss == pytest.approx(expected, rel=1e-12)
    assert loss == pytest.approx(model.loss(x, target, steps=steps), rel=1e-12)
    numeric = central_differences(model, lambda: model.loss(x, target, steps=steps))
    err = np.abs(numeric - grad)
    assert err.max() < 1e-8 and err.mean() < 1e-9, (err.max(), err.mean())


def test_softmax_head_values(rng):
    model = ClockworkRNN(1, 5, n_hidden=6, n_modules=2, seed=0, dtype=np.float64, output="softmax")
    x = rng.normal(size=(9, 1))
    p = model.forward(x)
    assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    logits = naive.forward(model.to_dense(), x)[1]
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    assert_allclose(p, expected, rtol=1e-12)
    labels = rng.integers(0, 5, size=9)
    assert model.loss(x, labels) == pytest.approx(-np.mean(np.log(expected[np.arange(9), labels])), rel=1e-12)


def test_bad_targets_and_heads():
    soft = ClockworkRNN(1, 3, n_hidden=4, n_modules=2, output="softmax")
    with pytest.raises(ParameterError, match="integer class labels"):
        soft.loss_and_grad(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ParameterError, match=r"labels must lie in \[0, 3\)"):
        soft.loss_and_grad(np.zeros((5, 1)), np.full(5, 3))
    with pytest.raises(ParameterError, match="steps='some'"):
        soft.loss_and_grad(np.zeros((5, 1)), np.zeros(5, int), steps="some")
    for steps, target in (("all", np.zeros((2, 0), int)), ("last", [0, 1]), ("mean", [0, 1])):
        with pytest.raises(ParameterError, match="x has no steps"):
            soft.loss_and_grad(np.zeros((2, 0, 1)), target, steps=steps)
        with pytest.raises(ParameterError, match="x has no steps"):
            soft.loss(np.zeros((2, 0, 1)), target, steps=steps)
        with pytest.raises(ParameterError, match="x has no sequences"):
            soft.loss(np.zeros((0, 5, 1)), np.zeros((0, 5) if steps == "all" else 0, int), steps=steps)
    with pytest.raises(ParameterError, match=r"target has shape \(1,\); expected \(\)"):
        soft.loss(np.zeros((5, 1)), [1], steps="last")  # one sequence takes one label, not a list of one


@pytest.mark.parametrize("steps", ["last", "mean"])
def test_one_sequence_takes_a_scalar_label(steps, rng):
    soft = ClockworkRNN(1, 3, n_hidden=4, n_modules=2, output="softmax", dtype=np.float64, seed=1)
    x = rng.normal(size=(6, 1))
    batched = soft.loss_and_grad(x[None], [2], steps=steps, flat=True)
    for label in (2, np.int64(2), np.array(2)):
        loss, grad = soft.loss_and_grad(x, label, steps=steps, flat=True)
        assert loss == batched[0] and np.array_equal(grad, batched[1])


def test_raw_forward_gives_the_logits(rng):
    soft = ClockworkRNN(1, 3, n_hidden=4, n_modules=2, output="softmax", dtype=np.float64, seed=1)
    x = rng.normal(size=(2, 6, 1))
    logits = soft.forward(x, raw=True)
    twin = ClockworkRNN.from_dense(soft.to_dense(), output="linear")
    assert_allclose(logits, twin.forward(x), rtol=1e-12)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    assert_allclose(soft.forward(x), z / z.sum(axis=-1, keepdims=True), rtol=1e-12)
    assert np.array_equal(twin.forward(x, raw=True), twin.forward(x))  # no effect on a linear head
    with pytest.raises(ParameterError, match="output='tanh'"):
        ClockworkRNN(1, 3, n_hidden=4, n_modules=2, output="tanh")


@pytest.mark.parametrize("windows", [None, "period", [4, 2]])
def test_sample_feeds_back_what_it_drew(windows, rng):
    model = ClockworkRNN(1, 4, module_sizes=[2, 3], periods=[1, 3], seed=2, dtype=np.float64, output="softmax",
                         input_windows=windows)
    values = np.array([-0.75, -0.25, 0.25, 0.75])
    out, state = model.sample(60, values=values, temperature=1.0, seed=9, first_input=0.1, return_state=True)
    assert set(np.unique(out)) <= set(values) and len(np.unique(out)) > 1
    # Replaying the drawn values with teacher forcing gives the same probabilities the sampler
    # used: redraw each step by inverse CDF with the same uniforms and compare.
    x = np.concatenate([[0.1], out[:-1]])[:, None]
    probs = model.forward(x)
    uniforms = np.random.default_rng(9).random(60)
    redrawn = values[[np.searchsorted(np.cumsum(p), u * p.sum()) for p, u in zip(probs, uniforms)]]
    np.testing.assert_array_equal(out, redrawn)
    _, end = model.forward(x, return_state=True)
    assert state.t == 60
    assert_allclose(state.h, end.h, rtol=1e-12)
    # Same seed, same sequence; temperature 0 is the argmax path.
    np.testing.assert_array_equal(model.sample(60, values=values, seed=9, first_input=0.1), out)
    greedy = model.sample(30, values=values, temperature=0)
    probs = model.forward(np.concatenate([[0.0], greedy[:-1]])[:, None])
    np.testing.assert_array_equal(greedy, values[probs.argmax(axis=1)])
    # Continuing from the returned state (which carries the input history) equals one long call.
    first, state = model.sample(25, values=values, seed=np.random.default_rng(3), first_input=0.1, return_state=True)
    rest = model.sample(35, values=values, seed=np.random.default_rng(4), first_input=first[-1], state=state)
    uniforms = np.concatenate([np.random.default_rng(3).random(25), np.random.default_rng(4).random(35)])
    x = np.concatenate([[0.1], first, rest[:-1]])[:, None]
    probs = model.forward(x)
    redrawn = values[[np.searchsorted(np.cumsum(p), u * p.sum()) for p, u in zip(probs, uniforms)]]
    np.testing.assert_array_equal(np.concatenate([first, rest]), redrawn)


def test_sample_refuses_a_bad_seed():
    model = ClockworkRNN(1, 4, n_hidden=4, n_modules=2, output="softmax")
    with pytest.raises(ParameterError, match="seed=-1"):
        model.sample(5, values=np.arange(4.0), seed=-1)


def test_seeds_numpy_takes_are_taken():
    """Whatever np.random.default_rng takes seeds a model the same way."""
    for seed in ([1, 2], np.random.SeedSequence(7), np.random.PCG64(7), np.uint8(7)):
        expected = np.random.default_rng(seed if not isinstance(seed, np.random.PCG64) else np.random.PCG64(7))
        model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, dtype=np.float64, seed=seed)
        assert np.array_equal(model.params, expected.normal(0.0, 0.1, size=model.n_params))


def test_the_trainers_take_the_seeds_the_models_take():
    """fit refused a list or a SeedSequence that a model's constructor takes, in the words of a
    check that takes them: every such seed gives a root of one draw, the same from the same seed."""
    from cwfast.train import evolve, fit
    from cwfast.train._common import seed_entropy

    for seed in ([1, 2], np.random.SeedSequence(7), np.uint8(7)):
        assert seed_entropy(seed) == seed_entropy(seed if not isinstance(seed, list) else [1, 2])
    assert seed_entropy(np.random.PCG64(7)) == seed_entropy(np.random.default_rng(7)) == seed_entropy([7])
    assert seed_entropy(np.uint8(7)) == 7
    x, y = np.zeros((24, 0)), np.sin(np.arange(24.0))[:, None]
    runs = [fit(ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0), x, y, epochs=2, batch_size=1, window=8,
                input_noise=0.1, seed=np.random.SeedSequence(3)).losses for _ in range(2)]
    assert runs[0] == runs[1]
    evolve(ClockworkRNN(0, 1, n_hidden=4, n_modules=2, seed=0), x, y, generations=1, population=4,
           seed=[3, 4])
    for bad in (-1, "x", True, 1.5):
        for call in (lambda: seed_entropy(bad), lambda: ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=bad)):
            with pytest.raises(ParameterError, match=r"must be a non-negative integer, a numpy Generator or None "
                               r"\(or another seed np.random.default_rng takes\)$"):
                call()


def test_sample_refuses_other_models():
    with pytest.raises(ParameterError, match="softmax or mixture model with n_in=1"):
        ClockworkRNN(1, 4, n_hidden=4, n_modules=2).sample(3, values=np.zeros(4))
    soft = ClockworkRNN(1, 4, n_hidden=4, n_modules=2, output="softmax")
    with pytest.raises(ParameterError, match="temperature=-1"):
        soft.sample(3, values=np.zeros(4), temperature=-1)
    with pytest.raises(ParameterError, match="values has shape"):
        soft.sample(3, values=np.zeros(3))


def test_training_trace_holds_only_what_changed():
    # 8 modules with periods 1..128: a module of period T fires n/T times, so the trace BPTT keeps
    # is sum_i k_i / T_i per step, a quarter of the dense T x n history.
    model = ClockworkRNN(1, 1, n_hidden=512, n_modules=8)
    offsets = model.layout.trace_offsets(44100)
    assert offsets[-1] == sum(64 * -(-44100 // 2**i) for i in range(8))
    assert 0.24 < offsets[-1] / (44100 * 512) < 0.26
    # A window that starts mid-cycle counts the updates inside it, not from 0.
    assert model.layout.update_counts(10, t0=3).tolist() == [10, 5, 3, 1, 0, 0, 0, 0]  # t = 3..12


# ---------------------------------------------------------------- input windows
# Module i reads x(t - L_i + 1) .. x(t) at each tick (tests/naive.py writes the equation out).

WINDOWED = {
    # (module_sizes, periods, input_windows as given, in the order of periods)
    "period": ([3, 2, 2, 1], [1, 2, 4, 8], "period"),
    "mixed_unsorted": ([2, 5, 1], [4, 1, 3], [3, 2, 5]),
    "equal_periods": ([2, 3, 2], [1, 1, 3], 4),
}


def make_windowed(name, n_in=3, n_out=2, dtype=np.float64, seed=1, output="linear"):
    sizes, periods, windows = WINDOWED[name]
    return ClockworkRNN(n_in, n_out, module_sizes=sizes, periods=periods, seed=seed, dtype=dtype,
                        input_windows=windows, output=output)


def test_input_window_attributes_and_layout():
    model = make_windowed("mixed_unsorted")
    # Sorted by period: periods 1, 3, 4 with windows 2, 5, 3 and sizes 5, 1, 2.
    assert model.periods.tolist() == [1, 3, 4] and model.input_windows.tolist() == [2, 5, 3]
    assert model.input_windows.dtype == np.int64 and model.max_window == 5
    assert model.layout.input_offset.tolist() == [0, 10, 15, 21]
    even = ClockworkRNN(3, 2, n_hidden=8, periods=[4, 1, 3], input_windows=[3, 2, 5])
    count = ClockworkRNN.count_params(8, 3, 2, periods=[4, 1, 3], input_windows=[3, 2, 5], count_periods=False)
    assert even.n_params == count == ClockworkRNN.count_params(8, 3, 2, periods=[4, 1, 3], count_periods=False) + (
        3 * (2 - 1) + 3 * (5 - 1) + 2 * (3 - 1)) * 3  # sorted: 3, 3, 2 units (leftovers to the fastest), windows 2, 5, 3
    assert model._state_width() == 8 + 4 * 3
    assert "input_windows=[2, 5, 3]" in repr(model)
    assert "input_windows" not in repr(make("nested"))
    assert make_windowed("period").input_windows.tolist() == [1, 2, 4, 8]
    np.testing.assert_array_equal(make("nested").layout.input_offset, make("nested").layout.module_start)
    # The windows are numbers: new periods keep them (they are part of the parameter layout).
    period = make_windowed("period")
    period.set_periods([1, 2, 4, 16])
    assert period.input_windows.tolist() == [1, 2, 4, 8]
    # Column (L - 1 - k) * n_in + j of a module's row weighs x_j(t - k): oldest first.
    assert model.W_in_block(1).shape == (1, 15)


@pytest.mark.parametrize("windows, message", [
    ("periods", "input_windows='periods'"), (0, "input_windows=0"), ([1, 2], "one per module"),
    ([1, 0, 1, 1], "positive integers"), (2.5, "input_windows=2.5"),
])
def test_invalid_input_windows(windows, message):
    with pytest.raises(ParameterError, match=message):
        ClockworkRNN(1, 1, n_hidden=8, n_modules=4, input_windows=windows)


@pytest.mark.parametrize("name", WINDOWED)
@pytest.mark.parametrize("n_in", [1, 3])
def test_windowed_forward_matches_naive(name, n_in, rng):
    model = make_windowed(name, n_in=n_in)
    d = model.to_dense()
    x = rng.normal(size=(3, 29, n_in))
    y = model.forward(x)
    for b in range(3):
        _, ref = naive.forward(d, x[b])
        assert_allclose(y[b], ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.forward(x[1]), y[1])
    # From a state at t0 > 0 carrying an input history.
    h0 = rng.normal(scale=0.5, size=model._state_width())
    y, state = model.forward(x[0], state=State(h0, 5), return_state=True)
    H, ref = naive.forward(d, x[0], h0=h0, t0=5)
    assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    assert_allclose(state.h[: model.n_hidden], H[-1], rtol=1e-12)
    P = model.max_window - 1
    np.testing.assert_array_equal(state.h[model.n_hidden :], x[0, -P:].ravel())


def test_windowed_float32_forward_matches_naive(rng):
    model = make_windowed("mixed_unsorted", dtype=np.float32)
    x = rng.normal(size=(2, 40, 3)).astype(np.float32)
    _, ref = naive.forward(model.to_dense(), x[1].astype(float))
    assert_allclose(model.forward(x)[1], ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("batched", [False, True])
def test_windowed_state_carries_the_inputs_across_calls(batched, rng):
    model = make_windowed("mixed_unsorted")
    x = rng.normal(size=(2, 11, 3)) if batched else rng.normal(size=(11, 3))
    whole, end = model.forward(x, return_state=True)
    for split in range(12):
        first, state = model.forward(x[..., :split, :], return_state=True)
        second, state = model.forward(x[..., split:, :], state=state, return_state=True)
        np.testing.assert_array_equal(np.concatenate([first, second], axis=-2), whole)
        np.testing.assert_array_equal(state.h, end.h)
    np.testing.assert_array_equal(model.advance(x).h, end.h)
    assert model.loss(x, np.zeros_like(whole)) == pytest.approx(np.mean(whole**2), rel=1e-12)


def test_windowed_dense_round_trip_and_weights_outside_a_window_rejected():
    model = make_windowed("mixed_unsorted", seed=4)
    d = model.to_dense()
    assert d["W_in"].shape == (8, 15) and d["input_windows"].tolist() == [2, 5, 3]
    # Right-aligned: module 0 (period 1, window 2) has zeros left of its last 6 columns.
    assert not d["W_in"][:5, :9].any() and d["W_in"][:5, 9:].all()
    clone = ClockworkRNN.from_dense(d)
    np.testing.assert_array_equal(clone.params, model.params)
    np.testing.assert_array_equal(clone.input_windows, model.input_windows)
    bad = dict(d, W_in=d["W_in"].copy())
    bad["W_in"][0, 0] = 0.5
    with pytest.raises(ParameterError, match="outside the input windows"):
        ClockworkRNN.from_dense(bad)
    # A dict without input_windows is a model whose modules read one input each.
    plain = make("nested").to_dense()
    del plain["input_windows"]
    np.testing.assert_array_equal(ClockworkRNN.from_dense(plain).params, make("nested").params)
    with pytest.raises(ParameterError, match="W_in"):
        ClockworkRNN.from_dense(dict(d, W_in=d["W_in"][:, 1:]))


@pytest.mark.parametrize("name", WINDOWED)
def test_windowed_gradients_match_naive(name, rng):
    model = make_windowed(name)
    x = rng.normal(size=(2, 23, 3))
    target = rng.normal(size=(2, 23, 2))
    loss, grads = model.loss_and_grad(x, target)
    ref_loss, ref = naive.loss_and_grad(model.to_dense(), x, target)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    for key in ref:
        assert_allclose(grads[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)
    assert not grads["W_in"][~model.layout.window_mask(3)].any()
    # From a state at t0 > 0 whose input history reaches into the first windows.
    h0 = rng.normal(scale=0.5, size=(1, model._state_width()))
    loss, grads, state = model.loss_and_grad(x[:1], target[:1], state=State(h0, 7), return_state=True)
    ref_loss, ref = naive.loss_and_grad(model.to_dense(), x[:1], target[:1], h0=h0[0], t0=7)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    for key in ref:
        assert_allclose(grads[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)
    np.testing.assert_array_equal(state.h, model.forward(x[:1], state=State(h0, 7), return_state=True)[1].h)


@pytest.mark.parametrize("output, steps", [("linear", "all"), ("softmax", "all"), ("softmax", "last"),
                                           ("linear", "mean")])
def test_windowed_gradient_matches_central_differences(output, steps, rng):
    model = make_windowed("mixed_unsorted", n_in=2, n_out=3, seed=3, output=output)
    x = rng.normal(size=(2, 14, 2))
    lead = (2, 14) if steps == "all" else (2,)
    target = rng.integers(0, 3, size=lead) if output == "softmax" else rng.normal(size=lead + (3,))
    state = State(rng.normal(scale=0.5, size=(2, model._state_width())), 2)
    _, grad = model.loss_and_grad(x, target, flat=True, steps=steps, state=state)
    numeric = central_differences(model, lambda: model.loss(x, target, steps=steps, state=state))
    err = np.abs(numeric - grad)
    assert err.max() < 1e-8 and err.mean() < 1e-9, (err.max(), err.mean())


def test_windowed_models_declare_their_realtime_kind_and_an_srn_refuses_windows(tmp_path):
    from cwfast.baselines import SRN

    model = make_windowed("period")
    # Stream and the C export run this kind (tests/test_stream.py, tests/test_export.py).
    assert make("nested").realtime_kind == "clockwork" and model.realtime_kind == "clockwork_windows"
    with pytest.raises(ParameterError, match="an SRN reads one input"):
        SRN.from_dense(ClockworkRNN(2, 3, module_sizes=[6], periods=[1], input_windows=2).to_dense())


def test_initial_parameters_are_one_stream_of_draws_whatever_the_chunks():
    """The start is filled a chunk at a time (no float64 copy of a large model), with the values
    one draw of them all gives: every seed's model, and every figure trained from one, stays."""
    from cwfast.model import initial_params

    for model in (cwfast.ClockworkRNN(3, 2, n_hidden=12, n_modules=3, seed=4), cwfast.SRN(3, 2, n_hidden=7, seed=4),
                  cwfast.LSTM(3, 2, n_hidden=5, seed=4)):
        expected = np.random.default_rng(4).normal(0.0, 0.1, size=model.n_params).astype(model.dtype)
        differ = np.flatnonzero(model.params != expected)
        if isinstance(model, cwfast.LSTM):  # all but its forget gates' biases, set after the draws
            np.testing.assert_array_equal(model.params[differ], model.b_h[5:10])
        else:
            assert differ.size == 0
    big = np.empty((1 << 21) + 5, np.float32)
    initial_params(big, 9)
    np.testing.assert_array_equal(big, np.random.default_rng(9).normal(0.0, 0.1, size=big.size).astype(np.float32))


@pytest.mark.parametrize("cls", [cwfast.ClockworkRNN, cwfast.SRN, cwfast.LSTM])
@pytest.mark.parametrize("arrays", [3, None, [("W_h", np.zeros((2, 2)))]])
def test_from_dense_refuses_what_is_not_a_mapping(cls, arrays):
    with pytest.raises(ParameterError, match="arrays must be a mapping of name to array"):
        cls.from_dense(arrays)



def test_from_dense_names_periods_of_another_length_than_the_modules():
    """They were reported as input_windows=[1, 1, 1] not one per module."""
    arrays = ClockworkRNN(1, 1, n_hidden=8, n_modules=3, seed=0).to_dense()
    for periods in ([1, 2], [1, 2, 4, 8]):
        with pytest.raises(ParameterError, match=rf"^periods={re.escape(str(periods))} has {len(periods)} entries but module_sizes has 3"):
            ClockworkRNN.from_dense(arrays | {"periods": np.array(periods)})
        without = {key: value for key, value in arrays.items() if key != "input_windows"}
        with pytest.raises(ParameterError, match=rf"^periods={re.escape(str(periods))} has {len(periods)} entries"):
            ClockworkRNN.from_dense(without | {"periods": np.array(periods)})

@pytest.mark.parametrize("windows", [None, [3, 1]])
def test_an_empty_batch_runs_to_empty_outputs_with_or_without_input_windows(windows):
    """A batch of no sequences: forward and advance give empty results (windows made NumPy refuse
    to reshape the inputs kept for the next call)."""
    model = ClockworkRNN(1, 2, n_hidden=4, n_modules=2, input_windows=windows, seed=0)
    x = np.zeros((0, 5, 1), np.float32)
    assert model.forward(x).shape == (0, 5, 2)
    state = model.advance(x)
    assert state.h.shape[0] == 0 and state.t == 5


@pytest.mark.parametrize("n_hidden, periods, sizes", [
    (6, [8, 4, 2, 1], [2, 2, 1, 1]), (4, [4, 1, 2], [2, 1, 1]), (5, [2, 1, 2, 1], [2, 1, 1, 1]),
    (40, None, [5, 5, 5, 5, 4, 4, 4, 4, 4]), (8, [3, 3, 3], [3, 3, 2]),
])
def test_leftover_units_go_to_the_fastest_modules_in_any_order_of_periods(n_hidden, periods, sizes):
    """As the README and the docstring say; with periods given slowest first the leftovers went
    to the slowest modules (an audit of the docs against the code)."""
    model = ClockworkRNN(1, 1, n_hidden=n_hidden, n_modules=len(sizes), periods=periods)
    assert model.module_sizes.tolist() == sizes
    assert ClockworkRNN.count_params(n_hidden, 1, 1, periods=periods or list(model.periods)) == model.n_params + len(sizes)
