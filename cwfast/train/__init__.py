"""Training Clockwork RNNs: back-propagation through time (Adam, the paper's Nesterov SGD) and an
evolution strategy, both on the model's flat parameter vector, with exact checkpoint/resume.

>>> from cwfast.train import fit, evolve
>>> result = fit(model, x, target, epochs=2000)            # doctest: +SKIP
>>> result.final_loss / target.var()                        # doctest: +SKIP
"""

from ._common import StepInfo, TrainResult
from .checkpoint import Checkpoint, load_checkpoint
from .es import centered_ranks, evolve
from .gradient import fit
from .optimizers import Adam, NesterovSGD, Optimizer, clip_grad_norm, make_schedule

__all__ = [
    "Adam",
    "Checkpoint",
    "NesterovSGD",
    "Optimizer",
    "StepInfo",
    "TrainResult",
    "centered_ranks",
    "clip_grad_norm",
    "evolve",
    "fit",
    "load_checkpoint",
    "make_schedule",
]
