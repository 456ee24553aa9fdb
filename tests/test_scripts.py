"""What every script in scripts/ must do, checked across all of them."""

import ast
from pathlib import Path

import pytest

import script_loading

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))


def _imports_cwfast(node):
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "cwfast" for alias in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "cwfast"


def _puts_checkout_first(node):
    """``sys.path.insert(0, ...)`` as a statement of its own."""
    call = node.value if isinstance(node, ast.Expr) else None
    return (isinstance(call, ast.Call) and ast.unparse(call.func) == "sys.path.insert"
            and len(call.args) == 2 and ast.unparse(call.args[0]) == "0")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_import_this_checkouts_cwfast(script):
    """A script run as ``python scripts/NAME.py`` has scripts/ on its path, not the repository: one
    that imports cwfast without putting the repository first measures whatever copy is installed
    (``pip install .`` makes one that later edits do not reach), or fails in a plain checkout. The
    repository goes first at module level, before any import of cwfast (in a function or not)."""
    tree = ast.parse(script.read_text(), str(script))
    imports = [node for node in ast.walk(tree) if _imports_cwfast(node)]
    if not imports:
        return
    first = min(node.lineno for node in imports)
    inserts = [node.lineno for node in tree.body if _puts_checkout_first(node)]
    assert inserts and min(inserts) < first, (
        f"{script.name} imports cwfast (line {first}) without sys.path.insert(0, <the repository>) before it")


@pytest.fixture(autouse=True)
def _environment_kept():
    """Some scripts set NUMBA_NUM_THREADS for their own process: not for the tests after these."""
    import os

    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


_load = script_loading.load_script


@pytest.mark.parametrize("name", ["bench_voices", "bench_voice_counts"])
def test_voice_benchmarks_refuse_an_unknown_model_in_one_line(name, capsys):
    """A mistyped --models name was a KeyError traceback (after the table's header)."""
    script = _load(name)
    with pytest.raises(SystemExit) as stopped:
        script.main(["--models", "CW 256/8,CW 65/8", "--repeat", "1"])
    captured = capsys.readouterr()
    assert stopped.value.code == 2 and "unknown 'CW 65/8'; choose among" in captured.err and not captured.out


@pytest.mark.parametrize("argv", [["--skip", "0"], ["--generations", "5", "--skip", "5"]])
def test_the_ray_benchmark_refuses_a_skip_that_leaves_no_rate(argv, capsys):
    """--skip 0 divided by zero after the whole local run (a ZeroDivisionError traceback)."""
    with pytest.raises(SystemExit) as stopped:
        _load("bench_es_ray").main(argv)
    assert stopped.value.code == 2 and "--skip" in capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [(["--repository", "/nonexistent"], "is not a checkout of cwfast"),
                                        (["--seconds", "0"], "--seconds must be at least one sample")])
def test_the_training_memory_measurement_refuses_bad_options_in_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        _load("measure_training_memory").main(argv)
    assert stopped.value.code == 2 and says in capsys.readouterr().err


def test_the_startup_benchmark_refuses_no_warm_runs(capsys):
    """--repeats 0 ran every cold start (a minute) and then died on the median of no warm runs."""
    with pytest.raises(SystemExit) as stopped:
        _load("bench_startup").main(["--repeats", "0"])
    assert stopped.value.code == 2 and "--repeats must be at least 1" in capsys.readouterr().err


def test_bench_vs_torch_without_torch_says_what_to_install_in_one_line(monkeypatch, capsys):
    """It exited 1 with two lines; a missing optional package is said in one line, exit 2, as
    cwfast says it of matplotlib and Ray."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch: ImportError
    with pytest.raises(SystemExit) as stopped:
        _load("bench_vs_torch").main(["--quick"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("bench_vs_torch.py: error: this benchmark needs PyTorch, which is not installed: "
                                       "pip install torch (not a dependency of cwfast)\n")


def test_the_startup_benchmark_says_which_run_it_is_on(monkeypatch, capsys):
    """Its twenty fresh processes (a minute and more, cold numba caches) ran without a word until
    the table: each run is announced on stderr as it starts, the table alone on stdout."""
    import subprocess
    import sys

    script = _load("bench_startup")
    started, printed, real_run = [], [], subprocess.run

    def run(command, **options):
        if command[0] != sys.executable:  # (the machine's summary asks lscpu)
            return real_run(command, **options)
        said = capsys.readouterr()  # what was said before this run began
        started.append(said.err)
        printed.append(said.out)
        return subprocess.CompletedProcess(command, 0, "", "COMPILES 0\n")

    monkeypatch.setattr(script.subprocess, "run", run)
    assert script.main(["--repeats", "2"]) == 0
    names = ["cwfast --help", "import cwfast", "Stream.prepare(512) + 1 block", "cwfast generate (memorize, 1 s)",
             "cwfast bench -m (1 block size)"]
    assert started == [f"bench_startup.py: {name}: {run}\n" for name in names
                       for run in ("cold run", "warm run 1 of 2", "warm run 2 of 2")]
    table = "".join(printed) + capsys.readouterr().out
    assert all(name in table for name in names) and "bench_startup.py:" not in table


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
def test_the_export_benchmark_says_what_it_is_doing(capsys):
    """Compiling, checking and timing (minutes at the defaults) ran without a word until the table."""
    assert _load("bench_export").main(["--repeats", "2", "--samples", "256"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "bench_export.py: compiling the export (-O3 -march=native -ffp-contract=fast, and -O2)",
        "bench_export.py: checking the export's output against the Stream's",
        "bench_export.py: warming up every contestant",
        "bench_export.py: run 1 of 2", "bench_export.py: run 2 of 2"]
    assert "C export -O3 -march=native" in captured.out


@pytest.mark.parametrize("name, argv, says", [
    ("bench_ab_stream", ["/nonexistent"], "is not a checkout of cwfast"),
    ("bench_ab_stream", [".", "--windows", "x"], "must be period or a positive integer"),
    ("bench_windows", ["--models", "foo", "--no-c"], "--models 'foo'"),
    ("bench_windows", ["--models", "16/40", "--no-c"], "n_modules=40 must not exceed n_hidden=16"),
    ("bench_export", ["--repeats", "0"], "must be positive"),
    ("bench_blocked", ["--samples", "0"], "must be positive"),
    ("bench_es_threads", ["--generations", "1"], "--generations must be at least 2"),
])
def test_benchmarks_refuse_bad_options_in_one_line(name, argv, says, capsys):
    """A mistyped checkout or model, or nothing to time, was a traceback (FileNotFoundError,
    ValueError, ZeroDivisionError), some after minutes of timing the other contestants."""
    with pytest.raises(SystemExit) as stopped:
        _load(name).main(argv)
    assert stopped.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("name, argv, says", [
    ("measure_scale_fit", ["/nonexistent.npz", "/nonexistent.wav"], "cannot load model '/nonexistent.npz'"),
    ("bench_pitch", ["-m", "/nonexistent.npz"], "cannot load model '/nonexistent.npz'"),
    ("prototype_lpc_residual", ["--source", "/nonexistent.wav"], "cannot read '/nonexistent.wav'"),
    ("bench_denormals", ["--modules", "0"], "n_modules=0 must be a positive integer"),
])
def test_a_mistyped_path_or_size_is_one_line_from_the_command_line(name, argv, says):
    """The scripts' own entry points turn a CwfastError into one line and exit 2 (each was a
    traceback)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / f"{name}.py"), *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"{name}.py: error: {done.stderr.split('error: ', 1)[-1]}"
    assert says in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("name, argv, says", [
    ("bench_engine", ["--threads", "0"], "bench_engine.py: error: --threads 0: give 1 to"),
    ("make_data", [str(SCRIPTS[0].parents[1] / "data" / "brahms-hungarian-dance-5.ogg")],
     "make_data.py: error: '{excerpt}' exists; pass --overwrite to replace it\n"),
])
def test_usage_errors_exit_2_in_the_scripts_own_words(name, argv, says):
    """bench_engine --threads 0 was numba's ValueError traceback; make_data exited 1 and named the
    API's option (overwrite=True) where the script's is --overwrite."""
    import subprocess
    import sys

    excerpt = SCRIPTS[0].parents[1] / "data" / "brahms-hungarian-dance-5-excerpt.wav"
    before = excerpt.read_bytes()
    done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / f"{name}.py"), *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and says.format(excerpt=excerpt) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and excerpt.read_bytes() == before


@pytest.mark.parametrize("name, argv, says", [
    ("bench_denormals", ["--repeats", "0"], "--repeats"),
    ("bench_generate_start", ["--repeat", "0"], "--repeat"),
    ("bench_pitch", ["--runs", "0"], "--runs"),
    ("bench_memory", ["--batch", "0"], "--batch"),
    ("bench_engine", ["--repeats", "0"], "--repeats"),
    ("bench_surprise_stream", ["/nonexistent.npz", "--runs", "0"], "--runs"),
    ("prototype_adaptive_scale", ["/nonexistent.npz", "/nonexistent.wav", "--validation", "0"], "--validation"),
    ("prototype_adaptive_scale", ["/nonexistent.npz", "/nonexistent.wav", "--test", "0"], "--test"),
    ("prototype_lpc_residual", ["--variants", "plain,nope"], "--variants"),
    ("memorize_benchmark", ["--epochs", "0"], "--epochs"),
    ("memorize_benchmark", ["--trainers", "es", "--generations", "0"], "--generations"),
    ("memorize_robustness", ["--music", ".", "--out", "/nonexistent/r.jsonl", "--epochs", "0"], "--epochs"),
    ("spoken_digits", ["run-table", "--data", "/nonexistent", "--budgets", "x"], "--budgets"),
])
def test_nothing_to_do_is_refused_in_one_line_before_any_work(name, argv, says):
    """Each was a traceback (KeyError, StatisticsError, ZeroDivisionError, AttributeError,
    ValueError), a table of NaNs with exit status 0, a run per trainer or excerpt that failed
    alike, or (an unknown --variants name) another variant's figures under that name."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / f"{name}.py"), *argv], capture_output=True,
                          text=True, timeout=120)
    *usage, line = done.stderr.splitlines()  # argparse's usage lines may come first
    assert done.returncode == 2 and line.startswith(f"{name}.py: error: ") and says in line, done.stderr
    assert all(u.startswith(("usage:", " ")) for u in usage) and not done.stdout, done.stderr


def test_measuring_an_already_fitted_scale_is_a_usage_error(tmp_path):
    """A model whose scale is fitted already ended with exit status 1 and no script name."""
    import subprocess
    import sys

    import numpy as np

    import cwfast

    model = cwfast.ClockworkRNN(1, 30, n_hidden=8, n_modules=2, seed=0, output="mixture",
                                metadata={"mode": "autoregressive", "scale_fit": {"factor": 1.5}})
    model.save(tmp_path / "m.npz")
    cwfast.audio.write_audio(tmp_path / "a.wav", np.zeros(100, np.float32), 16000)
    done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / "measure_scale_fit.py"), str(tmp_path / "m.npz"),
                           str(tmp_path / "a.wav")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("measure_scale_fit.py: error: "), done.stderr
    assert "already fitted (factor 1.5)" in done.stderr and done.stderr.count("\n") == 1 and not done.stdout


def test_the_surprise_benchmark_refuses_a_model_without_one_as_a_usage_error(tmp_path):
    """It ended with exit status 1 and no script name."""
    import subprocess
    import sys

    import cwfast

    cwfast.ClockworkRNN(0, 1, n_hidden=8, n_modules=2, seed=0).save(tmp_path / "m.npz")
    done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / "bench_surprise_stream.py"), str(tmp_path / "m.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("bench_surprise_stream.py: error: "), done.stderr
    assert "has no surprise-following scale" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_scripts_help_describes_it_in_whole_sentences(script):
    """--help showed the docstring's first line, which for some scripts stops mid-sentence
    ("... one voice, one thread,")."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    description = done.stdout.split("\n\n")[1]
    assert description.rstrip().endswith((".", "?", ")")), description


def test_the_memorisation_diagnosis_trains_for_epochs_as_asked():
    """--diagnose trained to 2000 epochs whatever --epochs said (--quick's 30 included), with a
    cosine recipe's schedule running over --epochs and then rising again."""
    import numpy as np

    script = _load("memorize_robustness")
    target = np.sin(np.arange(320) / 9.0)
    rows = script.diagnose(target, "adam-1e-2-cosine", epochs=120)
    assert [row["epoch"] for row in rows] == [0, 100, 120]
    assert all(np.isfinite(row["nmse"]) for row in rows)


@pytest.mark.parametrize("argv", [["--seconds", "0"], ["--seconds", "-1"], ["--seconds", "nan"], ["--channels", "0"]])
def test_live_playback_refuses_nothing_to_play(argv, capsys):
    """--seconds -1 ran no callback and reported it with exit status 0."""
    with pytest.raises(SystemExit) as stopped:
        _load("play_live").main(["/nonexistent.npz", "--dry-run", *argv])
    assert stopped.value.code == 2 and f"error: {argv[0]} {argv[1]} must be" in capsys.readouterr().err


def test_the_lpc_prototype_keeps_its_audio_only_where_it_replaces_nothing(tmp_path):
    """--keep replaced an earlier run's WAV files without a word, and a --keep naming a file was a
    traceback after the training; each is one line, exit 2, before any training."""
    import subprocess
    import sys

    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "plain-seed1.wav").write_text("earlier")
    (tmp_path / "file").write_text("")
    for keep, says in ((tmp_path / "kept", f"'{tmp_path / 'kept' / 'plain-seed1.wav'}' exists; pass --overwrite "
                                           "to replace it"),
                       (tmp_path / "file", f"cannot make --keep '{tmp_path / 'file'}': File exists")):
        done = subprocess.run([sys.executable, str(SCRIPTS[0].parent / "prototype_lpc_residual.py"), "--epochs", "1",
                               "--seconds", "0.5", "--variants", "plain", "--seeds", "0,1", "--keep", str(keep)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and done.stderr == f"prototype_lpc_residual.py: error: {says}\n", done.stderr
        assert not done.stdout, done.stdout
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["plain-seed1.wav"]
    assert (tmp_path / "kept" / "plain-seed1.wav").read_text() == "earlier"
