"""scripts/spoken_digits.py on a handful of synthetic spoken-digit-like files (the FSDD runs live in docs/results.md).

CI installs only the ``test`` extra, so librosa may be missing: the pipeline tests then swap the
script's one feature function (``FEATURES["fn"]``) for a NumPy stand-in with the same frame layout,
and the librosa feature test is skipped.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import script_loading

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "spoken_digits.py"
RATE = 8000


@pytest.fixture
def sd():
    return script_loading.load_script("spoken_digits")


def numpy_features(samples, sample_rate):
    """A stand-in for MFCCs: log energy in 13 linear bands of 25 ms Hamming windows every 10 ms."""
    win, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    y = np.asarray(samples, dtype=np.float64)
    y = np.pad(y, (0, max(0, win - y.size)))
    n = 1 + (y.size - win) // hop
    frames = np.stack([y[i * hop : i * hop + win] for i in range(n)]) * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, 256)) ** 2
    bands = np.array_split(power, 13, axis=1)
    return np.log(np.stack([b.sum(axis=1) for b in bands], axis=1) + 1e-10)


def make_fsdd(directory, digits=(0, 1, 2), speakers=("anna", "bob"), takes=range(0, 8), seed=440):
    """Tone patterns per digit: digit d glides between two digit-specific pitches; lengths vary."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for d in digits:
        for s, speaker in enumerate(speakers):
            for take in takes:
                n = int(RATE * rng.uniform(0.15, 0.35))
                f0, f1 = 300 + 500 * d, 1500 - 400 * d
                freq = np.linspace(f0, f1, n) * (1 + 0.05 * s)
                y = 0.5 * np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.hanning(n)
                y += 0.01 * rng.standard_normal(n)
                sf.write(directory / f"{d}_{speaker}_{take}.wav", y.astype(np.float32), RATE, subtype="PCM_16")
    return directory


@pytest.fixture
def stand_in(sd, monkeypatch):
    """Use librosa's MFCCs when installed, else the NumPy stand-in."""
    try:
        import librosa  # noqa: F401
    except ImportError:
        monkeypatch.setitem(sd.FEATURES, "fn", numpy_features)
    return sd


def copy_test_takes(data, tmp_path):
    """A directory holding copies of the official split's test files (takes 0-4) from ``data``."""
    test_dir = tmp_path / "test_only"
    test_dir.mkdir()
    for f in data.glob("*.wav"):
        if int(f.stem.split("_")[2]) < 5:
            (test_dir / f.name).write_bytes(f.read_bytes())
    return test_dir


def last_line(text):
    return text.strip().splitlines()[-1]


def test_train_then_eval(stand_in, tmp_path, capsys):
    sd = stand_in
    data = make_fsdd(tmp_path / "rec", takes=range(0, 20))  # 90 training files: 3 minibatches an epoch
    out = tmp_path / "m.npz"
    assert sd.main(["train", "--data", str(data), "--arch", "cw", "--params", "500", "-o", str(out),
                    "--epochs", "30", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    line = last_line(text)
    assert line.startswith("error: ") and line.endswith("%")
    test_error = float(line[len("error: ") : -1])
    # 3 tone patterns: far better than the 66.7% of guessing.
    assert test_error < 40.0
    import cwfast

    model = cwfast.load(out)
    meta = model.metadata
    assert meta["task"] == "fsdd-spoken-digits" and len(meta["mean"]) == len(meta["std"]) == 13
    assert model.n_modules == 7 and model.periods.tolist() == [1, 2, 4, 8, 16, 32, 64]
    assert abs(model.n_params + 7 - 500) <= 50
    assert meta["training"]["epochs"] <= 30 and meta["test_error"] == pytest.approx(test_error, abs=0.01)

    # eval on the test takes only must give the same figure as train's last line.
    assert sd.main(["eval", "--data", str(copy_test_takes(data, tmp_path)), "-m", str(out)]) == 0
    assert last_line(capsys.readouterr().out) == line

    # ...and on every file (any speaker, any take).
    assert sd.main(["eval", "--data", str(data), "-m", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{len(list(data.glob('*.wav')))} files" in text and last_line(text).startswith("error: ")


def test_baselines_and_table(stand_in, tmp_path, capsys):
    sd = stand_in
    data = make_fsdd(tmp_path / "rec", digits=(0, 1), speakers=("anna",), takes=range(0, 7))
    assert sd.main(["run-table", "--data", str(data), "--seeds", "2", "--budgets", "500",
                    "--epochs", "2"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| 500 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["SRN", "LSTM", "CW-RNN"]
    # Each row's error is the mean and spread of its seeds' runs, as run_one gives them.
    args = sd.parser().parse_args(["run-table", "--data", str(data), "--seeds", "2", "--budgets", "500", "--epochs", "2"])
    split = sd.load_split(str(data))
    for row, arch in zip(rows, ("srn", "lstm", "cw")):
        errors = np.array([sd.run_one(split, arch, 500, seed, **sd.protocol(args))[1] for seed in range(2)])
        assert row.split("|")[4].strip() == f"{errors.mean():.1f} ± {errors.std():.1f}"
        assert 0 <= errors.min() and errors.max() <= 100


def test_plateau_decay_restarts_from_the_best_epoch_with_a_smaller_rate(sd):
    import cwfast

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 6)
    xs = [rng.normal(size=(8, 13)).astype(np.float32) + label for label in labels]  # separable by level
    model = cwfast.ClockworkRNN(13, 3, n_hidden=6, n_modules=2, output="softmax", seed=0)
    seen = []
    # A learning rate far too large: plateaus come fast.
    facts = sd.train_model(model, xs, labels, epochs=100, seed=0, patience=2, lr=2.0, decays=2, noise=0.0,
                           log=seen.append)
    steps = facts["lr_decayed_after_epochs"]
    assert len(steps) == 2 and steps[0] < steps[1] <= facts["epochs"]  # both decays used before stopping
    assert facts["stopped"] == "early stopping" and facts["epochs"] < 100  # the third plateau stops it
    assert sum("learning rate 0.6" in line for line in seen) == 1
    assert sum("learning rate 0.18" in line for line in seen) == 1
    # The model keeps the best epoch's parameters: its error is the best one recorded.
    assert sd.error_rate(model, xs, labels)[0] == pytest.approx(min(h[0] for h in facts["history"]), abs=1e-3)


def test_sizes_match_budgets(sd):
    for arch in sd.ARCHS:
        for budget in sd.BUDGETS:
            model = sd.build(arch, budget, 0)
            assert abs(sd.budget_count(model) - budget) <= 0.1 * budget, (arch, budget)


def test_minibatches_left_pad(sd):
    xs = [np.full((n, 13), n, dtype=np.float32) for n in (3, 5, 4, 9)]
    labels = np.arange(4)
    batches = sd.minibatches(xs, labels, 2, np.random.default_rng(0))
    seen = set()
    for xb, yb in batches:
        for row, label in zip(xb, yb):
            n = len(xs[label])
            assert np.all(row[-n:] == n) and np.all(row[: len(row) - n] == 0)  # ends at the utterance's end
            seen.add(int(label))
    assert seen == {0, 1, 2, 3}
    assert sorted(xb.shape[1] for xb, _ in batches) == [4, 9]  # neighbours in length share a batch


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--data", "{tmp}/missing", "-m", "{tmp}/m.npz"], "no such directory"),
        (["train", "--data", "{tmp}/empty", "--arch", "cw", "--params", "500", "-o", "{tmp}/out.npz"], "no files named"),
        (["eval", "--data", "{tmp}/bad", "-m", "{tmp}/m.npz"], "not a cwfast model"),
        (["train", "--data", "{tmp}/bad", "--arch", "srn", "--params", "500", "-o", "{tmp}/out.npz"], "cannot read"),
        (["train", "--data", "{tmp}/bad", "--arch", "srn", "--params", "0", "-o", "{tmp}/out.npz"], "positive"),
        (["train", "--data", "{tmp}/bad", "--arch", "cw", "--params", "500", "-o", "{tmp}/o.npz", "--noise", "-1"],
         "must not be negative"),
        # The output is checked as cwfast's own commands check theirs, before the data is read.
        (["train", "--data", "{tmp}/bad", "--arch", "cw", "--params", "500", "-o", "{tmp}/m.npz"],
         "spoken_digits.py: error: '{tmp}/m.npz' exists; pass --overwrite to replace it"),
        (["train", "--data", "{tmp}/bad", "--arch", "cw", "--params", "500", "-o", "{tmp}/bad", "--overwrite"],
         "cannot write model '{tmp}/bad': it is a directory"),
        (["train", "--data", "{tmp}/bad", "--arch", "cw", "--params", "500", "-o", "{tmp}/no/o.npz"],
         "cannot write model '{tmp}/no/o.npz': '{tmp}/no' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(stand_in, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "3_eve_7.wav").write_bytes(b"not a wav file")
    (tmp_path / "m.npz").write_bytes(b"not a model")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert stand_in.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(tmp=tmp_path) in err
    assert (tmp_path / "m.npz").read_bytes() == b"not a model"


def test_missing_librosa_is_one_line_and_exit_2(sd, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_librosa(name, *args, **kwargs):
        if name == "librosa" or name.startswith("librosa."):
            raise ImportError("No module named 'librosa'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_librosa)
    data = make_fsdd(tmp_path / "rec", digits=(0,), speakers=("anna",), takes=(0, 5))
    assert sd.main(["train", "--data", str(data), "--arch", "cw", "--params", "500", "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "librosa" in err


def test_librosa_features(sd):
    pytest.importorskip("librosa")
    rng = np.random.default_rng(440)
    y = rng.standard_normal(RATE // 2).astype(np.float32)
    feats = sd.mfcc13(y, RATE)
    assert feats.shape == (1 + (RATE // 2 - 200) // 80, 13) and np.all(np.isfinite(feats))
    # Column 12 is the log energy: 4x the amplitude adds log(16).
    np.testing.assert_allclose(sd.mfcc13(4 * y, RATE)[:, 12] - feats[:, 12], np.log(16), atol=1e-6)


def test_clock_align_end_fires_every_module_on_the_last_step(stand_in, tmp_path, capsys):
    sd = stand_in
    model = sd.build("cw", 1000, 0, {"clock_align": "end"})
    for length in (1, 12, 41, 64, 65, 129):
        state = sd.start_state(model, 3, length)
        assert state.h.shape == (3, model.n_hidden) and not state.h.any()
        assert all((state.t + length - 1) % p == 0 for p in model.periods.tolist())
    assert sd.start_state(sd.build("cw", 1000, 0), 3, 41) is None  # the default: clock step 0 first
    assert sd.start_state(sd.build("lstm", 1000, 0, {"clock_align": "end"}), 3, 41) is None

    # Trained with it, the model remembers it: eval on the test takes repeats train's figure.
    data = make_fsdd(tmp_path / "rec", digits=(0, 1), speakers=("anna",), takes=range(0, 8))
    out = tmp_path / "m.npz"
    assert sd.main(["train", "--data", str(data), "--arch", "cw", "--params", "500", "-o", str(out),
                    "--epochs", "3", "--clock-align", "end"]) == 0
    line = last_line(capsys.readouterr().out)
    assert sd.main(["eval", "--data", str(copy_test_takes(data, tmp_path)), "-m", str(out)]) == 0
    assert last_line(capsys.readouterr().out) == line


def test_mean_readout_pools_the_logits_of_every_step(stand_in, tmp_path, capsys):
    import cwfast

    sd = stand_in
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(n, 13)).astype(np.float32) for n in (5, 9, 9, 14)]
    for arch, gain in (("cw", 1.0), ("lstm", 1.0), ("cw", 300.0)):
        model = sd.build(arch, 1000, 0, {"readout": "mean"})
        # Large logits: a class's float32 probability underflows at some steps, not its mean logit.
        model.W_out[:] *= gain
        # The same weights with a linear head output the raw logits: average them, then softmax.
        cls = cwfast.ClockworkRNN if arch == "cw" else cwfast.LSTM
        raw = cls.from_dense(model.to_dense(), output="linear")
        for x, p in zip(xs, sd.predict(model, xs)):
            logits = raw.forward(x).astype(np.float64).mean(axis=0)
            expected = np.exp(logits - logits.max())
            np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-4, atol=1e-12)
        # A model saved without a readout (before the option existed) reads the last step.
        del model.metadata["readout"]
        for x, p in zip(xs, sd.predict(model, xs)):
            np.testing.assert_array_equal(p, model.forward(x)[-1])

    # Trained with either readout, the model remembers it: eval on the test takes repeats train's figure.
    data = make_fsdd(tmp_path / "rec", digits=(0, 1), speakers=("anna",), takes=range(0, 8))
    test_dir = copy_test_takes(data, tmp_path)
    for readout in ("mean", "last"):
        out = tmp_path / f"{readout}.npz"
        assert sd.main(["train", "--data", str(data), "--arch", "srn", "--params", "500", "-o", str(out),
                        "--epochs", "3", "--readout", readout]) == 0
        line = last_line(capsys.readouterr().out)
        assert cwfast.load(out).metadata["readout"] == readout
        assert sd.main(["eval", "--data", str(test_dir), "-m", str(out)]) == 0
        assert last_line(capsys.readouterr().out) == line


def test_choose_readout_chooses_on_validation_takes_only(stand_in, tmp_path, capsys):
    """The readout is chosen on takes 5-9; the test takes 0-4 are scored only after, and never used
    to train or choose: with other audio in the test takes, every validation figure and the choice
    are the same, only the test column moves."""
    sd = stand_in
    data = make_fsdd(tmp_path / "rec", digits=(0, 1), speakers=("anna",), takes=range(0, 14))
    (fit, val), test = sd.load_validation_split(str(data))
    assert len(fit[0]) == 2 * 4 and len(val[0]) == 2 * 5 and len(test[0]) == 2 * 5

    def choose():
        sd._CACHE.clear()  # features are cached by path: the files change below
        assert sd.main(["choose-readout", "--data", str(data), "--params", "500", "--epochs", "10",
                        "--archs", "cw"]) == 0
        rows = [r.split("|") for r in capsys.readouterr().out.splitlines() if r.startswith("| CW-RNN |")]
        return [[c.strip() for c in r[1:-1]] for r in rows]

    rows = choose()
    assert [r[1] for r in rows] == ["last", "mean"]
    chosen = [r for r in rows if r[4] == "yes"]
    assert len(chosen) == 1 and float(chosen[0][2]) == min(float(r[2]) for r in rows)

    # The test takes swapped for other digits' audio (digit 0's for 1's and back).
    for take in range(5):
        zero, one = data / f"0_anna_{take}.wav", data / f"1_anna_{take}.wav"
        a, b = zero.read_bytes(), one.read_bytes()
        zero.write_bytes(b)
        one.write_bytes(a)
    swapped = choose()
    assert [r[:3] + r[4:] for r in swapped] == [r[:3] + r[4:] for r in rows]
    assert [r[3] for r in swapped] != [r[3] for r in rows]  # the test takes were read, after the choice


def test_a_runs_epochs_are_said_in_words(sd):
    # It printed "(1 epochs, epochs, 0.2 s)" for a run that trained every epoch it was given.
    assert sd._epochs({"epochs": 1, "stopped": "epochs"}) == "1 epoch, all it was given"
    assert sd._epochs({"epochs": 12, "stopped": "early stopping"}) == "12 epochs, early stopping"
