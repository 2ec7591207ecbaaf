"""``rnnkit classify train|predict|eval``: sequence classification.

Inputs (chosen by the file extension):
    .csv / .tsv / .jsonl   text and label columns (``--text-col``, ``--label-col``),
                           tokenised at ``--level`` char (default), word or byte
    .ts                    UCR/UEA time series with class labels
    .npz / .npy            series ``X`` (N, T, D), labels ``y``, optional ``lengths``
"""
from __future__ import annotations

import os

import numpy as np

from ..data.series import read_series
from ..data.tables import column_texts, read_records
from ..data.vocab import Vocabulary
from ..models import SequenceClassifier
from ._estimator_cli import Task, add_option, check_vocab_size, data_encoding, register_task, saved_vocabulary

SERIES_EXTS = (".ts", ".npz", ".npy")


def is_series(path):
    return os.path.splitext(path)[1].lower() in SERIES_EXTS


class ClassifyTask(Task):
    name = "classify"
    estimator = SequenceClassifier
    use_options = (("--text-col", "text_col", "text column/key of --data"),
                   ("--label-col", "label_col", "label column/key of --data"))

    def build(self, args):
        series = is_series(args.data)
        est = SequenceClassifier(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                                 bidirectional=args.bidirectional, pooling=args.pooling,
                                 embedding_dim=args.embedding_dim, batch_size=args.batch_size,
                                 lr=args.lr, clip=args.clip, epochs=args.epochs or args.default_epochs,
                                 random_state=args.seed)
        extra = {"input": "series" if series else "text", "text_col": args.text_col, "label_col": args.label_col,
                 "encoding": args.encoding, "level": args.level, "vocab": None}
        if not series:
            rows = read_records(args.data, [args.text_col, args.label_col], args.encoding)
            texts = column_texts(args.data, rows, args.text_col)
            extra["vocab"] = Vocabulary.build(texts, level=args.level).get_config()
        return est, extra

    def prepare(self, est, X, y, learn, extra=None):
        """Text models read every id of the vocabulary (all 256 at byte level),
        not only the ids seen in training."""
        n_tokens = None
        if learn and extra and extra.get("vocab"):
            n_tokens = len(Vocabulary.from_config(extra["vocab"]))
        return est.prepare(X, y, learn=learn, n_tokens=n_tokens)

    def saved_options(self, config):
        p, extra = config["model"].get("params", {}), config["extra"]
        return dict(super().saved_options(config), bidirectional=p.get("bidirectional"),
                    pooling=p.get("pooling"), level=extra.get("level"), text_col=extra.get("text_col"),
                    label_col=extra.get("label_col"))

    def check_loaded(self, est, extra, config_path):
        if extra.get("input") != "text":
            return
        vocab = saved_vocabulary(extra.get("vocab"), "vocab", config_path)
        if vocab.level == "byte":
            if est.spec_.n_in > len(vocab):
                check_vocab_size(vocab, est.spec_.n_in, "byte vocabulary", config_path)
        else:
            check_vocab_size(vocab, est.spec_.n_in, "vocabulary", config_path)

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        if extra["input"] == "series":
            if not is_series(path):
                raise ValueError(f"{path}: this model reads series (.ts, .npz, .npy), not "
                                 f"{os.path.splitext(path)[1] or 'this file type'}")
            X, y = read_series(path, data_encoding(extra))
            if need_y and y is None:
                raise ValueError(f"{path} has no labels; add class labels (a y array, or @classLabel true)")
            return X, y
        if is_series(path):
            raise ValueError(f"{path}: this model reads text tables (.csv, .tsv, .jsonl), not series")
        cols = [extra["text_col"]] + ([extra["label_col"]] if need_y else [])
        rows = read_records(path, cols, data_encoding(extra))
        vocab = Vocabulary.from_config(extra["vocab"])
        X = []
        for i, text in enumerate(column_texts(path, rows, extra["text_col"]), 1):
            ids = vocab.encode(text)
            if len(ids) == 0:
                raise ValueError(f"{path} example {i}: empty text; remove the row or fill it in")
            X.append(ids)
        y = np.asarray(column_texts(path, rows, extra["label_col"])) if need_y else None
        return X, y

    def format_predictions(self, est, X, extra):
        proba = est.predict_proba(X)
        labels = est.classes_[proba.argmax(1)]
        return [f"{lab}\t{p.max():.4f}" for lab, p in zip(labels, proba)]


def _model_args(p):
    add_option(p, "--bidirectional", action="store_true", default=False, help="read sequences both ways")
    add_option(p, "--pooling", choices=["last", "mean", "max"], default="last", help="(default: last)")
    add_option(p, "--level", choices=["char", "word", "byte"], default="char", help="text tokens (default: char)")
    add_option(p, "--text-col", default="text", help="text column/key (default: text)")
    add_option(p, "--label-col", default="label", help="label column/key (default: label)")


def register(subparsers):
    register_task(subparsers, ClassifyTask(), "sequence classification: text tables or time series",
                  dict(hidden=64, epochs=20, lr=1e-2, batch=32), _model_args)
