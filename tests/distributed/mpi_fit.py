"""Fit a tiny model in float64 and write its weights: run as one process, or under
``mpiexec -n K`` (then K processes train the one model, rank 0 writes).

    python tests/distributed/mpi_fit.py lm|classifier|tagger|seq2seq|one_to_many OUT.npz [--steps 20]
"""
import argparse
import sys

import numpy as np

from rnnkit.models import LanguageModel, OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.optim import Adam
from rnnkit.token_rnn import TokenRNN

TEXT = "the cat sat on the mat. the dog sat on the log. a bird sang in the tree. " * 30


class LM64(LanguageModel):
    """The language model with its network in float64 (the distributed path's exactness test)."""

    def _init_net(self):
        super()._init_net()
        self.net_ = TokenRNN(len(self.vocab_), self.hidden_size, self.num_layers, self.cell, self.embedding_dim,
                             dtype=np.float64, seed=np.random.default_rng(self.random_state))
        self.optimizer_ = Adam(self.net_.named_parameters(), lr=self.lr)


class Classifier64(SequenceClassifier):
    """The classifier with its network and inputs in float64."""

    def _build_net(self, rng):
        from rnnkit.models.classifier import _PooledNet
        return _PooledNet(self.spec_, len(self.classes_), self.get_params(), rng, dtype=np.float64)

    def _loss_backward(self, data, idx):
        from rnnkit.losses import softmax_cross_entropy
        x, lengths = self.spec_.batch([data["seqs"][i] for i in idx], np.float64)
        logits = self.net_(x, lengths)
        loss, dlogits = softmax_cross_entropy(logits, data["targets"][idx])
        self.net_.backward(dlogits)
        return loss


def sequences(n=33, seed=0):
    """``n`` vector sequences of lengths 3..9, labelled by the sign of their first feature's sum."""
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(rng.integers(3, 10)), 3)) for _ in range(n)]
    return X, np.array([int(x[:, 0].sum() > 0) for x in X])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["lm", "classifier", "tagger", "seq2seq", "one_to_many"])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--other-text-on-rank-1", action="store_true", help="rank 1 fits another text (refused)")
    args = ap.parse_args(argv)
    from rnnkit.distributed import DistributedError, world
    w = world()
    if args.model == "lm":
        model = LM64(level="char", hidden_size=12, num_layers=2, embedding_dim=6, seq_len=8, batch_size=4, lr=1e-2,
                     steps=args.steps, eval_every=5, random_state=0)
        other = args.other_text_on_rank_1 and w is not None and w.rank == 1
        try:
            model.fit(TEXT.upper() if other else TEXT)
        except DistributedError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 3
        weights, losses = model.net_.state_dict(), [m["loss"] for m in model.history_ if "loss" in m]
        state = model.state_
        extra = {f"state{i}": s for i, s in enumerate(state)}
    elif args.model in ("tagger", "seq2seq"):          # float32, as users run them: a loss per token
        rng = np.random.default_rng(0)
        X = [rng.integers(1, 9, int(rng.integers(3, 8))) for _ in range(21)]
        if args.model == "tagger":
            model = SequenceTagger(hidden_size=8, epochs=3, batch_size=4, random_state=0).fit(X, [x % 3 for x in X])
        else:
            model = Seq2Seq(hidden_size=8, epochs=3, batch_size=4, random_state=0).fit(X, [x[::-1] for x in X])
        weights, losses, extra = model.net_.state_dict(), model.loss_curve_, {}
    elif args.model == "one_to_many":                   # a vector in, a token sequence out
        rng = np.random.default_rng(0)
        X = rng.normal(size=(21, 3)).astype(np.float32)
        Y = [rng.integers(0, 5, int(rng.integers(2, 6))) for _ in range(21)]
        model = OneToMany(hidden_size=8, epochs=3, batch_size=4, random_state=0).fit(X, Y)
        weights, losses, extra = model.net_.state_dict(), model.loss_curve_, {}
    else:
        X, y = sequences()
        # 33 sequences, batches of 8: 5 updates an epoch, the last of one sequence (one rank of two gets
        # none of it); 4 epochs = 20 updates
        model = Classifier64(hidden_size=8, epochs=args.steps // 5, batch_size=8, lr=1e-2, random_state=0)
        model.fit(X, y)
        weights, losses, extra = model.net_.state_dict(), model.loss_curve_, {}
    if w is None or w.root:
        np.savez(args.out, **{f"w/{k}": v for k, v in weights.items()}, losses=np.array(losses),
                 **{f"x/{k}": v for k, v in extra.items()}, size=np.array(1 if w is None else w.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
