import numpy as np
import pytest

import rnnkit

# every cell the layers offer, by a readable id -> (layer class, extra kwargs)
CELLS = {
    "rnn_tanh": (rnnkit.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, {}),
    "gru": (rnnkit.GRU, {"reset_after": True}),
    "gru_reset_before": (rnnkit.GRU, {"reset_after": False}),
    "simple_gru": (rnnkit.SimpleGRU, {}),
}


def make_layer(cell, D, H, **kwargs):
    cls, extra = CELLS[cell]
    return cls(D, H, **extra, **kwargs)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
