"""PNG plot of history, forecast, interval and actuals (matplotlib, Agg, imported lazily)."""
from __future__ import annotations

import numpy as np

from .._frames import as_array
from ..io.files import save_figure


def plot_forecast(path, history, forecast, lower=None, upper=None, actual=None, title="forecast", names=None,
                  times=None):
    """``times``: the x coordinates of the history followed by the forecast steps
    (``len(history) + max(len(forecast), len(actual))`` of them): datetimes
    (``datetime64``, ``datetime`` or a pandas DatetimeIndex) put dates on the axis.
    Without ``times``, pandas inputs use their index (history's then forecast's),
    else step numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if times is None and hasattr(history, "index") and hasattr(forecast, "index"):
        times = np.concatenate([np.asarray(history.index), np.asarray(forecast.index)])
    to2d = lambda a: np.atleast_2d(np.asarray(as_array(a)).T).T  # noqa: E731
    history, forecast = to2d(history), to2d(forecast)
    n, h = len(history), len(forecast)
    a = None if actual is None else to2d(actual)
    span = n + max(h, 0 if a is None else len(a))
    if times is None:
        x = np.arange(span)
    else:
        x = np.asarray(times)
        if len(x) < span:
            raise ValueError(f"times has {len(x)} values; the plot needs {span} (history and forecast)")
    dates = np.issubdtype(x.dtype, np.datetime64) or x.dtype == object
    C = history.shape[1]
    fig, axes = plt.subplots(C, 1, figsize=(9, 3 * C), squeeze=False)
    for j in range(C):
        ax = axes[j, 0]
        ax.plot(x[:n], history[:, j], color="k", lw=1, label="history")
        t = x[n: n + h]
        ax.plot(t, forecast[:, j], color="C0", lw=1.5, label="forecast")
        if lower is not None:
            ax.fill_between(t, to2d(lower)[:, j], to2d(upper)[:, j], color="C0", alpha=0.25,
                            label="interval")
        if a is not None:
            ax.plot(x[n: n + len(a)], a[:, j], color="C3", lw=1, ls="--", label="actual")
        ax.set_title(f"{title}: {names[j] if names else j}")
        ax.legend(loc="upper left", fontsize=8)
        if dates:
            import matplotlib.dates as mdates

            loc = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=80)          # atomic, never through a link
    finally:
        plt.close(fig)
    return path
