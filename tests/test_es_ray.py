"""evolve(cluster="ray") and ``cwfast train --trainer es --cluster ray``: the same bits as a local
run whatever the number of actors, actors killed mid-run, Ctrl-C and resume, the command line
starting a Ray of its own, and what happens without Ray.

The Ray tests share one local Ray instance on 127.0.0.1 (two CPUs, no dashboard), started and
stopped by a module fixture; each run starts its actors (worker processes) on it and stops them.
"""

import importlib.util
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cwfast
from cwfast import CwfastError, ParameterError
from cwfast.cli import main
from cwfast.train import evolve

ACTOR_PREFIX = "cwfast-es-"


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance for the module: 127.0.0.1 only, 2 CPUs (two one-CPU actors), no dashboard."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    address = os.environ.pop("RAY_ADDRESS", None)  # never a cluster of the environment's
    from cwfast.train.cluster import import_ray

    ray = import_ray()  # imported so that a local instance binds to the loopback address
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False)
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        yield ray
    finally:
        ray.shutdown()
        if address is not None:
            os.environ["RAY_ADDRESS"] = address


def es_actors(ray):
    return sorted(name for name in ray.util.list_named_actors() if name.startswith(ACTOR_PREFIX))


def wait_until_gone(ray, name):
    for _ in range(200):
        if name not in es_actors(ray):
            return
        time.sleep(0.05)
    raise AssertionError(f"actor {name} still alive 10 s after ray.kill")


def assert_no_actors_left(ray):
    for _ in range(100):  # a killed actor's name is released asynchronously
        if not es_actors(ray):
            return
        time.sleep(0.1)
    assert es_actors(ray) == []


def unbuilt_scorer(ray):
    """A RayScorer on ``ray`` (a fake, usually) with no actors, built without importing Ray: what
    its connection and closing use."""
    from cwfast.train import cluster

    scorer = cluster.RayScorer.__new__(cluster.RayScorer)
    scorer._ray, scorer._on_note, scorer._started_ray, scorer._live, scorer._starting = ray, None, False, [], {}
    scorer._restore_stdout = None
    return scorer


def problem(kind):
    rng = np.random.default_rng(5)
    if kind == "lstm":
        model = cwfast.LSTM(1, 3, n_hidden=4, seed=2, dtype=np.float64, output="softmax")
        x = rng.normal(size=(3, 16, 1))
        return model, x, rng.integers(0, 3, size=(3,)), dict(steps="last")
    # float32 for the lockstep kernel (float64 is what the period search runs in the other tests:
    # no compilation of its own here).
    dtype = np.float64 if kind == "periods" else np.float32
    model = cwfast.ClockworkRNN(1, 1, module_sizes=[4, 3, 3], periods=[1, 2, 4], seed=1, dtype=dtype)
    x = rng.normal(size=(2, 24, 1)).astype(dtype)
    target = 0.5 * np.roll(x, 1, axis=1)
    return model, x, target, dict(search_periods=True, max_period=8) if kind == "periods" else {}


def train(kind, generations=6, **options):
    model, x, target, extra = problem(kind)
    result = evolve(model, x, target, population=30, sigma=0.05, lr=0.05, generations=generations, seed=11,
                    **extra, **options)
    return model, result


def assert_same_run(a, b):
    (model_a, result_a), (model_b, result_b) = a, b
    np.testing.assert_array_equal(model_a.params, model_b.params)
    np.testing.assert_array_equal(model_a.periods, model_b.periods)
    assert result_a.losses == result_b.losses
    assert result_a.best_epoch == result_b.best_epoch and result_a.final_loss == result_b.final_loss


@pytest.mark.slow
@pytest.mark.parametrize("kind, actors", [("lockstep", 1), ("lockstep", 2), ("periods", 2), ("lstm", 2)])
def test_ray_gives_the_local_runs_bits(ray_instance, kind, actors):
    local = train(kind)
    assert local[1].losses[-1] != local[1].losses[0]  # it trained
    assert_same_run(train(kind, cluster="ray", actors=actors), local)
    assert_no_actors_left(ray_instance)


@pytest.mark.slow
def test_actors_killed_mid_run_are_replaced_and_the_run_is_unchanged(ray_instance, caplog):
    ray = ray_instance
    seen = {}

    def kill_two(info):
        names = es_actors(ray)
        if info.epoch == 1:
            # Between generations: the next share sent to it fails and another actor scores it.
            seen["before"], seen["first"] = names, names[0]
            ray.kill(ray.get_actor(names[0]))
            wait_until_gone(ray, names[0])  # ray.kill is asynchronous: dead before generation 2
        if info.epoch == 2:
            seen["after first"] = names
            # From another thread a moment later: most likely while the next generation is scored.
            seen["second"] = seen["before"][1]  # the other actor of the start
            seen["timer"] = threading.Timer(0.001, ray.kill, (ray.get_actor(seen["second"]),))
            seen["timer"].start()
        if info.epoch == 4:
            seen["timer"].join()
            wait_until_gone(ray, seen["second"])  # dead before generation 5 at the latest

    with caplog.at_level("WARNING", logger="cwfast.train.cluster"):
        killed = train("lockstep", cluster="ray", actors=2, on_step_end=kill_two)
    assert len(seen["before"]) == 2 and seen["second"] != seen["first"]
    assert seen["first"] not in seen["after first"] and len(seen["after first"]) == 2  # a replacement
    for name in (seen["first"], seen["second"]):
        assert any(name in r.getMessage() and "scored again" in r.getMessage() for r in caplog.records), name
    assert_same_run(killed, train("lockstep"))
    assert_no_actors_left(ray)


@pytest.mark.slow
def test_ctrl_c_stops_the_actors_and_the_checkpoint_resumes_locally(ray_instance, tmp_path, sigint_default):
    GENERATIONS = 1000
    path = tmp_path / "es.ckpt"
    timers = []

    def ctrl_c_soon(info):
        # A real SIGINT a moment later: it lands while the driver waits for the next generation's
        # losses (or just after), and evolve defers it to the end of that generation.
        if info.step == 2:
            timers.append(threading.Timer(0.003, os.kill, (os.getpid(), signal.SIGINT)))
            timers[-1].start()

    # 1000 generations: the signal lands long before their end however loaded the machine (with 6,
    # a timer late by a few generations' time let the run end first).
    with pytest.raises(KeyboardInterrupt):
        train("lockstep", GENERATIONS, cluster="ray", actors=2, checkpoint=path, on_step_end=ctrl_c_soon)
        time.sleep(5)  # the run ended before the signal came: let it come here, still inside the raises
    timers[0].join()
    assert_no_actors_left(ray_instance)
    from cwfast.train.checkpoint import load_checkpoint

    # The signal comes after step 2; on a loaded machine it may land some generations later, but
    # the run must stop before its end, with the checkpoint where it stopped.
    assert 2 <= load_checkpoint(path).step < GENERATIONS
    model, x, target, _ = problem("lockstep")
    resumed = evolve(model, x, target, population=30, sigma=0.05, lr=0.05, generations=GENERATIONS, seed=11,
                     checkpoint=path, resume=True)
    whole = train("lockstep", GENERATIONS)
    np.testing.assert_array_equal(model.params, whole[0].params)
    assert resumed.losses == whole[1].losses


@pytest.mark.slow
def test_cli_cluster_ray_starts_its_own_ray_and_trains_the_same_model(ray_instance, capsys, tmp_path, clip_8k):
    # The command as a user runs it, with no Ray running for it and no RAY_ADDRESS: it starts a
    # local instance, trains, and stops it (the module's instance is another one).
    argv = ["train", str(clip_8k), "--samples", "48", "--epochs", "3", "--quiet", "--hidden", "6", "--modules", "3",
            "--trainer", "es", "--population", "8"]
    local = tmp_path / "local.npz"
    assert main([*argv, "-o", str(local)]) == 0, capsys.readouterr().err
    on_ray = tmp_path / "ray.npz"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-m", "cwfast", *argv, "--cluster", "ray", "-o", str(on_ray)],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert "Started a local Ray instance" not in done.stderr  # Ray's INFO lines, under --quiet
    # ... but the wait is said, once: a local instance takes 5 to 12 s to start, in silence before
    assert done.stderr.count("cwfast: starting a local Ray instance for the evolution strategy") == 1, done.stderr
    assert "Token authentication is enabled" not in done.stderr  # its notice about its own default
    np.testing.assert_array_equal(cwfast.load(on_ray).params, cwfast.load(local).params)
    assert_no_actors_left(ray_instance)


@pytest.mark.parametrize("resume", [False, True])
def test_the_command_says_a_local_ray_starts_before_it_starts_also_when_resuming(monkeypatch, capsys, tmp_path,
                                                                                  clip_8k, resume):
    """`--cluster ray --checkpoint CK --resume` was silent while a local Ray started (seconds to a
    minute): the command said so only without --resume, where the notes are not held until the
    checkpoint has been checked in full. The line now comes from the trainer as Ray starts, after
    that check, on both paths; --quiet (progress bars) does not hide it, as it hides no note.
    (ray.init is replaced: it notes what stderr holds when it is called, then fails.)"""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    from cwfast.train.cluster import import_ray

    argv = ["train", str(clip_8k), "--samples", "48", "--quiet", "--hidden", "6", "--modules", "3", "--trainer", "es",
            "--population", "8", "--checkpoint", str(tmp_path / "ck.npz")]
    if resume:
        assert main([*argv, "--epochs", "1", "-o", str(tmp_path / "first.npz")]) == 0, capsys.readouterr().err
        capsys.readouterr()
    ray = import_ray()
    said = []

    def init(**options):
        said.append(capsys.readouterr().err)
        raise ConnectionError("no Ray in this test")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # (the module's instance may be up)
    monkeypatch.setattr(ray, "init", init)
    status = main([*argv, "--epochs", "2", "--cluster", "ray", *(["--resume"] if resume else []),
                   "-o", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert status == 2 and err.endswith("cwfast: error: cannot start or join a local Ray instance: no Ray in this "
                                        "test\n"), err
    assert len(said) == 1, err
    assert said[0].endswith("cwfast: starting a local Ray instance for the evolution strategy (a few seconds; "
                            "RAY_ADDRESS=ADDRESS joins a running cluster instead)\n"), said[0]
    assert "starting a local Ray" not in err  # said once


def test_evolve_says_a_local_ray_starts_before_it_starts(monkeypatch):
    """The API's on_note hears that a local Ray instance starts before ray.init is called, once the
    checkpoint and the arguments are checked; a cluster already joined starts nothing and says nothing."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    from cwfast.train.cluster import import_ray

    ray = import_ray()
    notes, heard = [], []

    def init(**options):
        heard.append(list(notes))
        raise ConnectionError("no Ray in this test")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    model, x, target, _ = problem("lockstep")
    with pytest.raises(ParameterError, match="on_note"):
        evolve(model, x, target, population=4, generations=2, cluster="ray", on_note="print")
    with pytest.raises(CwfastError, match="no Ray in this test"):
        evolve(model, x, target, population=4, generations=2, cluster="ray", on_note=notes.append)
    assert heard == [["starting a local Ray instance for the evolution strategy (a few seconds; RAY_ADDRESS=ADDRESS "
                      "joins a running cluster instead)"]]


def test_only_rays_notice_of_its_token_default_is_dropped_and_only_while_it_starts():
    from cwfast.train import cluster

    # Heard by a handler on the logger itself: once Ray has started, its loggers no longer
    # propagate to the root logger (pytest's caplog).
    heard = []
    catch = logging.Handler(logging.WARNING)
    catch.emit = heard.append
    logger = logging.getLogger(cluster._AUTH_LOGGER)
    notice = cluster._AUTH_NOTICE + ". Set RAY_AUTH_MODE=disabled to opt out."
    logger.addHandler(catch)
    propagate, logger.propagate = logger.propagate, False  # nothing on the test's stderr
    try:
        with cluster._without_notice(cluster._AUTH_LOGGER, cluster._AUTH_NOTICE):
            logger.warning(notice)
            logger.warning("Token authentication is disabled for this Ray cluster")  # a warning that matters
        logger.warning(notice)
    finally:
        logger.removeHandler(catch)
        logger.propagate = propagate
    assert [r.getMessage() for r in heard] == ["Token authentication is disabled for this Ray cluster", notice]
    assert not logger.filters


def test_without_ray_the_api_and_the_cli_say_so_in_one_line(monkeypatch, capsys, tmp_path, clip_8k):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    model, x, target, _ = problem("lockstep")
    before = model.params.copy()
    with pytest.raises(CwfastError, match=r"needs Ray, which is not installed: pip install 'ray\[default\]'"):
        evolve(model, x, target, population=4, generations=2, cluster="ray")
    np.testing.assert_array_equal(model.params, before)
    out = tmp_path / "m.npz"
    status = main(["train", str(clip_8k), "--samples", "48", "--epochs", "2", "--quiet", "--hidden", "6",
                   "--modules", "3", "--trainer", "es", "--cluster", "ray", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("cwfast: error: cluster='ray' needs Ray"), err
    assert not out.exists()


def test_a_cluster_that_cannot_start_leaves_a_resumed_model_as_it_was(monkeypatch, tmp_path):
    """evolve(resume=True, cluster="ray") put the checkpoint's centre into the model before the
    cluster's actors started: when they could not (no CPU, a wrong address), the call raised with
    the model changed. (Ray itself is replaced: the scorer fails as it enters.)"""
    from cwfast.train import cluster

    class NoCluster:
        def __init__(self, *args, **options):
            pass

        def __enter__(self):
            raise CwfastError("the Ray cluster has no node with a CPU to run the evolution strategy's actors")

        def __exit__(self, *exc):
            return False

    model, x, target, _ = problem("lockstep")
    checkpoint = tmp_path / "ck.npz"
    evolve(model.copy(), x, target, population=4, generations=3, seed=5, checkpoint=checkpoint)
    before = model.params.copy()
    monkeypatch.setattr(cluster, "import_ray", lambda: None)
    monkeypatch.setattr(cluster, "RayScorer", NoCluster)
    with pytest.raises(CwfastError, match="no node with a CPU"):
        evolve(model, x, target, population=4, generations=6, seed=5, checkpoint=checkpoint, resume=True,
               cluster="ray")
    np.testing.assert_array_equal(model.params, before)


def test_a_cluster_lost_mid_run_writes_the_checkpoint_and_keeps_the_best_centre(monkeypatch, tmp_path):
    """Every actor killed after some generations: the call failed with no checkpoint written
    (only Ctrl-C wrote one, else every 100 generations) though its message said one resumes the
    run, and the model held the centre of the moment. (Ray is replaced by a scorer that scores
    the members as the local back end does, then is lost at generation 4.)"""
    from cwfast.train import cluster, es, load_checkpoint

    class LostAfterThree:
        def __init__(self, model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec, actors,
                     **options):
            self.args = (model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, gen, theta):
            if gen == 3:
                raise CwfastError("the evolution strategy's Ray actors were lost (2) and their replacements (2) "
                                  "are spent; a checkpoint of the run resumes it")
            self.gen, self.theta = gen, theta.copy()

        def collect(self, losses):
            model, x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec = self.args
            table = es.noise_table(entropy, size)
            noise = es.pair_noise(table, es.pair_offsets(entropy, self.gen, n_pairs, table.size, size), size)
            es._score_members(model, self.theta, noise, sigma, x3, y_target, labels, readout, period_spec, losses)

    model, x, target, _ = problem("lockstep")
    local = model.copy()
    expected = evolve(local, x, target, population=4, generations=3, seed=5)
    monkeypatch.setattr(cluster, "import_ray", lambda: None)
    monkeypatch.setattr(cluster, "RayScorer", LostAfterThree)
    checkpoint = tmp_path / "ck.npz"
    with pytest.raises(CwfastError, match="actors were lost"):
        evolve(model, x, target, population=4, generations=6, seed=5, checkpoint=checkpoint, cluster="ray")
    saved = load_checkpoint(checkpoint)
    assert saved.progress["epoch"] == 3 and saved.arrays["losses"].tolist() == expected.losses
    np.testing.assert_array_equal(model.params, saved.arrays["best_theta"][: model.n_params].astype(model.dtype))
    resumed = model.copy()
    evolve(resumed, x, target, population=4, generations=6, seed=5, checkpoint=checkpoint, resume=True)
    straight = problem("lockstep")[0]
    evolve(straight, x, target, population=4, generations=6, seed=5)
    np.testing.assert_array_equal(resumed.params, straight.params)  # the checkpoint resumes the run exactly


@pytest.mark.parametrize("kind", ["lockstep", "periods", "lstm"])
def test_an_actor_compiles_its_kernels_before_it_is_ready(monkeypatch, kind):
    """An actor compiled its scoring kernels in its first generation, after the run's clock had
    started with the actors up: a new installation's compiling (23 s on the 2-core Xeon) was charged
    to --time-budget, which a local run leaves out, and a 5-s budget trained one generation. The
    actor now scores once as it is built, with the argument types of a generation's call, so the
    kernels that call compiles (or loads from numba's cache) are ready before the actor is."""
    import numba

    from cwfast.train import cluster, es

    captured = {}

    class Capture:
        def __init__(self, *args, **options):
            captured["args"] = args

        def __enter__(self):
            raise CwfastError("captured")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cluster, "import_ray", lambda: None)
    monkeypatch.setattr(cluster, "RayScorer", Capture)
    model, x, target, extra = problem(kind)
    with pytest.raises(CwfastError, match="captured"):
        evolve(model, x, target, population=30, sigma=0.05, generations=2, seed=11, cluster="ray", **extra)
    args = captured["args"][:-1]  # RayScorer's arguments, less the number of actors: the actor's, less its threads
    real, calls = es._score_members, []

    def spy(model, *rest):
        calls.append(tuple(numba.typeof(value) for value in rest))
        real(model, *rest)

    monkeypatch.setattr(es, "_score_members", spy)
    scorer = cluster._Scorer(*args, 1)
    assert len(calls) == 1  # scored while built
    size, n_pairs = args[7], args[8]
    scorer.score(0, np.zeros(size), 0, n_pairs, True)  # a generation's call, as the driver makes it
    assert calls[1] == calls[0]  # the same types: the same compiled kernel


def test_an_actors_error_is_said_by_its_root_cause_without_colour_codes():
    """Ray's text of an actor that could not start (cwfast not importable on its node, say) was cut
    at 300 characters, with its terminal colour codes, before the ImportError that said why."""
    from cwfast.train.cluster import _root_cause

    text = ("The actor died because of an error raised in its creation task, \x1b[36mray::cwfast-es-1:_Scorer."
            "__init__()\x1b[39m (pid=1, ip=10.0.0.1, actor_id=" + "f" * 300 + ")\n  File \"worker.py\", line 3, "
            "in <module>\n    import cwfast\nImportError: No module named 'cwfast'")
    assert _root_cause(RuntimeError(text)) == "ImportError: No module named 'cwfast'"
    assert _root_cause(RuntimeError("\x1b[31mlost\x1b[0m   the   node")) == "lost the node"
    assert _root_cause(RuntimeError("")) == "RuntimeError"
    long = _root_cause(RuntimeError("word " * 100))
    assert 290 <= len(long) <= 300 and long.endswith(" word...")  # cut after a word, and said to be


#: The raylet's line when an actor's process is killed (Ray 2.60, IDs shortened), as its driver gets it.
WORKER_DIED = ("A worker died or was killed while executing a task by an unexpected system error. To troubleshoot "
               "the problem, check the logs for the dead worker. Lease ID: 0000 Worker ID: c2ca Node ID: 1fb8 "
               "Worker IP address: 127.0.0.1 Worker port: 36103 Worker PID: 28165 Worker exit type: SYSTEM_ERROR")


def test_the_raylets_lines_are_said_in_cwfast_words_while_cwfast_is_connected(capsys, monkeypatch):
    """Ray's driver prints the raylet's errors from a thread of its own whatever log_to_driver says:
    an actor's process killed mid-run printed "\\x1b[33m(raylet)\\x1b[0m A worker died or was killed
    ... Lease ID: ... Worker ID: ..." (first to stdout, where cwfast train's results go; then to
    stderr, its colour codes and IDs kept) beside cwfast's own "Ray actor ... died (...)". While
    cwfast is connected, that line is left to cwfast's own; the raylet's others are said once each,
    on stderr, as 'cwfast: Ray: ...' on one line without colour codes; a worker's own lines (none
    reach the driver with log_to_driver=False) pass as Ray prints them; after, all is as before."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    from cwfast.train.cluster import _raylet_lines_in_cwfast_words, import_ray

    monkeypatch.delenv("RAY_COLOR_PREFIX", raising=False)  # Ray's default: its prefixes in colour
    worker = import_ray()._private.worker
    warning = "\x1b[33mWarning:\x1b[0m The following resource request cannot be scheduled\n  right now: {'CPU': 2.0}."

    def raylet(text):
        worker.print_to_stdstream({"lines": [text], "pid": "raylet", "is_err": False}, ignore_prefix=False)

    restore = _raylet_lines_in_cwfast_words(import_ray())
    try:
        raylet(WORKER_DIED)
        raylet(warning)
        raylet(warning)  # Ray repeats some of its warnings
        worker.print_to_stdstream({"lines": ["a worker's own line"], "pid": 7, "is_err": False}, ignore_prefix=False)
    finally:
        restore()
    out, err = capsys.readouterr()
    assert err == "cwfast: Ray: Warning: The following resource request cannot be scheduled right now: {'CPU': 2.0}.\n"
    assert "a worker's own line" in out and "A worker died" not in out  # only the raylet's are taken
    raylet(WORKER_DIED)
    assert "(raylet)" in capsys.readouterr().out  # put back


class _Log(io.StringIO):
    """stderr redirected to a file (``2> train.log``)."""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _lines_after_a_bar(monkeypatch, stream, write):
    """What ``stream``, as stderr, holds once a bar has been drawn, ``write()`` has written, and the
    bar has been closed: its lines, each as a terminal shows it (the text after its last "\\r")."""
    from cwfast import _bars

    monkeypatch.setattr(sys, "stderr", stream)
    bar = _bars.bar(total=10)
    bar.update(3)
    write()
    bar.update(7)
    bar.close()
    return stream.getvalue(), [line.rsplit("\r", 1)[-1] for line in stream.getvalue().split("\n")]


@pytest.mark.parametrize("stream", [_Log, _Terminal])
def test_a_lost_actors_warning_starts_a_line_of_its_own_not_the_bars(monkeypatch, stream):
    """With stderr a log file, "Ray actor ... died ...; its members are scored again elsewhere" was
    written after the progress bar's text, on its line."""
    from cwfast.train import cluster

    class FakeRay:
        def kill(self, actor):
            pass

    monkeypatch.setattr(cluster, "import_ray", lambda: FakeRay())
    scorer = cluster.RayScorer(*[None] * 10)
    scorer._n_actors = 0  # no replacement to start

    def warn():
        handler = logging.StreamHandler(sys.stderr)  # (pytest's own handlers write nowhere visible)
        cluster.logger.addHandler(handler)
        try:
            scorer._lost([None, 1, "cwfast-es-x-1"], RuntimeError("killed"))
        finally:
            cluster.logger.removeHandler(handler)

    text, lines = _lines_after_a_bar(monkeypatch, stream(), warn)
    said = [line for line in lines if "scored again elsewhere" in line]
    # Its own line, and in cwfast's voice as every other line on stderr ('cwfast: ...'): it alone had no prefix.
    assert said and said[0].startswith("cwfast: Ray actor cwfast-es-x-1 died (killed)"), text
    assert "10/10" in lines[-2]  # the bar goes on after it, and ends on a line of its own
    if stream is _Terminal:
        assert "\n" not in text.split("cwfast: Ray actor")[0]  # cleared, as tqdm.write does: no line left behind


def test_the_raylets_lines_start_a_line_of_their_own_not_the_bars(monkeypatch):
    """With stderr a log file, Ray's "(raylet) A worker died ..." was written after the progress
    bar's text, on its line (Ray prints it from a thread of its own, not through tqdm); so is a
    line of the raylet's said in cwfast's words now."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    from cwfast.train.cluster import _raylet_lines_in_cwfast_words, import_ray

    worker = import_ray()._private.worker
    restore = _raylet_lines_in_cwfast_words(import_ray())
    try:
        text, lines = _lines_after_a_bar(monkeypatch, _Log(), lambda: worker.print_to_stdstream(
            {"lines": ["The node was lost (a line of this test)"], "pid": "raylet", "is_err": False},
            ignore_prefix=False))
    finally:
        restore()
    said = [line for line in lines if "The node was lost" in line]
    assert said and said[0].startswith("cwfast: Ray: The node was lost"), text
    assert "10/10" in lines[-2]


def test_ctrl_c_while_the_actors_start_stops_the_call_at_once(monkeypatch, sigint_default):
    """A Ctrl-C while the actors started was deferred by the interrupt guard to the end of a first
    generation that a cluster still starting might never finish. Now the scorer is entered first:
    the KeyboardInterrupt leaves evolve at once, with no generation submitted and the model as it
    was. (Ray itself is replaced: the user's Ctrl-C arrives as the scorer enters.)"""
    import os
    import signal

    from cwfast.train import cluster

    submitted = []

    class Starting:
        def __init__(self, *args, **options):
            pass

        def __enter__(self):
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once, to the main thread
            return self

        def submit(self, generation, theta):
            submitted.append(generation)

        def collect(self, *args):
            raise AssertionError("a generation was scored after the Ctrl-C")

        def __exit__(self, *exc):
            return False

    model, x, target, _ = problem("lockstep")
    before = model.params.copy()
    monkeypatch.setattr(cluster, "import_ray", lambda: None)
    monkeypatch.setattr(cluster, "RayScorer", Starting)
    with pytest.raises(KeyboardInterrupt):
        evolve(model, x, target, population=4, generations=3, seed=5, cluster="ray")
    assert submitted == []
    np.testing.assert_array_equal(model.params, before)


def test_cluster_options_are_checked(capsys, tmp_path, clip_8k):
    model, x, target, _ = problem("lockstep")
    with pytest.raises(ParameterError, match="must be 'local' or 'ray'"):
        evolve(model, x, target, cluster="gpu")
    with pytest.raises(ParameterError, match=r"^actors=2 is for cluster='ray' \(cluster='local' runs the population on "
                                             r"this machine's threads\)$"):
        evolve(model, x, target, actors=2)
    with pytest.raises(ParameterError, match="actors=0 must be a positive integer"):
        evolve(model, x, target, cluster="ray", actors=0)
    status = main(["train", str(clip_8k), "--samples", "48", "--epochs", "2", "--quiet", "--cluster", "ray",
                   "-o", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert status == 2 and "--cluster is for --trainer es" in err and err.count("\n") == 1


def test_an_address_where_no_cluster_listens_fails_in_seconds(monkeypatch):
    """RAY_ADDRESS=127.0.0.1:1 hung in Ray's own connect for 13 min 40 s (Ctrl-C ignored): a TCP
    probe refuses it at once, in one line, before Ray is asked. Names Ray resolves itself pass."""
    from cwfast.train import cluster

    with pytest.raises(CwfastError, match=r"^cannot join the Ray cluster at RAY_ADDRESS=127.0.0.1:1: nothing answers "
                                          r"at 127.0.0.1:1 \(.*\); is the cluster's head running there\?$"):
        cluster._probe("127.0.0.1:1", timeout=2.0)
    with pytest.raises(CwfastError, match=r"^cannot join the Ray cluster at RAY_ADDRESS=ray://127.0.0.1:1: nothing "
                                          r"answers at 127.0.0.1:1 \("):  # the client's scheme is not the host's
        cluster._probe("ray://127.0.0.1:1", timeout=2.0)
    for name in ("auto", "local"):
        cluster._probe(name)
    import socket

    with socket.socket() as listening:  # something answers: the probe lets Ray connect
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        cluster._probe(f"127.0.0.1:{listening.getsockname()[1]}")
        listening.settimeout(5.0)
        connection, _ = listening.accept()  # (queued: the probe did connect)
        with connection:
            connection.settimeout(5.0)
            assert connection.recv(24) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # and asked as a gRPC client


@pytest.mark.parametrize("auth_mode", [None, "token"])
def test_a_refused_join_names_rays_token_authentication(monkeypatch, auth_mode):
    """`ray start --head` (Ray 2.60) turns token authentication on where ~/.ray/auth_token exists,
    which any local Ray start (a `cwfast train --cluster ray` without RAY_ADDRESS) writes; a driver
    that names the address does not turn it on by itself. RAY_ADDRESS=HEAD:PORT then failed after
    20 s of Ray's "Unauthenticated" warnings with "Failed to connect to Ray cluster at ...", and the
    line said nothing of the token. Without RAY_AUTH_MODE the line now says what to set."""
    from cwfast.train import cluster

    class FakeRay:
        options = None

        def is_initialized(self):
            return False

        def init(self, **kwargs):
            self.options = kwargs
            raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6391\n  after 3 attempts:\tGCS "
                                  "unavailable")  # Ray's reasons run over lines

    monkeypatch.setattr(cluster, "_probe", lambda address: None)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6391")
    if auth_mode is None:
        monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    else:
        monkeypatch.setenv("RAY_AUTH_MODE", auth_mode)
    scorer = unbuilt_scorer(FakeRay())
    with pytest.raises(CwfastError) as refused:
        scorer._connect()
    assert scorer._ray.options["address"] == "127.0.0.1:6391"  # the address asked, joined (not a local start)
    hint = ("; if the cluster uses token authentication (`ray start` turns it on where ~/.ray/auth_token exists), "
            "set RAY_AUTH_MODE=token, with the head's token here")
    assert str(refused.value) == ("cannot start or join the Ray cluster at RAY_ADDRESS=127.0.0.1:6391: Failed to "
                                  "connect to Ray cluster at 127.0.0.1:6391 after 3 attempts: GCS unavailable"
                                  + (hint if auth_mode is None else ""))


def test_joining_ray_keeps_the_command_lines_sigterm_handler(monkeypatch):
    """Ray's init installs a SIGTERM handler of its own (a crash dump, exit status 15, no
    checkpoint): the one in place before (the command line's: checkpoint, 143) is put back."""

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **kwargs):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as Ray's own handler would replace it

    def ours(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        scorer = unbuilt_scorer(FakeRay())
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        scorer._connect()
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ray_starts_from_a_thread_other_than_the_main_one(monkeypatch):
    """Off the main thread no signal is held (handlers can be set only there): the start went
    through, then the signal guard's exit failed on what its entry had skipped, the run was
    refused as a failed start, and the Ray instance it had started was left running."""
    import threading
    import types


    class FakeRay:
        initialized = False
        _private = types.SimpleNamespace(utils=types.SimpleNamespace(set_sigterm_handler=lambda handler: None))

        def is_initialized(self):
            return self.initialized

        def init(self, **kwargs):
            self.initialized = True

    scorer = unbuilt_scorer(FakeRay())
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    failed = []

    def connect():
        try:
            scorer._connect()
        except BaseException as exc:  # noqa: BLE001  (reported below, on the test's thread)
            failed.append(exc)

    thread = threading.Thread(target=connect)
    thread.start()
    thread.join()
    assert failed == [] and scorer._started_ray  # so that close() stops what it started


def test_a_ctrl_c_while_a_local_ray_starts_is_held_until_it_has_started_then_shut_down(monkeypatch, sigint_default):
    """A Ctrl-C inside ray.init left Ray's dashboard and runtime-env agents running for a minute
    after the command had exited, and sometimes the exit crashed (status 139). It is held until
    ray.init returns; then Ray is shut down (close) and KeyboardInterrupt raised. Ray's workers'
    lines are not sent to the driver's stdout (log_to_driver)."""
    import os


    class FakeRay:
        initialized, shutdowns, options = False, 0, None

        def is_initialized(self):
            return self.initialized

        def init(self, **kwargs):
            self.options = kwargs
            os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C, in the middle of the start
            self.initialized = True

        def shutdown(self):
            self.initialized = False
            self.shutdowns += 1

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    scorer = unbuilt_scorer(FakeRay())
    with pytest.raises(KeyboardInterrupt):
        scorer._connect()
    assert scorer._ray.initialized and scorer._ray.options["log_to_driver"] is False
    scorer.close()
    assert scorer._ray.shutdowns == 1 and not scorer._ray.initialized
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    class TwiceInterrupted(FakeRay):  # a second Ctrl-C is not held: raised inside the start, which is stopped
        def init(self, **kwargs):
            self.initialized = True  # (part of the start done)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    class FailingStart(FakeRay):  # a held Ctrl-C is not lost to a start that then fails
        def init(self, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            raise RuntimeError("the start failed")

    for fake in (TwiceInterrupted(), FailingStart()):
        scorer._ray, scorer._started_ray = fake, False
        with pytest.raises(KeyboardInterrupt):
            scorer._connect()
        assert fake.shutdowns == 1 and not fake.initialized
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_address_where_something_but_not_ray_answers_is_refused_in_a_second():
    """RAY_ADDRESS at a web server's port: Ray retried for minutes (12 and counting), its warnings
    filling stderr. A Ray head's ports speak gRPC (HTTP/2), whose first frame is SETTINGS."""
    import socket
    import threading

    from cwfast.train import cluster

    def serve(reply):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer():
            connection, _ = server.accept()
            with connection:
                connection.recv(64)
                connection.sendall(reply)
            server.close()

        threading.Thread(target=answer, daemon=True).start()
        return f"127.0.0.1:{server.getsockname()[1]}"

    for reply, said in ((b"HTTP/1.0 400 Bad request\r\n\r\n", "HTTP/1.0"), (b"SSH-2.0-OpenSSH_9.2\r\n", "SSH-2.0")):
        address = serve(reply)
        with pytest.raises(CwfastError, match=f"^cannot join the Ray cluster at RAY_ADDRESS={address}: something "
                                              f"answers at {address}, but not Ray \\(it said '{said}"):
            cluster._probe(address)
    cluster._probe(serve(bytes([0, 0, 0x18, 4, 0, 0, 0, 0, 0])))  # a gRPC server's SETTINGS: Ray's to join
    cluster._probe(serve(bytes([0x15, 3, 3, 0, 2, 2, 0x32])))  # a TLS alert (a cluster with TLS): Ray's too


class _Ours(Exception):
    pass


class _FakeRayWithHandler:
    """A Ray whose init installs its SIGTERM handler as Ray's does (``sys.exit(15)``, through
    ``ray._private.utils.set_sigterm_handler``), then gets ``signals`` mid-start."""

    def __init__(self, signals):
        import types

        self.signals, self.initialized, self.shutdowns = signals, False, 0
        self._private = types.SimpleNamespace(utils=types.SimpleNamespace(set_sigterm_handler=self._ray_handler))
        self.set_by_ray = self._private.utils.set_sigterm_handler

    @staticmethod
    def _ray_handler(handler):
        signal.signal(signal.SIGTERM, handler)

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self._private.utils.set_sigterm_handler(lambda signum, frame: sys.exit(signum))
        for signum in self.signals:
            os.kill(os.getpid(), signum)  # delivered at once, to the main thread
        self.initialized = True  # the start goes on to its end

    def shutdown(self):
        self.initialized = False
        self.shutdowns += 1


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGTERM, signal.SIGTERM],
                                     [signal.SIGINT, signal.SIGTERM]], ids=["once", "twice", "after-ctrl-c"])
def test_a_sigterm_while_ray_starts_is_held_then_goes_to_the_handler_before_rays(monkeypatch, sigint_default, signals):
    """A SIGTERM during ray.init met Ray's handler (exit status 15, no message, no checkpoint; or
    nothing at all when its sys.exit landed in a fork hook, which ignores exceptions: a run went on
    training). It is held as a Ctrl-C is, also when it comes twice (``timeout`` signals the process,
    then its group): once Ray has started, the handler in place before (the command line's: 143,
    "terminated") gets it, Ray's is never installed, and closing the scorer shuts Ray down."""

    fake = _FakeRayWithHandler(signals)

    def ours(signum, frame):
        raise _Ours()

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        scorer = unbuilt_scorer(fake)
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        with pytest.raises(_Ours):
            scorer._connect()
        assert fake.initialized  # held until the start was over
        assert signal.getsignal(signal.SIGTERM) is ours and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert fake._private.utils.set_sigterm_handler is fake.set_by_ray
        scorer.close()
        assert fake.shutdowns == 1 and not fake.initialized
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_rays_processes_start_in_a_session_of_their_own(monkeypatch):
    """The processes Ray starts go into a session (and process group) of their own, where the
    kernel ends them with the driver, so that a signal to the command's group reaches the driver
    alone; the names this relies on are Ray's own (checked against the installed Ray, if any)."""
    import types

    from cwfast.train import cluster

    services = types.SimpleNamespace(ConsolePopen=subprocess.Popen)
    fake = types.SimpleNamespace(_private=types.SimpleNamespace(
        services=services, utils=types.SimpleNamespace(detect_fate_sharing_support=lambda: True)))
    with cluster._processes_apart(fake):
        child = services.ConsolePopen([sys.executable, "-c", "import os; print(os.getsid(0), os.getpgid(0))"],
                                      stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate(timeout=60)
    assert [int(v) for v in out.split()] == [child.pid, child.pid] and os.getsid(0) != child.pid
    assert services.ConsolePopen is subprocess.Popen
    fake._private.utils.detect_fate_sharing_support = lambda: False  # nothing ends them with the driver: left alone
    with cluster._processes_apart(fake):
        assert services.ConsolePopen is subprocess.Popen
    if importlib.util.find_spec("ray") is not None:
        ray = cluster.import_ray()
        assert issubclass(ray._private.services.ConsolePopen, subprocess.Popen)
        assert callable(ray._private.utils.detect_fate_sharing_support)
        assert callable(ray._private.utils.set_sigterm_handler)


def _processes():
    """(pid, state, parent, session, command name) of every process in /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        state, parent, _, session = rest.split()[:4]
        yield int(entry), state, int(parent), int(session), name


def _marked_processes(marker):
    """{pid: session} of the processes whose environment holds ``marker`` (Ray's agents do not)."""
    found = {}
    for pid, state, _, session, _ in _processes():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found[pid] = session
        except OSError:  # gone, or not ours
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("phase", ["starting", "training"])
def test_sigterm_to_the_group_ends_a_ray_run_promptly_and_leaves_no_ray_process(tmp_path, clip_8k, phase):
    """``timeout`` sends SIGTERM to the command's whole process group, where Ray's processes were
    too: they died or started draining under the driver, which waited for them before exiting,
    29 s when the signal came while Ray started (in ray.init) and 8 s while it trained (in
    ray.shutdown); a signal in the start also ended with status 2 or left a Ray process running.
    Now the signal reaches the driver alone; held until Ray has started, it ends the run (143, no
    model written) and the driver stops every Ray process of the run: those started with the
    run's marker in their environment, and those in their sessions (Ray's agents). The training
    case's 8 s is not bounded here (too close to a loaded machine's own delays)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'ray[default]')")
    import uuid

    name, value = "CWFAST_TEST_RUN", uuid.uuid4().hex
    marker = f"{name}={value}".encode()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env[name] = value
    env["TQDM_MININTERVAL"] = "0.1"  # the bar shows the first generation's loss at once, not 30 s on in a pipe
    out = tmp_path / "model.npz"
    argv = [sys.executable, "-m", "cwfast", "train", str(clip_8k), "--samples", "48", "--epochs", "100000",
            "--hidden", "6", "--modules", "3", "--trainer", "es", "--population", "8", "--cluster", "ray", "-o", str(out)]
    run = subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    err, seen = [], {}

    def read():
        for chunk in iter(lambda: run.stderr.read1(4096), b""):  # tqdm ends its lines with \r
            err.append(chunk.decode(errors="replace"))

    def ray_starting():  # ray.init has started the raylet, and the raylet its agents
        raylets = {pid for pid, _, _, _, command in _processes() if pid in seen and command == "raylet"}
        return any(parent in raylets for _, _, parent, _, _ in _processes())

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            seen.update(_marked_processes(marker))
            if ray_starting() if phase == "starting" else "gen/s, loss" in "".join(err):  # (a generation scored)
                break
            time.sleep(0.02)
        else:  # the phase never came: a signal now would test neither
            raise AssertionError(f"the run never reached the {phase} phase: {''.join(err)}")
        assert run.poll() is None, "".join(err)
        os.killpg(run.pid, signal.SIGTERM)
        signalled = time.monotonic()
        while run.poll() is None:  # what the run starts after the signal too
            seen.update(_marked_processes(marker))
            time.sleep(0.05)
            assert time.monotonic() - signalled < 120, "the run did not end"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 143, "".join(err)
    assert "cwfast: terminated" in "".join(err) and not out.exists()
    sessions = {session for pid, session in seen.items() if pid != run.pid}
    assert sessions  # Ray's processes were seen

    def left():
        return [(pid, command) for pid, state, _, session, command in _processes()
                if state != "Z" and (pid in seen or session in sessions)]

    for _ in range(50):  # the last of them may take a moment to go once killed
        if not left():
            break
        time.sleep(0.1)
    assert left() == []
