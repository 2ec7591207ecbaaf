"""Recurrent layers over a cell: stacking, two directions, lengths, dropout,
state in and out.  Constructor, call and parameter names follow PyTorch's
``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``::

    y, h_n = layer(x, h0=None, lengths=None)          # LSTM: y, (h_n, c_n)
    dx, dh0 = layer.backward(dy, dh_n=None)           # fills layer.grads

Shapes (``L`` layers, ``K`` = 2 if bidirectional else 1):
    x   (T, B, D), or (B, T, D) with ``batch_first``, or (T, D) unbatched
    y   (T, B, K*H) for ``merge_mode="concat"``, (T, B, H) for sum/mean/mul
    h_n (L*K, B, H), ordered layer by layer, forward direction first
An LSTM with ``proj_size=P`` outputs and feeds back ``h`` of width ``P``:
``y`` (T, B, K*P), ``h_n`` (L*K, B, P), ``c_n`` (L*K, B, H).

Parameters are PyTorch's ``state_dict`` one to one: ``weight_ih_l{k}[_reverse]``
``(G*H, D_k)``, ``weight_hh_l{k}`` ``(G*H, H)`` (``(4H, P)`` with a
projection), ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(G*H,)``, and whatever else
the cell declares (``weight_hr_l{k}`` ``(P, H)`` of the projected LSTM, the
gains and biases of the layer-normalised cells: :mod:`rnnkit.cells`).
"""
from __future__ import annotations

import numpy as np

from . import engine
from ._checks import as_dtype, choice, count, finite_array, lengths_mask, positive_int, probability
from .cells import (ElmanCell, GRUCell, LayerNormGRUCell, LayerNormLSTMCell, LSTMCell, ProjectedLSTMCell,
                    SimpleGRUCell)
from .init import INITS
from .layers import Embedding, OneHot
from .module import Module
from .threads import ThreadTuner
from .tokens import TokenInput

MERGE_MODES = ("concat", "sum", "mean", "mul")


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction else "")


class Recurrent(Module):
    """A stack of recurrent layers over ``cell``; see the module docstring.

    Arguments beyond PyTorch's:
        (attribute) record_grad_norms: when True, each backward pass stores in
            ``grad_norms_["l{k}[_reverse]"]`` the ``(T,)`` batch-mean norm of
            ``dL/dh_t``, the gradient flow through time.
        merge_mode: how a bidirectional layer joins its two directions,
            ``"concat"`` (PyTorch), ``"sum"``, ``"mean"`` or ``"mul"``; applied at
            every layer, so the next layer sees ``2H`` or ``H`` features.
        recurrent_dropout: probability of dropping each unit of ``h_{t-1}`` in
            the recurrent products, with one mask per sequence reused at every
            step (Gal & Ghahramani 2016); training mode only.
        init: ``"default"`` (Glorot-uniform input, orthogonal recurrent, zero
            biases) or ``"torch"`` (PyTorch's ``U(±1/sqrt(H))``).
        dtype: ``numpy.float32`` (default) or ``numpy.float64``.
        seed: an int or ``numpy.random.Generator`` for initialisation and dropout.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, merge_mode="concat",
                 recurrent_dropout=0.0, init="default", dtype=np.float32, seed=None):
        super().__init__()
        self.proj_size = getattr(cell, "proj_size", 0)     # the width of h when the cell projects it
        if proj_size != self.proj_size:
            raise NotImplementedError(f"proj_size is an LSTM option ({type(self).__name__} has no projections); "
                                      "leave it at 0")
        self.cell = cell
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = probability("dropout", dropout)
        self.bidirectional = bool(bidirectional)
        self.merge_mode = choice("merge_mode", merge_mode, MERGE_MODES)
        self.recurrent_dropout = probability("recurrent_dropout", recurrent_dropout)
        self.init = choice("init", init, INITS)
        self.dtype = as_dtype(dtype)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.record_grad_norms = False
        self.grad_norms_ = {}
        self._cache = None
        self._buffers = {}     # (layer, direction) -> arrays lent between passes (rnnkit.loops.frame.buffer)
        self._threads = ThreadTuner()   # the BLAS threads of each kind of pass (rnnkit.threads)
        self._init_params()

    # what a model file records of a layer (rnnkit.io): the common options and each class's own
    CONFIG_KEYS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                   "merge_mode", "recurrent_dropout", "init")
    OWN_CONFIG_KEYS = ()

    def get_config(self):
        """The constructor's arguments that rebuild this layer (``dtype`` and
        ``seed`` aside); ``proj_size`` only when set, as files before it lack it."""
        config = {k: getattr(self, k) for k in self.CONFIG_KEYS + self.OWN_CONFIG_KEYS}
        if self.proj_size:
            config["proj_size"] = self.proj_size
        return config

    # -- construction ---------------------------------------------------------------------
    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def state_sizes(self):
        """The width of each state of one direction (``h`` first): the cell's."""
        return self.cell.state_sizes(self.hidden_size)

    @property
    def output_size(self):
        """Features per step of ``y``."""
        return self.state_sizes[0] * (self.num_directions if self.merge_mode == "concat" else 1)

    def _layer_input_size(self, layer):
        return self.input_size if layer == 0 else self.output_size

    def _init_params(self):
        names = self.cell.param_names
        for l in range(self.num_layers):
            for d in range(self.num_directions):
                s = _suffix(l, d)
                p = self.cell.init_params(self.rng, self._layer_input_size(l), self.hidden_size, self.bias,
                                          self.dtype, self.init)
                for key, value in p.items():
                    self.params[names[key] + s] = value
        if self.bias and self.init == "default":
            self._init_gate_biases()
        self.zero_grad()

    def _init_gate_biases(self):
        """Cell-specific bias starts (forget bias for LSTM, reset bias for GRU)."""

    def _p(self, layer, direction):
        """One direction of one layer as the cell names its parameters (``W_ih``, ...)."""
        s = _suffix(layer, direction)
        P = self.params
        return {key: P[name + s] for key, name in self.cell.param_names.items() if name + s in P}

    # -- input handling --------------------------------------------------------------------
    def _time_major(self, x, name="x"):
        x = finite_array(name, x, self.dtype)
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :]
        elif x.ndim != 3:
            layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
            raise ValueError(f"{name} must be 3-D {layout} or 2-D (T, D) unbatched, got shape {x.shape}")
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        if x.shape[2] != self.input_size:
            raise ValueError(f"{name} has {x.shape[2]} features per step but the layer was built with "
                             f"input_size={self.input_size}")
        if x.shape[0] < 1:
            raise ValueError(f"{name} has no time steps; pass at least one step")
        if x.shape[1] < 1:
            raise ValueError(f"{name} holds no sequences (batch size 0); pass at least one sequence")
        return x, unbatched

    def _token_ids(self, ids, embedding):
        """Token ids for ``forward(ids, embedding=...)``: time-major ``(T, B)`` int64."""
        if not isinstance(embedding, (Embedding, OneHot)):
            raise TypeError(f"embedding must be an rnnkit.layers.Embedding or OneHot, got {type(embedding).__name__}")
        if embedding.embedding_dim != self.input_size:
            raise ValueError(f"the embedding gives {embedding.embedding_dim} features per token but the layer was "
                             f"built with input_size={self.input_size}; make them equal")
        ids = embedding.check_ids(ids)
        unbatched = ids.ndim == 1
        if unbatched:
            ids = ids[:, None]
        elif ids.ndim != 2:
            layout = "(B, T)" if self.batch_first else "(T, B)"
            raise ValueError(f"token ids must be 2-D {layout} or 1-D (T,) unbatched, got shape {ids.shape}")
        elif self.batch_first:
            ids = ids.T
        if ids.shape[0] < 1:
            raise ValueError("the token ids have no time steps; pass at least one step")
        if ids.shape[1] < 1:
            raise ValueError("the token ids hold no sequences (batch size 0); pass at least one sequence")
        return np.ascontiguousarray(ids, dtype=np.int64), unbatched

    def _states_in(self, h0, B, unbatched):
        """``h0`` (PyTorch layout) -> list over (layer, direction) of state tuples."""
        n, sizes = self.num_layers * self.num_directions, self.state_sizes
        ns = self.cell.n_states
        if h0 is None:
            return [tuple(np.zeros((B, S), self.dtype) for S in sizes) for _ in range(n)]
        parts = h0 if ns > 1 else (h0,)
        if ns > 1 and (not isinstance(h0, (tuple, list)) or len(h0) != ns):
            raise ValueError("the initial state of an LSTM is a pair (h0, c0); pass a tuple of two arrays")
        arrays = []
        for name, a, S in zip(("h0", "c0"), parts, sizes):
            a = finite_array(name, a, self.dtype)
            if unbatched and a.ndim == 2:
                a = a[:, None, :]
            if a.shape != (n, B, S):
                raise ValueError(f"{name} has shape {a.shape} but this layer needs {(n, B, S)} "
                                 f"(num_layers * num_directions, batch, {_width_name(self, S)})")
            arrays.append(a)
        return [tuple(a[i] for a in arrays) for i in range(n)]

    def _final_grads_in(self, dh_n, B, unbatched):
        """``dh_n`` (``h_n``'s layout; LSTM: a pair ``(dh_n, dc_n)``, either part
        ``None``) -> list over (layer, direction) of per-state ``(B, H)`` gradients or ``None``."""
        n, sizes = self.num_layers * self.num_directions, self.state_sizes
        ns = self.cell.n_states
        dfinal = [[None] * ns for _ in range(n)]
        if dh_n is None:
            return dfinal
        if ns > 1 and (not isinstance(dh_n, (tuple, list)) or len(dh_n) != ns):
            raise ValueError("the final-state gradient of an LSTM is a pair (dh_n, dc_n), either part may be None; "
                             "pass a tuple of two arrays")
        parts = dh_n if ns > 1 else (dh_n,)
        for j, (name, a) in enumerate(zip(("dh_n", "dc_n"), parts)):
            if a is None:
                continue
            a = np.asarray(a, dtype=self.dtype)
            if unbatched and a.ndim == 2:
                a = a[:, None, :]
            S = sizes[j]
            if a.shape != (n, B, S):
                want, dims = ((n, S), "") if unbatched else ((n, B, S), "batch, ")
                raise ValueError(f"{name} has shape {np.shape(parts[j])} but the final state was {want} "
                                 f"(num_layers * num_directions, {dims}{_width_name(self, S)}); "
                                 "pass a gradient of h_n's shape")
            for i in range(n):
                dfinal[i][j] = a[i]
        return dfinal

    def _states_out(self, finals, unbatched):
        if len(finals) == 1:                             # a copy, as np.stack makes (3 µs less a pass)
            stacked = [finals[0][j][None].copy() for j in range(self.cell.n_states)]
        else:
            stacked = [np.stack([f[j] for f in finals]) for j in range(self.cell.n_states)]
        if unbatched:
            stacked = [s[:, 0] for s in stacked]
        return tuple(stacked) if self.cell.n_states > 1 else stacked[0]

    # -- dropout masks ---------------------------------------------------------------------
    def sample_masks(self, T, B):
        """Draw the dropout masks of one forward pass (inverted dropout: kept
        units scaled by ``1/(1-p)``).  Returns ``{"recurrent": [(B, H) or None per
        (layer, direction)], "between": [(T, B, F) or None per layer]}``."""
        H, n = self.state_sizes[0], self.num_layers * self.num_directions
        rec = [None] * n
        between = [None] * self.num_layers
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            rec = [(self.rng.random((B, H)) < keep).astype(self.dtype) / self.dtype.type(keep) for _ in range(n)]
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            between = [(self.rng.random((T, B, self.output_size)) < keep).astype(self.dtype) / self.dtype.type(keep)
                       if l < self.num_layers - 1 else None for l in range(self.num_layers)]
        return {"recurrent": rec, "between": between}

    def _check_masks(self, masks, T, B):
        """Refuse dropout masks (as :meth:`sample_masks` returns them) drawn for another shape."""
        n = self.num_layers * self.num_directions
        try:
            rec, between = masks["recurrent"], masks["between"]
            ok = len(rec) == n and len(between) == self.num_layers
        except (TypeError, KeyError):
            ok = False
        if not ok:
            raise ValueError(f"masks must be a dict like sample_masks(T, B) returns: 'recurrent' with {n} "
                             f"entries and 'between' with {self.num_layers}")
        S = self.state_sizes[0]
        for name, ms, want, shared in (("recurrent", rec, (B, S), (1, S)),
                                       ("between", between, (T, B, self.output_size), (T, 1, self.output_size))):
            for m in ms:                                 # batch 1: one mask shared by every sequence
                if m is not None and np.shape(m) not in (want, shared):
                    raise ValueError(f"a {name} dropout mask has shape {np.shape(m)} but this pass needs {want} "
                                     f"(or {shared}, shared by the batch); draw the masks with "
                                     f"sample_masks({T}, {B})")

    # -- forward / backward ----------------------------------------------------------------
    def _merge(self, outs):
        if len(outs) == 1:
            return outs[0]
        f, b = outs
        if self.merge_mode == "concat":
            return np.concatenate([f, b], axis=-1)
        if self.merge_mode == "sum":
            return f + b
        if self.merge_mode == "mean":
            return (f + b) * self.dtype.type(0.5)
        return f * b

    def _unmerge(self, dy, outs):
        if len(outs) == 1:
            return [dy]
        H = self.state_sizes[0]
        if self.merge_mode == "concat":
            return [dy[..., :H], dy[..., H:]]
        if self.merge_mode == "sum":
            return [dy, dy]
        if self.merge_mode == "mean":
            half = dy * self.dtype.type(0.5)
            return [half, half]
        return [dy * outs[1], dy * outs[0]]

    def _buffers_for(self, i):
        """Arrays lent from pass to pass for layer-direction ``i`` (see
        :func:`rnnkit.engine.forward`).  A forward pass that keeps a cache
        replaces the previous cache, whose arrays it reuses; one that keeps
        none borrows only the input-projection scratch, which no cache holds."""
        return self._buffers.setdefault(i, {})

    def forward(self, x, h0=None, lengths=None, *, masks=None, keep_cache=True, embedding=None):
        """Run the stack over ``x``; see the module docstring for shapes.

        ``masks`` overrides the dropout masks (as returned by
        :meth:`sample_masks`); ``keep_cache=False`` skips what backward needs
        (an inference pass: the cache of the last pass that kept one stays for
        :meth:`backward`, as a ``torch.no_grad()`` pass leaves a pending backward).
        A cached pass keeps a copy of ``x`` when ``x`` is the caller's array, so
        changing it before ``backward`` changes nothing.

        ``embedding``: an :class:`rnnkit.layers.Embedding` whose vectors are
        the input (or a :class:`rnnkit.layers.OneHot`): ``x`` then holds token
        ids, ``(T, B)`` (``(B, T)`` with ``batch_first``, ``(T,)`` unbatched),
        and the result is that of ``layer(embedding(x))``.  The lookup is folded
        into the first layer's input projection (:mod:`rnnkit.tokens`: one
        ``(G, V)`` table per pass instead of a product per token, when the
        vocabulary is the smaller side); :meth:`backward` then fills
        ``embedding.grads`` (an ``Embedding``'s) and returns ``None`` for ``dx``.
        """
        given = x
        if embedding is not None:
            ids, unbatched = self._token_ids(x, embedding)
            if keep_cache and np.may_share_memory(ids, given):
                ids = ids.copy()                         # backward reads them (see below)
            T, B = ids.shape
            if isinstance(embedding, OneHot):
                x = TokenInput(ids, None, vocab_size=embedding.num_embeddings, dtype=self.dtype)
            else:
                x = TokenInput(ids, np.asarray(embedding.params["weight"], dtype=self.dtype))
        else:
            x, unbatched = self._time_major(x)
            if keep_cache and np.may_share_memory(x, given):
                # backward reads the input (dW_ih = dA x): a copy, so that the caller changing the
                # array in between cannot change the gradients (PyTorch refuses such a change)
                x = x.copy()
            T, B, _ = x.shape
        mask = lengths_mask(lengths, T, B)
        states = self._states_in(h0, B, unbatched)
        if masks is None:
            masks = self.sample_masks(T, B)
        else:
            self._check_masks(masks, T, B)
        inp, finals, layers = x, [], []
        for l in range(self.num_layers):
            outs, caches = [], []
            for d in range(self.num_directions):
                i = l * self.num_directions + d
                hs, final, cache = engine.forward(self.cell, self._p(l, d), inp, states[i], mask,
                                                  masks["recurrent"][i], reverse=bool(d),
                                                  keep_cache=keep_cache, buffers=self._buffers_for(i),
                                                  threads=self._threads)
                outs.append(hs)
                caches.append(cache)
                finals.append(final)
            out = self._merge(outs)
            layers.append((outs, caches))
            drop = masks["between"][l]
            inp = out * drop if drop is not None else out
        y = inp
        if keep_cache:                                   # a pass without one leaves the last for backward
            self._cache = dict(layers=layers, masks=masks, mask=mask, unbatched=unbatched, T=T, B=B,
                               embedding=embedding)
        if self.batch_first and not unbatched:
            y = y.transpose(1, 0, 2)
        elif unbatched:
            y = y[:, 0]
        return y, self._states_out(finals, unbatched)

    __call__ = forward

    def backward(self, dy, dh_n=None, *, input_grad=True):
        """BPTT through the last forward pass.

        ``dy`` has ``y``'s shape; ``dh_n`` is the gradient w.r.t. the final state
        (LSTM: a pair ``(dh_n, dc_n)``; either may be ``None``).  Fills
        ``self.grads`` (same keys as ``self.params``) and returns
        ``(dx, dh0)`` (LSTM: ``(dx, (dh0, dc0))``) in the input's layout; after
        ``forward(ids, embedding=emb)``, ``dx`` is ``None`` and the gradient
        w.r.t. the embedding's weight is in ``emb.grads["weight"]``.

        ``input_grad=False``: ``dx`` is not computed (``None``), as PyTorch does
        for an input that does not require grad: one product over all steps
        less (P3 of ``benchmarks/compare_torch.py``: 3.4 GFLOP, about 7% of a
        training step).  The embedding's gradient is computed either way.
        """
        if self._cache is None:
            raise RuntimeError("backward() needs a forward pass with keep_cache=True first")
        c = self._cache
        T, B, unbatched = c["T"], c["B"], c["unbatched"]
        if dy is None:
            raise ValueError("dy is None; pass the gradient w.r.t. the outputs y (np.zeros_like(y) when only "
                             "the final state carries a loss)")
        dy = np.asarray(dy, dtype=self.dtype)
        if unbatched:
            dy = dy[:, None]
        elif self.batch_first:
            dy = dy.transpose(1, 0, 2)
        if dy.shape != (T, B, self.output_size):
            raise ValueError(f"dy has shape {dy.shape} (time-major) but the output was {(T, B, self.output_size)}")
        n = self.num_layers * self.num_directions
        dfinal = self._final_grads_in(dh_n, B, unbatched)
        dstate0 = [None] * n
        self.grad_norms_ = {}                            # this pass's, or none (never an earlier pass's)
        dout = dy
        for l in range(self.num_layers - 1, -1, -1):
            outs, caches = c["layers"][l]
            drop = c["masks"]["between"][l]
            if drop is not None:
                dout = dout * drop
            dhs = self._unmerge(dout, outs)
            din = None
            for d in range(self.num_directions):
                i = l * self.num_directions + d
                s = _suffix(l, d)
                norms = np.empty(T, self.dtype) if self.record_grad_norms else None
                dx, ds0, g = engine.backward(self.cell, self._p(l, d), caches[d], dhs[d], tuple(dfinal[i]),
                                             dh_norms=norms, buffers=self._buffers_for(i),
                                             need_dx=input_grad or l > 0, threads=self._threads)
                if norms is not None:
                    self.grad_norms_["l" + s[2:]] = norms
                for key, value in g.items():
                    self.grads[self.cell.param_names[key] + s] = value
                dstate0[i] = ds0
                din = dx if din is None else (din if dx is None else din + dx)
            dout = din
        dx = dout
        if c["embedding"] is not None:                   # dx: the gradient w.r.t. the embedding's weight
            if dx is not None:                           # (None for one-hot vectors)
                c["embedding"].set_grad(dx.astype(c["embedding"].dtype, copy=False))
            return None, self._states_out(dstate0, unbatched)
        if dx is None:                                   # input_grad=False
            return None, self._states_out(dstate0, unbatched)
        if unbatched:
            dx = dx[:, 0]
        elif self.batch_first:
            dx = dx.transpose(1, 0, 2)
        return dx, self._states_out(dstate0, unbatched)

    def step(self, x_t, state=None):
        """One time step for streaming inference (no dropout, nothing cached).

        ``x_t`` ``(B, D)`` (or ``(D,)``); ``state`` as returned by the last call or
        ``None``.  Returns ``(y_t, state)`` with ``y_t`` ``(B, F)``.  Unidirectional
        layers only: the reverse direction needs the whole sequence.
        """
        if self.bidirectional:
            raise ValueError("step() streams one direction only; use forward() on the whole sequence "
                             "for a bidirectional layer")
        x_t = np.asarray(x_t)
        single = x_t.ndim == 1
        xb = x_t[None, None, :] if single else x_t[None]
        if self.batch_first:
            xb = xb.transpose(1, 0, 2)
        training, self.training = self.training, False
        try:
            y, state = self.forward(xb, state if not single else _unsqueeze_state(state), keep_cache=False)
        finally:
            self.training = training
        y = y[:, 0] if self.batch_first else y[0]
        if single:
            return y[0], _squeeze_state(state)
        return y, state

    def __repr__(self):
        opts = [f"{self.input_size}", f"{self.hidden_size}"]
        if self.num_layers != 1:
            opts.append(f"num_layers={self.num_layers}")
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("merge_mode", "concat"),
                              ("recurrent_dropout", 0.0), ("init", "default")):
            v = getattr(self, name)
            if v != default:
                opts.append(f"{name}={v!r}")
        if self.dtype != np.float32:
            opts.append(f"dtype={self.dtype}")
        return f"{type(self).__name__}({', '.join(opts)})"


def _proj_size(proj_size, hidden_size):
    """``proj_size`` checked as PyTorch checks it: 0 (no projection) or ``0 < P < hidden_size``."""
    P = count("proj_size", proj_size)
    if P and P >= positive_int("hidden_size", hidden_size):
        raise ValueError(f"proj_size must be smaller than hidden_size, got proj_size={P} and "
                         f"hidden_size={hidden_size}; "
                         "use 0 < proj_size < hidden_size, or 0 for no projection")
    return P


def _width_name(layer, S):
    """What a state width is called in messages: ``hidden_size``, or ``proj_size``."""
    return "hidden_size" if S == layer.hidden_size else "proj_size"


def _unsqueeze_state(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, None] for s in state)
    return state[:, None]


def _squeeze_state(state):
    if isinstance(state, tuple):
        return tuple(s[:, 0] for s in state)
    return state[:, 0]


class RNN(Recurrent):
    """Elman RNN, ``h_t = tanh|relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``."""

    OWN_CONFIG_KEYS = ("nonlinearity",)

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, **kwargs):
        self.nonlinearity = choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(ElmanCell(nonlinearity), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, **kwargs)


class LSTM(Recurrent):
    """LSTM with gates ``i, f, g, o``; ``forget_bias`` (default 1.0) starts the
    forget gate open under the default initialisation.

    ``proj_size=P`` (``0 < P < hidden_size``): PyTorch's LSTM with projections,
    ``h_t = W_hr (o ∘ tanh(c_t))`` of width ``P``
    (:class:`rnnkit.cells.ProjectedLSTMCell`; ``W_hr`` starts Glorot-uniform
    under ``init="default"``)."""

    OWN_CONFIG_KEYS = ("forget_bias",)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, forget_bias=1.0, **kwargs):
        self.forget_bias = float(forget_bias)
        proj_size = _proj_size(proj_size, hidden_size)
        cell = ProjectedLSTMCell(proj_size) if proj_size else LSTMCell()
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, **kwargs)

    def _init_gate_biases(self):
        H = self.hidden_size
        for k, v in self.params.items():
            if k.startswith("bias_ih"):
                v[H:2 * H] = self.forget_bias


class GRU(Recurrent):
    """GRU with gates ``r, z, n``.  ``reset_after=True`` is PyTorch's form,
    ``False`` the seeds' (Cho 2014).  ``reset_bias`` (default 0) sets the
    reset gate's starting bias (−1 is a common choice)."""

    OWN_CONFIG_KEYS = ("reset_after", "reset_bias")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, reset_after=True, reset_bias=0.0, **kwargs):
        self.reset_after = bool(reset_after)
        self.reset_bias = float(reset_bias)
        super().__init__(GRUCell(self.reset_after), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, **kwargs)

    def _init_gate_biases(self):
        H = self.hidden_size
        for k, v in self.params.items():
            if k.startswith("bias_ih"):
                v[:H] = self.reset_bias


class SimpleGRU(Recurrent):
    """The seeds' simplified GRU (update gate only, gates ``z, n``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, **kwargs):
        super().__init__(SimpleGRUCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, **kwargs)


class LayerNormLSTM(Recurrent):
    """Layer-normalised LSTM (Ba, Kiros and Hinton 2016): the input and
    recurrent products and the cell state normalised per sequence
    (:class:`rnnkit.cells.LayerNormLSTMCell`); PyTorch's LSTM arguments,
    ``forget_bias`` as :class:`LSTM` (it sets ``bias_ih``'s forget block, added
    after the normalisation).  Parameters beyond PyTorch's four per layer and
    direction: ``layernorm_ih_weight``, ``layernorm_ih_bias``,
    ``layernorm_hh_weight``, ``layernorm_hh_bias`` ``(4H,)``,
    ``layernorm_c_weight``, ``layernorm_c_bias`` ``(H,)`` (gains start at 1,
    biases at 0; ``bias=False`` drops ``bias_ih``/``bias_hh`` only).  Runs on
    the reference loop (:mod:`rnnkit.engine`)."""

    OWN_CONFIG_KEYS = ("forget_bias",)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, forget_bias=1.0, **kwargs):
        self.forget_bias = float(forget_bias)
        super().__init__(LayerNormLSTMCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, **kwargs)

    _init_gate_biases = LSTM._init_gate_biases


class LayerNormGRU(Recurrent):
    """Layer-normalised GRU, reset after the product (PyTorch's form; Ba, Kiros
    and Hinton 2016): the input and recurrent products normalised per sequence
    (:class:`rnnkit.cells.LayerNormGRUCell`); PyTorch's GRU arguments,
    ``reset_bias`` as :class:`GRU`.  Parameters beyond PyTorch's four per
    layer and direction: ``layernorm_ih_weight``, ``layernorm_ih_bias``,
    ``layernorm_hh_weight``, ``layernorm_hh_bias`` ``(3H,)`` (gains start at 1,
    biases at 0).  Runs on the reference loop (:mod:`rnnkit.engine`)."""

    OWN_CONFIG_KEYS = ("reset_bias",)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, reset_after=True, reset_bias=0.0, **kwargs):
        if not reset_after:
            raise ValueError("LayerNormGRU is the reset-after GRU only (the normalised 3H recurrent product "
                             "needs h, not r ∘ h); leave reset_after=True or use rnnkit.GRU(reset_after=False)")
        self.reset_after = True
        self.reset_bias = float(reset_bias)
        super().__init__(LayerNormGRUCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, **kwargs)

    _init_gate_biases = GRU._init_gate_biases
