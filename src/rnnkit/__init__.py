"""rnnkit: recurrent neural networks in NumPy with hand-written BPTT.

Importing ``rnnkit`` loads NumPy and nothing heavier.
"""
from .recurrent import GRU, LSTM, RNN, LayerNormGRU, LayerNormLSTM, Recurrent, SimpleGRU
from .module import Module

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "LayerNormGRU", "LayerNormLSTM", "Module", "RNN", "Recurrent", "SimpleGRU",
           "__version__"]
