"""The one error hierarchy of cwfast.

Every error cwfast raises on purpose is a :class:`CwfastError`. Invalid arguments raise
:class:`ParameterError`, which is also a :class:`ValueError` so that callers who already catch
``ValueError`` keep working. Messages name the argument and its value:
``"n_hidden=0 must be a positive integer"``.
"""


class CwfastError(Exception):
    """Base class of every error raised by cwfast (bad files, failed training, ...)."""


class ParameterError(CwfastError, ValueError):
    """An argument has the wrong value, shape or type."""


class TrainingDiverged(CwfastError):
    """Training stopped because its loss, its gradient or its parameters became NaN or infinite.

    ``detail`` says where (``"training diverged: loss became nan at epoch 2 (update 2)"``); the
    message adds what the caller can change, in the API's words, and a command line rewords it in
    its own (``--lr``). ``update`` is one more than the updates it had taken (1: none, the untrained
    model's own loss or gradient was not finite), if known.
    """

    def __init__(self, detail, hint, update=None):
        super().__init__(f"{detail}; {hint}")
        self.detail = detail
        self.update = update
