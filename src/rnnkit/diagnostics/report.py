"""``RUN_DIR/report.html``: one self-contained offline page about a training run.

Renders what exists in the run directory (``config.json``, ``metrics.jsonl``,
``checkpoint.npz`` header, ``samples.txt``, ``gradflow.json``) and says what is
absent.  Plots are inline SVG; no scripts, no network.
"""
from __future__ import annotations

import html
import json
import os

import numpy as np

from .svg import heatmap, line_chart

_CSS = ("body{font-family:sans-serif;max-width:1150px;margin:20px auto;color:#222}"
        "h2{border-bottom:1px solid #ccc;margin-top:28px}.absent{color:#a60}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}.plots{display:flex;flex-wrap:wrap;gap:10px}")


def _read_metrics(path):
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    return rows


def _col(rows, key):
    xs = [r.get("step", i) for i, r in enumerate(rows) if isinstance(r.get(key), (int, float))]
    ys = [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return xs, ys


def _table(d):
    e = html.escape
    return "<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                               for k, v in sorted(d.items())) + "</table>"


def _absent(what):
    return f'<p class="absent">absent: {html.escape(what)}</p>'


def build_report(run_dir):
    """The report page's HTML for ``run_dir``."""
    e = html.escape
    f = lambda n: os.path.join(run_dir, n)  # noqa: E731
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>rnnkit report: {e(run_dir)}</title>"
           f"<style>{_CSS}</style></head><body><h1>Training report</h1><p>{e(os.path.abspath(run_dir))}</p>"]
    out.append("<h2>Config</h2>")
    if os.path.exists(f("config.json")):
        try:
            with open(f("config.json"), encoding="utf-8") as fh:
                out.append(_table(json.load(fh)))
        except (OSError, json.JSONDecodeError) as exc:
            out.append(_absent(f"config.json unreadable ({exc})"))
    else:
        out.append(_absent("config.json"))
    rows = _read_metrics(f("metrics.jsonl"))
    out.append("<h2>Loss</h2>")
    if not rows:
        out.append(_absent("metrics.jsonl (no metrics logged)"))
    else:
        series = {k: _col(rows, k) for k in ("loss", "val_loss") if _col(rows, k)[1]}
        out.append("<div class='plots'>" + line_chart(series, "train and validation loss", ylabel="loss") + "</div>")
        if "val_loss" not in series:
            out.append(_absent("val_loss (no validation metrics)"))
        out.append("<h2>Gradient norm and clipping</h2>")
        gs = {k: _col(rows, k) for k in ("grad_norm", "grad_norm_clipped") if _col(rows, k)[1]}
        if gs:
            plots = [line_chart(gs, "global gradient norm (before / after clipping)", ylabel="‖g‖", logy=True)]
            cx, cy = _col(rows, "clipped")
            if cy:
                rate = np.cumsum(cy) / np.arange(1, len(cy) + 1)
                plots.append(line_chart({"share of steps clipped so far": (cx, list(rate))},
                                        "clipping rate", ylabel="share"))
                out.append(f"<p>clipped on {int(np.sum(cy))} of {len(cy)} logged steps "
                           f"({100 * np.mean(cy):.1f}%).</p>")
            out.append("<div class='plots'>" + "".join(plots) + "</div>")
        else:
            out.append(_absent("grad_norm (log step_metrics() to get it)"))
        out.append("<h2>Gradient flow through time</h2>")
        dh = [(r.get("step", i), r["dh_norms"]) for i, r in enumerate(rows) if isinstance(r.get("dh_norms"), list)]
        if dh:
            L = max(len(v) for _, v in dh)
            m = np.full((len(dh), L), np.nan)
            for i, (_, v) in enumerate(dh):
                m[i, :len(v)] = [x if x is not None else np.nan for x in v]
            out.append(f"<p>‖∂L/∂h<sub>T−lag</sub>‖ for logged steps {dh[0][0]}…{dh[-1][0]} (rows, top = first) "
                       "by lag (columns); colour on a log scale.</p>")
            out.append("<div class='plots'>" + heatmap(m, "gradient flow: step × lag", "lag T − t",
                                                        "training step") + "</div>")
        else:
            out.append(_absent("dh_norms (gradient flow per lag not logged)"))
        out.append("<h2>Gate saturation</h2>")
        gsat = [r for r in rows if isinstance(r.get("gate_saturation"), dict)]
        if gsat:
            series = {}
            for r in gsat:
                for gate, v in r["gate_saturation"].items():
                    val = (v.get("low", 0) + v.get("high", 0)) if isinstance(v, dict) else v
                    xs, ys = series.setdefault(f"gate {gate}", ([], []))
                    xs.append(r.get("step", 0))
                    ys.append(float(val))
            out.append("<div class='plots'>" + line_chart(series, "share of saturated gate units (<0.05 or >0.95)",
                                                          ylabel="share") + "</div>")
        else:
            out.append(_absent("gate_saturation"))
        out.append("<h2>Timings</h2>")
        tx, ty = _col(rows, "tokens_per_s")
        if ty:
            out.append(f"<p>median {np.median(ty):.0f} tokens/s over {len(ty)} logged steps.</p>"
                       "<div class='plots'>" + line_chart({"tokens/s": (tx, ty)}, "throughput",
                                                           ylabel="tokens/s") + "</div>")
        else:
            out.append(_absent("tokens_per_s"))
        out.append(f"<p>{len(rows)} metric lines, last step {rows[-1].get('step', '?')}, "
                   f"last loss {rows[-1].get('loss', float('nan')):.4f}.</p>")
    out.append("<h2>Gradient-flow experiment</h2>")
    if os.path.exists(f("gradflow.json")):
        with open(f("gradflow.json"), encoding="utf-8") as fh:
            gf = json.load(fh)
        out.append(gradflow_section(gf))
    else:
        out.append(_absent("gradflow.json (run `rnnkit gradflow --out RUN_DIR` to add it)"))
    out.append("<h2>Samples</h2>")
    if os.path.exists(f("samples.txt")):
        with open(f("samples.txt"), encoding="utf-8", errors="replace") as fh:
            out.append(f"<pre>{e(fh.read()[:20000])}</pre>")
    else:
        out.append(_absent("samples.txt"))
    out.append("<h2>Checkpoint</h2>")
    if os.path.exists(f("checkpoint.npz")):
        out.append(f"<p>checkpoint.npz present ({os.path.getsize(f('checkpoint.npz'))} bytes).</p>")
    else:
        out.append(_absent("checkpoint.npz"))
    out.append("</body></html>")
    return "".join(out)


def gradflow_section(gf):
    """HTML for a saved ``gradflow_experiment`` result (lists, as in gradflow.json)."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(c)}</td><td>{r['ratio_init']:.3e}</td><td>{r['ratio_trained']:.3e}</td>"
                   f"<td>{r['loss_first']:.4f} → {r['loss_last']:.4f}</td></tr>" for c, r in gf["cells"].items())
    s = ("<table><tr><th>cell</th><th>‖∂L/∂h₁‖/‖∂L/∂h_T‖ at init</th><th>after training</th>"
         f"<th>loss</th></tr>{rows}</table>")
    plots = []
    for key in ("init", "trained"):
        series = {c: (list(range(len(r[key]))), r[key][::-1]) for c, r in gf["cells"].items()}
        plots.append(line_chart(series, f"‖∂L_T/∂h_t‖ vs T − t ({key})", xlabel="T − t", ylabel="norm", logy=True))
    return s + "<div class='plots'>" + "".join(plots) + "</div>"


def write_report(run_dir):
    """Write ``run_dir/report.html``; returns its path."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist; pass the --out directory of a training run")
    path = os.path.join(run_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build_report(run_dir))
    return path
