"""Checkpoints: interrupted-then-resumed equals uninterrupted, Ctrl-C writes a readable one,
bad files and mismatched resumes raise CwfastError."""

import os
import signal
import sys

import numpy as np
import pytest

import cwfast
from cwfast import CwfastError, ParameterError
from cwfast.train import evolve, fit, load_checkpoint


def model_and_data(rng, n_in=1):
    model = cwfast.ClockworkRNN(n_in, 1, module_sizes=[3, 3], periods=[1, 3], seed=3, dtype=np.float64)
    x = rng.normal(size=(60, n_in))
    y = np.sin(np.arange(60) / 4.0)[:, None]
    return model, x, y


def interrupt_at(step):
    def callback(info):
        if info.step == step:
            raise KeyboardInterrupt

    return callback


# Two streams of 30 steps, windows of 8 (4 updates per epoch), input noise, a cosine schedule:
# everything that has to be restored for an exact resume is in play.
FIT_SETTINGS = dict(epochs=5, batch_size=2, window=8, input_noise=0.3, lr_schedule="cosine", seed=11)


@pytest.mark.parametrize("stop_at", [6, 8])  # mid-epoch (window state carried) and at an epoch's end
def test_fit_resume_equals_uninterrupted(rng, tmp_path, stop_at):
    model, x, y = model_and_data(rng)
    reference = model.copy()
    full = fit(reference, x, y, **FIT_SETTINGS)

    path = tmp_path / "run.ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, x, y, checkpoint=path, on_step_end=interrupt_at(stop_at), **FIT_SETTINGS)
    ck = load_checkpoint(path)
    assert ck.kind == "fit" and ck.step == stop_at and ck.progress["stopped"] == "interrupted"
    assert ck.epoch == stop_at // 4
    np.testing.assert_array_equal(ck.model.params, model.params)

    fresh, _, _ = model_and_data(np.random.default_rng(0))  # another initialisation: the checkpoint wins
    fresh.params[:] = 0.5
    resumed = fit(fresh, x, y, checkpoint=path, resume=True, **{**FIT_SETTINGS, "seed": None})
    np.testing.assert_array_equal(fresh.params, reference.params)
    assert resumed.losses == full.losses
    assert resumed.steps == full.steps == 20


def test_a_fit_that_fails_leaves_the_callers_optimizer_as_it_was(rng, tmp_path):
    """fit sets ``lr`` on an Optimizer it is given, and a resume loads its state: a call refused by
    a later check, or a resume that fails, left it changed (lr 0.5 after a bad validation pair)."""
    from cwfast.train import Adam

    model, x, y = model_and_data(rng)
    path = tmp_path / "run.ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, x, y, checkpoint=path, on_step_end=interrupt_at(3), optimizer=Adam(0.01), **FIT_SETTINGS)
    opt = Adam(0.02)
    fit(model.copy(), x, y, optimizer=opt, epochs=1, seed=0)  # an optimizer with moments and a step count
    before = opt.state_dict()
    calls = [
        dict(validation=(x, y[:10])),  # the validation pair's target: refused after lr was set
        dict(lr_schedule="bogus"),
        dict(seed=-1),
        # a resume whose settings differ from the checkpoint's (epochs): refused once lr is set
        dict(checkpoint=path, resume=True, **{**FIT_SETTINGS, "epochs": 6, "seed": None}),
    ]
    for kwargs in calls:
        with pytest.raises((ParameterError, CwfastError)):
            fit(model.copy(), x, y, optimizer=opt, lr=0.5, **kwargs)
        after = opt.state_dict()
        assert after.keys() == before.keys()
        for key, value in before.items():
            np.testing.assert_array_equal(after[key], value, err_msg=f"{key} after {kwargs}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_ctrl_c_stops_after_the_update_in_progress(rng, tmp_path, sigint_default):
    """A SIGINT only raises a flag; the run stops at the end of the next update, checkpoints, re-raises."""
    model, x, y = model_and_data(rng)
    reference = model.copy()
    fit(reference, x, y, **FIT_SETTINGS)

    def ctrl_c(info):
        if info.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, x, y, checkpoint=path, on_step_end=ctrl_c, **FIT_SETTINGS)
    assert load_checkpoint(path).step == 6
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    fit(model, x, y, checkpoint=path, resume=True, **FIT_SETTINGS)
    np.testing.assert_array_equal(model.params, reference.params)


def test_fit_periodic_checkpoints_and_longer_resume(rng, tmp_path):
    model, x, y = model_and_data(rng)
    reference = model.copy()
    fit(reference, x, y, epochs=6, seed=1)
    path = tmp_path / "run.npz"
    result = fit(model, x, y, epochs=3, seed=1, checkpoint=path, checkpoint_every=2)
    assert load_checkpoint(path).step == 3 and result.stopped == "completed"
    result = fit(model, x, y, epochs=6, checkpoint=path, resume=True)
    np.testing.assert_array_equal(model.params, reference.params)
    assert len(result.losses) == 6
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_es_resume_equals_uninterrupted(rng, tmp_path):
    model, x, y = model_and_data(rng)
    settings = dict(generations=6, population=8, sigma=0.05, lr=0.05, seed=5, weight_decay=0.01)
    reference = model.copy()
    full = evolve(reference, x, y, **settings)
    path = tmp_path / "es.npz"
    with pytest.raises(KeyboardInterrupt):
        evolve(model, x, y, checkpoint=path, on_step_end=interrupt_at(4), **settings)
    assert load_checkpoint(path).kind == "evolve"
    resumed = evolve(model, x, y, checkpoint=path, resume=True, **settings)
    np.testing.assert_array_equal(model.params, reference.params)
    assert resumed.losses == full.losses


def test_resume_refuses_other_data_settings_or_kind(rng, tmp_path):
    model, x, y = model_and_data(rng)
    path = tmp_path / "run.npz"
    fit(model, x, y, epochs=1, seed=0, checkpoint=path)
    with pytest.raises(CwfastError, match="data"):
        fit(model, x + 1, y, epochs=2, checkpoint=path, resume=True)
    with pytest.raises(CwfastError, match="window"):
        fit(model, x, y, epochs=2, window=10, checkpoint=path, resume=True)
    with pytest.raises(CwfastError, match="seed"):
        fit(model, x, y, epochs=2, seed=1, checkpoint=path, resume=True)
    with pytest.raises(CwfastError, match="fit"):
        evolve(model, x, y, generations=2, checkpoint=path, resume=True)
    other = cwfast.ClockworkRNN(1, 1, module_sizes=[2, 4], periods=[1, 3], dtype=np.float64)
    with pytest.raises(CwfastError, match="architecture"):
        fit(other, x, y, epochs=2, checkpoint=path, resume=True)
    with pytest.raises(CwfastError, match="no such file"):
        fit(model, x, y, checkpoint=tmp_path / "missing.npz", resume=True)


def test_resume_refuses_a_model_configured_otherwise_with_the_same_parameters(rng, tmp_path):
    """Only the parameter count and module sizes were compared: a changed level (--level,
    --level-band), clock, input windows or pitch predictor resumed without a word, training
    another model under the same parameters (an audit's finding)."""
    from cwfast.model import Pitch

    def mixture(**changes):
        options = dict(periods=[1, 3], input_windows=[1, 2])
        options.update((k, v) for k, v in changes.items() if k in options)
        model = cwfast.ClockworkRNN(1, 6, module_sizes=[3, 3], seed=3, dtype=np.float64, output="mixture", **options)
        model.level = changes.get("level", (1 / 16, 0.1, 0.05, 0.2))
        model.pitch = changes.get("pitch")
        return model

    x = rng.uniform(-0.5, 0.5, size=(200, 1))
    y = np.clip(np.round((x[:, 0] + 1) * 127.5), 0, 255).astype(np.int64)
    path = tmp_path / "run.npz"
    fit(mixture(), x, y, epochs=1, seed=0, checkpoint=path)
    fit(mixture(), x, y, epochs=2, seed=0, checkpoint=path, resume=True)  # the same configuration resumes
    pitch = Pitch.checked([0.5, 0.2], 3, 20, 20, 8, 0.3)
    for changed, what in ((dict(level=(1 / 32, 0.1, 0.05, 0.2)), "level"), (dict(level=None), "level"),
                          (dict(periods=[1, 2]), "periods"), (dict(input_windows=[1, 1]), "input_windows"),
                          (dict(pitch=pitch), "pitch")):
        # (the periods are a setting of the run too, named as one: "other settings or data")
        where = "other settings or data" if what == "periods" else "different architecture"
        with pytest.raises(CwfastError, match=f"{where}: .*{what}="):
            fit(mixture(**changed), x, y, epochs=3, seed=0, checkpoint=path, resume=True)
    # Other data fit another level (cwfast train fits it on them): the data are what to name, in
    # words, not the level nor the data's fingerprint.
    with pytest.raises(CwfastError, match=r"other settings or data: the training data differ \(other audio") as error:
        fit(mixture(level=(1 / 32, 0.1, 0.05, 0.2)), x[:150], y[:150], epochs=3, seed=0, checkpoint=path, resume=True)
    assert "architecture" not in str(error.value) and "data=" not in str(error.value)


def test_resume_and_the_learning_rate_schedule(rng, tmp_path):
    """No schedule and "constant" are one (checkpoints from before --lr-schedule say None); a
    constant rate may resume into more epochs, a decaying one may not (its rate would jump back)."""
    model, x, y = model_and_data(rng)
    constant, cosine = tmp_path / "constant.npz", tmp_path / "cosine.npz"
    fit(model.copy(), x, y, epochs=1, seed=0, checkpoint=constant)  # lr_schedule=None
    fit(model.copy(), x, y, epochs=2, seed=0, lr_schedule="constant", checkpoint=constant, resume=True)
    with pytest.raises(CwfastError, match="lr_schedule='constant' \\(now 'cosine'\\)"):
        fit(model.copy(), x, y, epochs=3, seed=0, lr_schedule="cosine", checkpoint=constant, resume=True)
    fit(model.copy(), x, y, epochs=1, seed=0, lr_schedule="cosine", checkpoint=cosine)
    # The refusal says why more epochs are refused here, where --resume's help says they may grow.
    with pytest.raises(CwfastError, match="epochs=1 \\(now 2\\) \\(a cosine lr_schedule falls over the whole run, so "
                       "only a constant one may change epochs or time_budget"):
        fit(model.copy(), x, y, epochs=2, seed=0, lr_schedule="cosine", checkpoint=cosine, resume=True)
    with pytest.raises(CwfastError) as other:  # a difference that no schedule allows: no such reason given
        fit(model.copy(), x, y, epochs=1, seed=0, lr=0.5, lr_schedule="cosine", checkpoint=cosine, resume=True)
    assert "optimizer.lr" in str(other.value) and "falls over the whole run" not in str(other.value)
    with pytest.raises(CwfastError) as both:  # the reason follows the epochs, not the setting listed after them
        fit(model.copy(), x, y, epochs=2, seed=0, lr=0.5, lr_schedule="cosine", checkpoint=cosine, resume=True)
    assert "epochs=1 (now 2) (a cosine lr_schedule falls over the whole run" in str(both.value)
    assert "; optimizer.lr=0.01 (now 0.5). Resume with" in str(both.value)


def test_bad_checkpoint_files_raise_cwfast_error(rng, tmp_path):
    model, x, y = model_and_data(rng)
    good = tmp_path / "good.npz"
    fit(model, x, y, epochs=1, checkpoint=good)
    data = good.read_bytes()

    cases = {
        "truncated.npz": (data[: len(data) // 2], "truncated or corrupt"),
        "garbage.npz": (b"PK\x03\x04" + bytes(range(256)) * 4, "corrupt"),
        "text.npz": (b"hello, I am not an archive", "not an .npz"),
        "empty.npz": (b"", "empty"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CwfastError, match=message):
            load_checkpoint(tmp_path / name)
        with pytest.raises(CwfastError):
            fit(model, x, y, checkpoint=tmp_path / name, resume=True)

    model.save(tmp_path / "model.npz")
    with pytest.raises(CwfastError, match="saved model"):
        load_checkpoint(tmp_path / "model.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(CwfastError, match="not a cwfast checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz")
    for not_a_path in (None, 3):  # a raw TypeError from pathlib before
        with pytest.raises(ParameterError, match="must be a str or os.PathLike"):
            load_checkpoint(not_a_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_as_a_checkpoint_without_blocking(tmp_path):
    """load_checkpoint (and so `cwfast train --checkpoint PIPE --resume`) opened a named pipe and
    waited for a writer for ever (an audit); cwfast.load refused one already. If it blocks, a writer
    releases it, so that the test fails rather than hangs."""
    import threading

    os.mkfifo(tmp_path / "pipe.npz")
    errors = []

    def load():
        try:
            load_checkpoint(tmp_path / "pipe.npz")
        except Exception as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # blocked in open(): release it, so the suite goes on
        os.close(os.open(tmp_path / "pipe.npz", os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=30)
        pytest.fail("load_checkpoint blocked on a named pipe")
    assert len(errors) == 1 and isinstance(errors[0], CwfastError), errors
    assert str(errors[0]) == f"cannot load checkpoint '{tmp_path / 'pipe.npz'}': not a regular file"


def test_a_checkpoint_member_that_declares_more_than_it_holds_is_corrupt(rng, tmp_path):
    """An 8-kB checkpoint whose optimiser moment claimed 10**11 values was refused as out of
    memory, after an attempt to allocate it, as models were before (test_persistence)."""
    import io
    import zipfile

    model, x, y = model_and_data(rng)
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    fit(model, x, y, epochs=1, checkpoint=good)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for item in source.infolist():
            member = header.getvalue() if item.filename == "optimizer.m.npy" else source.read(item)
            target.writestr(item, member)
    with pytest.raises(CwfastError, match=r"truncated or corrupt \('optimizer.m' declares 800,000,000,000 bytes"):
        load_checkpoint(bad)


@pytest.mark.parametrize("trainer", [fit, evolve])
def test_resume_is_a_flag(rng, tmp_path, trainer):
    """resume='yes' was taken as True where progress='x' was refused."""
    model, x, y = model_and_data(rng)
    with pytest.raises(ParameterError, match="resume must be True or False, not 'yes'"):
        trainer(model, x, y, checkpoint=tmp_path / "c.npz", resume="yes")


def test_a_checkpoint_path_may_be_bytes_as_a_model_path_may(rng, tmp_path):
    """fit took b'...' for checkpoint=, trained, changed the model, then failed in pathlib."""
    model, x, y = model_and_data(rng)
    path = tmp_path / "run.npz"
    fit(model, x, y, epochs=1, checkpoint=os.fsencode(path))
    assert load_checkpoint(os.fsencode(path)).progress["epoch"] == 1


def test_es_searching_the_periods_resumes_exactly(rng, tmp_path):
    """Its search vector holds the periods too (n_params + modules values): the check of damaged
    arrays first took every such checkpoint for a damaged one."""
    model, x, y = model_and_data(rng)
    # Steps large enough that the periods move before the interruption: the check of the
    # configuration at resume (periods among it) refused every such run.
    settings = dict(generations=6, population=8, sigma=0.05, lr=0.05, seed=5, search_periods=True, period_lr=2.0,
                    period_sigma=1.0)
    reference = model.copy()
    full = evolve(reference, x, y, **settings)
    path = tmp_path / "es.npz"
    with pytest.raises(KeyboardInterrupt):
        evolve(model, x, y, checkpoint=path, on_step_end=interrupt_at(3), **settings)
    assert load_checkpoint(path).arrays["theta"].size == model.n_params + 2
    assert load_checkpoint(path).model.periods.tolist() != [1, 3]  # they moved
    model = model_and_data(rng)[0]  # a fresh model, at the starting periods
    resumed = evolve(model, x, y, checkpoint=path, resume=True, **settings)
    np.testing.assert_array_equal(model.params, reference.params)
    np.testing.assert_array_equal(model.periods, reference.periods)
    assert resumed.losses == full.losses
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["state.theta"] = arrays["state.theta"][: model.n_params]  # the model's length, not the run's
    np.savez(path, **arrays)
    with pytest.raises(CwfastError, match=f"its state.theta is damaged .*the run trains {model.n_params + 2} values"):
        evolve(model, x, y, checkpoint=path, resume=True, **settings)


@pytest.mark.parametrize("key, damage", [("state.best_params", lambda a: a[:10]),
                                         ("optimizer.m", lambda a: a[:10]),
                                         ("optimizer.v", lambda a: np.full_like(a, np.nan)),
                                         ("state.theta", lambda a: a[:-1]),
                                         ("state.best_theta", lambda a: np.full_like(a, np.inf))])
def test_a_damaged_checkpoint_is_refused_before_training(rng, tmp_path, key, damage):
    """best_params cut short ended in a broadcasting traceback; Adam's moments cut short said
    "call reset()", all NaN "training diverged ... try a smaller --lr"."""
    model, x, y = model_and_data(rng)
    path = tmp_path / "run.npz"
    if key.startswith("state.") and "theta" in key:
        evolve(model, x, y, generations=2, population=4, seed=0, checkpoint=path)
        again = lambda: evolve(model, x, y, generations=3, population=4, seed=0, checkpoint=path, resume=True)
    else:
        fit(model, x, y, epochs=2, seed=0, checkpoint=path, patience=5, validation=(x, y))
        again = lambda: fit(model, x, y, epochs=2, seed=0, checkpoint=path, resume=True, patience=5, validation=(x, y))
    with np.load(path) as archive:
        arrays = dict(archive)
    assert key in arrays
    arrays[key] = damage(arrays[key])
    np.savez(path, **arrays)
    before = model.params.copy()
    with pytest.raises(CwfastError, match=f"its {key} is damaged"):
        again()
    np.testing.assert_array_equal(model.params, before)


@pytest.mark.parametrize("make", [lambda: cwfast.LSTM(1, 1, n_hidden=3, seed=2, dtype=np.float64),
                                  lambda: cwfast.SRN(1, 1, n_hidden=4, seed=2, dtype=np.float64)])
def test_baseline_checkpoints_resume_exactly(rng, tmp_path, make):
    x = rng.normal(size=(40, 1))
    y = np.sin(np.arange(40) / 4.0)[:, None]
    settings = dict(epochs=4, seed=5)
    whole = make()
    fit(whole, x, y, **settings)
    path = tmp_path / "run.ckpt"
    part = make()
    with pytest.raises(KeyboardInterrupt):
        fit(part, x, y, checkpoint=path, on_step_end=interrupt_at(2), **settings)
    saved = load_checkpoint(path)
    assert type(saved.model) is type(whole)
    resumed = make()
    fit(resumed, x, y, checkpoint=path, resume=True, **settings)
    np.testing.assert_array_equal(resumed.params, whole.params)


@pytest.mark.parametrize("trainer", ["fit", "evolve"])
@pytest.mark.parametrize("where, error", [("missing/ck.npz", CwfastError), (5, ParameterError), (True, ParameterError)])
def test_a_checkpoint_that_cannot_be_written_is_refused_before_any_update(tmp_path, trainer, where, error):
    """The first checkpoint is written after updates have changed the model: a path that cannot
    take it (a missing folder, not a path at all) is refused first, the model as it was."""
    model = cwfast.ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0)
    x = np.zeros((64, 0), np.float32)
    y = np.sin(np.arange(64, dtype=np.float32))[:, None]
    before = model.params.copy()
    path = tmp_path / where if isinstance(where, str) else where
    train = (lambda: fit(model, x, y, epochs=2, checkpoint=path, progress=False)) if trainer == "fit" else (
        lambda: evolve(model, x, y, generations=2, population=4, checkpoint=path, progress=False))
    with pytest.raises(error, match="checkpoint"):
        train()
    np.testing.assert_array_equal(model.params, before)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("section, key, value, message", [
    ("progress", "position", 99, r"it is damaged \(update 99 of an epoch of 4\)"),
    ("optimizer", "t", -3, "optimizer state has invalid t"),
    ("optimizer", "beta1", float("inf"), "optimizer state has invalid beta1"),
])
def test_a_damaged_checkpoint_header_is_refused(rng, tmp_path, section, key, value, message):
    """An update past the epoch's end looped for ever at full CPU; a negative step count of Adam's
    came out as "training diverged ... try a smaller --lr"."""
    import json

    model, x, y = model_and_data(rng)
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, x, y, checkpoint=path, on_step_end=interrupt_at(6), **FIT_SETTINGS)
    with np.load(path) as archive:
        arrays = dict(archive)
    header = json.loads(str(arrays["header"][()]))
    header[section][key] = value
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    fresh, _, _ = model_and_data(np.random.default_rng(0))
    fresh.params[:] = 0.5  # not the checkpoint's: a refusal that changed it would show
    with pytest.raises(CwfastError, match=message):
        fit(fresh, x, y, checkpoint=path, resume=True, **{**FIT_SETTINGS, "seed": None})
    assert np.all(fresh.params == 0.5)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("trainer", ["fit", "evolve"])
def test_a_ctrl_c_in_the_last_update_is_not_lost(rng, tmp_path, sigint_default, trainer):
    """A SIGINT that came after the loop's last check (in the last update's callback) was dropped:
    the run returned "completed" and the scale fit and calibration that follow in cwfast train ran on."""
    model, x, y = model_and_data(rng)

    def ctrl_c(info):
        if info.step == last:
            os.kill(os.getpid(), signal.SIGINT)

    if trainer == "fit":
        last = 20  # 5 epochs of 4 updates
        run = lambda: fit(model, x, y, checkpoint=tmp_path / "run.npz", on_step_end=ctrl_c, **FIT_SETTINGS)
    else:
        last = 3
        run = lambda: evolve(model, x, y, generations=3, population=4, seed=0, checkpoint=tmp_path / "run.npz",
                             on_step_end=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("how", ["ctrl-c", "callback"])
def test_a_stop_in_the_update_where_patience_runs_out_resumes_as_early_stopping(rng, tmp_path, how):
    """A Ctrl-C (or a callback's True) in the update that ended the epoch where patience ran out
    recorded "interrupted" ("callback") over "early stopping", and a resume trained on for more
    epochs than the uninterrupted run, which had stopped there."""
    model, x, y = model_and_data(rng)
    settings = dict(FIT_SETTINGS, epochs=12, patience=1, validation=(x[::-1].copy(), -y), lr=0.05)
    reference = model.copy()
    full = fit(reference, x, y, **settings)
    assert full.stopped == "early stopping" and full.epochs < 12  # the setting this test needs
    if how == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            fit(model, x, y, checkpoint=tmp_path / "run.npz", on_step_end=interrupt_at(full.steps), **settings)
    else:
        first = fit(model, x, y, checkpoint=tmp_path / "run.npz",
                    on_step_end=lambda info: info.step == full.steps, **settings)
        assert first.stopped == "early stopping"  # the reason the run ended, not "callback"
    resumed = fit(model, x, y, checkpoint=tmp_path / "run.npz", resume=True, **settings)
    assert (resumed.stopped, resumed.steps, resumed.losses) == (full.stopped, full.steps, full.losses)
    np.testing.assert_array_equal(model.params, reference.params)


def test_data_fingerprint_is_the_hash_of_the_arrays_bytes():
    # Checkpoints store this hash to refuse a resume on other data; it hashes the arrays' buffers
    # in place (an hour of audio is 700 MB of inputs and targets), and must stay the hash of
    # their bytes, so that checkpoints written before still resume.
    import hashlib

    from cwfast.train._common import fingerprint

    rng = np.random.default_rng(3)
    arrays = (rng.standard_normal((2, 5, 3)).astype(np.float32), None, np.arange(7)[::-2],
              np.zeros((0, 4)), rng.integers(0, 256, 11))
    # The reference: every array's dtype, shape and bytes (tobytes copies, in C order) in one string.
    described = b"".join(b"none" if a is None else f"{a.dtype.str}{a.shape}".encode() + a.tobytes() for a in arrays)
    assert fingerprint(*arrays) == hashlib.sha256(described).hexdigest()[:16]
    assert fingerprint(arrays[0]) != fingerprint(arrays[0].astype(np.float64))
