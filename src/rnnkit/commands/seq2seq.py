"""``rnnkit seq2seq train|predict|eval``: text to text with an encoder-decoder.

Inputs: ``.csv`` / ``.tsv`` with a header naming the source and target columns
(``--source-col``, ``--target-col``, default ``source``, ``target``), or
``.jsonl`` with those keys.  Both sides are tokenised at ``--level`` (char by
default, or word).  ``eval`` prints exact-match accuracy; ``predict`` prints
one output a line (``--beam K`` for beam search).
"""
from __future__ import annotations

import numpy as np

from ..data.tables import column_texts, read_records
from ..data.vocab import SPECIALS, Vocabulary
from ..models import Seq2Seq
from ._args import positive_int
from ._estimator_cli import Task, add_option, check_vocab_size, data_encoding, register_task, saved_vocabulary


def special_ids(vocab):
    """Ids of the vocabulary's special tokens (``<pad>``, ``<unk>``, ``<bos>``,
    ``<eos>``): never a decoded output, the model has its own start and end."""
    return sorted(vocab.index[t] for t in SPECIALS if t in vocab.index)


class Seq2SeqTask(Task):
    name = "seq2seq"
    estimator = Seq2Seq

    def build(self, args):
        rows = read_records(args.data, [args.source_col, args.target_col], args.encoding)
        src = Vocabulary.build(column_texts(args.data, rows, args.source_col), level=args.level)
        tgt = Vocabulary.build(column_texts(args.data, rows, args.target_col), level=args.level)
        est = Seq2Seq(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers, embedding_dim=args.embedding,
                      beam_size=args.beam, batch_size=args.batch_size, learning_rate=args.lr, clip=args.clip,
                      epochs=args.epochs or args.default_epochs, random_state=args.seed,
                      exclude_ids=special_ids(tgt))
        extra = {"source_vocab": src.get_config(), "target_vocab": tgt.get_config(), "source_col": args.source_col,
                 "target_col": args.target_col, "encoding": args.encoding}
        return est, extra

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        cols = [extra["source_col"]] + ([extra["target_col"]] if need_y else [])
        rows = read_records(path, cols, data_encoding(extra))
        src = Vocabulary.from_config(extra["source_vocab"])
        tgt = Vocabulary.from_config(extra["target_vocab"])
        X = []
        for i, text in enumerate(column_texts(path, rows, extra["source_col"]), 1):
            ids = src.encode(text)
            if len(ids) == 0:
                raise ValueError(f"{path} example {i}: empty source text; remove the row or fill it in")
            X.append(ids)
        y = [tgt.encode(t) for t in column_texts(path, rows, extra["target_col"])] if need_y else None
        return X, y

    def prepare(self, est, X, y, learn, extra=None):
        sizes = {}
        if learn and extra:
            sizes = {"n_tokens": len(Vocabulary.from_config(extra["source_vocab"])),
                     "n_targets": len(Vocabulary.from_config(extra["target_vocab"]))}
        return est.prepare(X, y, learn=learn, **sizes)

    def saved_options(self, config):
        p, extra = config["model"].get("params", {}), config["extra"]
        return dict(super().saved_options(config), level=(extra.get("source_vocab") or {}).get("level"),
                    beam=p.get("beam_size"), source_col=extra.get("source_col"),
                    target_col=extra.get("target_col"))

    def check_loaded(self, est, extra, config_path):
        """Vocabulary sizes must fit the weights; runs saved before
        ``exclude_ids`` existed get the target vocabulary's special tokens."""
        src = saved_vocabulary(extra.get("source_vocab"), "source_vocab", config_path)
        tgt = saved_vocabulary(extra.get("target_vocab"), "target_vocab", config_path)
        if est.spec_.kind == "tokens":
            check_vocab_size(src, est.spec_.n_in, "source vocabulary", config_path)
        check_vocab_size(tgt, est.n_targets_, "target vocabulary", config_path)
        if est.exclude_ids is None:
            est.exclude_ids = special_ids(tgt)

    def metrics(self, est, X, y):
        return {"exact_match": est.score(X, y)}

    def format_predictions(self, est, X, extra):
        tgt = Vocabulary.from_config(extra["target_vocab"])
        return [tgt.decode(np.clip(ids, 0, len(tgt) - 1)) for ids in est.predict(X)]


def _model_args(p):
    add_option(p, "--level", choices=["char", "word"], default="char", help="tokens (default: char)")
    add_option(p, "--beam", type=positive_int, default=1, help="beam width at prediction, 1 = greedy (default: 1)")
    add_option(p, "--source-col", default="source", help="(default: source)")
    add_option(p, "--target-col", default="target", help="(default: target)")


def register(subparsers):
    register_task(subparsers, Seq2SeqTask(), "encoder-decoder: text to text, greedy or beam decoding",
                  dict(hidden=128, epochs=20, lr=5e-3, batch=32), _model_args,
                  lambda p: p.add_argument("--beam", type=positive_int, default=None,
                                           help="beam width (default: the one set at training)"))
