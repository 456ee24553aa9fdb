"""What every script in scripts/ must do, checked across all of them."""

import ast
from pathlib import Path

import pytest

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
