"""What a long corpus costs in memory while it trains (issue 12: "an hour of audio fits"): the
tasks' labels are kept in the smallest integer type that holds them and are built a piece at a
time, the corpus's arrays live in memory-mapped scratch files (:mod:`cwfast.scratch`), and none
of it changes what is trained."""

import errno
import gc
import mmap
import os
import sys
import tempfile
import types

import numpy as np
import pytest

from cwfast import codec, scratch, tasks
from cwfast import train_audio as module
from cwfast.cli import main
from cwfast.errors import CwfastError, ParameterError


def clip(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (0.4 * np.sin(t * 0.07) + 0.1 * rng.standard_normal(n)).astype(np.float32)


def whole_clip_task(samples, n_classes, scale, history):
    """The task as autoregressive built it before it went a piece at a time (the reference)."""
    scaled = samples.astype(np.float64) / scale
    labels = codec.mu_law_encode(scaled, n_classes)
    inputs = np.zeros((samples.size, 1), np.float32)
    inputs[1:, 0] = codec.as_read(scaled[:-1], n_classes, history, labels=labels[:-1])
    return inputs, labels


@pytest.mark.parametrize("n_classes, dtype", [(256, np.uint8), (2, np.uint8), (257, np.uint16), (2**16, np.uint16)])
def test_labels_are_kept_in_the_smallest_unsigned_type_that_holds_them(n_classes, dtype):
    task = tasks.autoregressive(clip(300), n_classes=n_classes)
    assert task.targets.dtype == dtype
    per_clip = tasks.corpus([clip(300), clip(200, 1)], n_classes=n_classes, validation=0.1, test=0.1)
    assert tasks.join(p for c in per_clip for p in c).targets.dtype == dtype


@pytest.mark.parametrize("history", ["mu-law", "linear"])
@pytest.mark.parametrize("n", [1, 6, 7, 8, 50])
def test_a_task_built_a_piece_at_a_time_is_the_whole_clips(monkeypatch, history, n):
    monkeypatch.setattr(tasks, "TASK_PIECE", 7)  # pieces that end before, at and after the clip's end
    samples = clip(n) * 3.0  # some beyond the scale: clipped the same way in every piece
    task = tasks.autoregressive(samples, scale=0.9, history=history)
    inputs, labels = whole_clip_task(samples, 256, 0.9, history)
    assert task.inputs.dtype == np.float32 and np.array_equal(task.inputs, inputs)
    assert np.array_equal(task.targets, labels)


def test_training_on_the_small_labels_trains_the_model_the_int64_labels_did(monkeypatch):
    clips = [clip(3000), clip(2000, 1)]
    options = dict(mode="autoregressive", hidden=8, modules=2, epochs=2, lr=0.01, seed=3, progress=False)
    small = module.train_audio(clips, 8000, **options)
    assert small.splits.train.targets.dtype == np.uint8

    built = tasks.autoregressive

    def as_before(*args, **kwargs):  # the labels as every version before this one kept them
        task = built(*args, **kwargs)
        task.targets = task.targets.astype(np.int64)
        return task

    monkeypatch.setattr(tasks, "autoregressive", as_before)
    wide = module.train_audio(clips, 8000, **options)
    assert wide.splits.train.targets.dtype == np.int64
    assert np.array_equal(small.model.params, wide.model.params)
    assert small.figures == wide.figures
    assert untimed(small.model.metadata) == untimed(wide.model.metadata)


def untimed(value):
    """``value`` without its wall-clock ``seconds`` (of training: they differ from run to run)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


# ------------------------------------------------------------------ the corpus in scratch files

LINUX = sys.platform.startswith("linux")


def mapped_under(folder):
    """The lines of /proc/self/maps of files in ``folder``: the scratch files mapped (Linux)."""
    with open("/proc/self/maps") as maps:
        return [line for line in maps if f" {folder}{os.sep}" in line]


def is_mapped(array):
    """Whether ``array``'s memory is a mapped file's (np.memmap, or a view of one)."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


CORPUS = dict(mode="autoregressive", hidden=8, modules=2, epochs=2, lr=0.01, seed=3, progress=False)


def test_a_corpus_trained_from_scratch_files_trains_the_model_memory_did(monkeypatch, tmp_path):
    clips = [clip(3000), clip(2000, 1)]
    mapped = module.train_audio(clips, 8000, scratch=tmp_path, **CORPUS)
    for part in mapped.splits:
        assert is_mapped(part.inputs) and is_mapped(part.targets)
    assert mapped.splits.train.targets.dtype == np.uint8

    monkeypatch.setattr(scratch.Scratch, "empty", lambda self, shape, dtype: np.empty(shape, dtype))
    held = module.train_audio(clips, 8000, scratch=tmp_path, **CORPUS)
    assert not any(is_mapped(part.inputs) or is_mapped(part.targets) for part in held.splits)
    assert np.array_equal(mapped.model.params, held.model.params)
    assert mapped.figures == held.figures
    assert untimed(mapped.model.metadata) == untimed(held.model.metadata)
    assert np.array_equal(mapped.task.inputs, held.task.inputs)
    assert np.array_equal(mapped.task.targets, held.task.targets)


@pytest.mark.parametrize("mode", ["memorize", "effect"])
def test_a_one_clip_task_is_built_on_scratch_files_and_trains_as_in_memory(monkeypatch, tmp_path, mode):
    """memorize's and effect's task was built in memory (8 bytes a sample of an effect's dry and
    wet) before its parts were joined into scratch files; it is built there, to the same bits."""
    from cwfast import tasks

    made = []
    real = tasks.make_task

    def making(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tasks, "make_task", making)
    dry = clip(1500)
    options = dict(mode=mode, hidden=6, modules=2, epochs=2, lr=0.01, seed=3, progress=False)
    if mode == "effect":
        options["target"] = np.tanh(3 * dry).astype(np.float32)
    mapped = module.train_audio(dry, 8000, scratch=tmp_path, **options)
    assert is_mapped(made[-1].targets) and (mode == "memorize" or is_mapped(made[-1].inputs))
    monkeypatch.setattr(scratch.Scratch, "empty", lambda self, shape, dtype: np.empty(shape, dtype))
    held = module.train_audio(dry, 8000, scratch=tmp_path, **options)
    assert not is_mapped(made[-1].targets)
    assert np.array_equal(mapped.model.params, held.model.params) and mapped.figures == held.figures


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/maps")
@pytest.mark.parametrize("raised", [None, RuntimeError, KeyboardInterrupt])
def test_scratch_files_have_no_name_while_training_and_are_gone_after_it(monkeypatch, tmp_path, raised):
    """Mapped while training, never a name in the folder (a killed process leaves nothing), and
    the space given back once the arrays are dropped: after training, an error or Ctrl-C."""
    seen = []
    trainer = module._run_trainer

    def training(*args, **kwargs):
        seen.append((len(mapped_under(tmp_path)), os.listdir(tmp_path)))
        if raised is not None:  # (a new exception each time: its traceback holds the arrays)
            raise raised("in training")
        return trainer(*args, **kwargs)

    monkeypatch.setattr(module, "_run_trainer", training)
    if raised is None:
        trained = module.train_audio([clip(3000), clip(2000, 1)], 8000, scratch=tmp_path, **CORPUS)
        assert mapped_under(tmp_path)  # the parts the result holds
        del trained
    else:
        with pytest.raises(raised) as caught:
            module.train_audio([clip(3000), clip(2000, 1)], 8000, scratch=tmp_path, **CORPUS)
        del caught  # (its traceback's frames hold the arrays, as a caller's handler would until it returns)
    gc.collect()
    assert seen and seen[0][0] > 0 and seen[0][1] == []
    assert mapped_under(tmp_path) == [] and os.listdir(tmp_path) == []


def test_the_scratch_folder_is_scratch_or_cwfast_scratch_or_the_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(scratch.ENV, raising=False)
    assert scratch.Scratch().directory == tempfile.gettempdir()
    monkeypatch.setenv(scratch.ENV, str(tmp_path))
    assert scratch.Scratch().directory == str(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert scratch.Scratch(other).directory == str(other)


def _refuse_writes_in(monkeypatch, folder):
    """What the kernel answers a user who may not write in ``folder`` (EACCES to any open that
    would make a file there, O_TMPFILE's open of the folder itself included), for a process that
    could write anyway: root, as CI runs, ignores permission bits."""
    real_open = os.open
    folder = os.path.realpath(folder)

    def open_(path, flags, *args, **kwargs):
        target = os.path.realpath(path)
        if (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) and folder in (target, os.path.dirname(target)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


@pytest.mark.parametrize("where, reason", [("missing", "no such folder"), ("file", "not a folder"),
                                           ("read-only", os.strerror(errno.EACCES))])
def test_a_scratch_that_is_not_a_writable_folder_is_refused_in_one_line(tmp_path, monkeypatch, no_training, where,
                                                                        reason):
    path = tmp_path / "scratch"
    if where == "file":
        path.write_text("")
    elif where == "read-only":
        path.mkdir()
        path.chmod(0o500)
        if os.access(path, os.W_OK):  # root writes anywhere (CI runs as root): refused as a user is
            _refuse_writes_in(monkeypatch, path)
    says = rf"^scratch='.*scratch' is not a writable folder \({reason}\)"
    with pytest.raises(ParameterError, match=says) as refused:
        module.train_audio([clip(3000), clip(2000, 1)], 8000, scratch=path, **CORPUS)
    assert "\n" not in str(refused.value)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_folder_no_file_can_be_made_in_is_not_called_missing():
    """/proc is there, and a folder, but makes no files: the kernel's ENOENT read "No such file or
    directory" of a folder that exists."""
    with pytest.raises(ParameterError, match=r"^scratch='/proc' is not a writable folder \(no file can be made in it\)"):
        scratch.Scratch("/proc")


def test_a_scratch_without_room_for_the_corpus_says_what_it_needs(monkeypatch, tmp_path, no_training):
    monkeypatch.setattr(scratch.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=1000))
    with pytest.raises(CwfastError, match=r"needs \d[\d,]* bytes .* in the scratch folder '.*', which has 1,000 free"):
        module.train_audio([clip(3000), clip(2000, 1)], 8000, scratch=tmp_path, **CORPUS)
    assert os.listdir(tmp_path) == []


def test_a_disk_that_fills_as_a_scratch_file_is_made_is_a_cwfast_error(monkeypatch, tmp_path):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(scratch.os, "posix_fallocate", full, raising=False)
    with pytest.raises(CwfastError, match=r"no space left in the scratch folder '.*' for \d[\d,]* bytes"):
        scratch.Scratch(tmp_path).empty((1000, 1), np.float32)
    assert os.listdir(tmp_path) == []


def test_the_command_line_refuses_a_scratch_that_is_not_a_folder_in_one_line(capsys, tmp_path, clip_8k,
                                                                             no_training):
    (tmp_path / "f").write_text("")
    status = main(["train", str(clip_8k), "--mode", "autoregressive", "--scratch", str(tmp_path / "f"),
                   "-o", str(tmp_path / "m.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("cwfast: error: --scratch '") and "is not a writable folder" in err
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/maps")
def test_the_command_line_reads_its_files_into_the_scratch_folder(monkeypatch, capsys, tmp_path, clip_8k):
    """Each file is read straight into a scratch file (read into memory and then copied, an hour
    at 16 kHz was 230 MB of the process's own memory at once), and stays there while training."""
    from cwfast import audio

    seen, read = [], []
    trainer, reader = module._run_trainer, audio.load_audio

    def training(*args, **kwargs):
        seen.append(len(mapped_under(tmp_path / "s")))
        return trainer(*args, **kwargs)

    def reading(*args, **kwargs):
        samples, rate = reader(*args, **kwargs)
        read.append(is_mapped(samples))
        return samples, rate

    monkeypatch.setattr(module, "_run_trainer", training)
    monkeypatch.setattr(audio, "load_audio", reading)
    (tmp_path / "s").mkdir()
    monkeypatch.setenv(scratch.ENV, str(tmp_path / "s"))
    other = tmp_path / "other.wav"
    other.write_bytes(clip_8k.read_bytes())
    status = main(["train", str(clip_8k), str(other), "--mode", "autoregressive", "--hidden", "6", "--modules", "3",
                   "--epochs", "1", "--lr", "0.01", "--pitch", "off", "-o", str(tmp_path / "m.npz"), "--quiet"])
    assert status == 0, capsys.readouterr().err
    # the two clips, the joined parts' inputs and labels (train, validation, test)
    assert seen and seen[0] >= 8
    assert read == [True, True]
    gc.collect()
    assert os.listdir(tmp_path / "s") == []


@pytest.mark.parametrize("output, n_out", [("mixture", 30), ("softmax", 256)])
def test_the_checked_labels_are_the_callers_own_not_an_int64_copy(output, n_out):
    """The trainer and the scorer check a whole part's labels at once: an int64 copy of them was 8
    bytes a sample (an hour at 16 kHz peaked at 501 MiB of the process's own memory with it, 313
    without)."""
    from cwfast import ClockworkRNN

    model = ClockworkRNN(1, n_out, n_hidden=4, n_modules=2, output=output)
    labels = np.arange(256, dtype=np.uint8)
    checked = model.check_target(labels, (1, 256, 1), False, "all")
    assert checked.dtype == np.uint8 and np.shares_memory(checked, labels)


@pytest.mark.parametrize("output, n_out", [("mixture", 30), ("softmax", 256)])
def test_uint8_labels_score_as_int64_labels_do_the_top_class_included(output, n_out):
    from cwfast.heads import get_head

    rng = np.random.default_rng(4)
    y = rng.standard_normal((2, 256, n_out)).astype(np.float32)
    labels = np.tile(np.arange(256), (2, 1))  # 255 among them: label + 1 wraps in uint8
    head = get_head(output)
    wide = head.loss_and_grad(y, labels)
    small = head.loss_and_grad(y, labels.astype(np.uint8))
    assert np.isfinite(wide[0]) and small[0] == wide[0] and np.array_equal(small[1], wide[1])
    assert head.loss(y, labels.astype(np.uint8)) == head.loss(y, labels)
    if output == "mixture":
        assert np.array_equal(head._parts(y, labels.astype(np.uint8))[1], head._parts(y, labels)[1])
