"""Model files: ``save(obj, path)`` / ``load(path)`` for every rnnkit layer and model.

A model file is an :mod:`rnnkit.io.files` file of kind ``"model"`` whose config is
``{"class": NAME, "config": {...}}`` and whose arrays are ``obj.state_dict()``.
Loading looks ``NAME`` up in a registry, rebuilds the object from the JSON
config and copies the arrays in; no code from the file is ever executed.

Registering a class (the protocol other models follow)::

    from rnnkit.io.models import register
    register("MyModel", MyModel)                       # uses MyModel.get_config / from_config
    register("Other", Other, get_config=f, from_config=g)   # or explicit functions

``get_config(obj) -> dict`` must return JSON-able hyperparameters only;
``from_config(dict) -> obj`` must build an object whose ``state_dict()`` keys and
shapes match the saved arrays.
"""
from __future__ import annotations

import numpy as np

from . import safetensors
from .files import ModelFileError, read_file, write_file
from .safetensors import resolve_format

KIND = "model"
_REGISTRY: dict[str, tuple] = {}


def register(name, cls, get_config=None, from_config=None):
    """Make ``cls`` saveable under ``name`` (see the module docstring)."""
    get_config = get_config or (lambda obj: obj.get_config())
    from_config = from_config or cls.from_config
    _REGISTRY[name] = (cls, get_config, from_config)
    return cls


def registered():
    """Names of the saveable classes."""
    _builtins()
    return sorted(_REGISTRY)


def _name_of(obj):
    _builtins()
    for name, (cls, _, _) in _REGISTRY.items():
        if type(obj) is cls:
            return name
    raise TypeError(f"{type(obj).__name__} is not a saveable rnnkit class; register it with "
                    f"rnnkit.io.models.register (saveable: {', '.join(sorted(_REGISTRY))})")


def get_config(obj):
    """``{"class": name, "config": {...}}`` for ``obj``."""
    name = _name_of(obj)
    return {"class": name, "config": _REGISTRY[name][1](obj)}


def from_config(spec):
    """Build an (untrained) object from ``{"class": ..., "config": ...}``."""
    _builtins()
    name = spec.get("class") if isinstance(spec, dict) else None
    if name not in _REGISTRY:
        raise ModelFileError(f"unknown model class {name!r}; this rnnkit knows {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name][2](dict(spec.get("config", {})))


def save(obj, path, meta=None, format=None):
    """Write ``obj`` (a layer or model) to ``path``; returns the path.  ``format``:
    ``"rnnkit"`` (``.npz``) or ``"safetensors"`` (tensors under PyTorch's
    ``state_dict`` names, rnnkit's config in ``__metadata__``:
    :mod:`rnnkit.io.safetensors`); ``None``: safetensors for a ``.safetensors`` path."""
    if resolve_format(path, format) == "safetensors":
        return safetensors.write(path, KIND, get_config(obj), obj.state_dict(), meta)
    return write_file(path, KIND, get_config(obj), obj.state_dict(), meta)


def read(path, kind):
    """``(header, arrays)`` of an rnnkit file in either format."""
    return (safetensors.read if safetensors.is_safetensors(path) else read_file)(path, kind)


def load(path):
    """Read a model file (either format) and return the rebuilt object (in evaluation mode)."""
    header, arrays = read(path, KIND)
    try:
        obj = from_config(header["config"])
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: invalid model config ({exc})") from None
    _copy_weights(obj, arrays, path)
    return obj.eval()


def load_weights(obj, path):
    """Copy the weights of the model file ``path`` into the existing ``obj``,
    which must be of the same class and configuration; returns ``obj``."""
    header, arrays = read(path, KIND)
    saved, own = header["config"], get_config(obj)
    if saved.get("class") != own["class"]:
        raise ModelFileError(f"{path}: holds a {saved.get('class')}, not a {own['class']}; "
                             "load it with rnnkit.io.load or build the matching model")
    diff = {k: (saved["config"].get(k), v) for k, v in own["config"].items()
            if k not in ("dtype", "batch_first", "dropout", "recurrent_dropout") and saved["config"].get(k) != v}
    if diff:
        what = ", ".join(f"{k}={a!r} in the file but {b!r} here" for k, (a, b) in diff.items())
        raise ModelFileError(f"{path}: the model does not match: {what}; build it with the saved configuration")
    _copy_weights(obj, arrays, path)
    return obj


def _copy_weights(obj, arrays, path):
    try:
        obj.load_state_dict(arrays)
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise ModelFileError(f"{path}: weights do not fit the model: {msg}") from None


# -- built-in classes -------------------------------------------------------------------------
def _dt(obj):
    return np.dtype(obj.dtype).name


def _builtins():
    if "LSTM" in _REGISTRY:
        return
    from ..layers import Dense, Embedding
    from ..token_rnn import TokenRNN
    from ..registry import CELLS

    for cls in dict.fromkeys(cell.layer for cell in CELLS.values()):     # every registered layer class
        register(cls.__name__, cls, lambda o: {**o.get_config(), "dtype": _dt(o)}, lambda c, cls=cls: cls(**c))
    register("Embedding", Embedding,
             lambda o: {"num_embeddings": o.num_embeddings, "embedding_dim": o.embedding_dim,
                        "padding_idx": o.padding_idx, "dtype": _dt(o)},
             lambda c: Embedding(**c))
    register("Dense", Dense,
             lambda o: {"in_features": o.in_features, "out_features": o.out_features,
                        "bias": "bias" in o.params, "dtype": _dt(o)},
             lambda c: Dense(**c))
    register("TokenRNN", TokenRNN,
             lambda o: {"vocab_size": o.vocab_size, "hidden_size": o.rnn.hidden_size,
                        "num_layers": o.rnn.num_layers, "cell": o.cell,      # a rnnkit.registry name
                        "embedding_dim": o.embedding_dim, "dropout": o.rnn.dropout,
                        "recurrent_dropout": o.rnn.recurrent_dropout, "init": o.rnn.init, "dtype": _dt(o)},
             lambda c: TokenRNN(**c))
