"""The gradient trainer: descent, the exact update, truncated BPTT with clock phase, streams,
minibatches, early stopping, callbacks, divergence."""

import math

import numpy as np
import pytest

import cwfast
from cwfast import CwfastError, ParameterError
from cwfast.train import Adam, fit
from cwfast.train.optimizers import Optimizer


def small_model(seed=0, periods=(1, 2, 4), n_in=0, output="linear", n_out=1):
    return cwfast.ClockworkRNN(n_in, n_out, module_sizes=[3] * len(periods), periods=list(periods), seed=seed,
                               dtype=np.float64, output=output)


def sine(n_steps=48):
    return np.sin(np.arange(n_steps) / 3.0)[:, None]


class Frozen(Optimizer):
    """Takes no step, but records every gradient it is given."""

    name = "frozen"

    def __init__(self):
        super().__init__(1.0)
        self.grads = []

    def step(self, params, grad, *, lr=None):
        self.grads.append(grad.copy())


@pytest.mark.parametrize("optimizer, lr", [("adam", None), ("sgd", 0.1)])
def test_each_optimizer_decreases_the_loss(optimizer, lr):
    model = small_model()
    x, y = np.zeros((48, 0)), sine()
    start = model.loss(x, y)
    result = fit(model, x, y, optimizer=optimizer, lr=lr, epochs=150, seed=0)
    assert result.final_loss < 0.3 * start
    assert result.final_loss == pytest.approx(model.loss(x, y))
    assert len(result.losses) == 150 and result.steps == 150 and result.epochs == 150
    assert result.losses[0] == pytest.approx(start)
    assert result.stopped == "completed"


def test_one_update_is_clip_then_adam(rng):
    """fit = loss_and_grad, clip to clip_norm, one Adam step (the textbook form written out here)."""
    model = small_model(n_in=2)
    x = rng.normal(size=(30, 2))
    y = rng.normal(size=(30, 1))
    before = model.params.copy()
    _, grad = model.loss_and_grad(x, y, flat=True)
    grad *= min(1.0, 0.05 / np.linalg.norm(grad))
    m, v = 0.1 * grad, 0.001 * grad**2
    want = before - 0.02 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    fit(model, x, y, lr=0.02, epochs=1, clip_norm=0.05)
    np.testing.assert_allclose(model.params, want, rtol=1e-12, atol=1e-14)


def test_default_sgd_lr_is_the_papers_on_the_summed_error():
    seen = []
    fit(small_model(), np.zeros((40, 0)), sine(40), optimizer="sgd", epochs=1,
        on_step_end=lambda info: seen.append(info.lr))
    assert seen == [pytest.approx(3e-4 * 40)]


def test_window_equal_to_the_sequence_is_full_bptt(rng):
    x = rng.normal(size=(37, 2))
    y = rng.normal(size=(37, 1))
    a, b = small_model(n_in=2), small_model(n_in=2)
    fit(a, x, y, epochs=3)
    fit(b, x, y, epochs=3, window=37)
    np.testing.assert_array_equal(a.params, b.params)


def test_windows_carry_state_and_clock_phase(rng):
    """Windows of 4 steps over periods 1, 3, 5: the forward pass must match one pass over the
    whole sequence, which only holds if state *and* step t carry over; each window's gradient is
    the truncated-BPTT gradient from the carried state."""
    model = small_model(n_in=1, periods=(1, 3, 5))
    x = rng.normal(size=(22, 1))
    y = rng.normal(size=(22, 1))
    frozen = Frozen()
    result = fit(model, x, y, optimizer=frozen, epochs=1, window=4, clip_norm=None)
    assert result.steps == 6  # 5 windows of 4 and one of 2
    assert result.losses[0] == pytest.approx(model.loss(x, y), rel=1e-12)

    state = None
    for k, start in enumerate(range(0, 22, 4)):
        part = slice(start, start + 4)
        _, grad, state = model.loss_and_grad(x[part], y[part], state=state, flat=True, return_state=True)
        np.testing.assert_allclose(frozen.grads[k], grad, rtol=1e-12, atol=1e-15)

    # The test can fail: restarting the clock at every window gives another loss.
    restarted = np.mean([model.loss(x[s : s + 4], y[s : s + 4], state=None) for s in range(0, 20, 4)])
    assert abs(restarted - model.loss(x[:20], y[:20])) > 1e-3


def test_streams_start_in_clock_phase(rng):
    """batch_size=2 cuts one sequence into two streams, each a whole number of clock cycles long."""
    model = small_model(n_in=1, periods=(1, 2))
    x = rng.normal(size=(21, 1))
    y = rng.normal(size=(21, 1))
    result = fit(model, x, y, optimizer=Frozen(), epochs=1, batch_size=2, window=3)
    streams = [model.loss(x[0:10], y[0:10]), model.loss(x[10:20], y[10:20])]
    assert result.losses[0] == pytest.approx(np.mean(streams), rel=1e-12)
    assert result.steps == 4  # windows 3, 3, 3, 1 of streams of 10
    with pytest.raises(ParameterError, match="clock cycle"):
        fit(small_model(n_in=1, periods=(1, 8)), x, y, epochs=1, batch_size=3)


def test_minibatches_are_seeded(rng):
    x = rng.normal(size=(6, 12, 1))
    y = rng.normal(size=(6, 12, 1))
    runs = []
    for seed in (1, 1, 2):
        model = small_model(n_in=1)
        result = fit(model, x, y, epochs=4, batch_size=2, seed=seed, input_noise=0.1)
        assert result.steps == 12
        runs.append(model.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_softmax_last_step_classification(rng):
    """A softmax head scored on the last step learns to tell two input patterns apart."""
    model = small_model(n_in=1, output="softmax", n_out=2)
    labels = np.array([0, 1] * 4)
    x = np.where(labels[:, None, None] == 1, 1.0, -1.0) * np.ones((8, 10, 1))
    result = fit(model, x, labels, steps="last", epochs=60, lr=0.03, seed=0)
    assert result.final_loss < 0.25 * result.losses[0]
    probabilities = model.forward(x)[:, -1]
    np.testing.assert_array_equal(probabilities.argmax(axis=1), labels)


def test_softmax_mean_readout_classification(rng):
    """Scored on the mean output, a softmax head learns from a cue that is gone long before the end."""
    model = small_model(n_in=1, output="softmax", n_out=2)
    labels = np.array([0, 1] * 4)
    x = np.zeros((8, 30, 1))
    x[:, 3, 0] = np.where(labels == 1, 1.0, -1.0)
    result = fit(model, x, labels, steps="mean", epochs=80, lr=0.03, seed=0)
    assert result.final_loss < 0.25 * result.losses[0]
    pooled = np.log(model.forward(x)).mean(axis=1)  # softmax(mean logits) ranks classes like this
    np.testing.assert_array_equal(pooled.argmax(axis=1), labels)


def test_validation_keeps_the_best_and_stops_early():
    """Validation on the negated target gets worse as training succeeds: stop, keep epoch 0's update."""
    model = small_model()
    x, y = np.zeros((48, 0)), sine()
    snapshots = []
    result = fit(model, x, y, epochs=50, validation=(x, -y), patience=3,
                 on_step_end=lambda info: snapshots.append(info.params.copy()))
    assert result.stopped == "early stopping"
    assert len(result.losses) == len(result.validation_losses) == result.best_epoch + 1 + 3
    assert result.best_epoch == int(np.argmin(result.validation_losses))
    np.testing.assert_array_equal(model.params, snapshots[result.best_epoch])
    assert model.loss(x, -y) == pytest.approx(min(result.validation_losses))
    assert result.best_loss == pytest.approx(min(result.validation_losses))


def test_final_loss_false_skips_the_last_pass_and_trains_the_same(monkeypatch):
    """The pass that scores all of x for final_loss is left out, and nothing else changes."""
    x, y = np.zeros((48, 0)), sine()
    kept = small_model()
    full = fit(kept, x, y, epochs=5, seed=0, validation=(x[:24], y[:24]))
    calls = []
    scored = cwfast.ClockworkRNN.loss

    def counting(self, x_in, *args, **kwargs):
        calls.append(np.shape(x_in))
        return scored(self, x_in, *args, **kwargs)

    monkeypatch.setattr(cwfast.ClockworkRNN, "loss", counting)
    model = small_model()
    skipped = fit(model, x, y, epochs=5, seed=0, validation=(x[:24], y[:24]), final_loss=False)
    assert math.isnan(skipped.final_loss) and not math.isnan(full.final_loss)
    assert calls and all(shape[-2] == 24 for shape in calls)  # validation only: never all of x
    np.testing.assert_array_equal(model.params, kept.params)
    assert skipped.losses == full.losses and skipped.validation_losses == full.validation_losses
    assert skipped.best_loss == full.best_loss and skipped.best_epoch == full.best_epoch
    with pytest.raises(ParameterError, match="final_loss"):
        fit(small_model(), x, y, epochs=1, final_loss="no")


def test_callback_sees_every_update_and_can_stop(rng):
    model = small_model(n_in=1)
    x = rng.normal(size=(4, 8, 1))
    y = rng.normal(size=(4, 8, 1))
    seen = []

    def callback(info):
        seen.append((info.epoch, info.step, info.epoch_loss is not None, info.lr))
        return info.step == 5

    result = fit(model, x, y, epochs=10, batch_size=2, lr=0.01, lr_schedule=lambda e: 0.5**e, on_step_end=callback)
    assert result.stopped == "callback" and result.steps == 5 and result.epochs == 2
    assert [s[:3] for s in seen] == [(0, 1, False), (0, 2, True), (1, 3, False), (1, 4, True), (2, 5, False)]
    assert [s[3] for s in seen] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


class Poison(Adam):
    """Adam that writes a NaN into the parameters on its third step."""

    def step(self, params, grad, *, lr=None):
        super().step(params, grad, lr=lr)
        if self.t == 3:
            params[0] = np.nan


def test_divergence_raises_and_restores_finite_params():
    model = small_model()
    x, y = np.zeros((48, 0)), sine()
    snapshots = []
    with pytest.raises(CwfastError, match=r"training diverged: the parameters became non-finite at epoch 3 \(update 3\)"):
        fit(model, x, y, optimizer=Poison(0.01), epochs=10,
            on_step_end=lambda info: snapshots.append(info.params.copy()))
    assert np.all(np.isfinite(model.params))
    np.testing.assert_array_equal(model.params, snapshots[1])  # before the poisoned third update
    assert math.isfinite(model.loss(x, y))


def test_a_step_that_overflows_on_the_last_update_is_divergence():
    """A finite loss and gradient with a step too large for float32 made the parameters infinite;
    on the last update nothing read them again, and fit returned a NaN model. (lr 1e39: Adam's
    first step is lr itself, beyond float32's 3.4e38 on every numpy; 1e38 overflowed only on
    numpy 2, in lr / (1 - beta1).)"""
    model = cwfast.ClockworkRNN(0, 1, module_sizes=[3, 3, 2], periods=[1, 2, 4], seed=0, dtype=np.float32)
    before = model.params.copy()
    with pytest.raises(CwfastError, match=r"training diverged: the parameters became non-finite at epoch 1 \(update 1\)"):
        with np.errstate(over="ignore"):
            fit(model, np.zeros((48, 0)), sine(), lr=1e39, epochs=1, progress=False)
    np.testing.assert_array_equal(model.params, before)  # the last finite parameters: those it started from


def test_invalid_arguments():
    model = small_model()
    x, y = np.zeros((10, 0)), sine(10)
    with pytest.raises(ParameterError, match="optimizer"):
        fit(model, x, y, optimizer="rmsprop")
    with pytest.raises(ParameterError, match="model must be a ClockworkRNN, SRN or LSTM, not NoneType"):
        fit(None, x, y)
    with pytest.raises(ParameterError, match="streams shorter than one clock cycle .*; use at most 1 stream$"):
        fit(model, np.zeros((6, 0)), sine(6), batch_size=2)  # cycle 4: 6 steps make one stream
    with pytest.raises(ParameterError, match="epochs"):
        fit(model, x, y, epochs=0)
    with pytest.raises(ParameterError, match="resume"):
        fit(model, x, y, resume=True)
    with pytest.raises(ParameterError, match="target"):
        fit(model, x, y[:5])
    with pytest.raises(ParameterError, match="steps='all'"):
        fit(small_model(n_in=1), np.zeros((3, 10, 1)), np.zeros((3, 1)), steps="last", window=4)
    with pytest.raises(ParameterError, match="steps='all'"):
        fit(small_model(n_in=1), np.zeros((3, 10, 1)), np.zeros((3, 1)), steps="mean", window=4)
    with pytest.raises(ParameterError, match="'all', 'last' or 'mean'"):
        fit(model, x, y, steps="first")
    with pytest.raises(ParameterError, match="x has no steps"):
        fit(model, np.zeros((0, 0)), np.zeros((0, 1)))


def _shown(progress):
    """What a training bar shows now (its line, as tqdm formats it)."""
    return str(progress._bar)


@pytest.mark.parametrize("budget", [None, 300.0])
def test_the_bars_time_left_leaves_out_the_kernels_compile(monkeypatch, budget):
    # A first run compiles its kernels (a minute on a slow core) before its first update ends; the
    # run's clock leaves that out, tqdm's did not: a 5-minute budget's bar promised 2 h 20 min.
    import tqdm.std

    from cwfast.train._common import Progress

    clock = [100.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])  # tqdm's wall clock, faked
    progress = Progress(1000, 0, "update", budget)
    try:
        clock[0] += 59.0  # compiling: wall time, not the run's
        progress.update(0.5)  # the first update ends half a second into the run's own clock
        shown = _shown(progress)
        assert "00:59<" in shown  # the wall time it has taken
        left = "04:59" if budget else "08:19"  # the budget's rest; 999 more updates at 0.5 s
        assert f"<{left}" in shown, shown
        clock[0] += 1.0
        progress.update(1.0)  # 2 updates in 1 s of the run's clock
        shown = _shown(progress)
        assert "01:00<" + ("04:59" if budget else "08:19, 2.00update/s") in shown, shown
    finally:
        progress.close()


def test_a_resumed_bar_takes_its_pace_from_this_sitting():
    from cwfast.train._common import Progress

    # 400 of 1000 updates done in an earlier sitting of 400 s; now 100 more in 10 s: 500 left at 0.1 s.
    progress = Progress(1000, 400, "update", None, 400.0)
    try:
        assert "<?" in _shown(progress)  # no pace yet
        for k in range(100):
            progress.update(400.0 + 0.1 * (k + 1))
        assert "<00:50, 10.00update/s" in _shown(progress)
    finally:
        progress.close()
