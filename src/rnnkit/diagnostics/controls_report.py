"""The report's section on the training controls (:mod:`rnnkit.callbacks`): the
learning rate logged on each ``metrics.jsonl`` line, and the ``stop`` line an
early stop writes (``stop``, ``best``, ``best_at``, ``restored``)."""
from __future__ import annotations

import html

from .svg import line_chart


def _series(rows, key):
    pts = [(r["step"], float(r[key])) for r in rows
           if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool) and "step" in r]
    return ([p[0] for p in pts], [p[1] for p in pts]) if pts else None


def _at(where):
    """The step or epoch number of ``"epoch 7"`` / ``"step 400"``, else ``None``."""
    try:
        return float(str(where).split()[-1])
    except (ValueError, IndexError):
        return None


def controls_section(rows):
    """HTML: the learning-rate curve and the losses with the stop and the best
    step marked; an "absent" note when the run logged neither."""
    stop = next((r for r in reversed(rows) if isinstance(r.get("stop"), str)), None)
    lr = _series(rows, "lr")
    if lr is None and stop is None:
        return ('<p class="absent">absent: lr and stop (logged by runs of this version; pass --lr-schedule or '
                '--early-stopping to a train command)</p>')
    markers = []
    out = ""
    if stop is not None:
        best = _at(stop.get("best_at"))
        if best is not None:
            markers.append((best, f"best ({stop.get('best_at')})"))
        markers.append((stop.get("step", 0), "stopped"))
        out += f"<p><b>Stopped early</b>: {html.escape(stop['stop'])}.</p>"
    else:
        out += "<p>Training ran its full course (no control stopped it).</p>"
    plots = []
    if lr is not None:
        lo, hi = min(lr[1]), max(lr[1])
        what = "constant" if hi == lo else f"from {lr[1][0]:.3g} to {lr[1][-1]:.3g} (range {lo:.3g}–{hi:.3g})"
        out += f"<p>Learning rate {what}.</p>"
        plots.append(line_chart({"learning rate": lr}, "scheduled learning rate", ylabel="lr", markers=markers))
    losses = {k: s for k in ("loss", "val_loss") if (s := _series(rows, k)) is not None}
    if losses and markers:
        plots.append(line_chart(losses, "loss, with the early stop", ylabel="loss", markers=markers))
    return out + "<div class='plots'>" + "".join(plots) + "</div>"
