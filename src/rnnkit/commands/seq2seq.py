"""``rnnkit seq2seq train|predict|eval``: text to text with an encoder-decoder.

Inputs: ``.csv`` / ``.tsv`` with a header naming the source and target columns
(``--source-col``, ``--target-col``, default ``source``, ``target``), or
``.jsonl`` with those keys.  Both sides are tokenised at ``--level`` (char by
default, or word).  ``eval`` prints exact-match accuracy; ``predict`` prints
one output a line (``--beam K`` for beam search).

``train --attention additive|general|dot`` gives the decoder attention over
the encoder's outputs and draws the attention map of the first example (of
the ``--val`` file, else of ``--data``) into ``RUN_DIR/attention.png``;
``--sampling-schedule`` trains with scheduled sampling
(:mod:`rnnkit.models.sampling`).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from ..data.tables import column_texts, read_records
from ..data.vocab import SPECIALS, Vocabulary
from ..attention import SCORES
from ..models import Seq2Seq
from ..models.sampling import parse_schedule
from ..recurrent import MERGE_MODES
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
        est = Seq2Seq(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers, embedding_dim=args.embedding_dim,
                      beam_size=args.beam, batch_size=args.batch_size, lr=args.lr, clip=args.clip,
                      epochs=args.epochs or args.default_epochs, random_state=args.seed,
                      exclude_ids=special_ids(tgt), attention=args.attention, input_feeding=args.input_feeding,
                      bidirectional=args.bidirectional, merge_mode=args.merge_mode,
                      sampling_schedule=args.sampling_schedule)
        est._check_model_params()
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
                    target_col=extra.get("target_col"), attention=p.get("attention", "none"),
                    input_feeding=p.get("input_feeding", False), bidirectional=p.get("bidirectional", False),
                    merge_mode=p.get("merge_mode", "concat"), sampling_schedule=p.get("sampling_schedule") or "none")

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

    def after_training(self, est, run, config):
        """An attention model's map of its first example (of the validation file,
        else the training file) in ``RUN_DIR/attention.png``."""
        if est.attention == "none":
            return
        from ..diagnostics.attention_map import draw_attention

        path, extra = config.get("val") or config["data"], config["extra"]
        X, _ = self.load_xy(path, extra, est, need_y=False)
        out, weights = est.predict(X[:1], return_attention=True)
        src = Vocabulary.from_config(extra["source_vocab"])
        tgt = Vocabulary.from_config(extra["target_vocab"])
        draw_attention(weights[0], [src.tokens[i] for i in X[0]],
                       [tgt.tokens[i] if 0 <= i < len(tgt) else "?" for i in out[0]], run.file("attention.png"),
                       title=f"{est.attention} attention, first example of {os.path.basename(path)}")


def sampling_schedule(text):
    """argparse type of ``--sampling-schedule``: a schedule :func:`parse_schedule` reads."""
    try:
        parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _model_args(p):
    add_option(p, "--level", choices=["char", "word"], default="char", help="tokens (default: char)")
    add_option(p, "--attention", choices=["none", *SCORES], default="none",
               help="attention over the encoder's outputs (default: none)")
    add_option(p, "--input-feeding", action="store_true", default=False,
               help="with attention: the last context joins the decoder's next input")
    add_option(p, "--bidirectional", action="store_true", default=False, help="read the source both ways")
    add_option(p, "--merge-mode", choices=list(MERGE_MODES), default="concat",
               help="how a bidirectional encoder joins its directions (default: concat)")
    add_option(p, "--sampling-schedule", type=sampling_schedule, default="none", metavar="SCHEDULE",
               help="scheduled sampling: none (default), linear[:k=1,c=0.001,min=0], exponential[:k=0.999], "
                    "inverse_sigmoid[:k=100]")
    add_option(p, "--beam", type=positive_int, default=1, help="beam width at prediction, 1 = greedy (default: 1)")
    add_option(p, "--source-col", default="source", help="(default: source)")
    add_option(p, "--target-col", default="target", help="(default: target)")


def register(subparsers):
    register_task(subparsers, Seq2SeqTask(), "encoder-decoder: text to text, greedy or beam decoding",
                  dict(hidden=128, epochs=20, lr=5e-3, batch=32), _model_args,
                  lambda p: p.add_argument("--beam", type=positive_int, default=None,
                                           help="beam width (default: the one set at training)"))
