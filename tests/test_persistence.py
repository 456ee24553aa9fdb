"""Save and load: exact round trips, and clear errors for files that are not good models."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cwfast
from cwfast import ClockworkRNN, CwfastError, ParameterError


@pytest.fixture
def model():
    return ClockworkRNN(2, 1, module_sizes=[3, 2, 4], periods=[1, 3, 5], seed=3, sample_rate=44100,
                        metadata={"mode": "memorize", "nmse": 0.004})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, model, dtype, rng):
    model = ClockworkRNN.from_dense(model.to_dense(), dtype=dtype, sample_rate=44100, metadata=model.metadata)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = cwfast.load(path)
    assert loaded.dtype == dtype
    np.testing.assert_array_equal(loaded.params, model.params)
    assert loaded.periods.tolist() == [1, 3, 5] and loaded.module_sizes.tolist() == [3, 2, 4]
    assert loaded.sample_rate == 44100 and loaded.metadata == {"mode": "memorize", "nmse": 0.004}
    x = rng.normal(size=(50, 2))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp files left


def test_input_windows_survive_round_trip_and_old_files_load(tmp_path, model, rng):
    windowed = ClockworkRNN(2, 1, module_sizes=[3, 2, 4], periods=[5, 1, 3], input_windows="period", seed=3)
    windowed.save(tmp_path / "w.npz")
    loaded = cwfast.load(tmp_path / "w.npz")
    assert loaded.input_windows.tolist() == [1, 3, 5]
    np.testing.assert_array_equal(loaded.params, windowed.params)
    x = rng.normal(size=(30, 2))
    np.testing.assert_array_equal(loaded.forward(x), windowed.forward(x))
    # A file from before input windows (no input_windows array) is a model of windows 1.
    arrays = model.to_dense()
    del arrays["input_windows"]
    np.savez(tmp_path / "old.npz", header=np.array(json.dumps(
        {"format": "cwfast-model", "version": 1, "arch": "clockwork", "dtype": "float32", "output": "linear"})),
        **arrays)
    old = cwfast.load(tmp_path / "old.npz")
    assert old.max_window == 1
    np.testing.assert_array_equal(old.params, model.params)


def test_softmax_head_survives_round_trip(tmp_path, rng):
    model = ClockworkRNN(1, 4, n_hidden=6, n_modules=3, seed=0, output="softmax")
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.output == "softmax"
    x = rng.normal(size=(20, 1))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_no_overwrite_unless_asked(tmp_path, model):
    path = tmp_path / "m.npz"
    path.write_bytes(b"precious")
    with pytest.raises(CwfastError, match="exists"):
        model.save(path, overwrite=False)
    assert path.read_bytes() == b"precious"


def test_truncated_file(tmp_path, model):
    path = tmp_path / "m.npz"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CwfastError, match="truncated or corrupt"):
        cwfast.load(path)


def test_corrupt_file(tmp_path, model):
    path = tmp_path / "m.npz"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(CwfastError, match="cannot load model"):
        cwfast.load(path)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"hello, I am text\n", "not an .npz archive"), (b"\x93NUMPY\x01\x00", "not an .npz archive")],
)
def test_not_a_model(tmp_path, content, message):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(CwfastError, match=message):
        cwfast.load(path)


def test_foreign_npz_and_wrong_header(tmp_path, model):
    path = tmp_path / "foreign.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(CwfastError, match="no header"):
        cwfast.load(path)
    np.savez(path, header=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(CwfastError, match="unknown header"):
        cwfast.load(path)
    np.savez(path, header=np.array(json.dumps({"format": "cwfast-model", "version": 99})))
    with pytest.raises(CwfastError, match="newer"):
        cwfast.load(path)


@pytest.mark.parametrize("version", ["1", 1.0, None, 0, -1, True])
def test_a_version_that_is_not_one_is_refused_as_such(tmp_path, model, version):
    """A hand-edited version was said to be newer than this cwfast reads (None, "1"), or loaded (0,
    -1, true). A checkpoint's header is read by the same rule."""
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")))
    header["version"] = version
    np.savez(tmp_path / "m.npz", header=np.array(json.dumps(header)), **arrays)
    with pytest.raises(CwfastError, match=r"format version .* is not one \(a positive integer\)"):
        cwfast.load(tmp_path / "m.npz")


def test_a_stored_sample_rate_no_sound_file_can_hold_is_refused(tmp_path, model):
    """A file storing 10**12 Hz loaded, and generate then blamed --sample-rate, which the user
    had not given. A model's rate is at most what a sound file stores, as set or as loaded."""
    with pytest.raises(cwfast.ParameterError, match="sample_rate=2147483648 must be at most 2147483647"):
        model.sample_rate = 2**31
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")))
    header["sample_rate"] = 10**12
    np.savez(tmp_path / "m.npz", header=np.array(json.dumps(header)), **arrays)
    with pytest.raises(CwfastError, match="inconsistent contents .sample_rate=1000000000000 must be at most"):
        cwfast.load(tmp_path / "m.npz")


def test_a_path_ending_in_a_separator_is_no_file_to_save(tmp_path, model):
    """model.save("newdir/") wrote a file named newdir (Path drops the separator)."""
    with pytest.raises(cwfast.ParameterError, match="names a folder .it ends in a separator.: give a file name"):
        model.save(str(tmp_path / "newdir") + "/")
    assert list(tmp_path.iterdir()) == []


def zip_flags_patched(data, local_offset, central_offset, patch):
    """The zip ``data`` with ``patch(data, offset)`` applied to every local and central header."""
    data = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = data.find(signature)
        while at >= 0:
            patch(data, at + offset)
            at = data.find(signature, at + 4)
    return bytes(data)


def test_a_zip_python_cannot_open_is_a_load_error(tmp_path, model):
    """An encrypted member (RuntimeError from zipfile) or one in a compression zipfile lacks
    (NotImplementedError) ended in a traceback; both are ordinary zips, not cwfast models."""
    import struct

    from cwfast.train import load_checkpoint

    model.save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()

    def encrypted(b, k):
        b[k] |= 1

    def method_99(b, k):
        b[k : k + 2] = struct.pack("<H", 99)

    for patch, local, central, message in ((encrypted, 6, 8, "encrypted"), (method_99, 8, 10, "compression method")):
        (tmp_path / "x.npz").write_bytes(zip_flags_patched(data, local, central, patch))
        with pytest.raises(CwfastError, match=f"not a readable cwfast model .*{message}"):
            cwfast.load(tmp_path / "x.npz")
        with pytest.raises(CwfastError, match=f"{message}"):
            load_checkpoint(tmp_path / "x.npz")


def test_a_member_that_declares_more_than_it_holds_is_corrupt(tmp_path, model):
    """A 1-kB member whose header claims a 40 GB array was refused as out of memory, after an
    attempt to allocate it."""
    import io

    model.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz", "a") as z:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)})
        z.writestr("junk.npy", header.getvalue())
    with pytest.raises(CwfastError, match=r"truncated or corrupt \('junk' declares 40,000,000,000 bytes and holds 0\)"):
        cwfast.load(tmp_path / "m.npz")


def test_inconsistent_arrays(tmp_path, model):
    path = tmp_path / "m.npz"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    d = model.to_dense()
    d["W_h"][-1, 0] = 1.0  # a forbidden connection
    with np.load(path) as archive:
        header = archive["header"]
    np.savez(path, header=header, **d)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(members)  # the same members: only a value is wrong
    with pytest.raises(CwfastError, match="inconsistent contents"):
        cwfast.load(path)


@pytest.mark.parametrize("key, value", [("periods", np.array(["1", "2", "4"])),
                                        ("periods", np.array([1, 2, 4], dtype=complex)),
                                        ("module_sizes", np.array([[1, 2], [3, 4]])),
                                        ("module_sizes", np.array([], dtype=np.int64)),
                                        ("level", np.array(["a", "b"]))])
def test_arrays_of_the_wrong_kind_are_a_load_error(tmp_path, key, value):
    """A foreign file's arrays of another kind (strings, complex numbers, wrong nesting) are refused
    with a CwfastError, not a TypeError or a NumPy error from inside the loader."""
    path = saved_with(tmp_path, cwfast.ClockworkRNN(1, 1, n_hidden=6, n_modules=3, seed=0), key, value)
    with pytest.raises(CwfastError, match="inconsistent contents"):
        cwfast.load(path)


def saved_with(tmp_path, model, key, value):
    """The path of ``model`` saved, then its array ``key`` replaced by ``value``."""
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays[key] = value
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arch, key, value", [("cw", "module_sizes", np.array([2000, 1000])),
                                              ("cw", "W_out", np.zeros((3_000_000, 0), np.float32)),
                                              ("lstm", "W_out", np.zeros((3_000_000, 0), np.float32))])
def test_sizes_a_file_declares_are_checked_before_a_model_is_built(tmp_path, arch, key, value):
    """A few kB whose sizes ask for a huge model were built (and randomly filled) before their shapes
    were compared: seconds and hundreds of MB per such file."""
    import tracemalloc

    model = (cwfast.ClockworkRNN(1, 2, n_hidden=3, n_modules=2, seed=0) if arch == "cw"
             else cwfast.LSTM(1, 2, n_hidden=3, seed=0))
    path = saved_with(tmp_path, model, key, value)
    tracemalloc.start()
    try:
        with pytest.raises(CwfastError, match="inconsistent contents"):
            cwfast.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # the models these sizes describe hold 12 MB of parameters and more


def test_missing_file(tmp_path):
    with pytest.raises(CwfastError, match="no such file"):
        cwfast.load(tmp_path / "nope.npz")


def test_saved_model_gets_ordinary_permissions(tmp_path, model):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        model.save(tmp_path / "m.npz")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_a_model_saved_over_another_keeps_its_permissions(tmp_path, model):
    """A private model (0600) became world-readable (0644) when saved over: open(path, "w") keeps
    a file's mode, and so does the atomic write now."""
    import os
    import stat

    path = tmp_path / "m.npz"
    for mode in (0o600, 0o640):
        model.save(path)
        os.chmod(path, mode)
        model.save(path)
        assert stat.S_IMODE(path.stat().st_mode) == mode


def test_failed_save_leaves_nothing(tmp_path):
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, metadata={"not json": object()})
    with pytest.raises(cwfast.ParameterError, match="JSON"):
        model.save(tmp_path / "m.npz")
    with pytest.raises(CwfastError, match="does not exist"):
        ClockworkRNN(1, 1, n_hidden=4, n_modules=2).save(tmp_path / "no" / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_a_named_pipe_without_blocking(tmp_path):
    """open() on a FIFO with no writer blocks forever: load must refuse it before opening."""
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    os.mkfifo(tmp_path / "pipe.npz")
    os.symlink(tmp_path / "pipe.npz", tmp_path / "link.npz")
    for name in ["pipe.npz", "link.npz"]:  # also through a symbolic link
        errors = []

        def run(path=tmp_path / name):
            try:
                cwfast.load(path)
            except Exception as exc:  # noqa: BLE001 - checked below
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=10)
        if thread.is_alive():  # blocked in open(): release it with a writer, so the suite goes on
            os.close(os.open(tmp_path / "pipe.npz", os.O_WRONLY | os.O_NONBLOCK))
            thread.join(timeout=30)
            pytest.fail("cwfast.load blocked on a named pipe")
        assert len(errors) == 1 and isinstance(errors[0], CwfastError), errors
        assert "not a regular file" in str(errors[0])


def test_header_that_is_not_an_npy_array(tmp_path):
    """A zip member that is not an .npy file comes out of np.load as bytes, not an array."""
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.npy", b"hello")
    with pytest.raises(CwfastError, match="not a cwfast model"):
        cwfast.load(path)
    np.savez(path, header=np.arange(3))  # an array, but not a string
    with pytest.raises(CwfastError, match="not a cwfast model"):
        cwfast.load(path)


def test_deeply_nested_header_is_a_load_error(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, header=np.array("[" * 100000))
    with pytest.raises(CwfastError, match="not a readable cwfast model"):
        cwfast.load(path)


@pytest.mark.parametrize("overwrite", ["no", "False", 0, 2, None])
def test_overwrite_must_be_a_bool(tmp_path, model, overwrite):
    path = tmp_path / "m.npz"
    path.write_bytes(b"precious")
    with pytest.raises(cwfast.ParameterError, match="overwrite must be True or False"):
        model.save(path, overwrite=overwrite)
    assert path.read_bytes() == b"precious"
    with pytest.raises(cwfast.ParameterError, match="overwrite"):
        model.save(tmp_path / "new.npz", overwrite=overwrite)
    assert not (tmp_path / "new.npz").exists()


class _Unchecked(ClockworkRNN):
    """A model whose sample_rate, metadata and output are plain attributes, set without checks
    (as a subclass or a caller reaching past a property could): save must still check them."""

    sample_rate = None
    metadata = None
    output = "linear"


@pytest.mark.parametrize("attribute, value, message", [
    ("metadata", ["a"], "metadata must be a dict"),
    ("metadata", "text", "metadata must be a dict"),
    ("sample_rate", "x", "sample_rate='x' must be a positive integer"),
    ("sample_rate", -5, "sample_rate=-5 must be a positive integer"),
    ("sample_rate", 44100.0, "sample_rate=44100.0 must be a positive integer"),
    ("output", "nonsense", "output='nonsense' must be one of"),
])
def test_save_refuses_a_header_load_would_refuse(tmp_path, attribute, value, message):
    model = _Unchecked(1, 1, n_hidden=4, n_modules=2, seed=0)
    setattr(model, attribute, value)
    path = tmp_path / "m.npz"
    path.write_bytes(b"precious")
    with pytest.raises(cwfast.ParameterError, match=message):
        model.save(path)
    assert path.read_bytes() == b"precious"
    with pytest.raises(cwfast.ParameterError, match=message):
        model.save(tmp_path / "new.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


@pytest.mark.parametrize("metadata, key", [({1: "a"}, "1"), ({None: "a"}, "None"), ({"ok": [{2.5: 1}]}, "2.5"),
                                           ({"ok": {True: 1}}, "True")])
def test_save_refuses_metadata_keys_that_are_not_str(tmp_path, metadata, key):
    """JSON turns a key 1 into '1' (None into 'null'): the loaded model would differ from the saved."""
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0)
    model.metadata.update(metadata)  # in place: no setter sees it
    with pytest.raises(cwfast.ParameterError, match=f"metadata key {key} is not a str"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("depth", [101, 5000])
def test_save_refuses_deeply_nested_metadata(tmp_path, depth):
    nested = []
    for _ in range(depth):
        nested = [nested]
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0)
    model.metadata["deep"] = nested
    with pytest.raises(cwfast.ParameterError, match="nested too deeply"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_moderately_nested_metadata_and_str_keys_round_trip(tmp_path):
    nested = {"x": 1}
    for _ in range(45):  # 92 levels with the outer dict: under the bound of 100
        nested = {"k": [nested]}
    metadata = {"deep": nested, "plain": {"a": [1, 2.5, None, "s"]}}
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0, sample_rate=8000, metadata=metadata)
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.metadata == metadata and loaded.sample_rate == 8000


def test_numpy_scalars_in_metadata_save_as_the_numbers_they_equal(tmp_path):
    """A figure computed with NumPy (np.float32, np.int64, np.bool_) is stored as the Python number
    it equals, not refused; a NumPy array, which JSON would have to flatten, still is."""
    metadata = {"gain": np.float32(0.1), "counts": [np.int64(3), np.bool_(True)], "fit": {"beta": np.float64(2.5)}}
    model = ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0, metadata=metadata)
    model.save(tmp_path / "m.npz")
    loaded = cwfast.load(tmp_path / "m.npz")
    assert loaded.metadata == {"gain": float(np.float32(0.1)), "counts": [3, True], "fit": {"beta": 2.5}}
    assert type(loaded.metadata["counts"][0]) is int and type(loaded.metadata["counts"][1]) is bool
    model.metadata["taps"] = np.zeros(2)
    with pytest.raises(cwfast.ParameterError, match="model metadata must be JSON-serialisable .*ndarray"):
        model.save(tmp_path / "m.npz")
    assert cwfast.load(tmp_path / "m.npz").metadata == loaded.metadata  # the first file is untouched


def test_metadata_numbers_past_floats_range_are_no_numbers(tmp_path, capsys):
    """JSON reads 1e400 written as digits as an int past float's range: info, generate and the
    API raised OverflowError tracebacks (a review); now such a value is invalid or not shown."""
    import json

    import cwfast
    from cwfast.cli import main
    from cwfast.errors import CwfastError
    from cwfast.render import scale_of

    source = Path(cwfast.__file__).parent / "models" / "default.npz"
    archive = np.load(source)
    header = json.loads(str(archive["header"]))
    arrays = {k: archive[k] for k in archive.files if k != "header"}
    for key, where in (("scale", None), ("start", None), ("seconds", "trainer"), ("pinned", "table")):
        h = json.loads(json.dumps(header))
        meta = h["metadata"]
        target = meta["trainer"] if where == "trainer" else meta["temperature_calibration"]["table"][0] \
            if where == "table" else meta
        target[key] = 10**400
        path = tmp_path / f"{key}.npz"
        np.savez(path, header=np.array(json.dumps(h)), **arrays)
        assert main(["info", str(path)]) == 0
        capsys.readouterr()
        if key == "scale":
            with pytest.raises(CwfastError, match="invalid scale"):
                scale_of(cwfast.load(path))
            assert main(["generate", "-m", str(path), "-o", str(tmp_path / "g.wav"), "--seconds", "0.01"]) == 2
            assert "invalid scale" in capsys.readouterr().err


def test_a_memorize_model_whose_length_is_past_any_count_is_not_said_to_have_one():
    import cwfast
    from cwfast.metadata import trained_length

    model = cwfast.ClockworkRNN(0, 1, module_sizes=[2, 2], periods=[1, 2], seed=0,
                                metadata={"mode": "memorize", "length": 10**400})
    assert trained_length(model) == 0
    model.metadata["length"] = 4000
    assert trained_length(model) == 4000


@pytest.mark.parametrize("calibration, expected", [
    (None, None), ("text", None), ({"training_audio": None}, None), ({"training_audio": {}}, None),
    ({"training_audio": {"rms": "0.1"}}, None), ({"training_audio": {"rms": True}}, None),
    ({"training_audio": {"rms": 0.0}}, None), ({"training_audio": {"rms": -0.1}}, None),
    ({"training_audio": {"rms": float("nan")}}, None), ({"training_audio": {"rms": float("inf")}}, None),
    ({"training_audio": {"rms": 10**400}}, None), ({"training_audio": {"rms": 0.125}}, 0.125),
    ({"training_audio": {"rms": 2}}, 2.0),
])
def test_a_stored_training_rms_is_read_only_if_it_is_a_positive_finite_number(calibration, expected):
    """Free-form metadata, read as trained_length reads it: anything else counts as not stored."""
    from cwfast.metadata import training_rms_of

    model = ClockworkRNN(1, 4, n_hidden=4, n_modules=2, seed=0, output="softmax")
    if calibration is not None:
        model.metadata["temperature_calibration"] = calibration
    assert training_rms_of(model) == expected


@pytest.mark.parametrize("calibration, expected", [
    (None, (1, 2, 3)), ({"seed": 0}, (1, 2, 3)), ({"seeds": [0, 1, 2]}, (3, 4, 5)), ({"seeds": [1, 3]}, (0, 2, 4)),
    ({"seed": 2}, (0, 1, 3)), ({"seeds": "0,1"}, (1, 2, 3)), ({"seeds": [0, "1", None]}, (1, 2, 3)), ("x", (1, 2, 3)),
])
def test_the_measuring_seeds_are_the_first_the_calibration_did_not_draw_with(calibration, expected):
    from cwfast.metadata import measuring_seeds

    model = ClockworkRNN(1, 4, n_hidden=4, n_modules=2, seed=0, output="softmax")
    if calibration is not None:
        model.metadata["temperature_calibration"] = calibration
    assert measuring_seeds(model) == expected
    assert measuring_seeds(model, count=1) == expected[:1]
    with pytest.raises(ParameterError, match="count"):
        measuring_seeds(model, count=0)


def test_load_refuses_a_file_named_as_a_folder(tmp_path, capsys):
    """pathlib drops a trailing separator, so load("m.npz/") loaded the file, where open() and
    every -o of the command line refuse a file named with one; a folder's name with it still loads
    nothing else (it is a directory)."""
    from cwfast.cli import main

    ClockworkRNN(1, 1, n_hidden=4, n_modules=2, seed=0).save(tmp_path / "m.npz")
    with pytest.raises(CwfastError, match="not a directory"):
        cwfast.load(str(tmp_path / "m.npz") + "/")
    assert cwfast.load(tmp_path / "m.npz").n_hidden == 4
    assert main(["info", str(tmp_path / "m.npz") + "/"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err
