"""A script of scripts/ loaded as a module, as the scripts' tests load them."""

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name, *, siblings=False):
    """``scripts/NAME.py`` run as a module named ``name`` (a fresh module each call); with
    ``siblings``, scripts/ is on ``sys.path`` while it loads, for a script that imports another."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if siblings:
        sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        if siblings:
            sys.path.remove(str(SCRIPTS))
    return module
