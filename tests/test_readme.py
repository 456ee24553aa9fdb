"""The README's commands run as tests, so the documentation cannot drift from the program.

The quick start's two commands are checked word for word (the first is run, minus the install;
the second is what ``.ci/run`` runs). Every ``cwfast ...`` line of the tour is then run in order
through ``cwfast.cli.main`` in a scratch folder that holds ``data/`` and the input files the tour
names, with ``--epochs 2`` appended to ``train`` so that the suite stays fast (the full runs and
their figures are in the README itself).
"""

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cwfast.audio import load_audio, write_audio
from cwfast.cli import default_model_path, main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
FIRST_COMMAND = "python -m pip install . && cwfast generate -o demo.wav"


def commands(block):
    """The ``cwfast`` commands of a block, comments and continuation lines handled."""
    lines = block.replace("\\\n", " ").splitlines()
    found = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("cwfast "):
                found.append(shlex.split(part)[1:])
    return found


def test_the_first_command_installs_and_generates():
    assert BASH_BLOCKS[0].strip() == FIRST_COMMAND


def test_the_second_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert BASH_BLOCKS[1].strip() == ci == 'python -m pip install ".[test]" && python -m pytest'


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_pip_install_ships_the_command_and_the_default_model():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["cwfast"] == "cwfast.cli:main"
    assert "models/*.npz" in project["tool"]["setuptools"]["package-data"]["cwfast"]
    packages = project["tool"]["setuptools"]["packages"]
    assert "cwfast" in packages and "cwfast.train" in packages  # train is a subpackage
    model = Path(default_model_path())
    assert model.parent == ROOT / "cwfast" / "models"
    assert 0 < model.stat().st_size < 1_000_000


def test_quick_start_generate_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = commands(BASH_BLOCKS[0])
    assert argv == [["generate", "-o", "demo.wav"]]
    assert main(argv[0]) == 0, capsys.readouterr().err
    # What the README says the command writes: five seconds of audio at 16 kHz, not silence.
    samples, rate = soundfile.read("demo.wav")
    assert rate == 16000 and samples.shape == (5 * 16000,)
    assert np.all(np.isfinite(samples)) and np.std(samples) > 1e-3


def test_the_tour_runs(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    # The inputs the tour's effect example names: a dry clip, its processed version, another clip.
    dry, rate = load_audio(ROOT / "data" / "brahms-hungarian-dance-5-excerpt.wav", sample_rate=16000, duration=0.5)
    write_audio(tmp_path / "dry.wav", dry, rate)
    write_audio(tmp_path / "wet.wav", np.tanh(4 * dry), rate)
    write_audio(tmp_path / "guitar.wav", dry[::-1].copy(), rate)
    monkeypatch.chdir(tmp_path)
    tour = [argv for block in BASH_BLOCKS[2:] for argv in commands(block)]
    assert {argv[0] for argv in tour} >= {"train", "generate", "process", "info"}
    for argv in tour:
        if argv[0] == "train":
            argv = argv + ["--epochs", "2", "--quiet"]
        if "--plot" in argv and importlib.util.find_spec("matplotlib") is None:
            i = argv.index("--plot")
            argv = argv[:i] + argv[i + 2 :]
        status = main(argv)
        assert status == 0, f"cwfast {' '.join(argv)}: {capsys.readouterr().err}"


def _python_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_python_api_blocks_run(tmp_path, monkeypatch, capsys):
    # The API tour writes model.npz: run it in a scratch folder. The training example reads the
    # bundled excerpt by its path relative to the repository root.
    api, training = _python_blocks()[:2]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(api, "README: API", "exec"), namespace)
    np.testing.assert_array_equal(namespace["y_stream"], namespace["model"].forward(namespace["x"]))
    assert (tmp_path / "model.npz").exists()
    monkeypatch.chdir(ROOT)
    namespace = {}
    exec(compile(training, "README: training", "exec"), namespace)
    assert namespace["target"].shape == (320, 1)
    nmse = float(capsys.readouterr().out.split()[1])
    assert nmse < 0.01  # the figure the README claims for this recipe


def test_train_audio_block_runs(tmp_path, monkeypatch, capsys):
    block = _python_blocks()[2]
    assert "train_audio(" in block and "epochs=30" in block
    block = block.replace("epochs=30", "epochs=1").replace('"data/', f'"{ROOT}/data/')
    namespace = {}
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README: train_audio", "exec"), namespace)
    assert capsys.readouterr().out.startswith("held out: ")
    assert (tmp_path / "brahms-ar.npz").exists()
    assert set(namespace["trained"].figures) == {"train", "validation", "test"}


def _options_table():
    """{command: the text of its row} of the README's "### Options" table."""
    section = README.split("### Options", 1)[1].strip().split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = re.match(r"\| `cwfast (\w+)[^|]*\|", line)
        if found:
            rows[found.group(1)] = line
    return rows


def test_the_options_table_names_every_option():
    """Every option a command's --help lists has its place in the README's table (-h and -q, which
    every command takes, are said below it), so that an option added to the parser cannot be left
    out of the table."""
    from cwfast.cli import _load_bench, _subparsers, build_parser

    parsers = _subparsers(build_parser())
    _load_bench().add_arguments(parsers["bench"])
    rows = _options_table()
    assert set(rows) == set(parsers)
    for command, parser in parsers.items():
        named = lambda option: re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", rows[command])  # noqa: E731
        # An option with a short and a long name (-m/--model) needs one of them; the header names
        # the required ones (-o, and process's -m).
        missing = [action.option_strings[-1] for action in parser._actions
                   if action.option_strings and not {"-h", "-q"} & set(action.option_strings)
                   and not any(named(option) for option in action.option_strings)]
        assert not missing, f"the README's table leaves out {command}'s {', '.join(missing)}"
