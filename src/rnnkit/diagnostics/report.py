"""``RUN_DIR/report.html``: one self-contained offline page about a training run.

Renders what exists in the run directory (``config.json``, ``metrics.jsonl``,
``checkpoint.npz`` header, ``samples.txt``, ``gradflow.json``, ``attention.png``)
and says what is absent.  Plots are inline SVG (a PNG inline as a data URL); no
scripts, no network.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os

import numpy as np

from .controls_report import controls_section
from .svg import heatmap, line_chart

_CSS = ("body{font-family:sans-serif;max-width:1150px;margin:20px auto;color:#222}"
        "h2{border-bottom:1px solid #ccc;margin-top:28px}.absent{color:#a60}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}.plots{display:flex;flex-wrap:wrap;gap:10px}")


def _real(v):
    """A JSON number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _read_metrics(path):
    """``(rows, skipped)``: the JSON-object lines of ``metrics.jsonl`` with a numeric
    ``step`` (or none), and how many lines were skipped (not UTF-8, not JSON, not an
    object, a non-numeric step)."""
    rows, skipped = [], 0
    if not os.path.isfile(path):
        return rows, skipped
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                row = None
            if not isinstance(row, dict) or ("step" in row and not _real(row["step"])):
                skipped += 1
                continue
            rows.append(row)
    return rows, skipped


def _guarded(what, source, build, *args):
    """``build(*args)``, or an "absent" note naming ``source`` when its entries have the wrong shape."""
    try:
        return build(*args)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError) as exc:
        return _absent(f"{what}: ill-shaped entries in {source} ({type(exc).__name__}: {exc})")


def _read_json(path):
    """``(value, None)`` or ``(None, why)`` for a JSON file that cannot be read."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno}"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except OSError as exc:
        return None, exc.strerror or str(exc)


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


def _by_key(value):
    """A per-layer metric as ``{key: value}``: old runs logged layer ``l0`` bare."""
    return value if isinstance(value, dict) else {"l0": value}


def _rows_subsample(items, limit=120):
    """At most ``limit`` items, evenly spaced, first and last kept (keeps SVGs small)."""
    if len(items) <= limit:
        return items
    idx = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in idx]


def _flow_section(rows):
    """Heatmaps (training step × lag) of ``‖∂L/∂h_{T-1-lag}‖``, one per layer and direction."""
    dh = [(r.get("step", i), _by_key(r["dh_norms"])) for i, r in enumerate(rows)
          if isinstance(r.get("dh_norms"), (list, dict))]
    if not dh:
        return _absent("dh_norms (`rnnkit lm train --record-gradflow` logs them, or step_metrics() from Python)")
    keys = sorted({k for _, d in dh for k in d})
    dh = _rows_subsample(dh)
    plots = []
    for key in keys:
        vals = [(st, d[key]) for st, d in dh if isinstance(d.get(key), list)]
        L = max(len(v) for _, v in vals)
        m = np.full((len(vals), L), np.nan)
        for i, (_, v) in enumerate(vals):
            m[i, :len(v)] = [x if x is not None else np.nan for x in v]
        plots.append(heatmap(m, f"gradient flow, layer {key}: step × lag", "lag T − 1 − t",
                             f"training step {vals[0][0]} … {vals[-1][0]}"))
    return (f"<p>Batch-mean ‖∂L/∂h<sub>t</sub>‖ at each position of the window (columns: lag T − 1 − t, "
            f"0 = last step), for {len(dh)} logged training steps (rows, top = first); colour on a log scale; white = exactly 0.  "
            "A plain RNN's row fades to the right (vanishing gradient); gated cells stay bright.</p>"
            "<div class='plots'>" + "".join(plots) + "</div>")


def _finite_mean(values):
    """The mean of the numbers in ``values`` (a step all of whose sequences were padded is
    logged as null), or NaN when there are none (the chart leaves the point out)."""
    v = [float(x) for x in values if isinstance(x, (int, float)) and math.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def _gate_section(rows):
    """Saturated-unit shares per gate over training, and the forget gate's mean over time."""
    parts = []
    gsat = [r for r in rows if isinstance(r.get("gate_saturation"), dict)]
    if gsat:
        series = {}
        for r in gsat:
            sat = r["gate_saturation"]
            flat = all(isinstance(v, dict) and "low" in v for v in sat.values())
            for key, gates in ({"l0": sat} if flat else sat).items():
                for gate, v in gates.items():
                    val = (v.get("low", 0) + v.get("high", 0)) if isinstance(v, dict) else v
                    xs, ys = series.setdefault(f"{key} gate {gate}", ([], []))
                    xs.append(r.get("step", 0))
                    ys.append(float(val))
        parts.append(line_chart(series, "share of saturated gate units (<0.05 or >0.95)", ylabel="share"))
    fg = [(r.get("step", i), _by_key(r["forget_gate_mean"])) for i, r in enumerate(rows)
          if isinstance(r.get("forget_gate_mean"), (list, dict))]
    if fg:
        keys = sorted({k for _, d in fg for k in d})
        over_steps = {f"{k} mean forget gate": ([st for st, d in fg if k in d],
                                                [_finite_mean(d[k]) for _, d in fg if k in d]) for k in keys}
        parts.append(line_chart(over_steps, "forget gate mean (over time and units) per step", ylabel="mean f"))
        first, last = fg[0], fg[-1]
        over_t = {}
        for st, d in ((first[0], first[1]), (last[0], last[1])):
            for k in keys:
                if k in d:
                    over_t[f"{k}, step {st}"] = (list(range(len(d[k]))), d[k])
        parts.append(line_chart(over_t, "forget gate mean over time t in the window", xlabel="t",
                                ylabel="mean f"))
    if not parts:
        return _absent("gate_saturation / forget_gate_mean (`rnnkit lm train --record-gradflow` logs them; "
                       "a plain RNN has no gates)")
    return "<div class='plots'>" + "".join(parts) + "</div>"


def _config_section(path):
    if not os.path.exists(path):
        return _absent("config.json")
    config, why = _read_json(path)
    if why is None and not isinstance(config, dict):
        why = f"holds a JSON {type(config).__name__}, not an object"
    if why:
        return _absent(f"config.json unreadable ({why})")
    return _guarded("config", "config.json", _table, config)


def _loss_section(rows):
    series = {k: _col(rows, k) for k in ("loss", "val_loss") if _col(rows, k)[1]}
    plots = [line_chart(series, "train and validation loss", ylabel="loss")]
    other = sorted({k for r in rows for k in r if k.startswith("val_") and k not in ("val_loss", "val_bpc")})
    scores = {k: _col(rows, k) for k in other if _col(rows, k)[1]}    # a classifier's val_accuracy, ...
    if scores:
        plots.append(line_chart(scores, "validation metrics", ylabel="score"))
    out = "<div class='plots'>" + "".join(plots) + "</div>"
    if "val_loss" not in series and not scores:
        out += _absent("validation metrics (none logged: train with validation data)")
    return out


def _grad_section(rows):
    gs = {k: _col(rows, k) for k in ("grad_norm", "grad_norm_clipped") if _col(rows, k)[1]}
    if not gs:
        return _absent("grad_norm (`rnnkit lm train` logs it, or step_metrics() from Python)")
    out = ""
    plots = [line_chart(gs, "global gradient norm (before / after clipping)", ylabel="‖g‖", logy=True)]
    cx, cy = _col(rows, "clipped")
    if cy:
        rate = np.cumsum(cy) / np.arange(1, len(cy) + 1)
        plots.append(line_chart({"share of steps clipped so far": (cx, list(rate))},
                                "clipping rate", ylabel="share"))
        out += (f"<p>clipped on {int(np.sum(cy))} of {len(cy)} logged steps "
                f"({100 * np.mean(cy):.1f}%).</p>")
    return out + "<div class='plots'>" + "".join(plots) + "</div>"


def _timing_section(rows):
    tx, ty = _col(rows, "tokens_per_s")
    sx, sy = _col(rows, "seconds")
    if not ty:
        return _absent("tokens_per_s (`rnnkit lm train --record-gradflow` logs step times)")
    note = f", {np.median(sy) * 1e3:.1f} ms per step (median), {np.sum(sy):.1f} s in logged steps" if sy else ""
    return (f"<p>median {np.median(ty):.0f} tokens/s over {len(ty)} logged steps{note}.</p>"
            "<div class='plots'>" + line_chart({"tokens/s": (tx, ty)}, "throughput", ylabel="tokens/s") + "</div>")


def _metrics_sections(rows, skipped):
    """Loss, gradient norm, flow, gates and timings from the metric lines."""
    src = "metrics.jsonl"
    out = ["<h2>Loss</h2>"]
    if not rows:
        return out + [_absent("metrics.jsonl (no metrics logged"
                              + (f"; {skipped} unreadable line(s) skipped)" if skipped else ")"))]
    if skipped:
        out.append(_absent(f"{skipped} unreadable or ill-shaped line(s) in metrics.jsonl, skipped"))
    out.append(_guarded("loss", src, _loss_section, rows))
    out += ["<h2>Learning rate and early stopping</h2>", _guarded("lr / stop", src, controls_section, rows)]
    out += ["<h2>Gradient norm and clipping</h2>", _guarded("gradient norm", src, _grad_section, rows)]
    out += ["<h2>Gradient flow through time</h2>", _guarded("dh_norms", src, _flow_section, rows)]
    out += ["<h2>Gate saturation and forget gate</h2>",
            _guarded("gate_saturation / forget_gate_mean", src, _gate_section, rows)]
    out += ["<h2>Timings</h2>", _guarded("timings", src, _timing_section, rows)]
    last_loss = next((r["loss"] for r in reversed(rows) if _real(r.get("loss"))), float("nan"))
    out.append(f"<p>{len(rows)} metric lines, last step {rows[-1].get('step', '?')}, "
               f"last training loss {last_loss:.4f}.</p>")
    return out


def _gradflow_file_section(path):
    if not os.path.exists(path):
        return _absent("gradflow.json (run `rnnkit gradflow --out RUN_DIR` to add it)")
    gf, why = _read_json(path)
    if why is None and not (isinstance(gf, dict) and isinstance(gf.get("cells"), dict)
                            and all(isinstance(r, dict) for r in gf["cells"].values())):
        why = "no 'cells' table of per-cell results"
    if why:
        return _absent(f"gradflow.json unreadable ({why}); rerun `rnnkit gradflow --out RUN_DIR`")
    return _guarded("gradient-flow experiment", "gradflow.json", gradflow_section, gf)


def _samples_section(path):
    if not os.path.exists(path):
        return _absent("samples.txt")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return f"<pre>{html.escape(fh.read()[:20000])}</pre>"
    except OSError as exc:
        return _absent(f"samples.txt unreadable ({exc.strerror or exc})")


def _attention_section(path):
    """A seq2seq run's attention map (``attention.png``), inline."""
    if not os.path.isfile(path):
        return _absent("attention.png (not a file)")
    try:
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
    except OSError as exc:
        return _absent(f"attention.png unreadable ({exc.strerror or exc})")
    return ("<p>Attention weights of the first example, source across, output down.</p>"
            f"<img alt='attention map' src='data:image/png;base64,{data}'>")


def build_report(run_dir):
    """The report page's HTML for ``run_dir``; files that are missing, unreadable or
    of the wrong shape are reported as absent (naming the file), never raised."""
    e = html.escape
    f = lambda n: os.path.join(run_dir, n)  # noqa: E731
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>rnnkit report: {e(run_dir)}</title>"
           f"<style>{_CSS}</style></head><body><h1>Training report</h1><p>{e(os.path.abspath(run_dir))}</p>"]
    out += ["<h2>Config</h2>", _config_section(f("config.json"))]
    out += _metrics_sections(*_read_metrics(f("metrics.jsonl")))
    out += ["<h2>Gradient-flow experiment</h2>", _gradflow_file_section(f("gradflow.json"))]
    out += ["<h2>Samples</h2>", _samples_section(f("samples.txt"))]
    if os.path.lexists(f("attention.png")):            # a seq2seq run with attention draws it
        out += ["<h2>Attention</h2>", _attention_section(f("attention.png"))]
    out.append("<h2>Checkpoint</h2>")
    if os.path.isfile(f("checkpoint.npz")):
        out.append(f"<p>checkpoint.npz present ({os.path.getsize(f('checkpoint.npz'))} bytes).</p>")
    else:
        out.append(_absent("checkpoint.npz"))
    out.append("</body></html>")
    return "".join(out)


def _ratio_text(v):
    return "0 (float32 underflow)" if v == 0 else _num(v, ".3g")


def _num(v, fmt):
    """``v`` formatted, or "—" for a missing or non-finite value (gradflow.json writes a diverged one as null)
    and for anything that is not a number (a crafted file's text never reaches the page)."""
    if fmt == "d" and isinstance(v, float) and v.is_integer():
        v = int(v)
    ok = _real(v) and math.isfinite(v) and (fmt != "d" or isinstance(v, int))
    return format(v, fmt) if ok else "—"


def _gradflow_table(cells):
    e = html.escape
    rows = "".join(f"<tr><td>{e(c)}</td><td>{_ratio_text(r['ratio_init'])}</td><td>{_ratio_text(r['ratio_trained'])}</td>"
                   f"<td>{_num(r.get('test_mse_init'), '.4f')} → {_num(r.get('test_mse', r.get('loss_last')), '.4f')}"
                   f"</td><td>{_num(r.get('clip_rate', 0), '.2f')}</td><td>{_num(r.get('steps_run'), 'd')}</td>"
                   f"<td>{_num(r.get('solved_step'), 'd')}</td></tr>"
                   for c, r in cells.items())
    return ("<table><tr><th>cell</th><th>‖∂L/∂h₁‖/‖∂L/∂h_T‖ at init</th><th>after training</th>"
            "<th>test MSE init → trained (constant answer: 0.167)</th><th>share of steps clipped</th>"
            f"<th>steps</th><th>train MSE &lt; 0.05 by step</th></tr>{rows}</table>")


def gradflow_section(gf):
    """HTML for a saved ``gradflow_experiment`` result (lists, as in gradflow.json)."""
    e = html.escape
    head = (f"<p>Adding problem, T = {_num(gf.get('T'), 'd')}, {_num(gf.get('steps'), 'd')} Adam steps per cell "
            f"(lr {_num(gf.get('lr'), 'g')}, batch {_num(gf.get('batch'), 'd')}), clip {_num(gf.get('clip'), 'g')}; "
            f"{e(str(gf.get('date', '')))}.</p>")
    s = head + _gradflow_table(gf["cells"])
    plots = []
    for key in ("init", "trained"):
        series = {c: (list(range(len(r[key]))), r[key][::-1]) for c, r in gf["cells"].items()}
        plots.append(line_chart(series, f"‖∂L_T/∂h_t‖ vs T − t ({key})", xlabel="T − t", ylabel="norm", logy=True))
    curves = {}
    every = gf.get("record_every") if _real(gf.get("record_every")) else None
    for c, r in gf["cells"].items():
        if r.get("loss_curve"):
            w = every or -(-r["steps_run"] // len(r["loss_curve"]))   # block width (older files: a guess)
            curves[c] = ([min((i + 1) * w, r["steps_run"]) for i in range(len(r["loss_curve"]))], r["loss_curve"])
    if curves:
        plots.append(line_chart(curves, "train MSE during training (block means)", ylabel="MSE", logy=True))
    for name, cells in gf.get("extras", {}).items():
        s += f"<h3>{e(name.replace('_', ' '))}</h3>" + _gradflow_table(cells)
        series = {c: (list(range(len(r["trained"]))), r["trained"][::-1]) for c, r in cells.items()}
        plots.append(line_chart(series, f"‖∂L_T/∂h_t‖ vs T − t (trained, {name.replace('_', ' ')})",
                                xlabel="T − t", ylabel="norm", logy=True))
    strides = set()
    for c, r in gf["cells"].items():
        h = r.get("history") or {}
        if h.get("dh_norms"):
            rows = _rows_subsample(list(zip(h["step"], h["dh_norms"])))
            strides.update(b[0] - a[0] for a, b in zip(rows, rows[1:]))
            plots.append(heatmap(np.asarray([v for _, v in rows], float), f"{c}: training step × lag",
                                 "lag T − t", f"step {rows[0][0]} … {rows[-1][0]}", width=380, height=240))
    rows_are = (f"every {strides.pop()} steps" if len(strides) == 1 else
                "recorded steps, evenly thinned" if strides else "recorded steps")
    return (s + "<div class='plots'>" + "".join(plots) + "</div><p>Heatmaps: batch-mean ‖∂L_T/∂h_t‖ of the "
            f"training batches (float32), {rows_are} (rows, top = first) by lag T − t (columns); colour on a "
            "log scale; white = exactly 0 (underflow).</p>")


def write_report(run_dir):
    """Write ``run_dir/report.html``; returns its path."""
    from ..io.files import atomic_write

    from ..runs import RunDir

    RunDir(run_dir, create=False)                      # a file, or missing: one line naming it
    page = build_report(run_dir).encode("utf-8")
    path = os.path.join(run_dir, "report.html")
    try:
        atomic_write(path, lambda fh: fh.write(page), suffix=".html")
    except OSError as exc:
        raise OSError(f"cannot write {path} ({exc.strerror or exc}); make {run_dir} writable") from None
    return path
