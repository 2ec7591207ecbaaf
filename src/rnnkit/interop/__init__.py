"""Interoperability with other frameworks.  Nothing here imports a framework
until a function that needs it is called."""
from .keras import from_keras
from .torch import from_torch, to_torch, token_rnn_from_torch

__all__ = ["from_torch", "to_torch", "token_rnn_from_torch", "from_keras", "to_onnx", "from_onnx"]


def to_onnx(*args, **kwargs):
    """See :func:`rnnkit.interop.onnx_export.to_onnx`."""
    from .onnx_export import to_onnx as f
    return f(*args, **kwargs)


def from_onnx(*args, **kwargs):
    """See :func:`rnnkit.interop.onnx_import.from_onnx`."""
    from .onnx_import import from_onnx as f
    return f(*args, **kwargs)
