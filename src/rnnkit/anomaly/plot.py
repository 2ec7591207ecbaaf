"""PNG of series, score, threshold, flags and labels (matplotlib Agg, imported lazily)."""
from __future__ import annotations

import numpy as np

from ..io.files import save_figure


def plot_detection(path, x, result, labels=None, title="anomaly detection"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(x)
    x = x[:, None] if x.ndim == 1 else x
    t = np.arange(len(x))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    a1.plot(t, x, lw=0.8)
    for s, e in result["intervals"]:
        a1.axvspan(s, e + 1, color="C3", alpha=0.3)
        a2.axvspan(s, e + 1, color="C3", alpha=0.3)
    if labels is not None:
        lab = np.asarray(labels, bool)
        lo, hi = np.nanmin(x), np.nanmax(x)
        a1.fill_between(t, lo, hi, where=lab, color="C2", alpha=0.2, step="mid", label="labelled")
        a1.legend(loc="upper left", fontsize=8)
    a1.set_title(f"{title} (red: flagged)")
    a2.plot(t, result["smoothed"], lw=0.8, label="smoothed score")
    a2.plot(t, result["threshold"], lw=0.8, color="k", ls="--", label="threshold")
    a2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=80)          # atomic, never through a link
    finally:
        plt.close(fig)
    return path
