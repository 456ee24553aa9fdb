"""Training Clockwork RNNs: back-propagation through time (Adam, the paper's Nesterov SGD) on the
model's flat parameter vector, with exact checkpoint/resume.

>>> from cwfast.train import fit
>>> result = fit(model, x, target, epochs=2000)            # doctest: +SKIP
>>> result.final_loss / target.var()                        # doctest: +SKIP
"""

from ._common import StepInfo, TrainResult
from .checkpoint import Checkpoint, load_checkpoint
from .gradient import fit
from .optimizers import Adam, NesterovSGD, Optimizer, clip_grad_norm, make_schedule

__all__ = [
    "Adam",
    "Checkpoint",
    "NesterovSGD",
    "Optimizer",
    "StepInfo",
    "TrainResult",
    "clip_grad_norm",
    "fit",
    "load_checkpoint",
    "make_schedule",
]
