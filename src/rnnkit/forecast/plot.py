"""PNG plot of history, forecast, interval and actuals (matplotlib, Agg, imported lazily)."""
from __future__ import annotations

import numpy as np

from ..io.files import save_figure


def plot_forecast(path, history, forecast, lower=None, upper=None, actual=None, title="forecast", names=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history, forecast = np.atleast_2d(np.asarray(history).T).T, np.atleast_2d(np.asarray(forecast).T).T
    n, h = len(history), len(forecast)
    C = history.shape[1]
    fig, axes = plt.subplots(C, 1, figsize=(9, 3 * C), squeeze=False)
    for j in range(C):
        ax = axes[j, 0]
        ax.plot(np.arange(n), history[:, j], color="k", lw=1, label="history")
        t = np.arange(n, n + h)
        ax.plot(t, forecast[:, j], color="C0", lw=1.5, label="forecast")
        if lower is not None:
            ax.fill_between(t, np.asarray(lower)[:, j], np.asarray(upper)[:, j], color="C0", alpha=0.25,
                            label="interval")
        if actual is not None:
            a = np.atleast_2d(np.asarray(actual).T).T
            ax.plot(np.arange(n, n + len(a)), a[:, j], color="C3", lw=1, ls="--", label="actual")
        ax.set_title(f"{title}: {names[j] if names else j}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=80)          # atomic, never through a link
    finally:
        plt.close(fig)
    return path
