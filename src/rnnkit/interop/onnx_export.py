"""Export rnnkit layers, TokenRNN and trained models (language model, classifier, tagger) to ONNX.

Opset :data:`OPSET` (14) by default, any of :data:`OPSET_MIN` to :data:`OPSET_MAX`
(7 to 21) on request, with the standard ``RNN`` / ``LSTM`` / ``GRU`` operators
(Squeeze / Unsqueeze / ReduceSum axes as attributes below 13, ReduceMax axes as
an input from 18, Slice bounds as attributes below 10; the classifier's mean and
max pooling need opset 11); ``onnx`` is imported only when :func:`to_onnx` runs.

Gate blocks are reordered from PyTorch/rnnkit to ONNX order:
LSTM ``i, f, g, o`` -> ``i, o, f, c``; GRU ``r, z, n`` -> ``z, r, h``.  ``B`` is
``[Wb; Rb]`` (zeros for a layer without bias).  A reset-after GRU (PyTorch's) is
``linear_before_reset=1``, the reset-before GRU ``0``.  The simplified GRU has no
ONNX operator and is refused.

Graph of a recurrent layer (time-major unless ``batch_first``)::

    inputs   x (T, B, D) float, lengths (B,) int32
    outputs  y (T, B, F), h_n (L*K, B, H) [, c_n (L*K, B, H) for LSTM]

Graph of a TokenRNN (also a trained ``LanguageModel``: its ``net_``)::

    inputs   ids (B, T) int64, lengths (B,) int32
    outputs  logits (B, T, V), probs (B, T, V) (Softmax), h_n [, c_n]

Graph of a trained ``SequenceTagger`` / ``SequenceClassifier``::

    inputs   ids (B, T) int64 (token models) or x (B, T, D) raw features (vector
             models: the training set's standardisation (x - mean) / scale is in
             the graph), lengths (B,) int32
    outputs  tagger: logits, probs (B, T, C); classifier: logits, probs (B, C), h_n [, c_n]
    classifier pooling: last = the last layer's Y_h (each direction's state at
             the sequence's own last step), concatenated; mean = ReduceSum of
             the steps < length / length; max = ReduceMax of Where(step < length, y, -inf)
    metadata_props["classes"]: the class labels (JSON), in column order

A trained ``LanguageModel`` also writes ``metadata_props["vocab"]``: its
vocabulary's config (JSON: ``level``, ``lower``, ``unknown``, ``tokens``, the
token of id ``i`` at index ``i``; no tokens at the byte level, where the id is
the byte), which ``rnnkit.data.vocab.Vocabulary.from_config`` rebuilds.  The
export command does the same for text classifier and tagger runs.

Each layer of the stack is one operator (``direction="bidirectional"`` when
``K=2``); its ``Y`` ``(T, K, B, H)`` is merged by Transpose+Reshape (concat)
or Split/Squeeze then Add / Mul (sum, mean, mul).  Steps past a sequence's
length give zeros in ``y`` (as rnnkit does) and ``h_n`` holds the last valid step.
Initial states are zero unless ``initial_states=True`` adds the inputs ``h0``
(and ``c0``) ``(L*K, B, H)``, sliced per layer into each operator's
``initial_h`` / ``initial_c``.  Dropout is off (inference graph).  The graph is
float32 unless ``dtype="float64"`` (ONNX Runtime's CPU kernels for RNN, LSTM and
GRU run float32 only, so float64 models are cast by default).
"""
from __future__ import annotations

import numpy as np

from ..token_rnn import TokenRNN
from ..recurrent import GRU, LSTM, RNN, Recurrent, SimpleGRU

OPSET = 14
OPSET_MIN, OPSET_MAX = 7, 21   # the opsets whose operator forms to_onnx writes (tested with onnxruntime)
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
        if layer.proj_size:
            raise ValueError(f"ONNX's LSTM has no projection (proj_size={layer.proj_size}); export an LSTM "
                             "with proj_size=0")
        return "LSTM"
    if isinstance(layer, GRU):
        return "GRU"
    if isinstance(layer, RNN):
        return "RNN"
    raise ValueError(f"{type(layer).__name__} cannot be exported to ONNX")


def _reorder(a, op, H):
    blocks = [a[i * H:(i + 1) * H] for i in range(a.shape[0] // H)]
    return np.concatenate([blocks[i] for i in _ORDER[op]], axis=0)


def _check_opset(opset):
    """``opset`` as an int in ``[OPSET_MIN, OPSET_MAX]``."""
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not OPSET_MIN <= opset <= OPSET_MAX:
        raise ValueError(f"ONNX export writes opsets {OPSET_MIN} to {OPSET_MAX}, not {opset!r}; "
                         f"pass opset= in that range (default {OPSET})")
    return int(opset)


class _Builder:
    """Nodes and initializers of one graph, in the operator forms of ``opset``."""

    def __init__(self, dtype, opset=OPSET):
        self.onnx = _onnx()
        self.opset = opset
        self.nodes, self.inits, self.n = [], [], 0
        self.dtype = np.dtype(dtype)
        self.tensor_type = self.onnx.TensorProto.DOUBLE if self.dtype == np.float64 else self.onnx.TensorProto.FLOAT

    def cast(self, array):
        """``array`` in the graph's float type."""
        return np.asarray(array, self.dtype)

    def slice0(self, name, start, stop):
        """``name[start:stop]`` along axis 0 (bounds as attributes below opset 10)."""
        if self.opset < 10:
            return self.node("Slice", [name], starts=[start], ends=[stop], axes=[0])
        return self.node("Slice", [name, self.const("start", np.array([start], np.int64)),
                                   self.const("stop", np.array([stop], np.int64)),
                                   self.const("axis", np.array([0], np.int64))])

    def _with_axes(self, op, name, axes, since, **attrs):
        """``op`` over ``axes``: an input from opset ``since``, an attribute before."""
        if self.opset < since:
            return self.node(op, [name], axes=list(axes), **attrs)
        return self.node(op, [name, self.const("axis", np.array(axes, np.int64))], **attrs)

    def squeeze(self, name, axes):
        return self._with_axes("Squeeze", name, axes, 13)

    def unsqueeze(self, name, axes):
        return self._with_axes("Unsqueeze", name, axes, 13)

    def reduce(self, op, name, axes, keepdims):
        """``ReduceSum`` (axes an input from opset 13) or ``ReduceMax`` (from 18)."""
        return self._with_axes(op, name, axes, 13 if op == "ReduceSum" else 18, keepdims=keepdims)

    def split2(self, name, axis):
        """Two equal halves along ``axis`` (``num_outputs`` is required from opset 18)."""
        extra = {"num_outputs": 2} if self.opset >= 18 else {}
        return self.node("Split", [name], 2, axis=axis, **extra)

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base, array):
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.array(array, order="C"), name))   # keeps 0-d scalars 0-d
        return name

    def node(self, op, inputs, n_out=1, outputs=None, **attrs):
        outputs = outputs or [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, **attrs))
        return outputs if len(outputs) > 1 else outputs[0]


def _recurrent(b, layer, x, lengths, h0=None, c0=None):
    """Append ``layer`` (time-major input ``x``) to the graph; returns
    (y name (T, B, F), [h_n parts per layer (K, B, H)], [c_n parts]).
    ``h0`` / ``c0``: names of ``(L*K, B, H)`` initial states, sliced per layer."""
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
                Bs.append(np.zeros(2 * W[-1].shape[0]))
        attrs = dict(hidden_size=H, direction="bidirectional" if K == 2 else "forward")
        if op == "GRU":
            attrs["linear_before_reset"] = int(layer.reset_after)
        if op == "RNN":
            attrs["activations"] = [layer.nonlinearity.capitalize()] * K
        inputs = [x, b.const(f"W{l}", b.cast(np.stack(W))), b.const(f"R{l}", b.cast(np.stack(R))),
                  b.const(f"B{l}", b.cast(np.stack(Bs))), lengths]
        if h0 is not None:
            inputs.append(b.slice0(h0, l * K, (l + 1) * K))            # initial_h (K, B, H)
            if op == "LSTM":
                inputs.append(b.slice0(c0, l * K, (l + 1) * K))        # initial_c (K, B, H)
        outs = b.node(op, inputs, 3 if op == "LSTM" else 2, **attrs)
        Y = outs[0]                                                    # (T, K, B, H)
        hs.append(outs[1])
        if op == "LSTM":
            cs.append(outs[2])
        if K == 1:
            x = b.squeeze(Y, [1])
        elif layer.merge_mode == "concat":
            t = b.node("Transpose", [Y], perm=[0, 2, 1, 3])
            x = b.node("Reshape", [t, b.const("shape", np.array([0, 0, -1], np.int64))])
        else:
            f, r = b.split2(Y, 1)
            f, r = b.squeeze(f, [1]), b.squeeze(r, [1])
            if layer.merge_mode == "mul":
                x = b.node("Mul", [f, r])
            else:
                x = b.node("Add", [f, r])
                if layer.merge_mode == "mean":
                    x = b.node("Mul", [x, b.const("half", b.cast(np.array(0.5)))])
    return x, hs, cs


def _export_dtype(dtype):
    dt = np.dtype(dtype or np.float32)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"ONNX export writes float32 or float64 graphs, not {dt}")
    return dt


def _unwrap(obj):
    """``(network, estimator or None)`` for what :func:`to_onnx` accepts."""
    from ..models.classifier import SequenceClassifier
    from ..models.language_model import LanguageModel
    from ..models.seq2seq import Seq2Seq
    from ..models.tagger import SequenceTagger

    if isinstance(obj, Seq2Seq):
        attention = getattr(obj, "attention", "none")
        raise ValueError("Seq2Seq models cannot be exported to ONNX: the decoder's token-by-token search "
                         "loop has no ONNX form here"
                         + (f", and attention models ({attention} attention) are not exported either"
                            if attention != "none" else "")
                         + "; export RNN/LSTM/GRU layers, TokenRNN, language models, classifiers or taggers")
    if isinstance(obj, (LanguageModel, SequenceClassifier, SequenceTagger)):
        if not hasattr(obj, "net_"):
            raise ValueError(f"this {type(obj).__name__} is not trained yet; fit or load it before exporting")
        if isinstance(obj, LanguageModel):
            return obj.net_, None
        return obj.net_, obj
    return obj, None


def _state_inputs(b, helper, fl, layer, n, H, initial_states):
    """Graph inputs ``h0`` (and ``c0`` for LSTM) ``(L*K, B, H)`` when asked for."""
    if not initial_states:
        return [], None, None
    ins = [helper.make_tensor_value_info("h0", fl, [n, "B", H])]
    if isinstance(layer, LSTM):
        ins.append(helper.make_tensor_value_info("c0", fl, [n, "B", H]))
        return ins, "h0", "c0"
    return ins, "h0", None


def _head(b, y_bt, dense):
    """``logits = y W^T + b`` (MatMul + Add) and ``probs = Softmax(logits)``."""
    m = b.node("MatMul", [y_bt, b.const("head_weight_T", b.cast(dense.params["weight"].T))])
    bias = dense.params.get("bias", np.zeros(dense.out_features))
    b.node("Add", [m, b.const("head_bias", b.cast(bias))], outputs=["logits"])
    b.node("Softmax", ["logits"], outputs=["probs"], axis=-1)


def _pool(b, net, y_bt, h_last):
    """Pooled ``(B, F)`` of the classifier: last state, mean or max over real steps."""
    if net.pooling == "last":
        t = b.node("Transpose", [h_last], perm=[1, 0, 2])                        # (B, K, H)
        return b.node("Reshape", [t, b.const("shape", np.array([0, -1], np.int64))])
    shape = b.node("Shape", [y_bt])
    T = b.node("Gather", [shape, b.const("one", np.array(1, np.int64))], axis=0)  # scalar T
    steps = b.node("Range", [b.const("zero", np.array(0, np.int64)), T, b.const("one", np.array(1, np.int64))])
    n = b.node("Cast", ["lengths"], to=b.onnx.TensorProto.INT64)
    n_col = b.unsqueeze(n, [1])                                                   # (B, 1)
    mask = b.node("Less", [steps, n_col])                                         # (B, T) bool
    mask3 = b.unsqueeze(mask, [2])
    if net.pooling == "mean":
        fm = b.node("Cast", [mask3], to=b.tensor_type)
        s = b.reduce("ReduceSum", b.node("Mul", [y_bt, fm]), [1], keepdims=0)
        return b.node("Div", [s, b.node("Cast", [n_col], to=b.tensor_type)])
    masked = b.node("Where", [mask3, y_bt, b.const("neg_inf", b.cast(np.array(-np.inf)))])
    return b.reduce("ReduceMax", masked, [1], keepdims=0)


def to_onnx(obj, path=None, *, opset=OPSET, initial_states=False, dtype=None, metadata=None):
    """An ``onnx.ModelProto`` for ``obj``, checked with ``onnx.checker``; written
    to ``path`` when given.

    ``obj``: an RNN/LSTM/GRU layer, a :class:`~rnnkit.models.TokenRNN`, a trained
    :class:`~rnnkit.models.LanguageModel`, :class:`~rnnkit.models.SequenceClassifier`
    or :class:`~rnnkit.models.SequenceTagger` (see the module docstring for the graphs).
    ``initial_states``: add graph inputs ``h0`` (and ``c0`` for LSTM) ``(L*K, B, H)``,
    the stacked initial states in rnnkit's / PyTorch's layout; otherwise they are zero.
    ``dtype``: the graph's float type, ``float32`` by default (float64 models are cast,
    because ONNX Runtime's CPU RNN/LSTM/GRU kernels are float32-only);
    ``"float64"`` writes a double graph.
    ``opset``: the ONNX opset, :data:`OPSET_MIN` to :data:`OPSET_MAX` (other values raise
    ``ValueError``).
    ``metadata``: more ``metadata_props`` (name -> JSON-able value, stored as
    JSON), e.g. the token vocabulary of a text classifier's run; a trained
    ``LanguageModel`` adds its own vocabulary as ``"vocab"``.
    """
    onnx = _onnx()
    from onnx import helper

    net, est = _unwrap(obj)
    layer = net.rnn if isinstance(net, TokenRNN) else net.encoder.rnn if est is not None else net
    if not isinstance(layer, Recurrent):
        raise ValueError(f"to_onnx exports recurrent layers, TokenRNN, language models, classifiers and taggers, "
                         f"not {type(obj).__name__}")
    _op_type(layer)
    opset = _check_opset(opset)
    if est is not None and getattr(net, "pooling", "last") != "last" and opset < 11:
        raise ValueError(f"{net.pooling} pooling needs ONNX opset 11 or later (Range), not {opset}; pass an "
                         f"opset from 11 to {OPSET_MAX} (opset= in Python, --opset on the command line)")
    b = _Builder(_export_dtype(dtype), opset)
    fl = b.tensor_type
    H, n = layer.hidden_size, layer.num_layers * layer.num_directions
    lengths = helper.make_tensor_value_info("lengths", b.onnx.TensorProto.INT32, ["B"])
    state_ins, h0, c0 = _state_inputs(b, helper, fl, layer, n, H, initial_states)
    meta = {"vocab": obj.vocab_.get_config()} if hasattr(obj, "vocab_") else {}   # a LanguageModel's
    meta.update(metadata or {})
    if isinstance(net, TokenRNN) or (est is not None and net.encoder.embed is not None):
        embed = net.embed if isinstance(net, TokenRNN) else net.encoder.embed
        V = net.vocab_size if isinstance(net, TokenRNN) else est.spec_.n_in
        inputs = [helper.make_tensor_value_info("ids", b.onnx.TensorProto.INT64, ["B", "T"]), lengths]
        table = embed.params["weight"] if embed is not None else np.eye(V)
        e = b.node("Gather", [b.const("embedding", b.cast(table)), "ids"], axis=0)   # (B, T, E)
        x = b.node("Transpose", [e], perm=[1, 0, 2])
    elif est is not None:                                   # vector inputs, standardised in the graph
        spec = est.spec_
        inputs = [helper.make_tensor_value_info("x", fl, ["B", "T", spec.n_in]), lengths]
        xs = "x"
        if spec.mean is not None:
            xs = b.node("Div", [b.node("Sub", ["x", b.const("mean", b.cast(spec.mean))]),
                                b.const("scale", b.cast(spec.scale))])
        x = b.node("Transpose", [xs], perm=[1, 0, 2])
    else:
        D = layer.input_size
        shape = ["B", "T", D] if layer.batch_first else ["T", "B", D]
        inputs = [helper.make_tensor_value_info("x", fl, shape), lengths]
        x = b.node("Transpose", ["x"], perm=[1, 0, 2]) if layer.batch_first else "x"
    y, hs, cs = _recurrent(b, layer, x, "lengths", h0, c0)
    if est is not None:
        C = len(est.classes_)
        meta["classes"] = [str(c) for c in est.classes_]
        yb = b.node("Transpose", [y], perm=[1, 0, 2])                                # (B, T, F)
        if hasattr(net, "pooling"):
            _head(b, _pool(b, net, yb, hs[-1]), net.head)
            out_shape = ["B", C]
        else:
            _head(b, yb, net.head)
            out_shape = ["B", "T", C]
        outputs = [helper.make_tensor_value_info("logits", fl, out_shape),
                   helper.make_tensor_value_info("probs", fl, out_shape)]
    elif isinstance(net, TokenRNN):
        V = net.vocab_size
        yb = b.node("Transpose", [y], perm=[1, 0, 2])
        _head(b, yb, net.head)
        outputs = [helper.make_tensor_value_info("logits", fl, ["B", "T", V]),
                   helper.make_tensor_value_info("probs", fl, ["B", "T", V])]
    else:
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
    graph = helper.make_graph(b.nodes, f"rnnkit_{type(obj).__name__}", inputs + state_ins, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="rnnkit")
    model.ir_version = max(min(model.ir_version, 8), helper.find_min_ir_version_for(model.opset_import))
    if meta:
        import json
        helper.set_model_props(model, {k: json.dumps(v) for k, v in meta.items()})
    onnx.checker.check_model(model)
    if path is not None:                    # atomic: a full disk leaves an earlier file as it was
        from ..io.files import atomic_write
        atomic_write(path, lambda f: f.write(model.SerializeToString()), suffix=".onnx")
    return model
