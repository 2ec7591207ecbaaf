"""``Module``: a thin holder of parameters and gradients.

Parameters and gradients are dicts with the same keys (``params``, ``grads``);
sub-modules are found among the attributes, so ``named_parameters()`` gives
dotted names (``"rnn.weight_ih_l0"``) that optimizers and model files use.
"""
from __future__ import annotations

import numpy as np


class Module:
    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    # -- structure -----------------------------------------------------------------
    def children(self):
        """Sub-modules held as attributes (or in lists of attributes), in order."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, Module):
                        yield f"{name}.{i}", v

    def named_parameters(self, prefix=""):
        """Flat dict ``{dotted name: array}`` of this module's and its children's
        parameters; the arrays are the live ones, updated in place by optimizers."""
        out = {prefix + k: v for k, v in self.params.items()}
        for name, child in self.children():
            out.update(child.named_parameters(f"{prefix}{name}."))
        return out

    def named_grads(self, prefix=""):
        """Flat dict of gradients, keyed like :meth:`named_parameters`."""
        out = {prefix + k: v for k, v in self.grads.items()}
        for name, child in self.children():
            out.update(child.named_grads(f"{prefix}{name}."))
        return out

    def num_parameters(self):
        return int(sum(v.size for v in self.named_parameters().values()))

    # -- modes -----------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active); returns ``self``."""
        self.training = bool(mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off); returns ``self``."""
        return self.train(False)

    def zero_grad(self):
        """Set every gradient to zeros shaped like its parameter."""
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        for _, child in self.children():
            child.zero_grad()

    # -- weights ---------------------------------------------------------------------
    def state_dict(self):
        """Copies of all parameters, keyed by dotted name (PyTorch's names for layers)."""
        return {k: v.copy() for k, v in self.named_parameters().items()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the live parameters, checking names and shapes."""
        own = self.named_parameters()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"state dict does not match the model: missing {missing}, unexpected {unexpected}; "
                           "build the model with the same configuration as the saved one")
        for k, v in state.items():
            if k not in own:
                continue
            v = np.asarray(v)
            if v.shape != own[k].shape:
                raise ValueError(f"parameter {k!r} has shape {v.shape} in the state dict but {own[k].shape} "
                                 "in the model; build the model with the saved sizes")
            own[k][...] = v
