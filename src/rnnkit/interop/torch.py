"""``torch.nn.RNN / LSTM / GRU`` to and from rnnkit layers.

The parameter names and layouts are the same on both sides, so conversion is a
copy of the ``state_dict``; the dtype is kept (a float64 module gives a float64
layer and back).  ``torch`` is imported only when these functions run.
"""
from __future__ import annotations

import numpy as np

from ..recurrent import GRU, LSTM, RNN

_NUMPY_DTYPES = {"torch.float32": np.float32, "torch.float64": np.float64}


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("PyTorch is needed for this conversion; install it with "
                          "'pip install torch==2.13.0'") from None
    return torch


def from_torch(module):
    """An rnnkit layer with the options and weights of ``module``
    (``torch.nn.RNN``, ``nn.LSTM`` or ``nn.GRU``)."""
    torch = _torch()
    kinds = ((torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU), (torch.nn.RNN, RNN))
    cls = next((ours for theirs, ours in kinds if type(module) is theirs), None)
    if cls is None:
        raise TypeError(f"from_torch converts torch.nn.RNN, LSTM or GRU modules, not {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise NotImplementedError("LSTM with proj_size > 0 is not supported yet; export a model without projections")
    dtype = _NUMPY_DTYPES.get(str(next(module.parameters()).dtype))
    if dtype is None:
        raise TypeError(f"unsupported parameter dtype {next(module.parameters()).dtype}; use float32 or float64")
    kwargs = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                  dropout=float(module.dropout), bidirectional=module.bidirectional, dtype=dtype)
    if cls is RNN:
        kwargs["nonlinearity"] = module.nonlinearity
    layer = cls(module.input_size, module.hidden_size, **kwargs)
    layer.load_state_dict({k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})
    layer.train(module.training)
    return layer


def to_torch(layer):
    """A ``torch.nn`` module with the options and weights of an rnnkit layer.

    Options PyTorch lacks (the reset-before GRU, the simplified GRU, merge modes
    other than concat, recurrent dropout) raise ``ValueError``.
    """
    torch = _torch()
    if isinstance(layer, LSTM):
        cls, extra = torch.nn.LSTM, {}
    elif isinstance(layer, GRU):
        if not layer.reset_after:
            raise ValueError("PyTorch's GRU is the reset-after form; a GRU with reset_after=False has no "
                             "torch equivalent (export it to ONNX instead)")
        cls, extra = torch.nn.GRU, {}
    elif isinstance(layer, RNN):
        cls, extra = torch.nn.RNN, {"nonlinearity": layer.nonlinearity}
    else:
        raise ValueError(f"{type(layer).__name__} has no PyTorch equivalent")
    if layer.merge_mode != "concat":
        raise ValueError(f"merge_mode={layer.merge_mode!r} has no PyTorch equivalent; PyTorch concatenates")
    if layer.recurrent_dropout:
        raise ValueError("recurrent_dropout has no PyTorch equivalent; set it to 0 before converting")
    dtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    module = cls(layer.input_size, layer.hidden_size, num_layers=layer.num_layers, bias=layer.bias,
                 batch_first=layer.batch_first, dropout=layer.dropout, bidirectional=layer.bidirectional,
                 dtype=dtype, **extra)
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in layer.params.items()})
    module.train(layer.training)
    return module
