"""SequenceClassifier on BasicMotions (UEA multivariate archive: 6 channels of
accelerometer and gyroscope, 100 steps, 4 classes, 40 train / 40 test cases).

The data comes offline from the ``aeon`` package's data folder (install it with
``pip install --no-deps aeon``; aeon itself is never imported) and is read with
rnnkit's own ``.ts`` reader, the one ``rnnkit classify`` uses.

    PYTHONPATH=src python benchmarks/models_basicmotions.py [--seeds 0 1 2]
"""
import argparse
import importlib.util
import os
import time

import numpy as np

from rnnkit.data.series import read_ts
from rnnkit.models import SequenceClassifier


def aeon_dataset(name):
    spec = importlib.util.find_spec("aeon")
    if spec is None:
        raise SystemExit("aeon is not installed; pip install --no-deps aeon (only its data files are used)")
    folder = os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)
    return os.path.join(folder, f"{name}_TRAIN.ts"), os.path.join(folder, f"{name}_TEST.ts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    train, test = aeon_dataset("BasicMotions")
    Xtr, ytr = read_ts(train)
    Xte, yte = read_ts(test)
    print(f"BasicMotions: {len(Xtr)} train, {len(Xte)} test, {Xtr[0].shape} per case, classes {sorted(set(ytr))}")
    accs = []
    for seed in args.seeds:
        t = time.time()
        clf = SequenceClassifier(cell="lstm", hidden_size=32, bidirectional=True, pooling="max",
                                 epochs=args.epochs, batch_size=8, learning_rate=5e-3, random_state=seed)
        clf.fit(Xtr, ytr)
        acc = clf.score(Xte, yte)
        accs.append(acc)
        print(f"seed {seed}: test accuracy {acc:.3f}  train {clf.score(Xtr, ytr):.3f}  "
              f"final loss {clf.loss_curve_[-1]:.4f}  {time.time() - t:.1f} s")
    print(f"mean test accuracy over {len(accs)} seeds: {np.mean(accs):.3f} (min {min(accs):.3f})")


if __name__ == "__main__":
    main()
