"""Activation view for character models (after Karpathy, Johnson & Fei-Fei 2015,
"Visualizing and Understanding Recurrent Networks").

``text_features(text)`` gives simple per-character features; ``feature_search``
ranks hidden units by the absolute Pearson correlation of their activation with
each feature; ``activation_page`` writes a self-contained HTML page with each
character's background coloured by a unit's activation (blue −1 … red +1).
"""
from __future__ import annotations

import html

import numpy as np


def text_features(text):
    """``{name: (N,) float}``: inside double quotes (quote marks included), inside brackets (any of
    ``([{``), position in line, indentation depth (leading spaces of the line)."""
    n = len(text)
    quote, brack, pos, indent = (np.zeros(n) for _ in range(4))
    inq, depth, col, ind, lead = False, 0, 0, 0, True
    for i, ch in enumerate(text):
        was = inq
        if ch == '"':
            inq = not inq
        if ch in "([{":
            depth += 1
        quote[i], brack[i], pos[i], indent[i] = inq or was, depth > 0, col, ind
        if ch in ")]}":
            depth = max(depth - 1, 0)
        if ch == "\n":
            col, ind, lead = 0, 0, True
        else:
            col += 1
            if lead and ch == " ":
                ind += 1
            else:
                lead = False
    return {"inside quotes": quote, "inside brackets": brack, "position in line": pos, "indentation": indent}


def hidden_states(net, ids):
    """Top-layer hidden activations ``(N, H)`` of a TokenRNN over a 1-D id sequence."""
    x = net._inputs(np.asarray(ids)[None])
    h, _ = net.rnn.forward(x, None, keep_cache=False)
    return np.asarray(h[0])


def feature_search(acts, features, top=3):
    """``{feature: [(unit, r), ...]}`` best ``top`` units by ``|corr|``."""
    acts = np.asarray(acts, float)
    a = acts - acts.mean(0)
    an = np.sqrt((a ** 2).sum(0)) + 1e-12
    out = {}
    for name, f in features.items():
        f = np.asarray(f, float) - np.mean(f)
        fn = np.sqrt((f ** 2).sum())
        if fn == 0:
            out[name] = []
            continue
        r = (a * f[:, None]).sum(0) / (an * fn)
        order = np.argsort(-np.abs(r))[:top]
        out[name] = [(int(u), float(r[u])) for u in order]
    return out


def _span(ch, v):
    v = float(np.clip(v, -1, 1))
    col = f"rgba(220,40,40,{v:.2f})" if v >= 0 else f"rgba(40,90,220,{-v:.2f})"
    c = "⏎\n" if ch == "\n" else ch
    return f'<span style="background:{col}" title="{v:+.3f}">{html.escape(c)}</span>'


def activation_page(text, acts, path, units=None, features=None, title="activation view"):
    """Write the page: one coloured text block per unit in ``units`` (default:
    the best unit per feature), plus the feature-search table."""
    acts = np.asarray(acts)
    if acts.ndim != 2 or acts.shape[0] != len(text):
        steps = acts.shape[0] if acts.ndim == 2 else f"shape {acts.shape}, not (steps, units)"
        byte_hint = (" (a byte-level model reads the text's UTF-8 bytes: pass "
                     "text.encode('utf-8').decode('latin-1'), one character per byte)"
                     if acts.ndim == 2 and acts.shape[0] == len(text.encode("utf-8")) else "")
        raise ValueError(f"the activations cover {steps} steps but the text has {len(text)} characters; "
                         f"compute them over this text's tokens{byte_hint}")
    features = text_features(text) if features is None else features
    found = feature_search(acts, features)
    if units is None:
        units = []
        for v in found.values():
            if v and v[0][0] not in units:
                units.append(v[0][0])
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:sans-serif;max-width:1150px;margin:20px auto}"
             ".text{font-family:monospace;white-space:pre-wrap;border:1px solid #ccc;padding:6px;line-height:1.5}"
             "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px}</style></head><body>"
             f"<h1>{e(title)}</h1><p>Background: unit activation, blue −1 … white 0 … red +1 "
             "(hover a character for the value).</p><h2>Units that track simple features</h2>"
             "<table><tr><th>feature</th><th>best units (Pearson r)</th></tr>"]
    for name, v in found.items():
        parts.append(f"<tr><td>{e(name)}</td><td>{', '.join(f'unit {u} (r={r:+.2f})' for u, r in v)}</td></tr>")
    parts.append("</table>")
    for u in units:
        parts.append(f"<h2>unit {int(u)}</h2><div class='text activation' data-unit='{int(u)}'>"
                     + "".join(_span(ch, acts[i, u]) for i, ch in enumerate(text)) + "</div>")
    parts.append("</body></html>")
    from ..io.files import atomic_write_text
    atomic_write_text(path, "".join(parts), suffix=".html")
    return found
