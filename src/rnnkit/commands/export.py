"""``rnnkit export onnx MODEL OUT.onnx``: a model file to ONNX."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser("export", help="convert a saved model to another format",
                       description="Convert an rnnkit model file to ONNX (opset 14).")
    p.add_argument("format", choices=["onnx"], help="target format")
    p.add_argument("model", help="rnnkit model file (saved with rnnkit.io.save)")
    p.add_argument("out", help="output path, e.g. model.onnx")
    p.set_defaults(func=run)


def run(args):
    from ..interop.onnx_export import OPSET, to_onnx
    import os

    from ..io import load

    if os.path.isdir(args.model):
        raise ValueError(f"{args.model} is a directory; exporting a training run's directory is not supported "
                         "yet, pass a model file saved with rnnkit.io.save")
    model = to_onnx(load(args.model), args.out)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"wrote {args.out} (ONNX opset {OPSET}; operators: {', '.join(ops)})")
    return 0
