"""cwfast: a Numba-accelerated CPU engine for the Clockwork RNN (Koutník et al., ICML 2014).

Only the modules whose clock period divides the step are computed, forward and backward, so a
Clockwork RNN costs what the paper's operation count says it should.

>>> import numpy as np, cwfast
>>> model = cwfast.ClockworkRNN(1, 1, n_hidden=40, n_modules=9, seed=0)
>>> y = model.forward(np.zeros((320, 1), dtype=np.float32))
>>> y.shape
(320, 1)
"""

from .baselines import SRN
from .errors import CwfastError, ParameterError
from .lstm import LSTM
from .model import ClockworkRNN, State
from .persistence import load
from .stream import Stream

__version__ = "0.1.0"

__all__ = ["ClockworkRNN", "CwfastError", "LSTM", "ParameterError", "SRN", "State", "Stream", "load", "__version__"]
