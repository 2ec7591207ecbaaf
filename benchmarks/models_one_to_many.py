"""OneToMany: spell a number in English from one vector.  The input is the
one-hot hundreds, tens and ones digits of n in 0..999 (30 numbers); the output
the characters of its English name ("three hundred forty-two").  Trained on
80% of the numbers, scored by exact match on the 200 numbers never seen.

    PYTHONPATH=src python benchmarks/models_one_to_many.py [--epochs 40]
"""
import argparse
import time

import numpy as np

from rnnkit.models import OneToMany

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def name(n):
    h, r = divmod(n, 100)
    words = [ONES[h] + " hundred"] if h else []
    if r or not h:
        words.append(ONES[r] if r < 20 else TENS[r // 10] + ("" if r % 10 == 0 else "-" + ONES[r % 10]))
    return " ".join(words)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    names = [name(n) for n in range(1000)]
    chars = sorted(set("".join(names)))
    X = np.zeros((1000, 30), np.float32)
    for n in range(1000):
        X[n, [n // 100, 10 + n // 10 % 10, 20 + n % 10]] = 1
    Y = [np.array([chars.index(c) for c in s]) for s in names]
    perm = np.random.default_rng(args.seed).permutation(1000)
    tr, te = perm[:800], perm[800:]
    t = time.time()
    m = OneToMany(hidden_size=args.hidden, embedding_dim=16, epochs=args.epochs, batch_size=32,
                  learning_rate=5e-3, random_state=args.seed).fit(X[tr], [Y[i] for i in tr])
    secs = time.time() - t
    pred = m.predict(X[te])
    for i in range(5):
        print(f"  {te[i]:3d} -> {''.join(chars[k] for k in pred[i] if 0 <= k < len(chars))!r}")
    print(f"numbers to words: train exact match {m.score(X[tr], [Y[i] for i in tr]):.4f}, held-out "
          f"{m.score(X[te], [Y[i] for i in te]):.4f} ({len(te)} unseen numbers), {args.epochs} epochs in {secs:.0f} s")


if __name__ == "__main__":
    main()
