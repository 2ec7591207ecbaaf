"""Export rnnkit layers and :class:`~rnnkit.models.TokenRNN` to ONNX.

Opset :data:`OPSET` (14) with the standard ``RNN`` / ``LSTM`` / ``GRU`` operators;
``onnx`` is imported only when :func:`to_onnx` runs.

Gate blocks are reordered from PyTorch/rnnkit to ONNX order:
LSTM ``i, f, g, o`` -> ``i, o, f, c``; GRU ``r, z, n`` -> ``z, r, h``.  ``B`` is
``[Wb; Rb]`` (zeros for a layer without bias).  A reset-after GRU (PyTorch's) is
``linear_before_reset=1``, the reset-before GRU ``0``.  The simplified GRU has no
ONNX operator and is refused.

Graph of a recurrent layer (time-major unless ``batch_first``)::

    inputs   x (T, B, D) float, lengths (B,) int32
    outputs  y (T, B, F), h_n (L*K, B, H) [, c_n (L*K, B, H) for LSTM]

Graph of a TokenRNN::

    inputs   ids (B, T) int64, lengths (B,) int32
    outputs  logits (B, T, V), probs (B, T, V) (Softmax), h_n [, c_n]

Each layer of the stack is one operator (``direction="bidirectional"`` when
``K=2``); its ``Y`` ``(T, K, B, H)`` is merged by Transpose+Reshape (concat)
or Split/Squeeze then Add / Mul (sum, mean, mul).  Steps past a sequence's
length give zeros in ``y`` (as rnnkit does) and ``h_n`` holds the last valid step.
Initial states are zero; dropout is off (inference graph).
"""
from __future__ import annotations

import numpy as np

from ..models.token_rnn import TokenRNN
from ..recurrent import GRU, LSTM, RNN, Recurrent, SimpleGRU

OPSET = 14
_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover
        raise ImportError("ONNX export needs the onnx package: pip install 'rnnkit[onnx]'") from None
    return onnx


def _op_type(layer):
    if isinstance(layer, SimpleGRU):
        raise ValueError("the simplified GRU (SimpleGRU) has no ONNX operator; export an RNN, LSTM or GRU")
    if isinstance(layer, LSTM):
        return "LSTM"
    if isinstance(layer, GRU):
        return "GRU"
    if isinstance(layer, RNN):
        return "RNN"
    raise ValueError(f"{type(layer).__name__} cannot be exported to ONNX")


def _reorder(a, op, H):
    blocks = [a[i * H:(i + 1) * H] for i in range(a.shape[0] // H)]
    return np.concatenate([blocks[i] for i in _ORDER[op]], axis=0)


class _Builder:
    def __init__(self, dtype):
        self.onnx = _onnx()
        self.nodes, self.inits, self.n = [], [], 0
        self.dtype = np.dtype(dtype)

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base, array):
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, n_out=1, outputs=None, **attrs):
        outputs = outputs or [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, **attrs))
        return outputs if len(outputs) > 1 else outputs[0]


def _recurrent(b, layer, x, lengths):
    """Append ``layer`` (time-major input ``x``) to the graph; returns
    (y name (T, B, F), [h_n parts per layer], [c_n parts])."""
    op = _op_type(layer)
    H, K = layer.hidden_size, layer.num_directions
    hs, cs = [], []
    for l in range(layer.num_layers):
        W, R, Bs = [], [], []
        for d in range(K):
            s = f"_l{l}" + ("_reverse" if d else "")
            p = layer.params
            W.append(_reorder(p["weight_ih" + s], op, H))
            R.append(_reorder(p["weight_hh" + s], op, H))
            if layer.bias:
                Bs.append(np.concatenate([_reorder(p["bias_ih" + s], op, H), _reorder(p["bias_hh" + s], op, H)]))
            else:
                Bs.append(np.zeros(2 * W[-1].shape[0], layer.dtype))
        attrs = dict(hidden_size=H, direction="bidirectional" if K == 2 else "forward")
        if op == "GRU":
            attrs["linear_before_reset"] = int(layer.reset_after)
        if op == "RNN":
            attrs["activations"] = [layer.nonlinearity.capitalize()] * K
        inputs = [x, b.const(f"W{l}", np.stack(W)), b.const(f"R{l}", np.stack(R)), b.const(f"B{l}", np.stack(Bs)),
                  lengths]
        outs = b.node(op, inputs, 3 if op == "LSTM" else 2, **attrs)
        Y = outs[0]
        hs.append(outs[1])
        if op == "LSTM":
            cs.append(outs[2])
        if K == 1:
            x = b.node("Squeeze", [Y, b.const("axis", np.array([1], np.int64))])
        elif layer.merge_mode == "concat":
            t = b.node("Transpose", [Y], perm=[0, 2, 1, 3])
            x = b.node("Reshape", [t, b.const("shape", np.array([0, 0, -1], np.int64))])
        else:
            f, r = b.node("Split", [Y], 2, axis=1)
            ax = b.const("axis", np.array([1], np.int64))
            f, r = b.node("Squeeze", [f, ax]), b.node("Squeeze", [r, ax])
            if layer.merge_mode == "mul":
                x = b.node("Mul", [f, r])
            else:
                x = b.node("Add", [f, r])
                if layer.merge_mode == "mean":
                    x = b.node("Mul", [x, b.const("half", np.array(0.5, layer.dtype))])
    return x, hs, cs


def to_onnx(obj, path=None, *, opset=OPSET):
    """An ``onnx.ModelProto`` for ``obj`` (an RNN/LSTM/GRU layer or a TokenRNN),
    checked with ``onnx.checker``; written to ``path`` when given."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    layer = obj.rnn if isinstance(obj, TokenRNN) else obj
    if not isinstance(layer, Recurrent):
        raise ValueError(f"to_onnx exports recurrent layers and TokenRNN models, not {type(obj).__name__}")
    _op_type(layer)
    b = _Builder(layer.dtype)
    fl = TensorProto.DOUBLE if layer.dtype == np.float64 else TensorProto.FLOAT
    H, n = layer.hidden_size, layer.num_layers * layer.num_directions
    lengths = helper.make_tensor_value_info("lengths", TensorProto.INT32, ["B"])
    if isinstance(obj, TokenRNN):
        V = obj.vocab_size
        inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["B", "T"]), lengths]
        table = obj.embed.params["weight"] if obj.embed is not None else np.eye(V, dtype=layer.dtype)
        e = b.node("Gather", [b.const("embedding", table), "ids"], axis=0)   # (B, T, E)
        x = b.node("Transpose", [e], perm=[1, 0, 2])
        y, hs, cs = _recurrent(b, layer, x, "lengths")
        yb = b.node("Transpose", [y], perm=[1, 0, 2])
        m = b.node("MatMul", [yb, b.const("head_weight_T", obj.head.params["weight"].T.copy())])
        b.node("Add", [m, b.const("head_bias", obj.head.params["bias"])], outputs=["logits"])
        b.node("Softmax", ["logits"], outputs=["probs"], axis=-1)
        outputs = [helper.make_tensor_value_info("logits", fl, ["B", "T", V]),
                   helper.make_tensor_value_info("probs", fl, ["B", "T", V])]
    else:
        D = layer.input_size
        shape = ["B", "T", D] if layer.batch_first else ["T", "B", D]
        inputs = [helper.make_tensor_value_info("x", fl, shape), lengths]
        x = b.node("Transpose", ["x"], perm=[1, 0, 2]) if layer.batch_first else "x"
        y, hs, cs = _recurrent(b, layer, x, "lengths")
        if layer.batch_first:
            b.node("Transpose", [y], outputs=["y"], perm=[1, 0, 2])
        else:
            b.node("Identity", [y], outputs=["y"])
        F = layer.output_size
        outputs = [helper.make_tensor_value_info("y", fl, ["B", "T", F] if layer.batch_first else ["T", "B", F])]
    b.node("Concat", hs, outputs=["h_n"], axis=0)
    outputs.append(helper.make_tensor_value_info("h_n", fl, [n, "B", H]))
    if cs:
        b.node("Concat", cs, outputs=["c_n"], axis=0)
        outputs.append(helper.make_tensor_value_info("c_n", fl, [n, "B", H]))
    graph = helper.make_graph(b.nodes, f"rnnkit_{type(obj).__name__}", inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="rnnkit")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, path)
    return model
