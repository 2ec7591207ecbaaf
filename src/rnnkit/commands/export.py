"""``rnnkit export onnx MODEL OUT.onnx``: a model file or a training run's directory to ONNX.

MODEL may be
  * an rnnkit model file (``rnnkit.io.save``: a layer or a TokenRNN), or a classifier/tagger file (``est.save``);
  * the ``--out`` directory of ``rnnkit lm train`` (its TokenRNN);
  * the ``--out`` directory of ``rnnkit classify train`` or ``rnnkit tag train``.
Seq2seq runs and files (with or without attention), forecasters and anomaly detectors have no ONNX
export: a one-line error says so.
"""
from __future__ import annotations

import os

from ._args import check_export_output


def _opset():
    """argparse type of ``--opset``: an integer in the range ``to_onnx`` writes."""
    from ..interop.onnx_export import OPSET_MAX, OPSET_MIN
    from ._args import _checked

    return _checked(int, lambda v: OPSET_MIN <= v <= OPSET_MAX,
                    f"is outside the opsets rnnkit writes ({OPSET_MIN} to {OPSET_MAX})", "An ONNX opset.")


def register(sub):
    p = sub.add_parser("export", help="convert a saved model to another format",
                       description="Convert an rnnkit model file, or a training run's directory, to ONNX "
                                   "(lm, classify, tag; opset 14 unless --opset) or to safetensors (every model "
                                   "and run).")
    p.add_argument("format", choices=["onnx", "safetensors"],
                   help="target format: onnx (a graph for ONNX Runtime), or safetensors (the weights under "
                        "PyTorch's state_dict names, rnnkit's config in the metadata; any model or run)")
    p.add_argument("model", help="rnnkit model file (saved with rnnkit.io.save) or a training run's directory")
    p.add_argument("out", help="output path, e.g. model.onnx")
    p.add_argument("--initial-state", action="store_true",
                   help="add graph inputs h0 (and c0 for LSTM), shape (layers*directions, B, hidden)")
    p.add_argument("--opset", type=_opset(), default=None,
                   help="ONNX opset, 7 to 21 (default 14; mean and max pooling need 11)")
    p.add_argument("--float64", action="store_true",
                   help="write a float64 graph (ONNX Runtime's CPU recurrent kernels run float32 only)")
    p.set_defaults(func=run)


def load_run(path):
    """The exportable model of a training run's directory: a LanguageModel,
    SequenceClassifier or SequenceTagger with its last checkpoint's weights."""
    from ..runs import RunDir

    run = RunDir(path, create=False)
    if not os.path.exists(run.file("config.json")):
        if os.path.exists(run.file("model.rnnkit")):
            raise ValueError(f"{path} holds a forecaster or anomaly detector (model.rnnkit); those have no "
                             "ONNX export (export supports lm, classify and tag runs, and model files)")
        raise ValueError(f"{path} is not a training run directory (no config.json); pass the --out directory "
                         "of `rnnkit lm|classify|tag train` or a model file")
    config = run.read_config()
    task = config.get("task")
    if task is None and isinstance(config.get("model"), dict) and config["model"].get("vocab"):
        task = "lm"
    if task not in ("lm", "classify", "tag"):
        what = f"a {task!r} run" if task else "an unknown kind of run"
        raise ValueError(f"{path} holds {what}; ONNX export supports lm, classify and tag runs"
                         + (f" ({_seq2seq_why(config['model'])})" if task == "seq2seq" else ""))
    if not run.has_checkpoint():
        raise FileNotFoundError(f"{run.file('checkpoint.npz')} does not exist; the run saved no weights yet, "
                                "train it (or let it reach its first checkpoint) before exporting")
    if task == "lm":
        from ..models.language_model import LanguageModel
        return LanguageModel.load(run)
    from . import _estimator_cli
    from .classify import ClassifyTask
    from .tag import TagTask
    est, _ = _estimator_cli.load(ClassifyTask() if task == "classify" else TagTask(), path)
    return est


def _seq2seq_why(model_config):
    """Why a seq2seq model (its saved config) is not exported, in a few words."""
    params = model_config.get("params") if isinstance(model_config, dict) else None
    attention = params.get("attention", "none") if isinstance(params, dict) else "none"
    why = "a seq2seq model decodes token by token in a search loop, which is not exported"
    return why + (f"; attention models ({attention} attention) are not exported either" if attention != "none" else "")


def run_vocabulary(path):
    """The token vocabulary (its config) of a text classifier or tagger run, or
    ``None`` (a language model's own export adds its vocabulary)."""
    from ..runs import RunDir

    extra = RunDir(path, create=False).read_config().get("extra")
    return extra.get("vocab") if isinstance(extra, dict) else None


def load_model_file(path):
    """A model file: ``rnnkit.io.save`` (kind "model") or a classifier/tagger's
    own ``save`` (kind "sequence-estimator")."""
    from ..io import load
    from ..io.files import read_file

    header, _ = read_file(path)
    if header.get("kind") == "sequence-estimator":
        from ..models import SequenceClassifier, SequenceTagger
        cls = {c.__name__: c for c in (SequenceClassifier, SequenceTagger)}.get(header["config"].get("class"))
        if cls is None:
            why = f" ({_seq2seq_why(header['config'])})" if header["config"].get("class") == "Seq2Seq" else ""
            raise ValueError(f"{path} holds a {header['config'].get('class')}{why}; ONNX export supports layers, "
                             "TokenRNN, SequenceClassifier and SequenceTagger files")
        return cls.load(path)
    return load(path)


def run(args):
    if args.format == "safetensors":
        from ._export_safetensors import run as to_safetensors
        return to_safetensors(args)
    from ..interop.onnx_export import OPSET, to_onnx

    check_export_output(args.model, args.out)
    obj = load_run(args.model) if os.path.isdir(args.model) else load_model_file(args.model)
    vocab = run_vocabulary(args.model) if os.path.isdir(args.model) else None
    opset = OPSET if args.opset is None else args.opset
    model = to_onnx(obj, args.out, opset=opset, initial_states=args.initial_state,
                    dtype="float64" if args.float64 else "float32", metadata={"vocab": vocab} if vocab else None)
    ops = sorted({n.op_type for n in model.graph.node})
    ins = ", ".join(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    print(f"wrote {args.out} (ONNX opset {opset}; inputs: {ins}; operators: {', '.join(ops)})")
    return 0
