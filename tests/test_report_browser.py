"""The run report and the activation page, opened in headless Chromium.

Needs Debian's ``chromium`` (``.ci/run`` installs it).  Under ``CI=true`` a
missing browser is a failure, not a skip.
"""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from rnnkit.diagnostics import activation_page, gate_saturation, step_metrics, write_report
from rnnkit.diagnostics.activation import hidden_states
from rnnkit.models import TokenRNN
from rnnkit.optim import Adam
from rnnkit.runs import RunDir
from rnnkit.train import fit_stream

TEXT = ('def f(x):\n    if x:\n        return "yes (x)"\n    return [x, "no"]\n' * 6)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("RNNKIT_SCREENSHOT_DIR")


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed but CI=true; .ci/run must install it")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def _open(exe, page, tmp_path, tag):
    """Load ``page``: return (dom, console lines); save a screenshot."""
    ud = tmp_path / f"profile-{tag}"
    url = "file://" + os.path.abspath(page)
    run = subprocess.run([exe, *FLAGS, f"--user-data-dir={ud}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    shot = tmp_path / f"{tag}.png"
    subprocess.run([exe, *FLAGS, f"--user-data-dir={ud}", f"--screenshot={shot}", "--window-size=1200,1600",
                    url], capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 5000, "no screenshot written"
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        shutil.copy(shot, os.path.join(SHOTS, f"{tag}.png"))
    return run.stdout, console


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short character-model training run written like a real one."""
    root = tmp_path_factory.mktemp("run")
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT])
    net = TokenRNN(len(chars), hidden_size=24, cell="lstm", seed=0)
    net.rnn.record_grad_norms = True
    opt = Adam(net.named_parameters(), lr=1e-2)
    run = RunDir(root / "run")
    run.write_config({"cell": "lstm", "hidden_size": 24, "k1": 25, "clip_norm": 1.0, "vocab": len(chars)})
    hist, step = {}, [0]

    def cb(w, loss, norm):
        step[0] += 1
        m = step_metrics(net, norm, 1.0, hist)
        m["gate_saturation"] = gate_saturation(net.rnn)
        run.log(step=step[0], loss=float(loss), tokens_per_s=1000.0 + step[0], **m)

    x, y = ids[None, :-1], ids[None, 1:]
    for epoch in range(4):
        losses, _ = fit_stream(net, x, y, opt, k1=25, clip_norm=1.0, callback=cb)
        run.log(step=step[0], loss=float(np.mean(losses)), val_loss=float(np.mean(losses)) + 0.05)
    run.save_checkpoint(net, opt, step[0])
    run.plot_losses()
    with open(run.file("samples.txt"), "w") as f:
        f.write('def f(x):\n    return "<sample & escape test>"\n')
    return net, chars, run.path


def test_report_renders_whatever_the_run_has(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    page = open(write_report(str(empty))).read()
    assert "absent: config.json" in page and "absent: metrics.jsonl" in page


def test_report_and_activation_page_load_in_chromium(trained, tmp_path):
    exe = _chromium()
    net, chars, run_dir = trained
    report = write_report(run_dir)
    dom, console = _open(exe, report, tmp_path, "report")
    assert console == [], console
    assert dom.count('<svg class="plot"') >= 5          # loss, grad norm, clip rate, heatmap, gates, speed
    assert "gradient flow: step × lag" in dom and "&lt;sample &amp; escape test&gt;" in dom
    assert "absent: val_loss" not in dom and "absent: dh_norms" not in dom

    acts = hidden_states(net, [chars.index(c) for c in TEXT])
    page = tmp_path / "activations.html"
    found = activation_page(TEXT, acts, str(page))
    dom, console = _open(exe, str(page), tmp_path, "activations")
    assert console == [], console
    assert len(re.findall(r"class=\"text activation\"", dom)) >= 1
    assert all(len(v) == 3 for v in found.values())


def test_console_capture_sees_page_errors(tmp_path):
    """The console check above could pass vacuously; show it catches a real error."""
    exe = _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>no_such_function();</script><svg class='plot'></svg></body></html>")
    _, console = _open(exe, str(bad), tmp_path, "bad")
    assert any("no_such_function" in ln for ln in console)
