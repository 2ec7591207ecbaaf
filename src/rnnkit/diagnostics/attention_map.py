"""The attention weights of one decoded sequence as a heat map (PNG, matplotlib):
source tokens across (columns), output tokens down (rows, the first output at
the top), each cell the weight ``α_ts`` from 0 (dark) to 1 (bright).

The figure is ``figure_size(S, T)`` inches at 100 dpi: 0.25 in per source
token plus 2.5 in (5 to 16 in), 0.25 in per output token plus 1.8 in (3 to
12 in); a map wider than 40 tokens labels every few tokens only.
"""
from __future__ import annotations

import numpy as np

DPI = 100


def figure_size(S, T):
    """``(width, height)`` in inches of the map of ``S`` source and ``T`` output tokens."""
    return float(np.clip(2.5 + 0.25 * S, 5, 16)), float(np.clip(1.8 + 0.25 * T, 3, 12))


def _ticks(labels):
    """Tick positions and labels, at most about 40 of them; a space shows as ␣."""
    every = max(1, -(-len(labels) // 40))
    pos = list(range(0, len(labels), every))
    return pos, [str(labels[i]).replace(" ", "␣") or "''" for i in pos]


def draw_attention(weights, source, target, path, title="attention weights"):
    """Write the heat map of ``weights`` ``(T, S)`` to ``path`` (PNG); ``source``
    and ``target``: the ``S`` and ``T`` token labels.  Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape != (len(target), len(source)):
        raise ValueError(f"weights have shape {w.shape} but there are {len(target)} output and {len(source)} "
                         "source tokens; pass one row per output token and one column per source token")
    fig, ax = plt.subplots(figsize=figure_size(len(source), len(target)), dpi=DPI)
    if w.shape[0] == 0:
        ax.text(0.5, 0.5, "empty output: nothing attended", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        for setter, labels in ((ax.set_xticks, source), (ax.set_yticks, target)):
            pos, text = _ticks(labels)
            setter(pos, text, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    try:
        from ..io.files import save_figure
        save_figure(fig, path, dpi=DPI)          # atomic, never through a link
    finally:
        plt.close(fig)
    return path
