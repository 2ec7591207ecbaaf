"""SequenceTagger on a generated named-entity task (BIO tags, PER/LOC/ORG).

Sentences come from templates with one- and two-word entities and random
filler words.  Some names are
ambiguous ("jordan", "washington" are people or places, "may" and "june" are
names or a verb and a month, by context), and a third of the names appear only in the test sentences, where
they are unknown words (``<unk>``): the tagger must use the words around them,
on both sides.  Training replaces 10% of tokens by ``<unk>`` (word dropout).  Reports per-token accuracy and entity-level F1, bidirectional
against left-to-right.

    PYTHONPATH=src python benchmarks/models_tagger.py
"""
import time

import numpy as np

from rnnkit.data.vocab import SPECIALS, Vocabulary
from rnnkit.models import SequenceTagger, bio_f1

PER = "may june anna bob carla dmitri elena farid grace hiro ines jordan washington kofi lena marco nora omar".split()
LAST = "smith jones garcia ivanova chen okafor novak silva".split()
LOC = "paris lima oslo cairo delhi quito jordan washington kyoto accra madrid hanoi".split()
ORG = "acme globex initech amazon umbrella hooli vandelay soylent".split()
TEMPLATES = [
    "PER went to LOC yesterday", "mr PER said that ORG is growing", "PER works at ORG in LOC",
    "the office of ORG moved to LOC", "we met PER and PER in LOC", "LOC is far from LOC",
    "shares of ORG fell after PER spoke", "PER , who lives in LOC , joined ORG", "we may go to LOC in june",
    "ORG may hire PER", "PER said ORG may leave LOC",
]
FILLERS = "really then also quickly later".split()


def sample(rng, held, test):
    words, tags = [], []
    for slot in TEMPLATES[rng.integers(len(TEMPLATES))].split():
        if slot in ("PER", "LOC", "ORG"):
            pool = {"PER": PER, "LOC": LOC, "ORG": ORG}[slot]
            pool = [w for w in pool if (w in held) == test] or pool
            ent = [pool[rng.integers(len(pool))]]
            if slot == "PER" and rng.random() < 0.5:
                ent.append(LAST[rng.integers(len(LAST))])
            words += ent
            tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(ent) - 1)
        else:
            words.append(slot)
            tags.append("O")
        if rng.random() < 0.2:
            words.append(FILLERS[rng.integers(len(FILLERS))])
            tags.append("O")
    return words, tags


def main():
    rng = np.random.default_rng(0)
    names = sorted(set(PER + LOC + ORG))
    held = set(rng.choice(names, size=len(names) // 3, replace=False))
    train = [sample(rng, held, False) for _ in range(2000)]
    test = [sample(rng, held, True) for _ in range(500)]
    vocab = Vocabulary(list(SPECIALS) + sorted({w for s, _ in train for w in s}), level="word")
    enc = lambda sents: [np.array([vocab.index.get(w, vocab.unk_id) for w in s]) for s, _ in sents]  # noqa: E731
    Xtr, Ytr, Xte, Yte = enc(train), [t for _, t in train], enc(test), [t for _, t in test]
    # word dropout: 10% of training tokens become <unk>, so the model learns what an unknown word is
    Xtr = [np.where(rng.random(len(x)) < 0.1, vocab.unk_id, x) for x in Xtr]
    print(f"held-out names (unknown at test time): {sorted(held)}")
    for bi in (True, False):
        t = time.time()
        tagger = SequenceTagger(hidden_size=64, embedding_dim=32, bidirectional=bi, epochs=10, random_state=0)
        tagger.fit(Xtr, Ytr)
        f = bio_f1(Yte, tagger.predict(Xte))
        print(f"{'bidirectional' if bi else 'left-to-right'}: test token accuracy {tagger.score(Xte, Yte):.4f}, "
              f"entity F1 {f['f1']:.4f} (P {f['precision']:.4f}, R {f['recall']:.4f}, {f['true']} entities), "
              f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()   # --help; no options
    main()
