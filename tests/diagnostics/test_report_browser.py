"""The run report and the activation page, opened in headless Chromium.

Needs Debian's ``chromium`` (``.ci/run`` installs it).  Under ``CI=true`` a
missing browser is a failure, not a skip.
"""
import os
import re
import shutil
import subprocess

import pytest

from rnnkit.cli import main
from rnnkit.diagnostics import activation_page, write_report
from rnnkit.diagnostics.activation import hidden_states
from rnnkit.models.language_model import LanguageModel

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


def _open(exe, page, tmp_path, tag, height=1600):
    """Load ``page``: return (dom, console lines); save a screenshot."""
    ud = tmp_path / f"profile-{tag}"
    url = "file://" + os.path.abspath(page)
    run = subprocess.run([exe, *FLAGS, f"--user-data-dir={ud}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    shot = tmp_path / f"{tag}.png"
    subprocess.run([exe, *FLAGS, f"--user-data-dir={ud}", f"--screenshot={shot}", f"--window-size=1200,{height}",
                    url], capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 5000, "no screenshot written"
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        shutil.copy(shot, os.path.join(SHOTS, f"{tag}.png"))
    return run.stdout, console


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real ``rnnkit lm train --record-gradflow`` run, plus a tiny ``rnnkit gradflow`` in the same folder."""
    root = tmp_path_factory.mktemp("run")
    data = root / "train.txt"
    data.write_text(TEXT * 5, encoding="utf-8")
    run_dir = root / "run"
    assert main(["lm", "train", "--data", str(data), "--level", "char", "--cell", "lstm", "--hidden", "24",
                 "--layers", "2", "--embed", "8", "--seq-len", "16", "--batch", "4", "--steps", "40",
                 "--clip", "0.5", "--eval-every", "10", "--record-gradflow", "--no-progress",
                 "--out", str(run_dir)]) == 0
    assert main(["gradflow", "--T", "20", "--steps", "20", "--hidden", "8", "--batch", "8", "--cells", "rnn_tanh",
                 "lstm", "gru", "--out", str(run_dir)]) == 0
    model = LanguageModel.load(str(run_dir))
    return model, str(run_dir)


def test_report_renders_whatever_the_run_has(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    page = open(write_report(str(empty))).read()
    assert "absent: config.json" in page and "absent: metrics.jsonl" in page


def test_report_and_activation_page_load_in_chromium(trained, tmp_path):
    exe = _chromium()
    model, run_dir = trained
    with open(os.path.join(run_dir, "samples.txt"), "a", encoding="utf-8") as f:
        f.write('"<sample & escape test>"\n')
    report = write_report(run_dir)
    dom, console = _open(exe, report, tmp_path, "report", height=5200)   # the whole page
    assert console == [], console
    for title in ("train and validation loss", "global gradient norm (before / after clipping)", "clipping rate",
                  "gradient flow, layer l0: step × lag", "gradient flow, layer l1: step × lag",
                  "share of saturated gate units", "forget gate mean over time t in the window", "throughput",
                  "‖∂L_T/∂h_t‖ vs T − t (init)", "lstm: training step × lag"):
        assert re.search(r'<svg class="plot"[^>]*><title>' + re.escape(title), dom), title
    assert "&lt;sample &amp; escape test&gt;" in dom and "absent:" not in dom

    acts = hidden_states(model.net_, model.encode(TEXT))
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
