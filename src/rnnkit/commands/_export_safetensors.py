"""``rnnkit export safetensors MODEL|RUN_DIR OUT``: any rnnkit model file, or a
training run's directory, as a ``.safetensors`` file (:mod:`rnnkit.io.safetensors`).

MODEL may be a model file of either format (a layer, a TokenRNN, a sequence
estimator, a forecaster, an anomaly detector); RUN_DIR the ``--out`` directory
of ``lm``, ``classify``, ``tag`` or ``seq2seq train`` (its last checkpoint's
weights) or of ``forecast train`` / ``anomaly fit`` (its ``model.rnnkit``).
"""
from __future__ import annotations

import os

from ._args import check_export_output


def _refuse_onnx_options(args):
    for flag, given in (("--initial-state", args.initial_state), ("--opset", args.opset is not None),
                        ("--float64", args.float64)):
        if given:
            raise ValueError(f"{flag} applies to ONNX export only; drop it for safetensors")


def _run_contents(path):
    """``(kind, config, arrays, meta)`` of a training run's directory."""
    from ..io.models import get_config
    from ..runs import RunDir

    run = RunDir(path, create=False)
    if os.path.exists(run.file("model.rnnkit")):
        return _file_contents(run.file("model.rnnkit"))
    config = run.read_config()
    task = config.get("task") or ("lm" if isinstance(config.get("model"), dict) and config["model"].get("vocab")
                                  else None)
    if task == "lm":
        from ..models.language_model import LanguageModel

        model = LanguageModel.load(run)
        return "model", get_config(model.net_), model.net_.state_dict(), {"vocab": model.vocab_.get_config()}
    tasks = _tasks()
    if task not in tasks:
        raise ValueError(f"{path} holds {f'a {task!r} run' if task else 'an unknown kind of run'}; safetensors "
                         f"export reads lm, {', '.join(tasks)} runs, forecast and anomaly runs, and model files")
    from . import _estimator_cli

    est, extra = _estimator_cli.load(tasks[task], path)
    cfg, arrays = est._file_contents()
    return est.FILE_KIND, cfg, arrays, {"extra": extra}


def _tasks():
    from .classify import ClassifyTask
    from .seq2seq import Seq2SeqTask
    from .tag import TagTask

    return {"classify": ClassifyTask(), "tag": TagTask(), "seq2seq": Seq2SeqTask()}


def _file_contents(path):
    from ..io.models import read

    header, arrays = read(path, None)
    if header.get("kind") == "checkpoint":
        raise ValueError(f"{path} is a training checkpoint; pass its run directory (export reads the model "
                         "from it)")
    return header["kind"], header["config"], arrays, header.get("meta") or {}


def run(args):
    from ..io import safetensors

    _refuse_onnx_options(args)
    check_export_output(args.model, args.out)
    contents = _run_contents(args.model) if os.path.isdir(args.model) else _file_contents(args.model)
    kind, config, arrays, meta = contents
    safetensors.write(args.out, kind, config, arrays, meta)
    print(f"wrote {args.out} (safetensors, {len(arrays)} tensors, {config.get('class', kind)}); read it back with "
          "rnnkit.io.load (or the estimator class's load), or safetensors.torch.load_file for a state_dict")
    return 0
