"""``torch.nn.RNN / LSTM / GRU`` to and from rnnkit layers.

The parameter names and layouts are the same on both sides, so conversion is a
copy of the ``state_dict`` (an LSTM with ``proj_size`` keeps its
``weight_hr_l{k}``); the dtype is kept (a float64 module gives a float64
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
    (``torch.nn.RNN``, ``nn.LSTM`` or ``nn.GRU``, or a subclass that keeps their
    ``forward``; one that overrides it raises ``TypeError``)."""
    torch = _torch()
    kinds = ((torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU), (torch.nn.RNN, RNN))
    theirs, cls = next(((t, o) for t, o in kinds if isinstance(module, t)), (None, None))
    if cls is None:
        raise TypeError(f"from_torch converts torch.nn.RNN, LSTM or GRU modules, not {type(module).__name__}")
    if type(module).forward is not theirs.forward:
        raise TypeError(f"{type(module).__name__} subclasses torch.nn.{theirs.__name__} but overrides forward(), "
                        f"which from_torch cannot convert; convert a plain nn.{theirs.__name__} with its weights")
    dtype = _NUMPY_DTYPES.get(str(next(module.parameters()).dtype))
    if dtype is None:
        raise TypeError(f"unsupported parameter dtype {next(module.parameters()).dtype}; use float32 or float64")
    kwargs = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                  dropout=float(module.dropout), bidirectional=module.bidirectional, dtype=dtype)
    if cls is RNN:
        kwargs["nonlinearity"] = module.nonlinearity
    if cls is LSTM:
        kwargs["proj_size"] = module.proj_size
    layer = cls(module.input_size, module.hidden_size, **kwargs)
    layer.load_state_dict({k: v.detach().cpu().numpy() for k, v in module.state_dict().items()
                           if k in layer.params})    # a subclass's own extra tensors are not the layer's
    layer.train(module.training)
    return layer


def to_torch(layer):
    """A ``torch.nn`` module with the options and weights of an rnnkit layer.

    Options PyTorch lacks (the reset-before GRU, the simplified GRU, merge modes
    other than concat, recurrent dropout) raise ``ValueError``.
    """
    torch = _torch()
    if isinstance(layer, LSTM):
        cls, extra = torch.nn.LSTM, {"proj_size": layer.proj_size}
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


def token_rnn_from_torch(state_dict, *, cell=None, nonlinearity="tanh", dtype=None, embedding=None, head=None):
    """A :class:`rnnkit.models.TokenRNN` from the ``state_dict`` of a PyTorch model
    of the common form ``Embedding -> RNN/LSTM/GRU -> Linear``.

    ``state_dict``: ``{name: tensor or ndarray}``, e.g. read with
    ``torch.load(path, weights_only=True)`` (no code runs when reading it).  The
    three parts are found by their shapes: the recurrent one by ``weight_ih_l0``,
    the embedding as a lone 2-D ``weight`` of shape ``(V, E)``, the head as a
    ``weight`` ``(V, H)`` with an optional ``bias``.  The cell is guessed from the
    gate count (4 LSTM, 3 GRU, 1 RNN) unless ``cell`` is given; an Elman RNN is
    assumed to use ``tanh`` (PyTorch's default).  When the shapes cannot tell the
    embedding from the head (embedding size equal to the hidden size, head
    without bias), the module whose name holds "emb" is the embedding; or name
    both: ``embedding="emb", head="fc"`` (their state-dict prefixes).  Missing biases load as zeros,
    which is the same function.  The recurrent module must be unidirectional;
    ``batch_first`` does not matter (TokenRNN takes ``(B, T)`` ids).
    """
    from ..token_rnn import TokenRNN

    arrays = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
              for k, v in state_dict.items()}
    groups = {}
    for k, v in arrays.items():
        prefix, _, name = k.rpartition(".")
        groups.setdefault(prefix, {})[name] = v
    rec = [p for p, g in groups.items() if "weight_ih_l0" in g]
    if len(rec) != 1:
        raise ValueError(f"expected one recurrent module (a weight_ih_l0 entry) in the state dict, found "
                         f"{len(rec)}: {rec}; pass the state_dict of an Embedding -> RNN -> Linear model")
    rp = rec[0]
    rg = groups.pop(rp)
    if any(k.endswith("_reverse") for k in rg):
        raise ValueError("a bidirectional recurrent module cannot drive a next-token TokenRNN; "
                         "convert the layer alone with from_torch")
    if any(k.startswith("weight_hr") for k in rg):
        raise NotImplementedError("a TokenRNN has no LSTM projections (proj_size > 0); convert the LSTM layer "
                                  "alone with from_torch")
    H = rg["weight_hh_l0"].shape[1]
    G = rg["weight_hh_l0"].shape[0] // H
    L = sum(1 for k in rg if k.startswith("weight_ih_l"))
    guessed = {4: "lstm", 3: "gru", 1: "rnn"}.get(G)
    cell = cell or guessed
    if cell is None or cell != guessed:
        raise ValueError(f"recurrent weights {rg['weight_hh_l0'].shape} have {G} gate blocks; "
                         f"that is not a {cell or 'known'} cell")
    if cell == "rnn" and nonlinearity != "tanh":
        raise NotImplementedError("TokenRNN builds tanh RNNs; convert a relu RNN layer with from_torch")
    D = rg["weight_ih_l0"].shape[1]
    emb = [p for p, g in groups.items() if set(g) == {"weight"} and g["weight"].ndim == 2
           and g["weight"].shape[1] == D]
    heads = [p for p, g in groups.items() if "weight" in g and g["weight"].ndim == 2
             and g["weight"].shape[1] == H and p not in emb]
    if head is not None or embedding is not None:      # named by the caller
        for what, name in (("head", head), ("embedding", embedding)):
            if name is not None and name not in groups:
                raise ValueError(f"{what}={name!r} is no module of the state dict; its modules are "
                                 f"{sorted(groups)}")
        if head is not None:
            heads = [head]
            emb = [q for q in emb if q != head]
        if embedding is not None:
            emb = [embedding]
            heads = [q for q in heads if q != embedding]
    elif not heads and D == H and len(emb) > 1:
        # embedding size H and a head without bias look alike; a name with "emb" in it tells them apart
        named = [q for q in emb if "emb" in q.rpartition(".")[2].lower()]
        if len(emb) != 2 or len(named) != 1:
            raise ValueError(f"{', '.join(emb)} all have shape ({arrays[emb[0] + '.weight'].shape[0]}, {H}): the "
                             "embedding and a Linear head without bias look alike; name them: "
                             "token_rnn_from_torch(state_dict, embedding=NAME, head=NAME)")
        heads = [q for q in emb if q not in named]
        emb = named
    if len(heads) != 1:
        raise ValueError(f"expected one Linear layer with {H} input features, found {heads}")
    hg = groups[heads[0]]
    V = hg["weight"].shape[0]
    emb = [p for p in emb if groups[p]["weight"].shape[0] == V]
    if len(emb) > 1:
        raise ValueError(f"more than one candidate embedding: {emb}")
    if not emb and D != V:
        raise ValueError(f"no embedding of shape ({V}, {D}) found and the input size {D} is not the "
                         f"vocabulary size {V} (one-hot input)")
    dtype = dtype or rg["weight_ih_l0"].dtype
    net = TokenRNN(V, H, L, cell=cell, embedding_dim=D if emb else 0, dtype=dtype)
    state = {}
    for k in net.rnn.params:
        state["rnn." + k] = rg[k] if k in rg else np.zeros_like(net.rnn.params[k])
    state["head.weight"] = hg["weight"]
    state["head.bias"] = hg.get("bias", np.zeros(V))
    if emb:
        state["embed.weight"] = groups[emb[0]]["weight"]
    net.load_state_dict(state)
    return net.eval()
