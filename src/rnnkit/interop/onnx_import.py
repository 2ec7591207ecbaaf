"""Run ONNX graphs of recurrent networks with rnnkit.

:func:`from_onnx` reads a graph (a path or an ``onnx.ModelProto``), turns every
``RNN`` / ``LSTM`` / ``GRU`` node into an rnnkit layer (gates reordered back
from ONNX ``i, o, f, c`` / ``z, r, h`` to ``i, f, g, o`` / ``r, z, n``;
``linear_before_reset=1`` -> ``GRU(reset_after=True)``, ``0`` -> ``reset_after=False``)
and evaluates the rest of the graph in NumPy.  The operators around the
recurrent ones are those PyTorch's exporter and rnnkit's writer emit:
see :data:`SUPPORTED`.  Any other operator, or a recurrent option rnnkit lacks
(custom activations, ``clip``, ``input_forget``, peepholes, ``direction="reverse"``),
raises :class:`UnsupportedOnnxError` naming it, before anything runs.
A recurrent node's ``layout=1`` (batch-major ``X``, ``initial_h`` / ``initial_c``,
``Y``, ``Y_h``, ``Y_c``) is honoured; a ``sequence_lens`` of 0 gives zeros in
``Y`` / ``Y_h`` / ``Y_c``, as onnxruntime does.  Operators take the input or the
attribute form of their opset (``Slice`` bounds, ``Squeeze`` / ``Reduce*`` axes).
"""
from __future__ import annotations

import numpy as np

from ..recurrent import GRU, LSTM, RNN

RECURRENT = ("RNN", "LSTM", "GRU")
SUPPORTED = RECURRENT + ("Gather", "MatMul", "Add", "Sub", "Mul", "Div", "Gemm", "Softmax", "LogSoftmax",
                         "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Shape",
                         "Constant", "ConstantOfShape", "Cast", "Identity", "Tanh", "Sigmoid", "Relu", "Flatten",
                         "Range", "Less", "Where", "Expand", "ReduceSum", "ReduceMax", "ReduceMin",
                         "ReduceMean", "ReduceProd")
_REDUCE = {"ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min, "ReduceMean": np.mean,
           "ReduceProd": np.prod}
_FROM_ONNX = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


class UnsupportedOnnxError(NotImplementedError):
    """An ONNX graph uses an operator or option rnnkit cannot import."""


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _reorder(a, op, H):
    blocks = [a[i * H:(i + 1) * H] for i in range(a.shape[0] // H)]
    return np.concatenate([blocks[i] for i in _FROM_ONNX[op]], axis=0)


class OnnxGraph:
    """An imported graph.  ``run(feeds)`` -> ``{output name: array}``;
    ``layers`` maps each recurrent node's output name to its rnnkit layer."""

    def __init__(self, model):
        from onnx import numpy_helper

        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        bad = sorted({n.op_type for n in g.node if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx")})
        if bad:
            raise UnsupportedOnnxError(f"the ONNX graph uses operators rnnkit cannot import: {', '.join(bad)}; "
                                       f"supported: {', '.join(SUPPORTED)}")
        self.consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in g.node:
            if n.op_type == "Constant":
                self.consts[n.output[0]] = self._constant(n)
        self.nodes = list(g.node)
        self.input_names = [i.name for i in g.input if i.name not in self.consts]
        self.output_names = [o.name for o in g.output]
        self.layers = {}
        for n in self.nodes:
            if n.op_type in RECURRENT:
                self.layers[n.output[0] or n.name] = self._layer(n)

    @staticmethod
    def _constant(n):
        from onnx import numpy_helper
        a = _attrs(n)
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for k, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                      ("value_ints", np.int64)):
            if k in a:
                return np.array(a[k], dt)
        raise UnsupportedOnnxError(f"Constant node {n.name!r} with attributes {sorted(a)} is not supported")

    def _static(self, n, i, what):
        if len(n.input) <= i or not n.input[i]:
            return None
        name = n.input[i]
        if name not in self.consts:
            raise UnsupportedOnnxError(f"{n.op_type} node {n.name!r}: its {what} ({name!r}) is computed in the "
                                       "graph; rnnkit imports recurrent weights stored as initializers or Constants")
        return self.consts[name]

    def _layer(self, n):
        op, a = n.op_type, _attrs(n)
        where = f"{op} node {n.name!r}"
        direction = a.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction not in ("forward", "bidirectional"):
            raise UnsupportedOnnxError(f"{where}: direction={direction!r} is not supported (forward or bidirectional)")
        if "clip" in a:
            raise UnsupportedOnnxError(f"{where}: the 'clip' attribute is not supported")
        if a.get("input_forget", 0):
            raise UnsupportedOnnxError(f"{where}: input_forget=1 (coupled gates) is not supported")
        acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
        K = 2 if direction == "bidirectional" else 1
        kwargs = {}
        if op == "RNN":
            acts = acts or ["Tanh"] * K
            if len(set(acts)) != 1 or acts[0] not in ("Tanh", "Relu"):
                raise UnsupportedOnnxError(f"{where}: activations {acts} are not supported (Tanh or Relu)")
            kwargs["nonlinearity"] = acts[0].lower()
        elif acts and acts != _DEFAULT_ACTS[op] * K:
            raise UnsupportedOnnxError(f"{where}: activations {acts} are not supported; only the defaults")
        if op == "GRU":
            kwargs["reset_after"] = bool(a.get("linear_before_reset", 0))
        W, R, B = self._static(n, 1, "W"), self._static(n, 2, "R"), self._static(n, 3, "B")
        P = self._static(n, 7, "P") if op == "LSTM" else None
        if P is not None and np.any(P):
            raise UnsupportedOnnxError(f"{where}: peephole weights (P) are not supported")
        H = int(a.get("hidden_size", R.shape[-1]))
        dtype = np.float64 if W.dtype == np.float64 else np.float32
        cls = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[op]
        layer = cls(W.shape[2], H, bidirectional=K == 2, dtype=dtype, **kwargs)
        GH = W.shape[1]
        state = {}
        for d in range(K):
            s = "_l0" + ("_reverse" if d else "")
            state["weight_ih" + s] = _reorder(W[d], op, H)
            state["weight_hh" + s] = _reorder(R[d], op, H)
            b = B[d] if B is not None else np.zeros(2 * GH, dtype)
            state["bias_ih" + s] = _reorder(b[:GH], op, H)
            state["bias_hh" + s] = _reorder(b[GH:], op, H)
        layer.load_state_dict(state)
        layer.layout_ = int(a.get("layout", 0))
        return layer.eval()

    # -- evaluation -------------------------------------------------------------------------
    def run(self, feeds):
        """Evaluate the graph on ``feeds`` (``{input name: array}``)."""
        missing = [k for k in self.input_names if k not in feeds]
        if missing:
            raise ValueError(f"missing graph inputs {missing}; the graph takes {self.input_names}")
        env = dict(self.consts)
        env.update({k: np.asarray(v) for k, v in feeds.items()})
        for n in self.nodes:
            if n.op_type == "Constant":
                continue
            ins = [env[i] if i else None for i in n.input]
            outs = self._eval(n, ins)
            for name, v in zip(n.output, outs):
                if name:
                    env[name] = v
        return {k: env[k] for k in self.output_names}

    __call__ = run

    def _recurrent(self, n, ins):
        layer = self.layers[n.output[0] or n.name]
        x = ins[0]
        h0 = ins[5] if len(ins) > 5 else None
        c0 = ins[6] if len(ins) > 6 and isinstance(layer, LSTM) else None
        if layer.layout_:     # batch-major: X (B, T, D), initial_h / initial_c (B, K, H)
            x = x.transpose(1, 0, 2)
            h0, c0 = (None if s is None else np.swapaxes(s, 0, 1) for s in (h0, c0))
        T, B = x.shape[:2]
        lengths = ins[4] if len(ins) > 4 and ins[4] is not None else None
        empty = None
        if lengths is not None and np.any(np.asarray(lengths) == 0):   # onnxruntime: zeros in Y, Y_h, Y_c
            empty = np.asarray(lengths) == 0
            lengths = np.where(empty, 1, lengths)
        if isinstance(layer, LSTM):
            if h0 is not None or c0 is not None:
                shape = (layer.num_directions, B, layer.hidden_size)
                h0 = (h0 if h0 is not None else np.zeros(shape, layer.dtype),
                      c0 if c0 is not None else np.zeros(shape, layer.dtype))
        y, h = layer(x.astype(layer.dtype, copy=False), h0, lengths=lengths, keep_cache=False)
        K, H = layer.num_directions, layer.hidden_size
        Y = y.reshape(T, B, K, H).transpose(0, 2, 1, 3)
        hs = list(h) if isinstance(h, tuple) else [h]
        if empty is not None:
            Y[:, :, empty] = 0
            for s in hs:
                s[:, empty] = 0
        if layer.layout_:
            Y = Y.transpose(2, 0, 1, 3)
            hs = [s.transpose(1, 0, 2) for s in hs]
        return [Y] + hs

    def _eval(self, n, ins):  # noqa: C901 - one branch per operator
        op, a = n.op_type, _attrs(n)
        if op in RECURRENT:
            return self._recurrent(n, ins)
        if op == "Gather":
            return [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
        if op == "MatMul":
            return [np.matmul(ins[0], ins[1])]
        if op in ("Add", "Sub", "Mul", "Div"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
            r = f(ins[0], ins[1])
            if op == "Div" and ins[0].dtype.kind in "iu":
                r = (ins[0] // ins[1]).astype(ins[0].dtype)
            return [r.astype(np.result_type(ins[0], ins[1]), copy=False)]
        if op == "Gemm":
            A = ins[0].T if a.get("transA", 0) else ins[0]
            Bm = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ Bm)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            return [y.astype(ins[0].dtype)]
        if op in ("Softmax", "LogSoftmax"):
            axis = a.get("axis", -1 if (self.opset or 13) >= 13 else 1)
            x = ins[0]
            if (self.opset or 13) < 13:  # old semantics: flatten to 2-D at axis
                shape = x.shape
                x = x.reshape(int(np.prod(shape[:axis])), -1)
                axis = 1
            z = x - x.max(axis=axis, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=axis, keepdims=True)
            y = e / s if op == "Softmax" else z - np.log(s)
            return [y.reshape(ins[0].shape)]
        if op == "Transpose":
            return [np.transpose(ins[0], a.get("perm"))]
        if op == "Reshape":
            shape = [int(s) for s in ins[1]]
            if not a.get("allowzero", 0):
                shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return [ins[0].reshape(shape)]
        if op in ("Squeeze", "Unsqueeze"):
            axes = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("axes")
            if op == "Squeeze":
                return [np.squeeze(ins[0], axis=tuple(int(x) for x in axes) if axes is not None else None)]
            return [np.expand_dims(ins[0], tuple(int(x) for x in axes))]
        if op == "Concat":
            return [np.concatenate(ins, axis=a["axis"])]
        if op == "Split":
            axis = a.get("axis", 0)
            split = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("split")
            if split is None:              # equal parts, the last smaller when uneven (opset 18's num_outputs)
                size = -(-ins[0].shape[axis] // len(n.output))
                return list(np.split(ins[0], [size * i for i in range(1, len(n.output))], axis=axis))
            return list(np.split(ins[0], np.cumsum(split)[:-1], axis=axis))
        if op == "Slice":
            return [_slice(ins, a)]
        if op == "Shape":
            s = np.array(ins[0].shape, np.int64)
            return [s[a.get("start", 0):a.get("end", None)]]
        if op == "ConstantOfShape":
            from onnx import numpy_helper
            v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            return [np.full(tuple(int(s) for s in ins[0]), v.reshape(-1)[0], dtype=v.dtype)]
        if op == "Cast":
            from onnx import helper
            return [ins[0].astype(helper.tensor_dtype_to_np_dtype(a["to"]))]
        if op == "Identity":
            return [ins[0]]
        if op == "Tanh":
            return [np.tanh(ins[0])]
        if op == "Sigmoid":
            return [(1 / (1 + np.exp(-ins[0]))).astype(ins[0].dtype)]
        if op == "Relu":
            return [np.maximum(ins[0], 0).astype(ins[0].dtype)]
        if op == "Flatten":
            axis = a.get("axis", 1)
            return [ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)]
        if op == "Range":
            start, limit, delta = (np.asarray(v).reshape(-1)[0] for v in ins[:3])
            return [np.arange(start, limit, delta).astype(np.result_type(ins[0], ins[1], ins[2]))]
        if op == "Less":
            return [np.less(ins[0], ins[1])]
        if op == "Where":
            return [np.where(ins[0], ins[1], ins[2]).astype(np.result_type(ins[1], ins[2]), copy=False)]
        if op == "Expand":                     # broadcast to the shape (either side may be the larger)
            shape = np.broadcast_shapes(ins[0].shape, tuple(int(s) for s in ins[1]))
            return [np.broadcast_to(ins[0], shape).copy()]
        if op in _REDUCE:
            return [_reduce(op, ins, a)]
        raise UnsupportedOnnxError(f"operator {op} is not supported")  # pragma: no cover


def _slice(ins, a):
    """``Slice``: ``starts`` / ``ends`` / ``axes`` / ``steps`` are inputs from opset 10,
    attributes (no steps) before."""
    x = ins[0]
    if len(ins) > 1:
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else None
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else None
    else:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    sl = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        sl[int(ax)] = slice(int(s), int(e), int(st))
    return x[tuple(sl)]


def _reduce(op, ins, a):
    """``Reduce*``: ``axes`` is an input from opset 13 (ReduceSum) / 18 (the
    others), an attribute before; none (or empty) reduces every axis unless
    ``noop_with_empty_axes=1``."""
    axes = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("axes")
    if axes is None or len(axes) == 0:
        if a.get("noop_with_empty_axes", 0):
            return ins[0]
        axes = None
    else:
        axes = tuple(int(x) for x in np.asarray(axes).reshape(-1))
    r = _REDUCE[op](ins[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))
    return np.asarray(r).astype(ins[0].dtype, copy=False)


def from_onnx(model):
    """Import an ONNX model (a path or ``onnx.ModelProto``) as an :class:`OnnxGraph`."""
    try:
        import onnx
    except ImportError:  # pragma: no cover
        raise ImportError("ONNX import needs the onnx package: pip install 'rnnkit[onnx]'") from None
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(str(model))
        except Exception as exc:  # noqa: BLE001 - onnx raises several kinds
            raise ValueError(f"{model}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    return OnnxGraph(model)
