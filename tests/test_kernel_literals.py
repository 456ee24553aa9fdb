"""No kernel passes a bare integer to another compiled function (cwfast._jit.INT_ZERO says why).

numba types an integer written in a call, ``_f(x, 0)``, as ``Literal[int](0)`` and compiles ``_f``
once more for it, everything ``_f`` inlines included: the many-voice kernels compiled their passes
two and three times. The check reads the source (nothing compiles): a call from a kernel to a
compiled function that is not inlined (``inline="always"`` is typed at its call site anyway) must
not pass an integer literal. Booleans may: two variants of a small function are chosen on purpose.
"""

import ast
import importlib
import inspect

import numba
import pytest

from cwfast import _jit

KERNEL_FILES = sorted(path for path in _jit.family_files() if not path.endswith("_jit.py"))


def _literal_int(node):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _compiled_not_inlined(value):
    return isinstance(value, numba.core.registry.CPUDispatcher) and value.targetoptions.get("inline") != "always"


def literal_calls(module):
    """(line, callee, argument) of every call in ``module`` that passes an integer literal to a
    compiled function that is not inlined."""
    tree = ast.parse(inspect.getsource(module))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            target = getattr(module, func.id, None)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            target = getattr(getattr(module, func.value.id, None), func.attr, None)
        else:
            continue
        if not _compiled_not_inlined(target):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if _literal_int(arg):
                found.append((node.lineno, ast.unparse(func), ast.unparse(arg)))
    return found


@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_no_kernel_passes_an_integer_literal_to_a_compiled_function(path):
    name = "cwfast." + path.rsplit("/", 1)[-1][:-3]
    assert literal_calls(importlib.import_module(name)) == []


def test_the_check_finds_a_literal_where_one_is_passed(tmp_path, monkeypatch):
    """The check itself: a module whose kernel passes 0 and -1 to a compiled function is caught,
    one that passes INT_ZERO, a variable or a boolean is not."""
    (tmp_path / "literal_kernels.py").write_text(
        "import numba\n"
        "from cwfast._jit import INT_ZERO as _0\n"
        "@numba.njit\n"
        "def _g(a, k, flag):\n"
        "    return a + k\n"
        "@numba.njit(inline='always')\n"
        "def _inlined(a, k):\n"
        "    return a + k\n"
        "@numba.njit\n"
        "def _f(a):\n"
        "    return _g(a, 0, True) + _g(a, -1, False) + _g(a, _0, True) + _g(a, a, False) + _inlined(a, 0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("literal_kernels")
    assert literal_calls(module) == [(11, "_g", "0"), (11, "_g", "-1")]
