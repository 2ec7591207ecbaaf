"""Recurrent cells: one module per cell, each a set of pure step functions."""
from .base import CellBase, sigmoid
from .gru import GRUCell
from .lstm import LSTMCell
from .rnn import ElmanCell
from .simple_gru import SimpleGRUCell

__all__ = ["CellBase", "ElmanCell", "GRUCell", "LSTMCell", "SimpleGRUCell", "sigmoid"]
