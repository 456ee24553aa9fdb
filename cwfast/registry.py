"""The one registry of architectures: file tag and command-line name -> model class.

A model class declares everything that differs between architectures on itself (the protocol of
:class:`cwfast.model.SequenceModel`: its kernels behind ``forward``, ``loss_and_grad``,
``population_losses`` and ``sample``, its dense import and export, ``count_params``, its real-time
entry ``realtime_kind``, how ``cwfast info`` names it). One line of :data:`ARCHITECTURES` then
makes it loadable from files, trainable from the command line and streamable: adding an
architecture whose recurrence runs on an existing real-time kind (as the SRN runs on the
Clockwork RNN's) is one new module and one line here. A new *kind* of recurrence also brings its
kernels, and one entry in each of the three places that compile or emit a kind: its stream
binding (``cwfast.stream._BINDINGS``), its C entry (``cwfast._realtime``) and its C emitter
(``cwfast.export._codegen.STEPS``).

Classes are imported on first use, so listing the command-line names (``cwfast --help``) loads
no kernel, and this module imports no model (no import cycle).

>>> [entry.cli_name for entry in ARCHITECTURES]
['cw', 'srn', 'lstm']
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from .errors import ParameterError


class Entry(NamedTuple):
    """One architecture: the tag its files carry, its ``--arch`` name, where its class lives."""

    arch: str
    cli_name: str
    module: str
    class_name: str


#: Every architecture cwfast knows, in the order the CLI lists them.
ARCHITECTURES = (
    Entry("clockwork", "cw", "cwfast.model", "ClockworkRNN"),
    Entry("srn", "srn", "cwfast.baselines", "SRN"),
    Entry("lstm", "lstm", "cwfast.lstm", "LSTM"),
)


def cli_names():
    """The names ``cwfast train --arch`` accepts."""
    return tuple(entry.cli_name for entry in ARCHITECTURES)


def entry(name):
    """The :class:`Entry` whose file tag or CLI name is ``name``; ParameterError if none is."""
    for e in ARCHITECTURES:
        if name in (e.arch, e.cli_name):
            return e
    known = sorted({n for e in ARCHITECTURES for n in (e.arch, e.cli_name)})
    raise ParameterError(f"arch={name!r} must be one of {', '.join(map(repr, known))}")


def get(name):
    """The model class called ``name`` (its file tag or its CLI name); ParameterError if unknown."""
    e = entry(name)
    return getattr(importlib.import_module(e.module), e.class_name)


def architectures():
    """Every registered model class (imports them all)."""
    return tuple(get(e.arch) for e in ARCHITECTURES)


def is_model(obj):
    """Whether ``obj`` is an instance of a registered architecture."""
    return isinstance(obj, architectures())
