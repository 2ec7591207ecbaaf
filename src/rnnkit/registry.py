"""The recurrent cells rnnkit builds by name: one registration line per cell.

Every place that takes a cell name reads it here: :class:`rnnkit.models.TokenRNN`
and the language model, the sequence estimators, the forecaster, the
gradient-flow experiment, model files (which record a network's cell by this
name) and the command line's ``--cell`` / ``--cells`` choices.  A name maps to
a layer class (a :class:`rnnkit.Recurrent` with ``rnnkit.LSTM``'s constructor)
and the constructor keywords the name fixes; registering a cell makes it usable
from all of them.
"""
from __future__ import annotations

from typing import NamedTuple

from .recurrent import GRU, LSTM, RNN, LayerNormGRU, LayerNormLSTM, SimpleGRU


class Cell(NamedTuple):
    """A registered cell: the layer class and the keywords its name fixes."""

    layer: type
    options: dict = {}


CELLS = {
    "lstm": Cell(LSTM),
    "gru": Cell(GRU),
    "rnn": Cell(RNN),
    "sgru": Cell(SimpleGRU),
    "rnn_tanh": Cell(RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": Cell(RNN, {"nonlinearity": "relu"}),
    "lstm_fb0": Cell(LSTM, {"forget_bias": 0.0}),
    "lnlstm": Cell(LayerNormLSTM),
    "lngru": Cell(LayerNormGRU),
}


def cell_names():
    """The registered names, in registration order."""
    return list(CELLS)


def check_cell(name):
    """``name`` when registered, else a one-line ``ValueError`` listing the names."""
    if not isinstance(name, str) or name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; use one of {', '.join(CELLS)}")
    return name


def build_layer(name, input_size, hidden_size, num_layers=1, **kwargs):
    """The layer of cell ``name``: ``layer(input_size, hidden_size, num_layers,
    **options, **kwargs)`` (``kwargs``: the layer's other arguments, e.g.
    ``batch_first``, ``dropout``, ``dtype``, ``seed``)."""
    cell = CELLS[check_cell(name)]
    return cell.layer(input_size, hidden_size, num_layers, **cell.options, **kwargs)


def state_count(name):
    """How many state arrays the cell carries (2 for an LSTM's ``(h, c)``, else 1)."""
    return build_layer(name, 1, 1, seed=0).cell.n_states
