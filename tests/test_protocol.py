"""The model protocol: the registry, the shared heads, float32 against float64, period search through the model."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import cwfast
from cwfast import registry
from cwfast.errors import ParameterError
from cwfast.heads import STEP_CODES

BUILD = {
    "clockwork": lambda **kw: cwfast.ClockworkRNN(2, 3, module_sizes=[3, 2, 2], periods=[1, 2, 3], **kw),
    "srn": lambda **kw: cwfast.SRN(2, 3, n_hidden=5, **kw),
    "lstm": lambda **kw: cwfast.LSTM(2, 3, n_hidden=4, **kw),
}
#: Every architecture, and a Clockwork RNN whose modules read input windows (state with inputs).
MODELS = BUILD | {
    "clockwork_windows": lambda **kw: cwfast.ClockworkRNN(2, 3, module_sizes=[3, 2, 2], periods=[1, 2, 3],
                                                          input_windows=[2, 1, 4], **kw),
}


def test_every_registered_architecture_is_buildable_and_declares_the_protocol(tmp_path):
    assert sorted(BUILD) == sorted(e.arch for e in registry.ARCHITECTURES)
    for entry in registry.ARCHITECTURES:
        cls = registry.get(entry.arch)
        assert registry.get(entry.cli_name) is cls and cls.arch == entry.arch
        assert cls.description and cls.realtime_kind
        model = BUILD[entry.arch](seed=0)
        assert registry.is_model(model) and type(model) is cls
        model.save(tmp_path / f"{entry.arch}.npz")
        loaded = cwfast.load(tmp_path / f"{entry.arch}.npz")
        assert type(loaded) is cls
        assert_allclose(loaded.params, model.params)
        assert cls.count_params(model.n_hidden, 2, 3, periods=list(model.periods), count_periods=False) == model.n_params
    with pytest.raises(ParameterError, match="arch='gru' must be one of"):
        registry.get("gru")
    assert not registry.is_model(object())


def test_cli_arch_choices_are_the_registry():
    from cwfast.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    arch = next(a for a in train._actions if a.dest == "arch")
    assert tuple(arch.choices) == registry.cli_names()


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_float32_gradients_match_the_float64_twin(arch, output, rng):
    """The float32 kernels (vectorised, reassociated) against the same model in float64."""
    wide = MODELS[arch](seed=4, dtype=np.float64, output=output)
    narrow = type(wide).from_dense(wide.to_dense(), dtype=np.float32, output=output)
    x = rng.normal(size=(3, 40, 2))
    target = rng.integers(0, 3, size=(3, 40)) if output == "softmax" else rng.normal(size=(3, 40, 3))
    loss64, g64 = wide.loss_and_grad(x, target, flat=True)
    loss32, g32 = narrow.loss_and_grad(x.astype(np.float32), target, flat=True)
    assert g32.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    scale = np.abs(g64).max()
    assert np.abs(g32 - g64).max() <= 1e-4 * scale
    assert np.abs(g32 - g64).mean() <= 1e-5 * scale


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("output, steps", [("linear", "all"), ("softmax", "all"), ("softmax", "last"),
                                           ("linear", "mean"), ("softmax", "mean"), ("mixture", "all"),
                                           ("mixture", "last")])
def test_population_scores_are_model_losses(arch, output, steps, rng):
    """The numba heads (cwfast._head_kernels) score members exactly as the NumPy heads' model.loss."""
    model = MODELS[arch](seed=1, dtype=np.float64, output=output)  # 3 outputs: a mixture of one logistic
    x = rng.normal(size=(2, 12, 2))
    lead = (2, 12) if steps == "all" else (2,)
    labelled = output != "linear"
    classes = 256 if output == "mixture" else 3
    target = rng.integers(0, classes, size=lead) if labelled else rng.normal(size=lead + (3,))
    x3, batched = model.check_input(x)
    tgt = model.check_target(target, x3.shape, batched, steps)
    scored = tgt if steps == "all" else tgt[:, None]
    y_target = np.zeros((0, 0, 0)) if labelled else np.ascontiguousarray(scored)
    labels = np.ascontiguousarray(scored, dtype=np.int64) if labelled else np.zeros((0, 0), dtype=np.int64)
    noise = rng.normal(size=(2, model.n_params))
    losses = np.empty(5)
    model.population_losses(model.params.astype(np.float64), noise, 0.01, x3, y_target, labels, STEP_CODES[steps],
                            losses)
    for m in range(5):
        member = model.copy()
        if m < 4:
            member.params[:] += (0.01 if m % 2 == 0 else -0.01) * noise[m // 2]
        assert losses[m] == pytest.approx(member.loss(x, target, steps=steps), rel=1e-9)


def test_period_search_goes_through_the_model(rng):
    model = cwfast.ClockworkRNN(1, 2, module_sizes=[2, 2, 2], periods=[1, 2, 4], seed=2, dtype=np.float64)
    x = rng.normal(size=(1, 30, 1))
    target = rng.normal(size=(1, 30, 2))
    x3, _ = model.check_input(x)
    member_periods = np.array([[1, 2, 4], [1, 3, 5], [2, 3, 7]])
    losses = np.empty(3)
    model.population_losses(model.params.copy(), np.zeros((0, model.n_params)), 0.0, x3, target, np.zeros((0, 0), np.int64),
                            STEP_CODES["all"], losses, member_periods=member_periods)
    for periods, loss in zip(member_periods, losses):
        member = model.copy()
        member.set_periods(periods)
        assert member.periods.tolist() == periods.tolist()
        assert loss == pytest.approx(member.loss(x, target), rel=1e-12)
    assert model.periods.tolist() == [1, 2, 4]  # scoring members leaves the model alone
    with pytest.raises(ParameterError, match="would change which modules feed which"):
        model.set_periods([1, 2, 2])  # equal periods feed each other: a block that does not exist
    with pytest.raises(ParameterError, match="sorted"):
        model.set_periods([4, 2, 1])
    revision = model._structure_revision
    model.set_periods([1, 2, 4])  # the same periods: nothing for a stream to prepare again
    assert model._structure_revision == revision
    for bad in ([1, 2, 4.9], [1, 2, "4"], [True, 2, 4], [1, 2, 0]):  # no silent truncation or conversion
        with pytest.raises(ParameterError, match="positive integers"):
            model.set_periods(bad)
    assert model.periods.tolist() == [1, 2, 4]
    with pytest.raises(ParameterError, match="would change"):
        model.population_losses(model.params.copy(), np.zeros((0, model.n_params)), 0.0, x3, target,
                                np.zeros((0, 0), np.int64), 0, np.empty(1), member_periods=np.array([[2, 2, 3]]))
    assert model.periods.tolist() == [1, 2, 4]


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_loss_runs_in_pieces_with_the_same_result(arch, rng, monkeypatch):
    """loss() scores a long sequence piece by piece (bounded memory) and still equals the one-shot
    loss of loss_and_grad, from a given state too."""
    from cwfast import model as model_module

    model = MODELS[arch](seed=2, dtype=np.float64, output="softmax")
    x = rng.normal(size=(2, 103, 2))
    labels = rng.integers(0, 3, size=(2, 103))
    state = cwfast.State(rng.normal(size=(2, model._state_width())), 5)
    whole = model.loss_and_grad(x, labels, state=state)[0]
    monkeypatch.setattr(model_module, "LOSS_CHUNK", 10)
    assert model.loss(x, labels, state=state) == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_advance_reaches_the_state_forward_reaches(arch, rng, monkeypatch):
    from cwfast import model as model_module

    model = MODELS[arch](seed=3, dtype=np.float64)
    x = rng.normal(size=(57, 2))
    start = cwfast.State(rng.normal(size=model._state_width()), 3)
    _, expected = model.forward(x, state=start, return_state=True)
    monkeypatch.setattr(model_module, "LOSS_CHUNK", 8)
    reached = model.advance(x, state=start)
    assert reached.t == expected.t == 60
    assert_allclose(reached.h, expected.h, rtol=1e-12, atol=1e-15)
