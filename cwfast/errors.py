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
