"""Flags to intervals, and point / event precision, recall, F1 and lead time.

Events are maximal runs of consecutive labelled (or flagged) steps.  A labelled
event ``[a, b]`` is *detected* when some flag falls in ``[a − early, b]``; its lead
time is ``a − (first such flag)``: positive means the alert came before the
labelled onset, negative that it came that many steps after it.  A flagged
interval is a *true* alert when it overlaps some ``[a − early, b]``.
Flagged runs separated by at most ``gap`` steps form one interval (one alert).
Event precision = true alerts / flagged intervals; event recall = detected events /
labelled events.
"""
from __future__ import annotations

import numpy as np


def intervals(flags, gap=0):
    """``[(start, end), ...]`` inclusive index pairs of the runs of ``True``; runs
    separated by at most ``gap`` unflagged steps are merged into one interval."""
    f = np.asarray(flags, bool).astype(np.int8)
    d = np.diff(np.r_[0, f, 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if out and s - out[-1][1] - 1 <= gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _prf(tp, n_pred, n_true):
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _same_length(flags, labels):
    """``flags`` and ``labels`` as 1-D bool arrays; raises when their lengths differ."""
    f, y = np.asarray(flags, bool).reshape(-1), np.asarray(labels, bool).reshape(-1)
    if len(f) != len(y):
        raise ValueError(f"flags has {len(f)} steps but labels has {len(y)}; pass one label per step")
    return f, y


def point_scores(flags, labels):
    f, y = _same_length(flags, labels)
    p, r, f1 = _prf(int((f & y).sum()), int(f.sum()), int(y.sum()))
    return {"precision": p, "recall": r, "f1": f1}


def event_scores(flags, labels, early=0, gap=0):
    """Event-level scores; flagged runs closer than ``gap`` steps count as one alert."""
    flags, labels = _same_length(flags, labels)
    if early < 0 or gap < 0:
        raise ValueError(f"early and gap must be >= 0, got early={early}, gap={gap}")
    events, alerts = intervals(labels), intervals(flags, gap)
    leads, detected = [], 0
    for a, b in events:
        lo = max(a - early, 0)
        hit = np.flatnonzero(flags[lo: b + 1])
        if hit.size:
            detected += 1
            leads.append(int(a - (lo + hit[0])))
        else:
            leads.append(None)
    true_alerts = sum(any(s <= b and e >= max(a - early, 0) for a, b in events) for s, e in alerts)
    p = true_alerts / len(alerts) if alerts else 0.0
    r = detected / len(events) if events else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    got = [v for v in leads if v is not None]
    return {"precision": p, "recall": r, "f1": f1, "events": len(events), "detected": detected,
            "alerts": len(alerts), "lead_times": leads,
            "mean_lead": float(np.mean(got)) if got else None}


def false_alerts_per_1000(flags, labels, early=0, gap=0):
    """Alerts (flagged intervals, runs ``gap`` apart merged) that overlap no labelled
    event's ``[a − early, b]``, per 1000 steps of ``flags``."""
    ev = event_scores(flags, labels, early, gap)
    false = ev["alerts"] - int(round(ev["precision"] * ev["alerts"]))
    return 1000.0 * false / max(len(np.asarray(flags).reshape(-1)), 1)
