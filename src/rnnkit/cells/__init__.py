"""Recurrent cells: one module per cell, each a set of pure step functions."""
from .base import CellBase, sigmoid
from .gru import GRUCell
from .layer_norm import LayerNormGRUCell, LayerNormLSTMCell
from .lstm import LSTMCell
from .lstm_projected import ProjectedLSTMCell
from .rnn import ElmanCell
from .simple_gru import SimpleGRUCell

__all__ = ["CellBase", "ElmanCell", "GRUCell", "LSTMCell", "LayerNormGRUCell", "LayerNormLSTMCell",
           "ProjectedLSTMCell", "SimpleGRUCell", "sigmoid"]
