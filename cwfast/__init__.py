"""cwfast: a Numba-accelerated CPU engine for the Clockwork RNN (Koutník et al., ICML 2014).

Only the modules whose clock period divides the step are computed, forward and backward, so a
Clockwork RNN costs what the paper's operation count says it should.

>>> import numpy as np, cwfast
>>> model = cwfast.ClockworkRNN(1, 1, n_hidden=40, n_modules=9, seed=0)
>>> y = model.forward(np.zeros((320, 1), dtype=np.float32))
>>> y.shape
(320, 1)

The public names are imported on first use (PEP 562), so ``import cwfast.cli`` and
``cwfast --help`` do not pay for importing numba.
"""

import importlib as _importlib

from .errors import CwfastError, ParameterError

__version__ = "0.1.0"

_LAZY = {
    "ClockworkRNN": ".model",
    "State": ".model",
    "SRN": ".baselines",
    "LSTM": ".lstm",
    "Stream": ".stream",
    "load": ".persistence",
    "export_c": ".export",
}

__all__ = [
    "ClockworkRNN", "CwfastError", "LSTM", "ParameterError", "SRN", "State", "Stream", "export_c", "load", "__version__",
]


#: The public submodules, imported on first use too: ``import cwfast`` then ``cwfast.likeness.ltas``
#: works as the docs write it, whichever was imported before.
_SUBMODULES = frozenset({
    "audio", "baselines", "budget", "codec", "errors", "export", "heads", "likeness", "lpc", "lstm", "metrics",
    "model", "modes", "persistence", "registry", "render", "scale_fit", "stream", "tasks", "train", "train_audio",
})


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)  # (the import binds it in this namespace)
    raise AttributeError(f"module 'cwfast' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
