"""The numba on-disk cache works: a second process compiles nothing it already compiled, and a
change to any kernel file recompiles what calls into it."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import numpy as np
from cwfast import _kernels, ClockworkRNN, Stream
model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
Stream(model).process(np.zeros((4, 1), dtype=np.float32))
stats = _kernels._forward_seq.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_second_process_hits_the_cache(tmp_path, two_fresh_processes):
    (hits1, misses1), (hits2, misses2) = two_fresh_processes(SCRIPT)
    assert (hits1, misses1) == (0, 1)
    assert (hits2, misses2) == (1, 0)
    assert any(tmp_path.rglob("*.nbi"))


FAMILY_SCRIPT = """
import numpy as np
from cwfast import ClockworkRNN, _kernels
model = ClockworkRNN(1, 4, n_hidden=6, n_modules=2, output="softmax", seed=3)
values = np.arange(4, dtype=np.float32) + 10
out = model.sample(50, values=values, temperature=0, seed=0)
print(int((out != 10).sum()), sum(_kernels._sample_feedback.stats.cache_hits.values()))
"""


def test_a_kernel_recompiles_when_a_file_it_calls_changes(tmp_path):
    """numba's own stamp covers only the file defining a kernel: _kernels._sample_feedback would keep
    running a cached copy of _head_kernels._draw after _draw changed. cwfast._jit stamps every
    kernel file together, so changing _draw (here: always class 0) must change what runs."""
    package = tmp_path / "copy" / "cwfast"
    shutil.copytree(Path(__file__).resolve().parents[1] / "cwfast", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run():
        result = subprocess.run([sys.executable, "-c", FAMILY_SCRIPT], env=env, cwd=package.parent,
                                capture_output=True, text=True, check=True)
        return tuple(map(int, result.stdout.split()))

    not_class_0, hits = run()
    assert not_class_0 > 0 and hits == 0
    assert run() == (not_class_0, 1)  # unchanged files: a cache hit, same output
    source = (package / "_head_kernels.py").read_text()
    greedy = "        return best\n" if "        return best\n" in source else "    return best\n"
    (package / "_head_kernels.py").write_text(source[: source.rindex(greedy)] + greedy.replace("best", "0")
                                              + source[source.rindex(greedy) + len(greedy):])
    assert run() == (0, 0)  # recompiled against the new _draw: every sample is class 0


def _compiles(path):
    """Whether the file at ``path`` decorates a function with numba's njit or cfunc (bare, called,
    or as ``numba.njit``), read from its syntax tree."""
    for node in ast.walk(ast.parse(Path(path).read_text())):
        for decorator in getattr(node, "decorator_list", ()):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if name in ("njit", "cfunc"):
                return True
    return False


def test_the_family_is_the_files_that_compile_and_the_options_file():
    """Every file that defines a compiled function is stamped with the others (an edit to any of
    them recompiles them all); a file that only calls numba's API (the model, the stream, the
    benchmark) is not, so editing it recompiles nothing."""
    from cwfast import _jit

    assert _jit.FAMILY_STAMPS  # numba 0.59's locator classes were named with a leading underscore
    package = Path(_jit.__file__).resolve().parent
    compiling = {str(p) for p in sorted(package.glob("*.py")) if _compiles(p)}
    assert len(compiling) >= 6
    assert set(_jit.family_files()) == compiling | {str(package / "_jit.py")}
    for name in ("model.py", "stream.py", "bench.py", "cli.py"):
        assert str(package / name) not in _jit.family_files()
