"""The evolution strategy: antithetic members, rank shaping, the update against a hand-written
reference, thread-count independence, period search, and a loss that goes down."""

import numba
import numpy as np
import pytest

import cwfast
from cwfast import ParameterError, _kernels
from cwfast.model import STEP_CODES
from cwfast.train import Adam, centered_ranks, evolve
from cwfast.train.es import _repair_periods, noise_table, pair_noise, pair_offsets


def model_and_data(output="linear", n_out=1, seed=0, dtype=np.float64):
    model = cwfast.ClockworkRNN(1, n_out, module_sizes=[3, 3, 2], periods=[1, 2, 5], seed=seed,
                                dtype=dtype, output=output)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 20, 1))
    return model, x


def population_losses(model, x, target, noise, sigma, steps="all", lanes=None):
    """Call a population kernel as evolve does: 2 * n_pairs members and the centre. ``lanes``
    None: the member-by-member kernel; else the lockstep kernel with chunks of that many lanes."""
    x3, batched = model.check_input(x)
    tgt = model.check_target(target, x3.shape, batched, steps)
    scored = tgt if steps == "all" else tgt[:, None]
    softmax = model.output == "softmax"
    y_target = np.zeros((0, 0, 0)) if softmax else np.ascontiguousarray(scored)
    labels = np.ascontiguousarray(scored, dtype=np.int64) if softmax else np.zeros((0, 0), dtype=np.int64)
    members = 2 * noise.shape[0] + 1
    periods = np.ascontiguousarray(np.broadcast_to(model.periods, (members, model.n_modules)))
    losses = np.empty(members)
    lay = model.layout
    x3 = model._padded(x3, np.zeros((x3.shape[0], model._state_width()), dtype=model.dtype))[0]
    if lanes is None:
        _kernels._population_losses(
            model.params.astype(np.float64), noise, sigma, lay.module_start, lay.column_start, lay.block_offset,
            periods, lay.input_offset, x3, model.n_out, y_target, labels, model.head.code, STEP_CODES[steps],
            np.zeros((0, 0)), losses,
        )
    else:
        _kernels._population_losses_lockstep(
            model.params.astype(np.float64), noise, sigma, lay.module_start, lay.column_start, lay.block_offset,
            lay.periods, lay.input_offset, x3, model.n_out, y_target, labels, softmax, steps == "last", lanes, losses,
        )
    return losses


def directions(seed, generation, n_pairs, size):
    table = noise_table(seed, size)
    return pair_noise(table, pair_offsets(seed, generation, n_pairs, table.size, size), size)


@pytest.mark.parametrize("output, steps", [("linear", "all"), ("softmax", "all"), ("softmax", "last"),
                                           ("softmax", "mean"), ("linear", "mean")])
def test_members_are_antithetic_pairs_scored_like_model_loss(rng, output, steps):
    model, x = model_and_data(output, n_out=3 if output == "softmax" else 1)
    if output == "softmax":
        target = rng.integers(0, 3, size=(2, 20) if steps == "all" else (2,))
    else:
        target = rng.normal(size=(2, 20, 1) if steps == "all" else (2, 1))
    noise = directions(123, 4, 3, model.n_params)
    losses = population_losses(model, x, target, noise, 0.1, steps)
    centre = model.params.copy()
    for j in range(3):
        for member, sign in ((2 * j, 1), (2 * j + 1, -1)):
            model.params[:] = centre + sign * 0.1 * noise[j].astype(np.float64)
            assert losses[member] == pytest.approx(model.loss(x, target, steps=steps), rel=1e-10)
    model.params[:] = centre
    assert losses[6] == pytest.approx(model.loss(x, target, steps=steps), rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output, steps", [("linear", "all"), ("linear", "last"), ("softmax", "all"),
                                           ("softmax", "last")])
@pytest.mark.parametrize("windows", [None, "period"])
def test_lockstep_kernel_matches_the_member_by_member_kernel(rng, dtype, output, steps, windows):
    n_out = 3 if output == "softmax" else 2
    model = cwfast.ClockworkRNN(2, n_out, module_sizes=[3, 2, 4, 1], periods=[1, 2, 3, 8], seed=4, dtype=dtype,
                                output=output, input_windows=windows)
    x = rng.normal(size=(3, 30, 2)).astype(dtype)
    if output == "softmax":
        target = rng.integers(0, n_out, size=(3, 30) if steps == "all" else (3,))
    else:
        target = rng.normal(size=(3, 30, n_out) if steps == "all" else (3, n_out)).astype(dtype)
    noise = directions(8, 0, 20, model.n_params)
    want = population_losses(model, x, target, noise, 0.05, steps)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for lanes in (1, 8, 13, 40, 41, 48):  # chunks with and without padding lanes, one chunk, 41 chunks
        got = population_losses(model, x, target, noise, 0.05, steps, lanes=lanes)
        np.testing.assert_allclose(got, want, rtol=rtol)
    assert len(set(want.round(12))) > 30  # the members really differ


def test_lockstep_lanes():
    from cwfast.model import lockstep_lanes

    for members, lanes in ((3, 8), (65, 72), (129, 136), (257, 136), (513, 136), (1025, 136)):
        assert lockstep_lanes(members) == lanes
    for members in range(1, 2000, 7):
        lanes = lockstep_lanes(members)
        chunks = -(-members // lanes)
        assert lanes % 8 == 0 and lanes - 8 < -(-members // chunks) <= lanes  # even chunks, little padding
    # More threads: more chunks, so that every thread gets one (the default population: 257 members).
    assert [lockstep_lanes(257, t) for t in (1, 2, 3, 4, 8, 16)] == [136, 136, 88, 72, 33, 17]
    for members in range(1, 1200, 13):
        for threads in range(1, 40, 3):
            lanes = lockstep_lanes(members, threads)
            chunks = -(-members // lanes)
            assert lanes >= min(8, members)
            assert chunks >= 0.85 * min(threads, -(-members // 8))  # (nearly) no thread left without a chunk


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output, steps", [("linear", "all"), ("softmax", "last")])
def test_lockstep_losses_are_the_same_bits_in_any_lane_of_any_chunk_width(rng, dtype, output, steps):
    # What lets lockstep_lanes follow the thread count (and a cluster split the members anyhow).
    n_out = 3 if output == "softmax" else 2
    model = cwfast.ClockworkRNN(2, n_out, module_sizes=[5, 4, 3], periods=[1, 3, 4], seed=2, dtype=dtype,
                                output=output)
    x = rng.normal(size=(2, 25, 2)).astype(dtype)
    if output == "softmax":
        target = rng.integers(0, n_out, size=(2,))
    else:
        target = rng.normal(size=(2, 25, n_out)).astype(dtype)
    noise = directions(3, 1, 70, model.n_params)
    want = population_losses(model, x, target, noise, 0.05, steps, lanes=136)
    for lanes in (1, 8, 9, 13, 16, 33, 40, 72, 141, 264):
        np.testing.assert_array_equal(population_losses(model, x, target, noise, 0.05, steps, lanes=lanes), want)
    # A member scored in a smaller population (its pair alone, or with the centre) gets the same bits.
    for j in (0, 33, 69):
        got = population_losses(model, x, target, noise[j : j + 1], 0.05, steps, lanes=8)
        np.testing.assert_array_equal(got[:2], want[2 * j : 2 * j + 2])
        assert got[2] == want[-1]


def test_pair_offsets_depend_on_seed_generation_and_pair_only():
    a = pair_offsets(5, 3, 4, 1000, 10)
    np.testing.assert_array_equal(pair_offsets(5, 3, 2, 1000, 10), a[:2])
    assert len(set(a.tolist())) == 4
    assert not np.array_equal(pair_offsets(5, 4, 4, 1000, 10), a)
    assert not np.array_equal(pair_offsets(6, 3, 4, 1000, 10), a)
    many = pair_offsets(5, 0, 5000, 1000, 10)
    assert many.min() >= 0 and many.max() <= 990
    assert np.all(np.bincount(many // 100, minlength=10)[:9] > 350)  # spread over the whole table


def test_noise_table_and_directions():
    table = noise_table(5, 10)
    assert table.dtype == np.float32 and table.size >= 1 << 21
    np.testing.assert_array_equal(noise_table(5, 10), table)
    assert not np.array_equal(noise_table(6, 10)[:100], table[:100])
    assert abs(float(table.mean())) < 5e-3 and abs(float(table.std()) - 1) < 5e-3
    offsets = np.array([0, 7, 123])
    rows = pair_noise(table, offsets, 10)
    for row, offset in zip(rows, offsets):
        np.testing.assert_array_equal(row, table[offset : offset + 10])
    assert noise_table(5, 1 << 20).size >= 16 << 20


def test_centered_ranks():
    np.testing.assert_array_equal(centered_ranks([3.0, 1.0, 2.0]), [0.5, -0.5, 0.0])
    np.testing.assert_array_equal(centered_ranks([2.0, np.nan, 1.0, np.inf, 0.5]), [0.0, 0.25, -0.25, 0.5, -0.5])
    ties = centered_ranks([1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(ties, [-1 / 6, 1 / 6, -0.5, 0.5])
    values = centered_ranks(np.random.default_rng(0).normal(size=64))
    assert values.sum() == pytest.approx(0.0) and values.min() == -0.5 and values.max() == 0.5


@pytest.mark.parametrize("losses, match", [(np.ones((2, 2)), "shape"), (["a", "b"], "dtype"),
                                           (np.ones(3, dtype=complex), "dtype"), ([[1.0], [1.0, 2.0]], "numeric")])
def test_centered_ranks_refuses_what_is_not_one_row_of_real_losses(losses, match):
    with pytest.raises(ParameterError, match=match):
        centered_ranks(losses)


def test_one_generation_matches_a_reference_update(rng):
    model, x = model_and_data()
    target = rng.normal(size=(2, 20, 1))
    theta = model.params.copy()
    seen = []
    evolve(model, x, target, population=6, sigma=0.05, lr=0.02, generations=1, seed=9, weight_decay=0.1,
           on_step_end=lambda info: seen.append(info.params.copy()))

    table = noise_table(9, theta.size)
    offsets = pair_offsets(9, 0, 3, table.size, theta.size)
    noise = np.stack([table[offsets[j] : offsets[j] + theta.size].astype(np.float64) for j in range(3)])
    probe = model.copy()
    losses = []
    for j in range(3):
        for sign in (1, -1):
            probe.params[:] = theta + sign * 0.05 * noise[j]
            losses.append(probe.loss(x, target))
    order = np.argsort(losses)
    ranks = np.empty(6)
    ranks[order] = np.arange(6) / 5 - 0.5
    grad = sum((ranks[2 * j] - ranks[2 * j + 1]) * noise[j] for j in range(3)) / (6 * 0.05) + 0.1 * theta
    want = theta.copy()
    Adam(0.02).step(want, grad)
    np.testing.assert_allclose(seen[0], want, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
@pytest.mark.parametrize("dtype, population", [(np.float64, 10), (np.float32, 30)])
def test_same_result_on_one_or_two_threads(rng, numba_threads, dtype, population):
    # On two threads the lockstep kernel cuts the population into twice as many chunks.
    from cwfast.model import lockstep_lanes

    assert lockstep_lanes(population + 1, 1) != lockstep_lanes(population + 1, 2)
    target = rng.normal(size=(2, 20, 1)).astype(dtype)
    results = []
    for threads in (1, 2):
        numba_threads(threads)
        model, x = model_and_data(dtype=dtype)
        result = evolve(model, x, target, population=population, generations=5, seed=3)
        results.append((model.params.copy(), result.losses))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_es_reduces_the_loss_on_a_toy_task():
    model = cwfast.ClockworkRNN(0, 1, module_sizes=[3, 3], periods=[1, 4], seed=1, dtype=np.float64)
    x = np.zeros((32, 0))
    y = np.sin(np.arange(32) / 2.5)[:, None]
    start = model.loss(x, y)
    result = evolve(model, x, y, population=24, sigma=0.05, lr=0.03, generations=120, seed=0)
    assert result.final_loss < 0.3 * start
    assert result.final_loss == pytest.approx(model.loss(x, y))
    assert result.best_loss == pytest.approx(result.final_loss)
    assert result.final_loss <= min(result.losses) * (1 + 1e-12)
    assert len(result.losses) == 120 and result.steps == 120


def test_a_step_that_overflows_on_the_last_generation_is_divergence():
    """The centre's loss was finite, its step too large for float32: on the last generation
    nothing scored the infinite centre, and a checkpoint saved it."""
    model = cwfast.ClockworkRNN(0, 1, module_sizes=[3, 3], periods=[1, 4], seed=1, dtype=np.float32)
    before = model.params.copy()
    with pytest.raises(cwfast.CwfastError, match="the centre's parameters became non-finite at generation 1"):
        with np.errstate(over="ignore"):
            evolve(model, np.zeros((32, 0)), np.sin(np.arange(32) / 2.5)[:, None], population=4, lr=1e300,
                   generations=1, seed=0, progress=False)
    np.testing.assert_array_equal(model.params, before)  # the best centre: the only one scored


@pytest.mark.parametrize("search_periods", [False, True])
def test_a_generation_scored_in_chunks_is_the_generation_scored_whole(rng, monkeypatch, search_periods):
    """A large population is scored CHUNK_MEMBERS at a time; chunks of 6 and of 4 (the centre
    alone in none of them, or with a short last chunk) give the bits of one call."""
    from cwfast.train import es

    target = rng.normal(size=(2, 20, 1))
    results = []
    for chunk in (10**6, 6, 4):
        monkeypatch.setattr(es, "CHUNK_MEMBERS", chunk)
        model, x = model_and_data()
        result = evolve(model, x, target, population=14, generations=4, seed=5, search_periods=search_periods,
                        max_period=20, progress=False)
        results.append((model.params.copy(), model.periods.copy(), result.losses))
    for params, periods, losses in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(periods, results[0][1])
        assert losses == results[0][2]


def test_the_time_budget_stops_within_a_generation(monkeypatch):
    """The budget was looked at between generations only: one generation of 1,000,000 members
    ran 16 s past a 2-s budget. Out of time after the first chunk, the generation is abandoned
    and the model stays as the last whole generation left it (here: as it started)."""
    from cwfast.train import es

    monkeypatch.setattr(es, "CHUNK_MEMBERS", 4)
    model = cwfast.ClockworkRNN(0, 1, module_sizes=[3, 3], periods=[1, 4], seed=1, dtype=np.float64)
    before = model.params.copy()
    result = evolve(model, np.zeros((32, 0)), np.sin(np.arange(32) / 2.5)[:, None], population=40, generations=5,
                    seed=0, time_budget=1e-9, progress=False)
    assert result.stopped == "time budget" and result.epochs == 0 and result.losses == []
    np.testing.assert_array_equal(model.params, before)


def test_repair_periods():
    raw = np.log2(np.array([[1.0, 1.0, 1.0, 70.0], [9.0, 3.0, 2.0, 200.0], [0.1, 2.0, 4.0, 8.0]]))
    periods = _repair_periods(raw, 64)
    assert np.all(np.diff(periods, axis=1) > 0)
    assert periods.min() >= 1 and periods.max() <= 64
    np.testing.assert_array_equal(periods[2], [1, 2, 4, 8])
    np.testing.assert_array_equal(periods[0], [1, 2, 3, 64])


def test_search_periods_keeps_the_layout(rng):
    model, x = model_and_data()
    target = rng.normal(size=(2, 20, 1))
    layout = model.layout
    result = evolve(model, x, target, population=8, generations=15, seed=2, search_periods=True,
                    period_sigma=0.5, max_period=20)
    assert np.all(np.diff(model.periods) > 0) and model.periods.max() <= 20
    np.testing.assert_array_equal(model.layout.column_start, layout.column_start)
    np.testing.assert_array_equal(model.layout.block_offset, layout.block_offset)
    assert result.final_loss == pytest.approx(model.loss(x, target))
    with pytest.raises(ParameterError, match="strictly increasing"):
        evolve(cwfast.ClockworkRNN(1, 1, module_sizes=[2, 2], periods=[2, 2]), x, target, search_periods=True)


@pytest.mark.parametrize("max_period", [0, -3, 2.5, "8"])
def test_max_period_is_checked_without_the_search(max_period):
    """A bad max_period is refused whether or not the periods are searched (it was taken without a
    word when search_periods=False), and the model is left as it was."""
    model, x = model_and_data()
    before = model.params.copy()
    with pytest.raises(ParameterError, match="max_period="):
        evolve(model, x, np.zeros((2, 20, 1)), population=8, generations=1, max_period=max_period)
    np.testing.assert_array_equal(model.params, before)


def test_invalid_population():
    model, x = model_and_data()
    with pytest.raises(ParameterError, match="even"):
        evolve(model, x, np.zeros((2, 20, 1)), population=7)
    with pytest.raises(ParameterError, match="model must be a ClockworkRNN, SRN or LSTM, not dict"):
        evolve(model.to_dense(), x, np.zeros((2, 20, 1)))


def test_mean_readout_classification():
    """Scored on the mean output, the ES learns from a cue that is gone long before the end."""
    model = cwfast.ClockworkRNN(1, 2, module_sizes=[3, 3], periods=[1, 2], seed=0, output="softmax",
                                dtype=np.float64)
    labels = np.array([0, 1] * 4)
    x = np.zeros((8, 30, 1))
    x[:, 3, 0] = np.where(labels == 1, 1.0, -1.0)
    result = evolve(model, x, labels, steps="mean", population=32, sigma=0.05, lr=0.05, generations=150, seed=0)
    assert result.final_loss < 0.25 * result.losses[0]
    assert result.final_loss == pytest.approx(model.loss(x, labels, steps="mean"))
    np.testing.assert_array_equal(model.forward(x, raw=True).mean(axis=1).argmax(axis=1), labels)
    with pytest.raises(ParameterError, match="steps='first' must be 'all', 'last' or 'mean'"):
        evolve(model, x, labels, steps="first")


@pytest.mark.parametrize("arch", ["lstm", "cw"])
@pytest.mark.parametrize("output, steps", [("linear", "all"), ("softmax", "last"), ("softmax", "mean"),
                                           ("linear", "mean")])
def test_models_score_their_members_like_model_loss(rng, arch, output, steps):
    """The population hook each model gives evolve (for the CW-RNN's mean readout: the member-by-member kernel)."""
    n_out = 3 if output == "softmax" else 2
    if arch == "lstm":
        model = cwfast.LSTM(2, n_out, n_hidden=4, seed=1, dtype=np.float64, output=output)
    else:
        model = cwfast.ClockworkRNN(2, n_out, module_sizes=[2, 3], periods=[1, 4], seed=1, dtype=np.float64,
                                    output=output)
    x = rng.normal(size=(2, 15, 2))
    if output == "softmax":
        target = rng.integers(0, n_out, size=(2,))
    else:
        target = rng.normal(size=(2, 15, n_out) if steps == "all" else (2, n_out))
    x3, batched = model.check_input(x)
    tgt = model.check_target(target, x3.shape, batched, steps)
    scored = tgt if steps == "all" else tgt[:, None]
    y_target = np.zeros((0, 0, 0)) if output == "softmax" else np.ascontiguousarray(scored)
    labels = np.ascontiguousarray(scored, dtype=np.int64) if output == "softmax" else np.zeros((0, 0), np.int64)
    noise = directions(3, 0, 2, model.n_params)
    losses = np.empty(5)
    centre = model.params.copy()
    model.population_losses(centre, noise, 0.1, x3, y_target, labels, STEP_CODES[steps], losses)
    for member in range(5):
        sign = (1, -1)[member % 2] if member < 4 else 0
        model.params[:] = centre + sign * 0.1 * noise[min(member // 2, 1)].astype(np.float64)
        assert losses[member] == pytest.approx(model.loss(x, target, steps=steps), rel=1e-10)


@pytest.mark.parametrize("make", [lambda: cwfast.LSTM(1, 1, n_hidden=3, seed=1, dtype=np.float64),
                                  lambda: cwfast.SRN(1, 1, n_hidden=4, seed=1, dtype=np.float64)])
def test_es_trains_the_baselines_and_resumes_them_exactly(tmp_path, make):
    x = np.random.default_rng(0).normal(size=(2, 32, 1))
    y = 0.5 * np.roll(x, 1, axis=1)  # echo the previous input at half level
    y[:, 0] = 0
    settings = dict(population=24, sigma=0.05, lr=0.1, generations=60, seed=0)
    whole = make()
    start = whole.loss(x, y)
    result = evolve(whole, x, y, **settings)
    assert result.final_loss < 0.2 * start

    path = tmp_path / "es.ckpt"
    part = make()

    def interrupt(info):
        if info.step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evolve(part, x, y, checkpoint=path, on_step_end=interrupt, **settings)
    resumed = make()
    evolve(resumed, x, y, checkpoint=path, resume=True, **settings)
    np.testing.assert_array_equal(resumed.params, whole.params)


def test_search_periods_needs_a_clockwork_rnn():
    with pytest.raises(ParameterError, match="Clockwork RNN"):
        evolve(cwfast.LSTM(0, 1, n_hidden=2), np.zeros((8, 0)), np.zeros((8, 1)), search_periods=True)


def test_a_checkpoint_from_another_noise_scheme_does_not_resume(tmp_path):
    from cwfast import CwfastError
    from cwfast.train.checkpoint import load_checkpoint, save_checkpoint

    model, x = model_and_data()
    target = np.zeros((2, 20, 1))
    path = tmp_path / "es.ckpt"
    evolve(model, x, target, population=4, generations=2, seed=1, checkpoint=path)
    ck = load_checkpoint(path)
    old = {k: v for k, v in ck.config.items() if k != "noise"}  # as written before the noise table
    save_checkpoint(path, kind="evolve", model=ck.model, config=old, progress=ck.progress, optimizer=ck.optimizer,
                    arrays=ck.arrays)
    with pytest.raises(CwfastError, match="noise"):
        evolve(model, x, target, population=4, generations=3, seed=1, checkpoint=path, resume=True)


def test_the_memory_check_counts_the_populations_copies(monkeypatch):
    """Each member is a copy of the parameters (1.6 kB a parameter at population 256, measured), which
    the check before training left out: a run that could not fit was let start."""
    from cwfast import budget
    from cwfast.train_audio import train_audio

    x = (0.3 * np.sin(np.arange(600) * 0.05)).astype(np.float32)
    options = dict(mode="effect", target=np.tanh(2 * x), hidden=256, modules=4, epochs=1, progress=False)
    monkeypatch.setattr(budget, "available_memory", lambda: 24 * 2**20)  # a gradient run of 41k parameters fits
    train_audio(x, 8000, **options)
    train_audio(x, 8000, trainer="es", population=8, **options)  # 9 copies and the noise table: 10 MB
    assert budget.evolution_bytes(41_000, 256, members=False) < budget.evolution_bytes(41_000, 256) / 2  # on Ray
    for population in (None, 256):  # 257 copies: 74 MB
        with pytest.raises(cwfast.CwfastError, match=r"needs about .* of memory.*pass a smaller population"):
            train_audio(x, 8000, trainer="es", population=population, **options)
