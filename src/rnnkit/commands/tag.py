"""``rnnkit tag train|predict|eval``: one tag per token (BIO tags for entities).

Inputs: ``.jsonl`` with ``{"tokens": [...], "tags": [...]}`` a line (keys set
by ``--tokens-key`` / ``--tags-key``), or ``.conll`` with ``token tag`` a line
and a blank line between sentences.  ``eval`` prints per-token accuracy and
entity-level precision, recall and F1.
"""
from __future__ import annotations

from ..data.tables import read_tagged
from ..data.vocab import SPECIALS, Vocabulary
from ..models import SequenceTagger
from ..models.tagger import bio_f1, token_accuracy
from ._estimator_cli import (Task, add_option, check_vocab_size, data_encoding, register_task,
                             saved_vocabulary, unknown_token_ids)


class TagTask(Task):
    name = "tag"
    estimator = SequenceTagger
    use_options = (("--tokens-key", "tokens_key", "key of the token list in --data"),
                   ("--tags-key", "tags_key", "key of the tag list in --data"))

    def build(self, args):
        est = SequenceTagger(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                             bidirectional=not args.unidirectional, embedding_dim=args.embedding_dim,
                             batch_size=args.batch_size, lr=args.lr, clip=args.clip,
                             epochs=args.epochs or args.default_epochs, random_state=args.seed)
        sents = read_tagged(args.data, args.tokens_key, args.tags_key, args.encoding)
        words = sorted({w.lower() if args.lower else w for toks, _ in sents for w in toks} - set(SPECIALS))
        vocab = Vocabulary(list(SPECIALS) + words, level="word", lower=args.lower)
        extra = {"vocab": vocab.get_config(), "tokens_key": args.tokens_key, "tags_key": args.tags_key,
                 "encoding": args.encoding}
        return est, extra

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        sents = read_tagged(path, extra["tokens_key"], extra["tags_key"], data_encoding(extra))
        vocab = Vocabulary.from_config(extra["vocab"])
        X = [unknown_token_ids(vocab, [t.lower() if vocab.lower else t for t in toks]) for toks, _ in sents]
        if not need_y:
            return X, None
        for i, (_, tags) in enumerate(sents, 1):
            if tags is None:
                raise ValueError(f"{path} example {i} has no '{extra['tags_key']}'; labelled data needs tags")
        return X, [tags for _, tags in sents]

    def prepare(self, est, X, y, learn, extra=None):
        n_tokens = len(Vocabulary.from_config(extra["vocab"])) if learn and extra else None
        return est.prepare(X, y, learn=learn, n_tokens=n_tokens)

    def saved_options(self, config):
        p, extra = config["model"].get("params", {}), config["extra"]
        bidirectional = p.get("bidirectional")
        return dict(super().saved_options(config),
                    unidirectional=None if bidirectional is None else not bidirectional,
                    lower=(extra.get("vocab") or {}).get("lower"), tokens_key=extra.get("tokens_key"),
                    tags_key=extra.get("tags_key"))

    def check_loaded(self, est, extra, config_path):
        check_vocab_size(saved_vocabulary(extra.get("vocab"), "vocab", config_path), est.spec_.n_in, "vocabulary",
                         config_path)

    def metrics(self, est, X, y):
        pred = est.predict(X)
        f = bio_f1(y, pred)
        return {"token_accuracy": token_accuracy(y, pred), "precision": f["precision"], "recall": f["recall"],
                "f1": f["f1"]}

    def format_predictions(self, est, X, extra):
        return [" ".join(map(str, tags)) for tags in est.predict(X)]


def _model_args(p):
    add_option(p, "--unidirectional", action="store_true", default=False,
               help="left-to-right only (default: both ways)")
    add_option(p, "--lower", action="store_true", default=False, help="lower-case tokens")
    add_option(p, "--tokens-key", default="tokens", help="JSON key of the token list (default: tokens)")
    add_option(p, "--tags-key", default="tags", help="JSON key of the tag list (default: tags)")


def register(subparsers):
    register_task(subparsers, TagTask(), "sequence tagging: one label per token, BIO entity F1",
                  dict(hidden=64, epochs=20, lr=1e-2, batch=32), _model_args)
