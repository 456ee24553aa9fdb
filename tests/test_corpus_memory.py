"""What a long corpus costs in memory while it trains (issue 12: "an hour of audio fits"): the
tasks' labels are kept in the smallest integer type that holds them and are built a piece at a
time, and none of it changes what is trained."""

import numpy as np
import pytest

from cwfast import codec, tasks
from cwfast import train_audio as module


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
