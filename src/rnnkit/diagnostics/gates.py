"""Gate activations and their statistics.

After ``layer.forward(x, keep_cache=True)`` the cache holds each step's
post-nonlinearity gate activations, shape ``(T, B, G*H)``, blocks in PyTorch
order (LSTM ``i, f, g, o``; GRU ``r, z, n``; simplified GRU ``z, n``; plain
RNN a single block ``h``).  With lengths, padded steps hold zeros where the
layer ran a compiled loop (see :mod:`rnnkit.loops.frame`); the statistics count
only the steps inside each sequence's length.
"""
from __future__ import annotations

import numpy as np

def gate_names(layer):
    """Gate block names of a recurrent layer (its cell's), in PyTorch order."""
    names = getattr(getattr(layer, "cell", None), "gate_names", ())
    return tuple(names) or ("h",)


def gate_activations(layer, layer_index=0, direction=0):
    """``{gate: (T, B, H) array}`` from the layer's last ``forward(keep_cache=True)``:
    copies, so arrays kept across passes stay as they were.  With lengths,
    padded steps hold zeros (the statistics below leave them out)."""
    return {n: a.copy() for n, a in _blocks(layer, layer_index, direction).items()}


def _blocks(layer, layer_index, direction):
    """:func:`gate_activations` as views of the cache (for the statistics below, which keep nothing)."""
    act = _cached(layer, layer_index, direction).gate_activations()
    names = gate_names(layer)
    H = act.shape[-1] // len(names)
    return {n: act[..., k * H:(k + 1) * H] for k, n in enumerate(names)}


def _cached(layer, layer_index, direction):
    """The sequence cache of one layer and direction, or a one-line error."""
    cache = getattr(layer, "_cache", None)
    if not cache or "layers" not in cache:
        raise ValueError("no cached forward pass; call layer.forward(x, keep_cache=True) first")
    n_layers, n_dirs = len(cache["layers"]), len(cache["layers"][0][1])
    if not isinstance(layer_index, (int, np.integer)) or not 0 <= layer_index < n_layers:
        raise ValueError(f"layer_index {layer_index!r} is out of range; this layer has {n_layers} "
                         f"layer(s), pass 0 … {n_layers - 1}")
    if not isinstance(direction, (int, np.integer)) or not 0 <= direction < n_dirs:
        raise ValueError(f"direction {direction!r} is out of range; this layer has {n_dirs} direction(s)"
                         + (", pass 0" if n_dirs == 1 else ", pass 0 (forward) or 1 (reverse)"))
    return cache["layers"][layer_index][1][direction]


def _live(layer):
    """``(T, B)`` bool: the steps inside each sequence's length (``None``: all of them)."""
    mask = layer._cache.get("mask")                     # (T, B) from rnnkit._checks.lengths_mask
    return None if mask is None else np.asarray(mask) > 0


def gate_saturation(layer, low=0.05, high=0.95, layer_index=0, direction=0):
    """Share of sigmoid-gate activations below ``low`` or above ``high``.

    Returns ``{gate: {"low": share < low, "high": share > high}}`` for the
    sigmoid gates only (LSTM i, f, o; GRU r, z; simplified GRU z).
    """
    out = {}
    acts = _blocks(layer, layer_index, direction)
    live = _live(layer)
    for n, a in acts.items():
        if n in ("g", "n", "h"):
            continue
        a = a if live is None else a[live]                  # padded steps are no activations
        out[n] = {"low": float(np.mean(a < low)), "high": float(np.mean(a > high))}
    return out


def forget_gate_mean(layer, layer_index=0, direction=0):
    """``(T,)`` mean over batch and units of the forget gate (LSTM ``f``; for GRUs
    the share kept from the previous state, ``z``); with lengths over the live
    sequences only, NaN at a step where every sequence is padded."""
    names = gate_names(layer)
    key = "f" if "f" in names else "z" if "z" in names else None
    if key is None:
        raise ValueError(f"{type(layer).__name__} has no forget gate; forget_gate_mean needs an LSTM or a GRU")
    a = _blocks(layer, layer_index, direction)[key]
    live = _live(layer)
    if live is None:
        return a.mean(axis=(1, 2))
    n = live.sum(axis=1) * a.shape[2]                       # live values per step (padded steps left out)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, (a * live[:, :, None]).sum(axis=(1, 2)) / np.maximum(n, 1), np.nan)


def _keys(layer):
    """``[(key, layer_index, direction)]`` with keys ``l{k}[_reverse]`` as in ``grad_norms_``."""
    dirs = getattr(layer, "num_directions", 1)
    return [(f"l{k}" + ("_reverse" if d else ""), k, d) for k in range(getattr(layer, "num_layers", 1))
            for d in range(dirs)]


def gate_metrics(layer, low=0.05, high=0.95):
    """Gate statistics of the last cached forward pass, for every layer and direction.

    Returns ``{"gate_saturation": {key: {gate: {"low", "high"}}},
    "forget_gate_mean": {key: [(T,) mean forget gate]}}`` with keys
    ``"l{k}[_reverse]"``; a plain RNN has neither (no sigmoid gates), so the
    dict is empty.  Meant for a training step's metric line.
    """
    sat, fmean = {}, {}
    if not set(gate_names(layer)) - {"g", "n", "h"}:
        return {}                                   # no sigmoid gates (plain RNN)
    for key, k, d in _keys(layer):
        s = gate_saturation(layer, low, high, k, d)
        if s:
            sat[key] = {g: {n: float(f"{v:.4g}") for n, v in lh.items()} for g, lh in s.items()}
        if {"f", "z"} & set(gate_names(layer)):
            fmean[key] = [float(f"{v:.5g}") for v in forget_gate_mean(layer, k, d)]
    out = {}
    if sat:
        out["gate_saturation"] = sat
    if fmean:
        out["forget_gate_mean"] = fmean
    return out
