"""``rnnkit seq2seq train|predict|eval``: text to text with an encoder-decoder.

Inputs: ``.csv`` / ``.tsv`` with a header naming the source and target columns
(``--source-col``, ``--target-col``, default ``source``, ``target``), or
``.jsonl`` with those keys.  Both sides are tokenised at ``--level`` (char by
default, or word).  ``eval`` prints exact-match accuracy; ``predict`` prints
one output a line (``--beam K`` for beam search).
"""
from __future__ import annotations

import numpy as np

from ..data.tables import read_records
from ..data.vocab import Vocabulary
from ..models import Seq2Seq
from ._estimator_cli import Task, register_task


class Seq2SeqTask(Task):
    name = "seq2seq"
    estimator = Seq2Seq

    def build(self, args):
        est = Seq2Seq(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers, embedding_dim=args.embedding,
                      beam_size=args.beam, batch_size=args.batch_size, learning_rate=args.lr, clip=args.clip,
                      epochs=args.epochs or args.default_epochs, random_state=args.seed)
        rows = read_records(args.data, [args.source_col, args.target_col], args.encoding)
        src = Vocabulary.build((str(r[args.source_col]) for r in rows), level=args.level)
        tgt = Vocabulary.build((str(r[args.target_col]) for r in rows), level=args.level)
        extra = {"source_vocab": src.get_config(), "target_vocab": tgt.get_config(), "source_col": args.source_col,
                 "target_col": args.target_col, "encoding": args.encoding}
        return est, extra

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        cols = [extra["source_col"]] + ([extra["target_col"]] if need_y else [])
        rows = read_records(path, cols, extra.get("read_encoding") or extra["encoding"])
        src = Vocabulary.from_config(extra["source_vocab"])
        tgt = Vocabulary.from_config(extra["target_vocab"])
        X = []
        for i, r in enumerate(rows, 1):
            ids = src.encode(str(r[extra["source_col"]]))
            if len(ids) == 0:
                raise ValueError(f"{path} example {i}: empty source text; remove the row or fill it in")
            X.append(ids)
        y = [tgt.encode(str(r[extra["target_col"]])) for r in rows] if need_y else None
        return X, y

    def metrics(self, est, X, y):
        return {"exact_match": est.score(X, y)}

    def format_predictions(self, est, X, extra):
        tgt = Vocabulary.from_config(extra["target_vocab"])
        return [tgt.decode(np.clip(ids, 0, len(tgt) - 1)) for ids in est.predict(X)]


def _model_args(p):
    p.add_argument("--level", choices=["char", "word"], default="char", help="tokens (default: char)")
    p.add_argument("--beam", type=int, default=1, help="beam width at prediction, 1 = greedy (default: 1)")
    p.add_argument("--source-col", default="source", help="(default: source)")
    p.add_argument("--target-col", default="target", help="(default: target)")


def register(subparsers):
    register_task(subparsers, Seq2SeqTask(), "encoder-decoder: text to text, greedy or beam decoding",
                  dict(hidden=128, epochs=20, lr=5e-3, batch=32), _model_args,
                  lambda p: p.add_argument("--beam", type=int, default=None,
                                           help="beam width (default: the one set at training)"))
