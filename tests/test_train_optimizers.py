"""Optimizers against hand-written reference updates, clipping, schedules, state save/restore."""

import math

import numpy as np
import pytest

from cwfast import ParameterError
from cwfast.train import Adam, NesterovSGD, clip_grad_norm, make_schedule


def reference_adam(theta, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Algorithm 1 of Kingma and Ba, line by line."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta.copy())
    return out


def test_adam_matches_reference(rng):
    theta = rng.normal(size=7)
    grads = [rng.normal(size=7) * 10.0 ** k for k in range(-2, 3)]
    params = theta.copy()
    opt = Adam(0.01)
    for g, want in zip(grads, reference_adam(theta, grads, 0.01)):
        opt.step(params, g.copy())
        np.testing.assert_allclose(params, want, rtol=1e-13, atol=1e-15)
    assert opt.t == len(grads)


def test_nesterov_matches_sutskever_lookahead(rng):
    """The stored parameters are Sutskever's look-ahead point theta + mu v, on a quadratic."""
    a = rng.normal(size=(5, 5))
    hessian = a @ a.T + np.eye(5)
    b = rng.normal(size=5)

    def gradient(p):
        return hessian @ p - b

    lr, mu = 0.01, 0.95
    theta = rng.normal(size=5)
    v = np.zeros(5)
    params = theta.copy()  # v = 0, so the look-ahead point starts at theta
    opt = NesterovSGD(lr, momentum=mu)
    for _ in range(6):
        v = mu * v - lr * gradient(theta + mu * v)
        theta = theta + v
        opt.step(params, gradient(params))
        np.testing.assert_allclose(params, theta + mu * v, rtol=1e-12, atol=1e-14)


def test_nesterov_descends_a_quadratic(rng):
    hessian = np.diag([1.0, 4.0, 9.0])
    params = rng.normal(size=3)
    start = 0.5 * params @ hessian @ params
    opt = NesterovSGD(0.02, momentum=0.9)
    for _ in range(50):
        opt.step(params, hessian @ params)
    assert 0.5 * params @ hessian @ params < 1e-3 * start


@pytest.mark.parametrize("make", [Adam, lambda lr: NesterovSGD(lr, momentum=0.0)], ids=["adam", "nesterov"])
def test_lr_override_applies_to_one_step_only(rng, make):
    """A step given lr takes that rate; the next step, given none, takes the optimizer's own again."""
    a, b = np.ones(3), np.ones(3)
    g, h = rng.normal(size=3), rng.normal(size=3)
    opt = make(0.1)
    opt.step(a, g, lr=0.5)
    twin = make(0.5)
    twin.step(b, g)
    np.testing.assert_array_equal(a, b)
    assert opt.lr == 0.1
    opt.step(a, h)
    twin.lr = 0.1
    twin.step(b, h)
    np.testing.assert_array_equal(a, b)
    if isinstance(opt, NesterovSGD):  # without momentum, plain steps: 0.5 of g, then 0.1 of h
        np.testing.assert_allclose(a, 1 - 0.5 * g - 0.1 * h, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: NesterovSGD(0.01, momentum=0.9)])
def test_state_dict_restores_exactly(rng, make):
    grads = [rng.normal(size=6) for _ in range(6)]
    p1 = rng.normal(size=6)
    p2 = p1.copy()
    opt = make()
    for g in grads[:3]:
        opt.step(p1, g)
    saved = opt.state_dict()
    p2[:] = p1
    for g in grads[3:]:
        opt.step(p1, g)
    other = make()
    other.load_state_dict(saved)
    for g in grads[3:]:
        other.step(p2, g)
    np.testing.assert_array_equal(p1, p2)


def test_state_dict_refuses_another_optimizer():
    with pytest.raises(ParameterError, match="adam"):
        NesterovSGD().load_state_dict(Adam().state_dict())



@pytest.mark.parametrize("make", [Adam, NesterovSGD])
def test_a_refused_step_or_state_changes_nothing(make):
    """What a step cannot take is a ParameterError naming it, before its count or moments move (a
    gradient of another shape was NumPy's ValueError after the step count and half the moments had
    moved; a NaN gradient or a negative rate was taken; a list, a string, a state that is no dict,
    AttributeErrors and TypeErrors)."""
    params = np.zeros(4, np.float32)
    opt = make(0.1)
    opt.step(params, np.ones(4, np.float32))
    saved, before = opt.state_dict(), params.copy()
    refused = [
        ((params, np.ones(3, np.float32)), {}, r"^grad must be a real NumPy array of shape \(4,\)"),
        ((params, [1.0] * 4), {}, "^grad must be a real NumPy array"),
        ((params, np.array(["abcd"] * 4)), {}, "^grad must be a real NumPy array"),
        ((params, np.full(4, np.nan, np.float32)), {}, "^grad contains NaN or infinite values"),
        (([0.0] * 4, np.ones(4)), {}, "^params must be a writeable float NumPy array"),
        ((np.zeros(4, int), np.ones(4)), {}, "^params must be a writeable float NumPy array"),
        ((params, np.ones(4, np.float32)), {"lr": -1.0}, r"^lr=-1.0 must be a finite number >= 0"),
        ((params, np.ones(4, np.float32)), {"lr": "1"}, "^lr='1' must be a finite number >= 0"),
        ((params, np.ones(4, np.float32)), {"lr": np.ones(3)}, r"^lr must be a number or one a parameter \(4,\)"),
    ]
    for args, kwargs, match in refused:
        with pytest.raises(ParameterError, match=match):
            opt.step(*args, **kwargs)
    for state, match in (([1], "^optimizer state must be a dict"), (None, "^optimizer state must be a dict"),
                         (saved | {opt._arrays[-1]: "xyz"}, f"^optimizer state has invalid {opt._arrays[-1]}"),
                         (saved | {"t": 5, opt._arrays[0]: np.ones((2, 2), np.float32)},
                          f"^optimizer state has invalid {opt._arrays[0]}")):
        with pytest.raises(ParameterError, match=match):
            opt.load_state_dict(state)
    np.testing.assert_array_equal(params, before)
    after = opt.state_dict()
    assert after["t"] == saved["t"] == 1
    for key in opt._arrays:
        np.testing.assert_array_equal(after[key], saved[key])
    opt.step(params, np.ones(4, np.float32), lr=np.full(4, 0.5))  # a rate a parameter, as the ES gives
    assert opt.t == 2 and not np.array_equal(params, before)

def test_clip_grad_norm():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8])
    assert np.linalg.norm(g) == pytest.approx(1.0)
    small = np.array([0.3, 0.4])
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small, [0.3, 0.4])
    big = np.array([30.0, 40.0])
    clip_grad_norm(big, None)
    np.testing.assert_array_equal(big, [30.0, 40.0])
    bad = np.array([np.nan, 1.0])
    assert math.isnan(clip_grad_norm(bad, 1.0))


def test_schedules():
    cosine = make_schedule("cosine", 10)
    assert cosine(0) == 1.0
    assert cosine(5) == pytest.approx(0.5)
    assert make_schedule("linear", 4)(3) == pytest.approx(0.25)
    assert make_schedule(None, 4)(3) == 1.0
    assert make_schedule(lambda e: 0.5**e, 4)(2) == 0.25
    with pytest.raises(ParameterError, match="lr_schedule"):
        make_schedule("warm", 10)
    # a callable's factor is checked where it is used: a negative one climbed the loss, NaN "diverged"
    for bad in (-1.0, float("nan"), float("inf"), "0.5", True):
        with pytest.raises(ParameterError, match=r"lr_schedule\(3\) = .*must be a finite number >= 0"):
            make_schedule(lambda e, bad=bad: bad, None, time_budget=60.0)(3)  # no epochs: checked as used
    assert make_schedule(lambda e: 0, 4)(3) == 0
    assert make_schedule(lambda e: np.where(e < 2, 1.0, 0.1), 4)(3) == 0.1  # any real scalar
    with pytest.raises(ParameterError, match=r"lr_schedule\(5\) = -1.0"):  # refused before the run
        make_schedule(lambda e: 1.0 if e < 5 else -1.0, 10)



@pytest.mark.parametrize("epochs", [0, -3, 2.5, "10", True])
def test_a_schedule_needs_a_positive_whole_number_of_epochs(epochs):
    # (0 divided by zero when the rate was asked for; -3 and 2.5 gave factors of no run; "10" a TypeError)
    with pytest.raises(ParameterError, match=f"^epochs={epochs!r} must be a positive integer"):
        make_schedule("cosine", epochs)

def test_a_run_without_epochs_decays_over_its_time_budget():
    cosine = make_schedule("cosine", None, time_budget=60.0)
    assert cosine(0, 0.0) == 1.0
    assert cosine(10, 30.0) == pytest.approx(0.5)  # half the budget spent, whatever the epoch
    assert cosine(10, 90.0) == pytest.approx(0.0)  # past the budget: the end of the decay, not beyond
    assert make_schedule("linear", None, time_budget=60.0)(1, 45.0) == pytest.approx(0.25)
    assert make_schedule("constant", None, time_budget=1.0)(3, 5.0) == 1.0
    assert make_schedule(lambda e: 0.5**e, None, time_budget=1.0)(2, 0.9) == 0.25  # a callable sees the epoch alone
    # With a number of epochs the clock plays no part: a run is the same whatever its pace.
    assert make_schedule("cosine", 100, time_budget=60.0)(10, 59.0) == make_schedule("cosine", 100)(10)
    for budget in (None, 0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="time_budget"):
            make_schedule("cosine", None, time_budget=budget)


def test_invalid_hyperparameters():
    with pytest.raises(ParameterError, match="lr"):
        Adam(0.0)
    with pytest.raises(ParameterError, match="momentum"):
        NesterovSGD(momentum=1.0)
